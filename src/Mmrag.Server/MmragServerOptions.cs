using System.Globalization;
using Microsoft.Extensions.Configuration;
using Mmrag.Hosting;

namespace Mmrag.Server;

/// <summary>
/// What <see cref="MmragServer"/> serves and how. The knowledge base is opened by the host
/// (<see cref="MmragKnowledgeBase.OpenAsync"/>) and stays owned by it: the server never disposes it. The ingestion
/// settings may also come from configuration (<see cref="IngestionSection"/>), which <see cref="MmragServer.Create"/>
/// binds into a copy of these options once; the server reads only that copy.
/// </summary>
public sealed record MmragServerOptions
{
    /// <summary>The name of the environment variable holding the API key.</summary>
    public const string ApiKeyVariable = "MMRAG_API_KEY";

    /// <summary>
    /// The opened knowledge base, with its model and LLM (none answers with sources only). Uploads are saved under its
    /// folder's <c>uploads</c>, cached images under <c>images</c>.
    /// </summary>
    public required MmragKnowledgeBase KnowledgeBase { get; init; }

    /// <summary>Addresses to listen on; <c>http://127.0.0.1:0</c> picks a free port.</summary>
    public IReadOnlyList<string> Urls { get; init; } = ["http://127.0.0.1:5077"];

    /// <summary>Required in <c>X-Api-Key</c> or <c>Authorization: Bearer</c> when set; must be set to bind a non-loopback address.</summary>
    public string? ApiKey { get; init; }

    /// <summary>Server-side folders that <c>POST /api/ingest {"path": …}</c> may read (nothing when empty).</summary>
    public IReadOnlyList<string> AllowedRoots { get; init; } = [];

    /// <summary>Largest request body (uploads, base64 images) in bytes.</summary>
    public long MaxUploadBytes { get; init; } = 64L * 1024 * 1024;

    /// <summary>Origins allowed by CORS; CORS stays off when empty. Their pages may also send state-changing requests (see the README's browser rules).</summary>
    public IReadOnlyList<string> CorsOrigins { get; init; } = [];

    /// <summary>
    /// Host names the server may be reached by besides localhost, loopback addresses and the hosts of <see cref="Urls"/>
    /// (<c>name</c> on any port, or <c>name:port</c>), e.g. behind a reverse proxy that keeps the client's Host. Requests
    /// naming any other Host are refused (421), which stops DNS rebinding. With a wildcard address (<c>0.0.0.0</c>,
    /// <c>[::]</c>, <c>*</c>) any Host is taken unless this is set.
    /// </summary>
    public IReadOnlyList<string> AllowedHosts { get; init; } = [];

    /// <summary>
    /// Let <c>POST /api/ingest {"urls": …}</c> fetch hosts that resolve to loopback, private or link-local (cloud
    /// metadata) addresses. Off by default: a client of the server must not make it reach into the network it runs in.
    /// Configuration: <see cref="AllowPrivateHostsSetting"/> (environment <c>Mmrag__Ingestion__AllowPrivateHosts=true</c>; <c>mmrag serve --allow-private-hosts</c>).
    /// </summary>
    public bool AllowPrivateHosts { get; init; }

    /// <summary>
    /// The deepest crawl a request may ask for (<c>"depth"</c>; 0 to 10, default 2): a request above it is refused (400).
    /// Configuration: <see cref="MaxDepthSetting"/>.
    /// </summary>
    public int MaxDepth { get; init; } = 2;

    /// <summary>
    /// The most pages a request may ask for (<c>"max_pages"</c>; 1 to 100,000, default 200): a request above it is
    /// refused (400), one that names none reads at most this many (or the crawl's own default, 100, when lower).
    /// Configuration: <see cref="MaxPagesSetting"/>.
    /// </summary>
    public int MaxPages { get; init; } = 200;

    /// <summary>
    /// The MediaWiki API the server's Wikipedia jobs read articles from (an absolute http(s) URL); null: the knowledge
    /// base's (<see cref="MmragOptions.Wikipedia"/>, by default <c>https://LANG.wikipedia.org/w/api.php</c>).
    /// Configuration: <see cref="WikipediaApiSetting"/> (<c>mmrag serve --wikipedia-api</c>).
    /// </summary>
    public Uri? WikipediaApi { get; init; }

