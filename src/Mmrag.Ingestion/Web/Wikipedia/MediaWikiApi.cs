using System.Globalization;
using System.Text;
using System.Text.Json;

namespace Mmrag.Ingestion.Web.Wikipedia;

/// <summary>What <c>prop=imageinfo</c> said about one file asked for: its image, or why there is none.</summary>
/// <param name="File">The file name asked for, as the article lists it (without namespace, e.g. "Helsinki_Cathedral.jpg").</param>
/// <param name="Image">The image, when the wiki has it.</param>
/// <param name="Problem">Why there is no image (missing file, invalid title), when there is none.</param>
internal sealed record ImageInfoResult(string File, WikipediaImage? Image, string? Problem);

/// <summary>
/// The MediaWiki Action API requests mmrag makes, and the reading of their answers (<c>format=json&amp;formatversion=2</c>):
/// <c>action=parse</c> for an article's HTML, revision and files, and <c>action=query&amp;prop=imageinfo</c> for its
/// images at a chosen width with their licences, at most <see cref="WikipediaOptions.MaxTitlesPerQuery"/> files per
/// request. Pure functions over URLs and JSON; the fetching is the caller's.
/// </summary>
internal static class MediaWikiApi
{
    /// <summary>The <c>extmetadata</c> fields asked for: only what attribution needs (the full set is large).</summary>
    public const string ExtMetadataFields = "LicenseShortName|LicenseUrl|Artist|Credit|AttributionRequired|ImageDescription";

