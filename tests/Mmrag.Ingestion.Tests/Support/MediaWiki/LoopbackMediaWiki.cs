using System.Collections.Concurrent;
using System.Globalization;
using System.Net;
using System.Text;
using System.Text.Json.Nodes;
using System.Web;
using Mmrag.Testing;

namespace Mmrag.Ingestion.Tests.Support;

/// <summary>A request the loopback wiki received: path, decoded query parameters and headers.</summary>
internal sealed record WikiRequest(string Path, IReadOnlyDictionary<string, string> Query, IReadOnlyDictionary<string, string> Headers)
{
    public string? this[string parameter] => Query.GetValueOrDefault(parameter);

    public bool IsApi => Path == "/w/api.php";

    public bool IsImage => Path.StartsWith("/images/", StringComparison.Ordinal);
}

/// <summary>
/// A real HTTP/1.1 server on 127.0.0.1 that speaks the MediaWiki Action API for the hand-written
/// <see cref="HelsinkiRecording"/>: <c>GET /w/api.php?action=parse&amp;page=…&amp;prop=text|revid|displaytitle|images&amp;formatversion=2</c>
/// (redirect from "Helsingfors", <c>missingtitle</c> for anything else) and <c>action=query&amp;prop=imageinfo</c> (title
/// normalization, <c>missing</c> pages, renditions at <c>iiurlwidth</c>, <c>extmetadata</c>), and serves the image
/// renditions under <c>/images/</c>. It checks what real clients must send (format, formatversion, the props, at most 50
/// titles, a User-Agent naming mmrag) and records what it refused in <see cref="Violations"/>. Served by a <see cref="LoopbackSite"/>.
/// </summary>
internal sealed class LoopbackMediaWiki : IAsyncDisposable
{
    private readonly LoopbackSite _site = new();
    private readonly ConcurrentQueue<WikiRequest> _requests = new();
    private readonly ConcurrentQueue<string> _violations = new();

    public LoopbackMediaWiki() => _site.Fallback = ServeAsync;

    public string BaseUrl => _site.BaseUrl;

    /// <summary>The API endpoint (<c>--wikipedia-api</c>).</summary>
    public string ApiUrl => BaseUrl + "/w/api.php";

    /// <summary>The article URL a citation should show.</summary>
    public string ArticleUrl => BaseUrl + "/wiki/Helsinki";

    /// <summary>The revision the article is at; set a later one to "edit" it.</summary>
    public long RevisionId { get; set; } = HelsinkiRecording.RevisionId;

    /// <summary>Files whose rendition answers 404 (a failing download).</summary>
    public ConcurrentDictionary<string, bool> FailingImages { get; } = new();

    /// <summary>When set, every file's imageinfo answers this file's rendition URL (a forged or odd answer).</summary>
    public RecordedFile? SharedThumbnail { get; set; }

    public IReadOnlyList<WikiRequest> Requests => [.. _requests];

    public IReadOnlyList<WikiRequest> ApiRequests => [.. _requests.Where(r => r.IsApi)];

    public IReadOnlyList<WikiRequest> ImageRequests => [.. _requests.Where(r => r.IsImage)];

    public IReadOnlyList<string> Violations => [.. _violations];

    public void ClearRequests() => _requests.Clear();

    public ValueTask DisposeAsync()
    {
        _site.Dispose();
        return ValueTask.CompletedTask;
    }

    private async Task ServeAsync(HttpListenerContext context)
    {
        try
        {
            var query = HttpUtility.ParseQueryString(context.Request.Url!.Query);
            var headers = context.Request.Headers;
            var request = new WikiRequest(context.Request.Url.AbsolutePath,
                query.AllKeys.Where(k => k is not null).ToDictionary(k => k!, k => query[k] ?? "", StringComparer.Ordinal),
                headers.AllKeys.Where(k => k is not null).ToDictionary(k => k!, k => headers[k] ?? "", StringComparer.OrdinalIgnoreCase));
            _requests.Enqueue(request);
            var (status, type, body) = Answer(request);
            context.Response.StatusCode = status;
            context.Response.ContentType = type;
            context.Response.ContentLength64 = body.Length;
            await context.Response.OutputStream.WriteAsync(body);
            context.Response.Close();
        }
        catch (Exception ex) when (ex is HttpListenerException or IOException or ObjectDisposedException)
        {
            // the client went away or the server is stopping
        }
    }

