using System.Globalization;

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

    private static readonly char[] s_whitespace = [' ', '\t', '\n', '\r'];

    public static IReadOnlyList<Uri> Candidates(string? srcset, string? src, Uri baseUri)
    {
        var ranked = new List<(Uri Uri, double Size)>();
        if (!string.IsNullOrWhiteSpace(srcset))
        {
            // Candidates are separated by commas; a URL may itself contain commas only when followed by a non-space, so split on ", " and trailing commas.
            foreach (var candidate in Split(srcset))
            {
                var parts = candidate.Split(s_whitespace, StringSplitOptions.RemoveEmptyEntries);
                if (parts.Length == 0 || Resolve(parts[0], baseUri) is not { } uri)
                {
                    continue;
                }

                var size = 1.0;
                if (parts.Length > 1 && parts[1].Length > 1
                    && double.TryParse(parts[1][..^1], NumberStyles.Float, CultureInfo.InvariantCulture, out var value) && value > 0)
                {
                    // A width descriptor outranks any density one: widths are pixels, densities small multipliers.
                    size = parts[1][^1] is 'w' or 'W' ? 1_000 + value : value;
                }

                ranked.Add((uri, size));
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

    private static IEnumerable<string> Split(string srcset)
    {
        var start = 0;
        for (var i = 0; i < srcset.Length; i++)
        {
            if (srcset[i] == ',' && (i + 1 == srcset.Length || char.IsWhiteSpace(srcset[i + 1])))
            {
                yield return srcset[start..i].Trim();
                start = i + 1;
            }
        }

        if (start < srcset.Length)
        {
            yield return srcset[start..].Trim();
        }
    }

    private static Uri? Resolve(string reference, Uri baseUri) =>
        Uri.TryCreate(baseUri, reference.Trim(), out var uri) && (uri.Scheme == Uri.UriSchemeHttp || uri.Scheme == Uri.UriSchemeHttps)
            ? RemoteSources.Normalize(uri)
            : null;
}
