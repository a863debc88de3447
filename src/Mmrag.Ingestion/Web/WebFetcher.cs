using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Sockets;

namespace Mmrag.Ingestion.Web;

/// <summary>What <see cref="WebFetcher.GetAsync"/> should accept and send besides the URL.</summary>
public sealed record WebFetchRequest
{
    /// <summary>
    /// Media types accepted (<c>text/html</c>, or a whole family such as <c>image/*</c>); a response of another type
    /// fails. Empty accepts any. A response without a <c>Content-Type</c> is accepted and left to the caller to sniff.
    /// </summary>
    public IReadOnlyList<string> AcceptedMediaTypes { get; init; } = [];

    /// <summary>A smaller body limit than the fetcher's <see cref="WebFetcherOptions.MaxResponseBytes"/>, in bytes; null uses the fetcher's.</summary>
    public long? MaxBytes { get; init; }

    /// <summary>The stored <c>ETag</c>: sent as <c>If-None-Match</c>, so an unchanged resource answers 304.</summary>
    public string? IfNoneMatch { get; init; }

    /// <summary>The stored <c>Last-Modified</c>: sent as <c>If-Modified-Since</c>.</summary>
    public DateTimeOffset? IfModifiedSince { get; init; }

    /// <summary>
    /// Asked before each redirect is followed, with the URL it points to (already known to be http or https): null lets
    /// the hop go on, a reason refuses it (a <see cref="WebFetchException"/> with
    /// <see cref="WebFetchException.IsRefusedRedirect"/>, nothing requested from that URL). It may wait first (a crawler
    /// keeps its per-host delay and robots.txt here, as a hop may lead to another path or host); the time it waits is
    /// not counted against <see cref="WebFetcherOptions.Timeout"/>. The address guard applies to every hop regardless.
    /// </summary>
    public Func<Uri, CancellationToken, Task<string?>>? CheckRedirect { get; init; }
}

/// <summary>A fetched resource: its body in memory, or nothing when it was not modified (304).</summary>
/// <param name="RequestedUri">The URL asked for.</param>
/// <param name="Uri">The URL the body came from, after redirects.</param>
/// <param name="StatusCode">200 (or another 2xx), or 304 Not Modified.</param>
/// <param name="MediaType">The <c>Content-Type</c>'s media type, lower case; null when the server sent none.</param>
/// <param name="Content">The body (empty for 304).</param>
public sealed record WebResource(Uri RequestedUri, Uri Uri, HttpStatusCode StatusCode, string? MediaType, byte[] Content)
{
    /// <summary>The server said the stored version is current (304): <see cref="Content"/> is empty.</summary>
    public bool NotModified => StatusCode == HttpStatusCode.NotModified;

    /// <summary>The response's <c>ETag</c>, as sent (quotes and <c>W/</c> included).</summary>
    public string? ETag { get; init; }

    /// <summary>The response's <c>Last-Modified</c>.</summary>
    public DateTimeOffset? LastModified { get; init; }
}

/// <summary>
/// Fetches http and https URLs for ingestion, guarded: every connection resolves the host itself and connects only to
/// an address that is not loopback, private, link-local (cloud metadata) or otherwise non-public
/// (<see cref="PrivateNetworks"/>) unless <see cref="WebFetcherOptions.AllowPrivateHosts"/> is set or the host and
/// port are among <see cref="WebFetcherOptions.TrustedHosts"/>; the check is made
/// on the address actually connected to, so a host whose DNS answer changes between a check and the connection (DNS
/// rebinding) cannot get past it, and no proxy is used. Redirects are followed here, at most
/// <see cref="WebFetcherOptions.MaxRedirects"/>, each to http or https only, through the same check and through the
/// request's <see cref="WebFetchRequest.CheckRedirect"/> (the caller's robots.txt and host delay). The body is
/// counted while it is read (compressed bodies after decompression) and refused past the size limit, whatever
/// <c>Content-Length</c> claims; one fetch, redirects included, is bounded by <see cref="WebFetcherOptions.Timeout"/>.
/// Every failure is a <see cref="WebFetchException"/> naming the URL and the reason.
/// <para>Thread-safe; owns its connection pool (dispose it when done).</para>
/// </summary>
public sealed class WebFetcher : IDisposable
{
    private readonly HttpClient _client;
    private readonly Func<IPAddress, string?> _classify;

    /// <summary>Creates a fetcher with its own connection pool.</summary>
    public WebFetcher(WebFetcherOptions? options = null)
        : this(options, PrivateNetworks.Describe)
    {
    }

    /// <summary>Creates a fetcher whose guard classifies addresses with <paramref name="classify"/> (tests: a loopback site standing for a public one).</summary>
    internal WebFetcher(WebFetcherOptions? options, Func<IPAddress, string?> classify)
    {
        _classify = classify;
        Options = options ?? new WebFetcherOptions();
        Options.Validate();
        var handler = new SocketsHttpHandler
        {
            AllowAutoRedirect = false,
            UseProxy = false,
            UseCookies = false,
            AutomaticDecompression = DecompressionMethods.All,
            ConnectTimeout = Options.Timeout,
            PooledConnectionLifetime = TimeSpan.FromMinutes(2),
            ConnectCallback = ConnectAsync,
        };
        _client = new HttpClient(handler, disposeHandler: true) { Timeout = Timeout.InfiniteTimeSpan };
    }