    private (int Status, string Type, byte[] Body) Answer(WikiRequest request)
    {
        if (!request.Headers.TryGetValue("User-Agent", out var agent) || !agent.Contains("mmrag", StringComparison.OrdinalIgnoreCase))
        {
            // Wikimedia's policy: clients must identify themselves; generic agents are blocked.
            _violations.Enqueue($"{request.Path}: User-Agent '{agent}' does not name mmrag");
            return (403, "text/plain", "Please set a user-agent and respect our robot policy"u8.ToArray());
        }

        if (request.IsImage)
        {
            return Image(request);
        }

        if (!request.IsApi)
        {
            return (404, "text/plain", "not found"u8.ToArray());
        }

        var problems = new List<string>();
        Expect(request, "format", "json", problems);
        Expect(request, "formatversion", "2", problems);
        var answer = request["action"] switch
        {
            "parse" => Parse(request, problems),
            "query" => ImageInfo(request, problems),
            var other => Error("unknown_action", $"Unrecognized value for parameter \"action\": {other}."),
        };
        foreach (var problem in problems)
        {
            _violations.Enqueue($"{request.Path}?{string.Join('&', request.Query.Select(p => p.Key + "=" + p.Value))}: {problem}");
        }

        return (200, "application/json; charset=utf-8", Encoding.UTF8.GetBytes(answer.ToJsonString()));
    }

    private JsonObject Parse(WikiRequest request, List<string> problems)
    {
        ExpectAll(request, "prop", ["text", "revid", "displaytitle", "images"], problems);
        Expect(request, "redirects", "1", problems);
        var page = request["page"];
        var redirected = page == HelsinkiRecording.Redirect;
        if (page != HelsinkiRecording.Title && !redirected)
        {
            return Error("missingtitle", "The page you specified doesn't exist.");
        }

        var parse = new JsonObject
        {
            ["title"] = HelsinkiRecording.Title,
            ["pageid"] = HelsinkiRecording.PageId,
            ["revid"] = RevisionId,
            ["redirects"] = redirected
                ? new JsonArray(new JsonObject { ["from"] = HelsinkiRecording.Redirect, ["to"] = HelsinkiRecording.Title })
                : new JsonArray(),
            ["text"] = HelsinkiRecording.Html(RevisionId),
            ["displaytitle"] = "<span class=\"mw-page-title-main\">Helsinki</span>",
            ["images"] = new JsonArray([.. HelsinkiRecording.ImageFiles.Select(f => (JsonNode)f)]),
        };
        return new JsonObject { ["parse"] = parse };
    }

    private JsonObject ImageInfo(WikiRequest request, List<string> problems)
    {
        Expect(request, "prop", "imageinfo", problems);
        ExpectAll(request, "iiprop", ["url", "size", "mime", "extmetadata"], problems);
        if (!int.TryParse(request["iiurlwidth"], NumberStyles.None, CultureInfo.InvariantCulture, out var width))
        {
            problems.Add("no iiurlwidth");
            width = 0;
        }

        var titles = (request["titles"] ?? "").Split('|', StringSplitOptions.RemoveEmptyEntries);
        if (titles.Length is 0 or > 50)
        {
            problems.Add($"{titles.Length} titles (1 to 50 allowed)");
            return Error("toomanyvalues", "Too many values supplied for parameter \"titles\". The limit is 50.");
        }

        var normalized = new JsonArray();
        var pages = new JsonArray();
        foreach (var asked in titles)
        {
            var title = Normalize(asked);
            if (title != asked)
            {
                normalized.Add(new JsonObject { ["fromencoded"] = false, ["from"] = asked, ["to"] = title });
            }

            var name = title["File:".Length..].Replace(' ', '_');
            var file = HelsinkiRecording.Photos.FirstOrDefault(f => f.Name == name);
            if (file is null)
            {
                pages.Add(new JsonObject { ["ns"] = 6, ["title"] = title, ["missing"] = true, ["known"] = false, ["imagerepository"] = "" });
                continue;
            }

            var shown = Math.Min(width, file.Width);
            pages.Add(new JsonObject
            {
                ["ns"] = 6,
                ["title"] = title,
                // As on Wikipedia: the file lives on Commons, so the local page is "missing" but known, with imageinfo.
                ["missing"] = true,
                ["known"] = true,
                ["imagerepository"] = "shared",
                ["imageinfo"] = new JsonArray(new JsonObject
                {
                    ["size"] = 12_345,
                    ["width"] = file.Width,
                    ["height"] = file.Height,
                    ["thumburl"] = SharedThumbnail is { } shared ? $"{BaseUrl}/images/thumb/{shared.Name}/{shown}px-{shared.Name}"
                        : $"{BaseUrl}/images/thumb/{file.Name}/{shown}px-{file.Name}",
                    ["thumbwidth"] = shown,
                    ["thumbheight"] = file.Height * shown / file.Width,
                    ["url"] = $"{BaseUrl}/images/{file.Name}",
                    ["descriptionurl"] = $"https://commons.wikimedia.org/wiki/File:{file.Name}",
                    ["descriptionshorturl"] = "https://commons.wikimedia.org/w/index.php?curid=1",
                    ["mime"] = file.MediaType,
                    ["extmetadata"] = ExtMetadata(file),
                }),
            });
        }

        return new JsonObject { ["batchcomplete"] = true, ["query"] = new JsonObject { ["normalized"] = normalized, ["pages"] = pages } };
    }