    /// <summary><c>action=parse</c> for the article <paramref name="title"/>, following redirects.</summary>
    public static Uri ParseRequest(WikipediaOptions options, string title)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(title);
        return Build(options.EffectiveApiUrl,
            ("action", "parse"),
            ("format", "json"),
            ("formatversion", "2"),
            ("redirects", "1"),
            ("prop", "text|revid|displaytitle|images"),
            ("disableeditsection", "1"),
            ("disablelimitreport", "1"),
            ("page", title));
    }

    /// <summary>
    /// <c>action=query&amp;prop=imageinfo</c> requests for <paramref name="files"/> (file names without namespace), at most
    /// <see cref="WikipediaOptions.MaxTitlesPerQuery"/> per request, asking for a rendition <see cref="WikipediaOptions.ImageWidth"/> wide.
    /// </summary>
    public static IEnumerable<(Uri Request, IReadOnlyList<string> Files)> ImageInfoRequests(WikipediaOptions options, IReadOnlyList<string> files)
    {
        foreach (var batch in files.Chunk(WikipediaOptions.MaxTitlesPerQuery))
        {
            yield return (ImageInfoRequest(options, batch, continuation: []), batch);
        }
    }

    /// <summary>One <c>prop=imageinfo</c> request, with the <c>continue</c> parameters of the previous answer when it had some.</summary>
    public static Uri ImageInfoRequest(WikipediaOptions options, IReadOnlyList<string> files, IReadOnlyList<(string Name, string Value)> continuation)
    {
        if (files.Count is 0 or > WikipediaOptions.MaxTitlesPerQuery)
        {
            throw new ArgumentOutOfRangeException(nameof(files), files.Count, $"An imageinfo query names 1 to {WikipediaOptions.MaxTitlesPerQuery} files.");
        }

        (string, string)[] parameters =
        [
            ("action", "query"),
            ("format", "json"),
            ("formatversion", "2"),
            ("prop", "imageinfo"),
            ("iiprop", "url|size|mime|extmetadata"),
            ("iiurlwidth", options.ImageWidth.ToString(CultureInfo.InvariantCulture)),
            ("iiextmetadatafilter", ExtMetadataFields),
            ("iiextmetadatalanguage", options.Language),
            ("titles", string.Join('|', files.Select(FileTitle))),
        ];
        return Build(options.EffectiveApiUrl, [.. parameters, .. continuation.Where(c => parameters.All(p => p.Item1 != c.Name))]);
    }

    /// <summary>The <c>continue</c> parameters of an answer (the API's way of saying "ask again for the rest"), empty when complete.</summary>
    public static IReadOnlyList<(string Name, string Value)> Continuation(JsonElement root) =>
        root.TryGetProperty("continue", out var next) && next.ValueKind == JsonValueKind.Object
            ? [.. next.EnumerateObject().Select(p => (p.Name, p.Value.ValueKind == JsonValueKind.String ? p.Value.GetString()! : p.Value.GetRawText()))]
            : [];

    /// <summary>Reads an <c>action=parse</c> answer; an <c>error</c> answer throws <see cref="MediaWikiException"/> naming the title.</summary>
    public static WikipediaArticle ReadParse(JsonElement root, string requestedTitle, WikipediaOptions options)
    {
        ThrowIfError(root, requestedTitle, options);
        if (!root.TryGetProperty("parse", out var parse) || parse.ValueKind != JsonValueKind.Object)
        {
            throw Malformed(requestedTitle, options, "no 'parse' object");
        }

        var title = String(parse, "title") ?? throw Malformed(requestedTitle, options, "no title");
        var revision = Number(parse, "revid") ?? throw Malformed(requestedTitle, options, "no revid");
        // formatversion=2 gives the HTML as a string; formatversion=1 as {"*": html}: accept both.
        var html = parse.TryGetProperty("text", out var text)
            ? text.ValueKind == JsonValueKind.String ? text.GetString() : text.ValueKind == JsonValueKind.Object ? String(text, "*") : null
            : null;
        if (html is null)
        {
            throw Malformed(requestedTitle, options, "no text");
        }

        var images = parse.TryGetProperty("images", out var files) && files.ValueKind == JsonValueKind.Array
            ? files.EnumerateArray().Where(f => f.ValueKind == JsonValueKind.String).Select(f => f.GetString()!).ToList()
            : [];
        string? redirectedFrom = null;
        if (parse.TryGetProperty("redirects", out var redirects) && redirects.ValueKind == JsonValueKind.Array)
        {
            redirectedFrom = redirects.EnumerateArray().Select(r => String(r, "from")).FirstOrDefault(f => f is not null);
        }

        return new WikipediaArticle(title, requestedTitle, Number(parse, "pageid") ?? 0, revision, options.Language,
            ArticleUrl(options, title), html, images)
        {
            RedirectedFrom = redirectedFrom,
        };
    }

    /// <summary>
    /// Reads a <c>prop=imageinfo</c> answer for <paramref name="files"/>: each file's image, or why it has none. Titles the
    /// API normalized (underscores to spaces, first letter upper case) are matched back to the names asked for.
    /// Files the answer does not cover yet (a <c>continue</c> answer) are left out, to be asked for again.
    /// </summary>
    public static IReadOnlyList<ImageInfoResult> ReadImageInfo(JsonElement root, IReadOnlyList<string> files, WikipediaOptions options)
    {
        ThrowIfError(root, title: null, options);
        if (!root.TryGetProperty("query", out var query) || query.ValueKind != JsonValueKind.Object)
        {
            throw new MediaWikiException($"The MediaWiki API at {options.EffectiveApiUrl} gave an imageinfo answer without a 'query' object.");
        }

        var normalized = new Dictionary<string, string>(StringComparer.Ordinal);
        if (query.TryGetProperty("normalized", out var pairs) && pairs.ValueKind == JsonValueKind.Array)
        {
            foreach (var pair in pairs.EnumerateArray())
            {
                if (String(pair, "from") is { } from && String(pair, "to") is { } to)
                {
                    normalized[from] = to;
                }
            }
        }

        var pages = new Dictionary<string, JsonElement>(StringComparer.Ordinal);
        if (query.TryGetProperty("pages", out var list) && list.ValueKind == JsonValueKind.Array)
        {
            foreach (var page in list.EnumerateArray())
            {
                if (String(page, "title") is { } title)
                {
                    pages[title] = page;
                }
            }
        }

        var results = new List<ImageInfoResult>(files.Count);
        foreach (var file in files)
        {
            var asked = FileTitle(file);
            var title = normalized.GetValueOrDefault(asked, asked);
            if (!pages.TryGetValue(title, out var page))
            {
                continue;
            }

            if (page.TryGetProperty("imageinfo", out var infos) && infos.ValueKind == JsonValueKind.Array && infos.GetArrayLength() > 0)
            {
                var info = infos[0];
                var thumb = WebUri(String(info, "thumburl"));
                var url = thumb ?? WebUri(String(info, "url"));
                results.Add(url is null
                    ? new ImageInfoResult(file, null, "the wiki gave no URL for it")
                    : new ImageInfoResult(file, new WikipediaImage(title, url,
                        (int?)Number(info, thumb is null ? "width" : "thumbwidth"), (int?)Number(info, thumb is null ? "height" : "thumbheight"),
                        String(info, "mime"), ImageAttribution.FromImageInfo(info)), null));
            }
            else if (page.TryGetProperty("invalid", out _))
            {
                results.Add(new ImageInfoResult(file, null, $"'{title}' is not a valid file title ({String(page, "invalidreason") ?? "invalid"})"));
            }
            else if (page.TryGetProperty("missing", out _) && !(page.TryGetProperty("known", out var known) && known.ValueKind == JsonValueKind.True))
            {
                // "known" marks a file that lives in a shared repository (Wikimedia Commons): missing here, but it exists.
                results.Add(new ImageInfoResult(file, null, $"'{title}' does not exist on the wiki or its file repository"));
            }
            else if (Continuation(root).Count == 0)
            {
                results.Add(new ImageInfoResult(file, null, $"the wiki gave no image information for '{title}'"));
            }
        }

        return results;
    }

    /// <summary>The canonical URL of an article: <c>/wiki/Title</c> on the API's host, spaces as underscores.</summary>
    public static Uri ArticleUrl(WikipediaOptions options, string title)
    {
        var api = options.EffectiveApiUrl;
        var encoded = EncodeTitle(title);
        var path = api.AbsolutePath;
        var root = api.GetLeftPart(UriPartial.Authority);
        return path.EndsWith("/w/api.php", StringComparison.Ordinal)
            ? new Uri(root + path[..^"/w/api.php".Length] + "/wiki/" + encoded)
            : new Uri(root + path[..(path.LastIndexOf('/') + 1)] + "index.php?title=" + encoded);
    }

    /// <summary>A title as MediaWiki writes it in URLs: spaces as underscores, percent-encoded but for the characters its URLs keep.</summary>
    private static string EncodeTitle(string title)
    {
        var escaped = new StringBuilder(Uri.EscapeDataString(title.Trim().Replace(' ', '_')));
        foreach (var (code, character) in new[] { ("%3A", ":"), ("%2F", "/"), ("%28", "("), ("%29", ")"), ("%2C", ","), ("%21", "!"), ("%2A", "*"), ("%40", "@"), ("%24", "$"), ("%3B", ";") })
        {
            escaped.Replace(code, character);
        }

        return escaped.ToString();
    }

    private static string FileTitle(string file) => "File:" + file;

    private static void ThrowIfError(JsonElement root, string? title, WikipediaOptions options)
    {
        if (root.ValueKind != JsonValueKind.Object)
        {
            throw new MediaWikiException($"The MediaWiki API at {options.EffectiveApiUrl} did not answer with a JSON object.", code: null, title);
        }

        if (!root.TryGetProperty("error", out var error))
        {
            return;
        }

        var code = String(error, "code");
        var info = String(error, "info") ?? "no explanation given";
        var message = (code, title) switch
        {
            ("missingtitle", not null) => $"Wikipedia article '{title}' ({options.Language}) does not exist ({code}: {info})",
            ("invalidtitle", not null) => $"'{title}' is not a valid Wikipedia article title ({code}: {info})",
            (_, not null) => $"The MediaWiki API at {options.EffectiveApiUrl} refused the article '{title}' ({code ?? "error"}: {info})",
            _ => $"The MediaWiki API at {options.EffectiveApiUrl} answered with an error ({code ?? "error"}: {info})",
        };
        throw new MediaWikiException(message, code, title);
    }

    private static MediaWikiException Malformed(string title, WikipediaOptions options, string what) =>
        new($"The MediaWiki API at {options.EffectiveApiUrl} gave a parse answer for '{title}' that cannot be read ({what}).", code: null, title);

    private static Uri Build(Uri api, params (string Name, string Value)[] parameters)
    {
        var query = string.Join('&', parameters.Select(p => Uri.EscapeDataString(p.Name) + "=" + Uri.EscapeDataString(p.Value)));
        var builder = new UriBuilder(api) { Query = query, Fragment = string.Empty };
        return builder.Uri;
    }

    private static string? String(JsonElement element, string name) =>
        element.ValueKind == JsonValueKind.Object && element.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.String ? value.GetString() : null;

    private static long? Number(JsonElement element, string name) =>
        element.ValueKind == JsonValueKind.Object && element.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.Number && value.TryGetInt64(out var n)
            ? n
            : null;

    /// <summary>A protocol-relative URL (<c>//upload…</c>) made https; anything that is not an absolute http(s) URL is null.</summary>
    public static Uri? WebUri(string? url)
    {
        if (url is null)
        {
            return null;
        }

        if (url.StartsWith("//", StringComparison.Ordinal))
        {
            url = "https:" + url;
        }

        return Uri.TryCreate(url, UriKind.Absolute, out var uri) && (uri.Scheme == Uri.UriSchemeHttps || uri.Scheme == Uri.UriSchemeHttp) ? uri : null;
    }
}