    /// <summary>The configuration section of the ingestion settings.</summary>
    public const string IngestionSection = "Mmrag:Ingestion";

    /// <summary>The configuration key of <see cref="AllowPrivateHosts"/> (<c>true</c> or <c>false</c>).</summary>
    public const string AllowPrivateHostsSetting = IngestionSection + ":AllowPrivateHosts";

    /// <summary>The configuration key of <see cref="MaxDepth"/>.</summary>
    public const string MaxDepthSetting = IngestionSection + ":MaxDepth";

    /// <summary>The configuration key of <see cref="MaxPages"/>.</summary>
    public const string MaxPagesSetting = IngestionSection + ":MaxPages";

    /// <summary>The configuration key of <see cref="WikipediaApi"/>.</summary>
    public const string WikipediaApiSetting = IngestionSection + ":WikipediaApi";

    /// <summary>
    /// These options with the ingestion settings <paramref name="configuration"/> holds (<see cref="IngestionSection"/>):
    /// a key that is present replaces the value given in code; validated.
    /// </summary>
    /// <exception cref="ArgumentException">A key's value does not parse or is out of range; the message names the key.</exception>
    public MmragServerOptions WithConfiguration(IConfiguration configuration)
    {
        ArgumentNullException.ThrowIfNull(configuration);
        var api = Setting(configuration, WikipediaApiSetting);
        var bound = this with
        {
            AllowPrivateHosts = Setting(configuration, AllowPrivateHostsSetting) is { } allow
                ? bool.TryParse(allow, out var parsed) ? parsed : throw new ArgumentException($"{AllowPrivateHostsSetting} '{allow}' must be true or false.", nameof(configuration))
                : AllowPrivateHosts,
            MaxDepth = Count(configuration, MaxDepthSetting) ?? MaxDepth,
            MaxPages = Count(configuration, MaxPagesSetting) ?? MaxPages,
            WikipediaApi = api is null ? WikipediaApi : IngestionRequest.ParseWikipediaApi(api, WikipediaApiSetting),
        };
        bound.Validate();
        return bound;
    }

    private static string? Setting(IConfiguration configuration, string key) => configuration[key] is { } value && !string.IsNullOrWhiteSpace(value) ? value.Trim() : null;