    private static JsonObject ExtMetadata(RecordedFile file)
    {
        static JsonObject Field(string value) => new() { ["value"] = value, ["source"] = "commons-desc-page" };
        var metadata = new JsonObject
        {
            ["ImageDescription"] = Field(file.DescriptionHtml),
            ["Artist"] = Field(file.ArtistHtml),
            ["LicenseShortName"] = Field(file.License),
            ["AttributionRequired"] = Field(file.AttributionRequired ? "true" : "false"),
        };
        if (file.CreditHtml is not null)
        {
            metadata["Credit"] = Field(file.CreditHtml);
        }

        if (file.LicenseUrl is not null)
        {
            metadata["LicenseUrl"] = Field(file.LicenseUrl);
        }

        return metadata;
    }

    private (int, string, byte[]) Image(WikiRequest request)
    {
        // /images/thumb/{name}/{width}px-{name} or /images/{name}
        var segments = request.Path.Split('/', StringSplitOptions.RemoveEmptyEntries);
        var name = segments.Length == 4 && segments[1] == "thumb" ? segments[2] : segments.Length == 2 ? segments[1] : null;
        var file = HelsinkiRecording.Photos.FirstOrDefault(f => f.Name == name);
        if (file is null || FailingImages.ContainsKey(file.Name))
        {
            return (404, "text/html", "<h1>Not Found</h1>"u8.ToArray());
        }

        var width = segments.Length == 4 && int.TryParse(segments[3].Split("px-")[0], NumberStyles.None, CultureInfo.InvariantCulture, out var w) ? w : file.Width;
        return (200, file.MediaType, HelsinkiRecording.Render(file, width));
    }

    /// <summary>MediaWiki's title normalization for the file titles asked for: underscores to spaces, first letter upper case.</summary>
    private static string Normalize(string title)
    {
        var spaced = title.Replace('_', ' ').Trim();
        var colon = spaced.IndexOf(':', StringComparison.Ordinal);
        var prefix = colon < 0 ? "" : spaced[..(colon + 1)];
        var rest = spaced[(colon + 1)..];
        return prefix + (rest.Length == 0 ? rest : char.ToUpperInvariant(rest[0]) + rest[1..]);
    }

    private static JsonObject Error(string code, string info) => new()
    {
        ["error"] = new JsonObject { ["code"] = code, ["info"] = info, ["docref"] = "See /w/api.php for API usage." },
        ["servedby"] = "loopback",
    };

    private static void Expect(WikiRequest request, string name, string value, List<string> problems)
    {
        if (request[name] != value)
        {
            problems.Add($"{name}={request[name]}, expected {value}");
        }
    }

    private static void ExpectAll(WikiRequest request, string name, string[] values, List<string> problems)
    {
        var given = (request[name] ?? "").Split('|');
        foreach (var missing in values.Except(given))
        {
            problems.Add($"{name} lacks {missing}");
        }
    }
}
