using System.Globalization;
using System.Reflection;

namespace Mmrag.Ingestion.Web;

/// <summary>The limits of a <see cref="WebFetcher"/>. Validated when the fetcher is created.</summary>
public sealed record WebFetcherOptions
{
    /// <summary>
    /// Allow hosts that resolve to loopback, private, link-local (cloud metadata) or other non-public addresses
    /// (<see cref="PrivateNetworks"/>). Off by default: a URL, or a link or redirect found on a page, must not make
    /// the ingester reach into the network it runs in.
    /// </summary>
    public bool AllowPrivateHosts { get; init; }

    /// <summary>
    /// Hosts reached even when <see cref="AllowPrivateHosts"/> is off, each as <c>host:port</c>
    /// (<see cref="TrustedHost(Uri)"/> spells a URL's): an operator's own service on a private address, such as a
    /// company's MediaWiki mirror, without opening private hosts to every URL a client or a page names. The trust is for
    /// that name and port alone: another port of the same address, another name resolving to it, and a redirect from it
    /// to another private host are still refused.
    /// </summary>
    public IReadOnlyCollection<string> TrustedHosts { get; init; } = [];

    /// <summary>Largest response body read, in bytes (counted while reading, whatever <c>Content-Length</c> says).</summary>
    public long MaxResponseBytes { get; init; } = 32L * 1024 * 1024;

    /// <summary>Longest one fetch may take, redirects and body included.</summary>
    public TimeSpan Timeout { get; init; } = TimeSpan.FromSeconds(60);

    /// <summary>Most redirects followed for one fetch (each one checked like the first URL).</summary>
    public int MaxRedirects { get; init; } = 5;

    /// <summary>The <c>User-Agent</c> sent; by default <see cref="DefaultUserAgent"/>.</summary>
    public string UserAgent { get; init; } = DefaultUserAgent;

    /// <summary><c>mmrag/VERSION (+https://github.com/mmrag/mmrag)</c>: names mmrag and the version of this assembly.</summary>
    public static string DefaultUserAgent { get; } = $"mmrag/{Version} (+https://github.com/mmrag/mmrag)";

    private static string Version
    {
        get
        {
            var assembly = typeof(WebFetcherOptions).Assembly;
            var informational = assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion;
            var version = informational?.Split('+', 2)[0] ?? assembly.GetName().Version?.ToString(3) ?? "0.0.0";
            return string.IsNullOrWhiteSpace(version) ? "0.0.0" : version;
        }
    }

    /// <summary>The <see cref="TrustedHosts"/> entry of <paramref name="uri"/>'s host and port (its scheme's default port when it names none).</summary>
    public static string TrustedHost(Uri uri)
    {
        ArgumentNullException.ThrowIfNull(uri);
        return TrustedHost(uri.IdnHost, uri.Port);
    }

    /// <summary>Whether a connection to <paramref name="host"/> and <paramref name="port"/> is to one of the <see cref="TrustedHosts"/>.</summary>
    internal bool Trusts(string host, int port) => TrustedHosts.Count > 0 && TrustedHosts.Contains(TrustedHost(host, port), StringComparer.OrdinalIgnoreCase);

    private static string TrustedHost(string host, int port) =>
        string.Create(CultureInfo.InvariantCulture, $"{host.Trim('[', ']').ToLowerInvariant()}:{port}");

    /// <summary>Throws when a setting is out of range; the message names it.</summary>
    public void Validate()
    {
        if (MaxResponseBytes < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(MaxResponseBytes), MaxResponseBytes, "WebFetcherOptions.MaxResponseBytes must be positive.");
        }

        if (Timeout <= TimeSpan.Zero)
        {
            throw new ArgumentOutOfRangeException(nameof(Timeout), Timeout, "WebFetcherOptions.Timeout must be positive.");
        }

        if (MaxRedirects is < 0 or > 20)
        {
            throw new ArgumentOutOfRangeException(nameof(MaxRedirects), MaxRedirects, "WebFetcherOptions.MaxRedirects must be between 0 and 20.");
        }

        ArgumentNullException.ThrowIfNull(TrustedHosts, nameof(TrustedHosts));
        foreach (var trusted in TrustedHosts)
        {
            var colon = trusted?.LastIndexOf(':') ?? -1;
            if (colon <= 0 || !int.TryParse(trusted.AsSpan(colon + 1), NumberStyles.None, CultureInfo.InvariantCulture, out var port) || port is < 1 or > 65535)
            {
                throw new ArgumentException($"WebFetcherOptions.TrustedHosts: '{trusted}' is not host:port (WebFetcherOptions.TrustedHost(uri) spells a URL's).", nameof(TrustedHosts));
            }
        }

        if (string.IsNullOrWhiteSpace(UserAgent))
        {
            throw new ArgumentException("WebFetcherOptions.UserAgent must not be blank.", nameof(UserAgent));
        }
    }
}
