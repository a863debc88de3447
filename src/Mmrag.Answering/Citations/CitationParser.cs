using System.Globalization;
using System.Text.RegularExpressions;

namespace Mmrag.Answering.Citations;

/// <summary>Finds [n], [n, m] and [n-m] markers in answer text and maps them to sources. Stateless and thread-safe.</summary>
public static partial class CitationParser
{
    // A range wider than this is not a citation (e.g. "[1-1000]" in code); it is ignored.
    private const int MaxRangeWidth = 50;

    [GeneratedRegex(@"\[\s*(\d{1,4}(?:\s*[-–]\s*\d{1,4})?(?:\s*[,;]\s*\d{1,4}(?:\s*[-–]\s*\d{1,4})?)*)\s*\]", RegexOptions.CultureInvariant)]
    private static partial Regex MarkerPattern();

    /// <summary>Distinct cited numbers in order of first appearance.</summary>
    public static IReadOnlyList<int> Parse(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var seen = new List<int>();
        foreach (Match match in MarkerPattern().Matches(text))
        {
            foreach (var part in match.Groups[1].Value.Split([',', ';'], StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries))
            {
                var bounds = part.Split(['-', '–'], StringSplitOptions.TrimEntries);
                var from = int.Parse(bounds[0], CultureInfo.InvariantCulture);
                var to = bounds.Length > 1 ? int.Parse(bounds[1], CultureInfo.InvariantCulture) : from;
                if (to < from || to - from > MaxRangeWidth)
                {
                    continue;
                }

                for (var n = from; n <= to; n++)
                {
                    if (!seen.Contains(n))
                    {
                        seen.Add(n);
                    }
                }
            }
        }

        return seen;
    }

    /// <summary>Resolves the markers of <paramref name="text"/> against <paramref name="sources"/> (numbered 1..n).</summary>
    public static (IReadOnlyList<Citation> Citations, IReadOnlyList<int> Unresolved) Resolve(string text, IReadOnlyList<AnswerSource> sources)
    {
        ArgumentNullException.ThrowIfNull(sources);
        var byNumber = sources.ToDictionary(s => s.Number);
        var citations = new List<Citation>();
        var unresolved = new List<int>();
        foreach (var n in Parse(text))
        {
            if (byNumber.TryGetValue(n, out var source))
            {
                citations.Add(new Citation(n, source));
            }
            else
            {
                unresolved.Add(n);
            }
        }

        return (citations, unresolved);
    }
}