    /// <summary>The fetcher's limits.</summary>
    public WebFetcherOptions Options { get; }

    /// <summary>Fetches <paramref name="uri"/> (GET), following redirects.</summary>
    /// <returns>The body, or a 304 answer to a conditional request.</returns>
    /// <exception cref="WebFetchException">
    /// Not http(s), a refused address, too many redirects, an error status (<see cref="WebFetchException.StatusCode"/>),
    /// a media type not accepted, a body over the limit, the time limit, or a network error.
    /// </exception>
    public async Task<WebResource> GetAsync(Uri uri, WebFetchRequest? request = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(uri);
        request ??= new WebFetchRequest();
        CheckScheme(uri, uri);
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(Options.Timeout);
        var clock = Stopwatch.StartNew();
        var current = uri;
        try
        {
            for (var redirects = 0; ; redirects++)
            {
                using var message = new HttpRequestMessage(HttpMethod.Get, current);
                message.Headers.UserAgent.ParseAdd(Options.UserAgent);
                if (request.AcceptedMediaTypes.Count > 0)
                {
                    message.Headers.Accept.ParseAdd(string.Join(", ", request.AcceptedMediaTypes));
                }

                if (request.IfNoneMatch is { } etag && EntityTagHeaderValue.TryParse(etag, out var parsed))
                {
                    message.Headers.IfNoneMatch.Add(parsed);
                }

                if (request.IfModifiedSince is { } since)
                {
                    message.Headers.IfModifiedSince = since;
                }

                using var response = await SendAsync(current, message, timeout.Token).ConfigureAwait(false);
                var status = (int)response.StatusCode;
                if (status is 301 or 302 or 303 or 307 or 308)
                {
                    if (response.Headers.Location is not { } location)
                    {
                        throw new WebFetchException(current, $"redirect ({status}) without a Location header.");
                    }

                    if (redirects >= Options.MaxRedirects)
                    {
                        throw new WebFetchException(uri, $"more than {Options.MaxRedirects} redirects (MaxRedirects); the last one pointed to {Shorten(location.ToString())}.");
                    }

                    var next = location.IsAbsoluteUri ? location : new Uri(current, location);
                    CheckScheme(next, uri);
                    // The redirect's connection goes back to the pool before the hook may wait (robots.txt of another
                    // host, a crawl delay of up to 30 s).
                    response.Dispose();
                    if (request.CheckRedirect is { } check)
                    {
                        // The hook's wait (a host's crawl delay) is politeness, not the server being slow: the time
                        // limit stands still meanwhile.
                        clock.Stop();
                        timeout.CancelAfter(Timeout.InfiniteTimeSpan);
                        var refusal = await check(next, cancellationToken).ConfigureAwait(false);
                        if (refusal is not null)
                        {
                            throw new WebFetchException(uri, $"a redirect to {Shorten(next.ToString())} was refused ({refusal}); it was not fetched.")
                            {
                                IsRefusedRedirect = true,
                            };
                        }

                        clock.Start();
                        var left = Options.Timeout - clock.Elapsed;
                        timeout.CancelAfter(left > TimeSpan.Zero ? left : TimeSpan.Zero);
                    }

                    current = next;
                    continue;
                }

                if (response.StatusCode == HttpStatusCode.NotModified)
                {
                    return new WebResource(uri, current, HttpStatusCode.NotModified, null, [])
                    {
                        ETag = response.Headers.ETag?.ToString() ?? request.IfNoneMatch,
                        LastModified = response.Content.Headers.LastModified ?? request.IfModifiedSince,
                    };
                }

                if (!response.IsSuccessStatusCode)
                {
                    throw new WebFetchException(current,
                        $"the server answered {status} {response.ReasonPhrase}".TrimEnd() + ".", response.StatusCode);
                }

                var mediaType = response.Content.Headers.ContentType?.MediaType?.ToLowerInvariant();
                if (mediaType is not null && !Accepts(request.AcceptedMediaTypes, mediaType))
                {
                    throw new WebFetchException(current,
                        $"the content type is {mediaType}, not one of {string.Join(", ", request.AcceptedMediaTypes)}; it was not read.");
                }

                var limit = Math.Min(request.MaxBytes ?? long.MaxValue, Options.MaxResponseBytes);
                var content = await ReadBodyAsync(current, response, limit, timeout.Token).ConfigureAwait(false);
                return new WebResource(uri, current, response.StatusCode, mediaType, content)
                {
                    ETag = response.Headers.ETag?.ToString(),
                    LastModified = response.Content.Headers.LastModified,
                };
            }
        }
        catch (Exception ex) when (ex is OperationCanceledException or IOException or HttpRequestException
            && timeout.IsCancellationRequested && !cancellationToken.IsCancellationRequested)
        {
            throw new WebFetchException(current, $"fetching it took longer than {Format(Options.Timeout)} (Timeout); it was given up.", null, ex)
            {
                IsTimeout = true,
            };
        }
    }