    private static int? Count(IConfiguration configuration, string key) => Setting(configuration, key) is { } value
        ? int.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out var count) ? count : throw new ArgumentException($"{key} '{value}' must be a whole number.", nameof(configuration))
        : null;

    /// <summary>
    /// Why this server refuses a request's crawl settings (above <see cref="MaxDepth"/> or <see cref="MaxPages"/>), naming
    /// the request's field and the limit; null when they are within the limits.
    /// </summary>
    internal string? CrawlRefusal(WebIngestionRequest web) =>
        web.Depth > MaxDepth ? $"'depth' {web.Depth} is above this server's limit of {MaxDepth} ({MaxDepthSetting})."
        : web.MaxPages > MaxPages ? $"'max_pages' {web.MaxPages} is above this server's limit of {MaxPages} ({MaxPagesSetting})."
        : null;

    /// <summary>
    /// Why this server refuses a job naming <paramref name="pages"/> start pages and Wikipedia articles together (each is
    /// at least one page fetched with its images, so <see cref="MaxPages"/> bounds them as it bounds a crawl); null within it.
    /// </summary>
    internal string? PageCountRefusal(int pages) =>
        pages > MaxPages ? $"'urls' and 'wikipedia' name {pages:N0} pages; this server's limit is {MaxPages:N0} ({MaxPagesSetting})." : null;

    /// <summary>The longest URL a request may name, percent-encoded as it is kept (what browsers and servers commonly accept).</summary>
    internal const int MaxUrlLength = 2_048;

    /// <summary>
    /// Why a request or a resumed job may not name <paramref name="url"/>: longer than <see cref="MaxUrlLength"/> as typed
    /// (checked first, so that a huge string is not parsed) or percent-encoded (<paramref name="absoluteUri"/>, the form a
    /// job is journaled in: one of 64k characters would make an entry its reader refuses); null within it.
    /// </summary>
    internal static string? UrlLengthRefusal(string url, string? absoluteUri) =>
        url.Length > MaxUrlLength || absoluteUri?.Length > MaxUrlLength
            ? $"'urls': a URL is longer than {MaxUrlLength:N0} characters (percent-encoded, as it is kept): '{url[..Math.Min(url.Length, 200)]}…'."
            : null;

    /// <summary>The API key is a secret: it is never printed, not even by <see cref="object.ToString"/>.</summary>
    public override string ToString() =>
        $"MmragServerOptions {{ Urls = {string.Join(", ", Urls ?? [])}, ApiKey = {(string.IsNullOrEmpty(ApiKey) ? "none" : "set")}, AllowedRoots = {AllowedRoots?.Count ?? 0} }}";

    /// <summary>Validates the settings; the message names the setting.</summary>
    /// <exception cref="ArgumentException">A setting is invalid.</exception>
    /// <exception cref="InvalidOperationException">A non-loopback address without an API key.</exception>
    public void Validate()
    {
        ArgumentNullException.ThrowIfNull(KnowledgeBase);
        if (!KnowledgeBase.HasModel)
        {
            throw new ArgumentException("MmragServerOptions.KnowledgeBase must be opened with its model.", nameof(KnowledgeBase));
        }
        if (Urls is null || Urls.Count == 0)
        {
            throw new ArgumentException("MmragServerOptions.Urls must name at least one address.", nameof(Urls));
        }

        if (MaxUploadBytes < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(MaxUploadBytes), MaxUploadBytes, "MmragServerOptions.MaxUploadBytes must be positive.");
        }

        if (AllowedHosts is null || AllowedHosts.Any(string.IsNullOrWhiteSpace))
        {
            throw new ArgumentException("MmragServerOptions.AllowedHosts must not contain blank names.", nameof(AllowedHosts));
        }

        if (MaxDepth is < 0 or > WebIngestionRequest.DepthLimit)
        {
            throw new ArgumentOutOfRangeException(nameof(MaxDepth), MaxDepth,
                $"MmragServerOptions.MaxDepth ({MaxDepthSetting}) must be between 0 and {WebIngestionRequest.DepthLimit}.");
        }

        if (MaxPages is < 1 or > WebIngestionRequest.MaxPagesLimit)
        {
            throw new ArgumentOutOfRangeException(nameof(MaxPages), MaxPages,
                $"MmragServerOptions.MaxPages ({MaxPagesSetting}) must be between 1 and {WebIngestionRequest.MaxPagesLimit}.");
        }

        if (WikipediaApi is { } api)
        {
            _ = IngestionRequest.ParseWikipediaApi(api.OriginalString, $"MmragServerOptions.WikipediaApi ({WikipediaApiSetting})");
        }

        ValidateBinding(Urls, ApiKey);
    }

    /// <summary>Refuses to serve on a non-loopback address without an API key (callable before anything is opened).</summary>
    /// <exception cref="InvalidOperationException">A non-loopback address and no key; the message says what to set.</exception>
    public static void ValidateBinding(IReadOnlyList<string> urls, string? apiKey)
    {
        ArgumentNullException.ThrowIfNull(urls);
        if (string.IsNullOrEmpty(apiKey))
        {
            var exposed = urls.FirstOrDefault(static url => !IsLoopback(url));
            if (exposed is not null)
            {
                throw new InvalidOperationException(
                    $"Refusing to listen on '{exposed}' without an API key: set {ApiKeyVariable} (clients then send X-Api-Key or Authorization: Bearer), or bind to 127.0.0.1.");
            }
        }
    }

    /// <summary>The URL with Kestrel's wildcard hosts (<c>*</c>, <c>+</c>) written as <c>0.0.0.0</c>, so that it parses.</summary>
    internal static string WildcardToAddress(string url) =>
        url.Replace("://*", "://0.0.0.0", StringComparison.Ordinal).Replace("://+", "://0.0.0.0", StringComparison.Ordinal);

    internal static bool IsLoopback(string url)
    {
        if (!Uri.TryCreate(WildcardToAddress(url), UriKind.Absolute, out var uri))
        {
            return false;
        }

        if (uri.IsLoopback)
        {
            return true;
        }

        return System.Net.IPAddress.TryParse(uri.Host.Trim('[', ']'), out var address) && System.Net.IPAddress.IsLoopback(address);
    }
}
