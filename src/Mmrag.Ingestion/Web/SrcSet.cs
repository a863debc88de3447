using System.Globalization;
using System.Text;

namespace Mmrag.Ingestion.Web;

/// <summary>
/// The URLs an <c>&lt;img&gt;</c> offers, best first: its <c>srcset</c> candidates from the largest (width
/// <c>w</c> or density <c>x</c> descriptor) to the smallest, then its <c>src</c>; relative URLs resolved against the
/// page, only http(s) kept, each once.
/// </summary>
internal static class SrcSet
{
    /// <summary>
    /// Candidates tried per image, largest first: a forged <c>srcset</c> of thousands of URLs must not turn one image
    /// into thousands of requests (to a host the page names, robots.txt aside).
    /// </summary>
    public const int MaxCandidates = 4;

    public static IReadOnlyList<Uri> Candidates(string? srcset, string? src, Uri baseUri)
    {
        var ranked = new List<(Uri Uri, double Size)>();
        if (!string.IsNullOrWhiteSpace(srcset))
        {
            foreach (var (url, descriptors) in Parse(srcset))
            {
                if (Rank(descriptors) is { } size && Resolve(url, baseUri) is { } uri)
                {
                    ranked.Add((uri, size));
                }
            }
        }

        var result = ranked.OrderByDescending(c => c.Size).Select(c => c.Uri).ToList();
        if (!string.IsNullOrWhiteSpace(src) && Resolve(src, baseUri) is { } fallback)
        {
            result.Add(fallback);
        }

        // The largest few and the plain src (the one most likely to exist) when it is not among them.
        var distinct = result.Distinct().ToList();
        if (distinct.Count > MaxCandidates)
        {
            var last = distinct[^1];
            distinct = [.. distinct.Take(MaxCandidates - 1), last];
        }

        return distinct;
    }

    /// <summary>
    /// The candidates of a <c>srcset</c> as the HTML standard parses them ("parse a srcset attribute"): a URL runs to
    /// the next whitespace (commas inside it belong to it, trailing ones end it), its descriptors run to the next
    /// comma outside parentheses, so <c>a.jpg 1x,b.jpg 2x</c> is two candidates whether or not a space follows the comma.
    /// </summary>
    private static IEnumerable<(string Url, List<string> Descriptors)> Parse(string srcset)
    {
        var position = 0;
        while (true)
        {
            while (position < srcset.Length && (IsSpace(srcset[position]) || srcset[position] == ','))
            {
                position++;
            }

            if (position >= srcset.Length)
            {
                yield break;
            }

            var start = position;
            while (position < srcset.Length && !IsSpace(srcset[position]))
            {
                position++;
            }

            var url = srcset[start..position];
            var descriptors = new List<string>();
            if (url.EndsWith(','))
            {
                // "a.jpg, b.jpg": the comma ends the candidate, which has no descriptors.
                url = url.TrimEnd(',');
            }
            else
            {
                position = ReadDescriptors(srcset, position, descriptors);
            }

            yield return (url, descriptors);
        }
    }

    /// <summary>The descriptor tokenizer: whitespace-separated tokens up to a comma outside parentheses (or the end); returns the position after it.</summary>
    private static int ReadDescriptors(string srcset, int position, List<string> descriptors)
    {
        var current = new StringBuilder();
        var inParens = false;
        for (; position < srcset.Length; position++)
        {
            var c = srcset[position];
            if (inParens)
            {
                inParens = c != ')';
                current.Append(c);
            }
            else if (IsSpace(c) || c == ',')
            {
                if (current.Length > 0)
                {
                    descriptors.Add(current.ToString());
                    current.Clear();
                }

                if (c == ',')
                {
                    return position + 1;
                }
            }
            else
            {
                inParens = c == '(';
                current.Append(c);
            }
        }

        if (current.Length > 0)
        {
            descriptors.Add(current.ToString());
        }

        return position;
    }

    /// <summary>
    /// How large a candidate is (a width <c>w</c> outranks any density <c>x</c>: widths are pixels, densities small
    /// multipliers; none means 1x); null for descriptors the standard calls invalid (the candidate is dropped).
    /// </summary>
    private static double? Rank(List<string> descriptors)
    {
        double? width = null, density = null;
        var height = false;
        foreach (var descriptor in descriptors)
        {
            var number = descriptor[..^1];
            switch (descriptor[^1])
            {
                case 'w' when width is null && density is null
                    && int.TryParse(number, NumberStyles.None, CultureInfo.InvariantCulture, out var w) && w > 0:
                    width = w;
                    break;
                case 'x' when width is null && density is null && !height
                    && double.TryParse(number, NumberStyles.AllowLeadingSign | NumberStyles.AllowDecimalPoint | NumberStyles.AllowExponent,
                        CultureInfo.InvariantCulture, out var x) && x >= 0:
                    density = x;
                    break;
                case 'h' when !height && density is null
                    && int.TryParse(number, NumberStyles.None, CultureInfo.InvariantCulture, out var h) && h > 0:
                    height = true;
                    break;
                default:
                    return null;
            }
        }

        // A height needs a width beside it.
        return height && width is null ? null : width is { } pixels ? 1_000 + pixels : density ?? 1.0;
    }

    private static bool IsSpace(char c) => c is ' ' or '\t' or '\n' or '\r' or '\f';

    private static Uri? Resolve(string reference, Uri baseUri) =>
        Uri.TryCreate(baseUri, reference.Trim(), out var uri) && (uri.Scheme == Uri.UriSchemeHttp || uri.Scheme == Uri.UriSchemeHttps)
            ? RemoteSources.Normalize(uri)
            : null;
}