    private async Task<HttpResponseMessage> SendAsync(Uri current, HttpRequestMessage message, CancellationToken cancellationToken)
    {
        try
        {
            return await _client.SendAsync(message, HttpCompletionOption.ResponseHeadersRead, cancellationToken).ConfigureAwait(false);
        }
        catch (HttpRequestException ex) when (ex.InnerException is RefusedAddressException refused)
        {
            throw new WebFetchException(current, refused.Message, null, ex) { IsRefusedHost = true };
        }
        catch (HttpRequestException ex)
        {
            throw new WebFetchException(current, $"the request failed ({ex.Message}).", null, ex);
        }
    }

    private static async Task<byte[]> ReadBodyAsync(Uri uri, HttpResponseMessage response, long limit, CancellationToken cancellationToken)
    {
        // Content-Length only lets a too-large body fail early; the count below is what holds.
        if (response.Content.Headers.ContentLength is { } declared && declared > limit)
        {
            throw TooLarge(uri, limit, $"it declares {declared:N0} bytes");
        }

        var stream = await response.Content.ReadAsStreamAsync(cancellationToken).ConfigureAwait(false);
        await using (stream.ConfigureAwait(false))
        {
            using var body = new MemoryStream();
            var buffer = new byte[81920];
            int read;
            try
            {
                while ((read = await stream.ReadAsync(buffer, cancellationToken).ConfigureAwait(false)) > 0)
                {
                    if (body.Length + read > limit)
                    {
                        throw TooLarge(uri, limit, "more was sent");
                    }

                    body.Write(buffer, 0, read);
                }
            }
            catch (Exception ex) when (ex is IOException or HttpRequestException && !cancellationToken.IsCancellationRequested)
            {
                // (Cancelled by the time limit, a read may fail with an IOException: GetAsync reports that as the time limit.)
                throw new WebFetchException(uri, $"reading the response failed ({ex.Message}).", null, ex);
            }

            return body.ToArray();
        }
    }

    private static WebFetchException TooLarge(Uri uri, long limit, string what) =>
        new(uri, $"the response is larger than the {limit:N0}-byte limit (MaxResponseBytes; {what}); it was not read.") { IsTooLarge = true };

    private static bool Accepts(IReadOnlyList<string> accepted, string mediaType) =>
        accepted.Count == 0 || accepted.Any(a => a.EndsWith("/*", StringComparison.Ordinal)
            ? mediaType.StartsWith(a[..^1], StringComparison.OrdinalIgnoreCase)
            : string.Equals(a, mediaType, StringComparison.OrdinalIgnoreCase));

    private static void CheckScheme(Uri uri, Uri requested)
    {
        if (!uri.IsAbsoluteUri || (uri.Scheme != Uri.UriSchemeHttp && uri.Scheme != Uri.UriSchemeHttps))
        {
            throw new WebFetchException(requested, uri == requested
                ? "only http and https URLs are fetched."
                : $"a redirect to {Shorten(uri.ToString())} was refused: only http and https are followed.");
        }
    }

    /// <summary>Resolves the host and connects to the first of its addresses that the guard allows.</summary>
    private async ValueTask<Stream> ConnectAsync(SocketsHttpConnectionContext context, CancellationToken cancellationToken)
    {
        var host = context.DnsEndPoint.Host.Trim('[', ']');
        var addresses = IPAddress.TryParse(host, out var literal)
            ? [literal]
            : await Dns.GetHostAddressesAsync(host, cancellationToken).ConfigureAwait(false);
        string? refused = null;
        Exception? failure = null;
        var guarded = !Options.AllowPrivateHosts && !Options.Trusts(host, context.DnsEndPoint.Port);
        foreach (var address in addresses)
        {
            if (guarded && _classify(address) is { } kind)
            {
                refused ??= $"the host '{host}' resolves to {address}, a {kind} address; such hosts are refused unless private hosts are allowed (--allow-private-hosts).";
                continue;
            }

            var socket = new Socket(address.AddressFamily, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
            try
            {
                await socket.ConnectAsync(new IPEndPoint(address, context.DnsEndPoint.Port), cancellationToken).ConfigureAwait(false);
                return new NetworkStream(socket, ownsSocket: true);
            }
            catch (SocketException ex)
            {
                socket.Dispose();
                failure = ex;
            }
        }

        throw failure ?? (refused is not null ? new RefusedAddressException(refused) : new SocketException((int)SocketError.HostNotFound));
    }

    private static string Shorten(string text) => text.Length <= 200 ? text : text[..197] + "...";

    private static string Format(TimeSpan time) => time.TotalSeconds >= 1
        ? string.Create(CultureInfo.InvariantCulture, $"{time.TotalSeconds:0.###} s")
        : string.Create(CultureInfo.InvariantCulture, $"{time.TotalMilliseconds:0} ms");

    /// <inheritdoc />
    public void Dispose() => _client.Dispose();

    /// <summary>A connection the guard refused; surfaces as a <see cref="WebFetchException"/>.</summary>
    private sealed class RefusedAddressException(string message) : Exception(message);
}
