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
    /// (<see cref="TrustedHost(Uri)"/> spells a URL's; an IPv6 address in brackets, <c>[fd00::1]:8080</c>) or as an
    /// http(s) URL, whose port is its scheme's default when it names none: an operator's own service on a private
    /// address, such as a company's MediaWiki mirror, without opening private hosts to every URL a client or a page
    /// names. An entry matches a URL's host as the fetcher reads it: whatever its case, with or without a trailing dot,
    /// an international name as typed or in punycode, an IPv6 address in any spelling. The trust is for that name and
    /// port alone: another port of the same address, another name resolving to it, and a redirect from it to another
    /// private host are still refused.
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
        return Key(CanonicalHost(uri.IdnHost) ?? uri.IdnHost.ToLowerInvariant(), uri.Port);
    }

    /// <summary>Whether a connection to <paramref name="host"/> and <paramref name="port"/> is to one of the <see cref="TrustedHosts"/>.</summary>
    internal bool Trusts(string host, int port) =>
        TrustedHosts.Count > 0 && CanonicalHost(host) is { } canonical
        && TrustedHosts.Select(Canonical).Contains(Key(canonical, port), StringComparer.Ordinal);

    // An IPv6 address keeps its brackets, so that the entry spelled is one Validate accepts.
    private static string Key(string canonicalHost, int port) => canonicalHost.Contains(':', StringComparison.Ordinal)
        ? string.Create(CultureInfo.InvariantCulture, $"[{canonicalHost}]:{port}")
        : string.Create(CultureInfo.InvariantCulture, $"{canonicalHost}:{port}");

    /// <summary>A <see cref="TrustedHosts"/> entry as <see cref="TrustedHost(Uri)"/> spells it; null when it is neither host:port nor an http(s) URL.</summary>
    private static string? Canonical(string? entry)
    {
        var text = entry?.Trim();
        if (string.IsNullOrEmpty(text))
        {
            return null;
        }

        if (text.Contains("://", StringComparison.Ordinal))
        {
            return Uri.TryCreate(text, UriKind.Absolute, out var url) && (url.Scheme == Uri.UriSchemeHttp || url.Scheme == Uri.UriSchemeHttps)
                && url.UserInfo.Length == 0 && CanonicalHost(url.IdnHost) is { } urlHost
                ? Key(urlHost, url.Port)
                : null;
        }

        // host:port, an IPv6 address in brackets ("::1:8080" would be ambiguous).
        var colon = text.LastIndexOf(':');
        var host = colon > 0 ? text[..colon] : string.Empty;
        if ((host.Contains(':', StringComparison.Ordinal) && !(host.StartsWith('[') && host.EndsWith(']')))
            || !int.TryParse(text.AsSpan(colon + 1), NumberStyles.None, CultureInfo.InvariantCulture, out var port) || port is < 1 or > 65535)
        {
            return null;
        }

        return CanonicalHost(host) is { } canonical ? Key(canonical, port) : null;
    }

    /// <summary>
    /// <paramref name="host"/> as a URL's <see cref="Uri.IdnHost"/> gives it, lower case, without a trailing dot or IPv6
    /// brackets, so that an entry and a URL naming the same host compare equal; null when it is not a host name or address.
    /// </summary>
    private static string? CanonicalHost(string host)
    {
        var bare = host.StartsWith('[') && host.EndsWith(']') ? host[1..^1] : host;
        var kind = Uri.CheckHostName(bare);
        if (kind == UriHostNameType.Unknown)
        {
            return null;
        }

        return Uri.TryCreate($"http://{(kind == UriHostNameType.IPv6 ? "[" + bare + "]" : bare)}/", UriKind.Absolute, out var uri)
            ? uri.IdnHost.Trim('[', ']').TrimEnd('.').ToLowerInvariant()
            : null;
    }

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
            if (Canonical(trusted) is null)
            {
                throw new ArgumentException(
                    $"WebFetcherOptions.TrustedHosts: '{trusted}' is not host:port nor an http(s) URL (WebFetcherOptions.TrustedHost(uri) spells a URL's).",
                    nameof(TrustedHosts));
            }
        }

        if (string.IsNullOrWhiteSpace(UserAgent))
        {
            throw new ArgumentException("WebFetcherOptions.UserAgent must not be blank.", nameof(UserAgent));
        }
    }
}
