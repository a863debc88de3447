using Mmrag.Hosting;

namespace Mmrag.Server;

/// <summary>
/// What <see cref="MmragServer"/> serves and how. The knowledge base is opened by the host
/// (<see cref="MmragKnowledgeBase.OpenAsync"/>) and stays owned by it: the server never disposes it.
/// </summary>
public sealed class MmragServerOptions
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
    /// Also set by the configuration key <see cref="AllowPrivateHostsSetting"/> (environment <c>Mmrag__Ingestion__AllowPrivateHosts=true</c>).
    /// </summary>
    public bool AllowPrivateHosts { get; init; }

    /// <summary>The configuration key that allows private hosts (<see cref="AllowPrivateHosts"/>).</summary>
    public const string AllowPrivateHostsSetting = "Mmrag:Ingestion:AllowPrivateHosts";

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
