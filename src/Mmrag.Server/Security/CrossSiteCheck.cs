using System.Security.Cryptography;
using System.Text;
using Microsoft.AspNetCore.Http;
using Microsoft.Net.Http.Headers;

namespace Mmrag.Server.Security;

/// <summary>
/// Refuses state-changing requests (anything but GET, HEAD, OPTIONS, TRACE) that another web page could have made the
/// user's browser send (cross-site request forgery), which matters most when no API key is set:
/// <list type="bullet">
/// <item>an <c>Origin</c> other than the server's own (the Host the request was sent to) or a configured CORS origin,
/// or a <c>Sec-Fetch-Site</c> other than <c>same-origin</c>/<c>none</c>, is refused;</item>
/// <item>a POST must be <c>application/json</c> (a page on another site cannot send that type without a CORS preflight,
/// which this server does not grant) or carry <see cref="Token"/> in <see cref="TokenHeader"/>: the same-origin page
/// reads it from <c>GET /api/csrf</c>, which another site's page cannot read.</item>
/// </list>
/// A request with the valid API key passes: browsers never add it by themselves. Other methods (DELETE, PUT, PATCH)
/// cannot be sent across sites without a preflight, so the origin rule suffices for them. Thread-safe.
/// </summary>
internal sealed class CrossSiteCheck(ApiKeyCheck apiKey, IReadOnlyList<string> corsOrigins)
{
    /// <summary>The request header that carries <see cref="Token"/>.</summary>
    public const string TokenHeader = "X-CSRF-Token";

    private readonly HashSet<string> _trustedOrigins = new(corsOrigins.Select(static o => o.TrimEnd('/')), StringComparer.OrdinalIgnoreCase);

    /// <summary>A random token per server instance (a restart changes it; the page fetches it again).</summary>
    public string Token { get; } = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(32));

    /// <summary>Null when <paramref name="request"/> may proceed, else why it is refused.</summary>
    public string? Refusal(HttpRequest request)
    {
        if (HttpMethods.IsGet(request.Method) || HttpMethods.IsHead(request.Method) || HttpMethods.IsOptions(request.Method) || HttpMethods.IsTrace(request.Method))
        {
            return null;
        }

        if (apiKey.Enabled && apiKey.IsAuthorized(request))
        {
            return null;
        }

        string? origin = request.Headers.Origin;
        if (origin is null || !_trustedOrigins.Contains(origin.TrimEnd('/')))
        {
            if (origin is not null && !IsSameOrigin(origin, request.Host))
            {
                return $"The page at '{origin}' may not change this server: cross-origin requests are refused (allow a trusted origin with --cors-origin).";
            }

            string? site = request.Headers["Sec-Fetch-Site"];
            if (site is not null && site is not ("same-origin" or "none"))
            {
                return $"A {site} request may not change this server: only its own page (or a client with the API key) may.";
            }
        }

        if (HttpMethods.IsPost(request.Method) && !IsJson(request.ContentType) && !HasToken(request))
        {
            return $"Send JSON (Content-Type: application/json), or the token of GET /api/csrf in the {TokenHeader} header (multipart uploads).";
        }

        return null;
    }

    /// <summary>Whether <paramref name="origin"/> names the Host the request was sent to (a missing Host port is the origin scheme's default, as behind a TLS proxy).</summary>
    private static bool IsSameOrigin(string origin, HostString host) =>
        Uri.TryCreate(origin, UriKind.Absolute, out var uri)
        && host.HasValue
        && string.Equals(uri.Host, host.Host, StringComparison.OrdinalIgnoreCase)
        && uri.Port == (host.Port ?? uri.Port);

    private static bool IsJson(string? contentType) =>
        MediaTypeHeaderValue.TryParse(contentType, out var mediaType) && mediaType.MediaType.Equals("application/json", StringComparison.OrdinalIgnoreCase);

    private bool HasToken(HttpRequest request)
    {
        string? presented = request.Headers[TokenHeader];
        return presented is not null && CryptographicOperations.FixedTimeEquals(Encoding.UTF8.GetBytes(presented), Encoding.UTF8.GetBytes(Token));
    }
}
