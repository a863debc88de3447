using System.Globalization;
using System.Net;
using System.Net.Http.Headers;

namespace Mmrag.Clip.Models;

/// <summary>
/// The hub over HTTP, for <see cref="ModelDownloader"/>: what the hub publishes about a file (a HEAD through the
/// hub's own redirects, stopping at the one to the file storage, whose headers carry the checksum), a GET from an
/// offset that follows every redirect, and which failures are worth retrying. Does not own the client.
/// </summary>
internal sealed class HubClient(HttpClient http)
{
    private const int MaxRedirects = 10;

    /// <summary>Size, SHA-256 and commit of the file at <paramref name="uri"/>; <paramref name="failure"/> turns an error status into the exception to throw.</summary>
    public async Task<HubFileInfo> HeadAsync(Uri uri, Func<HttpResponseMessage, Exception> failure, CancellationToken cancellationToken)
    {
        for (var hop = 0; ; hop++)
        {
            using var request = new HttpRequestMessage(HttpMethod.Head, uri);
            request.Headers.AcceptEncoding.Add(new StringWithQualityHeaderValue("identity"));
            using var response = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, cancellationToken).ConfigureAwait(false);
            if (response.RequestMessage?.RequestUri is { } sent && sent != uri)
            {
                throw new InvalidOperationException(
                    "The HttpClient given to ModelDownloader follows redirects, which hides the hub's checksum headers. "
                    + "Create it with a handler whose AllowAutoRedirect is false, e.g. ModelDownloader.CreateHttpClient().");
            }

            if (IsRedirect(response.StatusCode))
            {
                // A relative redirect stays on the hub (a renamed repository); an absolute one points at the file
                // storage, and the headers we need are on this response.
                if (response.Headers.Location is { IsAbsoluteUri: false } relative && hop < MaxRedirects)
                {
                    uri = new Uri(uri, relative);
                    continue;
                }

                return HubFileInfo.From(response, isRedirect: true);
            }

            if (response.IsSuccessStatusCode)
            {
                return HubFileInfo.From(response, isRedirect: false);
            }

            throw failure(response);
        }
    }

    /// <summary>GETs <paramref name="uri"/> from byte <paramref name="offset"/> (a range request when it is not 0), following redirects; the caller disposes the response.</summary>
    public async Task<HttpResponseMessage> GetAsync(Uri uri, long offset, CancellationToken cancellationToken)
    {
        for (var hop = 0; ; hop++)
        {
            using var request = new HttpRequestMessage(HttpMethod.Get, uri);
            request.Headers.AcceptEncoding.Add(new StringWithQualityHeaderValue("identity"));
            if (offset > 0)
            {
                request.Headers.Range = new RangeHeaderValue(offset, null);
            }

            var response = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, cancellationToken).ConfigureAwait(false);
            if (IsRedirect(response.StatusCode) && response.Headers.Location is { } location && hop < MaxRedirects)
            {
                uri = location.IsAbsoluteUri ? location : new Uri(uri, location);
                response.Dispose();
                continue;
            }

            return response;
        }
    }

    /// <summary>Whether a failure is worth another attempt (a broken or stalled connection, a transient status), unless the caller cancelled.</summary>
    public static bool IsTransient(Exception exception, CancellationToken cancellationToken) => exception switch
    {
        OperationCanceledException when cancellationToken.IsCancellationRequested => false,
        HttpRequestException or HubTransferException or TransientStatusException or TimeoutException => true,
        TaskCanceledException => true, // HttpClient.Timeout
        _ => false,
    };

    /// <summary>The address of <paramref name="file"/> of <paramref name="repository"/> at <paramref name="revision"/>.</summary>
    public static Uri FileUri(Uri endpoint, string repository, string revision, string file)
    {
        var root = endpoint.AbsoluteUri.EndsWith('/') ? endpoint : new Uri(endpoint.AbsoluteUri + "/");
        var path = string.Join('/', file.Split('/').Select(Uri.EscapeDataString));
        return new Uri(root, $"{repository}/resolve/{Uri.EscapeDataString(revision)}/{path}");
    }

    private static bool IsRedirect(HttpStatusCode status) => status is HttpStatusCode.MovedPermanently or HttpStatusCode.Found
        or HttpStatusCode.SeeOther or HttpStatusCode.TemporaryRedirect or HttpStatusCode.PermanentRedirect;
}

/// <summary>What the hub publishes about one file.</summary>
internal sealed record HubFileInfo(long? Size, string? Sha256, string? Commit)
{
    public static HubFileInfo From(HttpResponseMessage response, bool isRedirect)
    {
        var etag = Normalize(Header(response, "X-Linked-Etag") ?? Header(response, "ETag"));
        var sha256 = etag is { Length: 64 } && etag.All(char.IsAsciiHexDigit) ? etag.ToLowerInvariant() : null;

        // A redirect's Content-Length is its own body's. The raw header is read because the typed ContentLength
        // of a HEAD response without one is computed from the (empty) content: 0.
        var size = ParseSize(Header(response, "X-Linked-Size")) ?? (isRedirect ? null : ParseSize(Header(response, "Content-Length")));

        var commit = Header(response, "X-Repo-Commit");
        return new HubFileInfo(size, sha256, commit is not null && ModelDescriptor.IsCommitSha(commit) ? commit : null);
    }

    private static long? ParseSize(string? value) =>
        long.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out var size) ? size : null;

    private static string? Header(HttpResponseMessage response, string name) =>
        response.Headers.NonValidated.TryGetValues(name, out var values) || response.Content.Headers.NonValidated.TryGetValues(name, out values)
            ? values.FirstOrDefault()
            : null;

    private static string? Normalize(string? etag)
    {
        if (etag is null)
        {
            return null;
        }

        etag = etag.Trim();
        if (etag.StartsWith("W/", StringComparison.Ordinal))
        {
            etag = etag[2..];
        }

        return etag.Trim('"');
    }
}

/// <summary>A transfer broke off or went wrong in a way worth retrying (and resuming).</summary>
internal sealed class HubTransferException(string message, Exception? inner = null) : Exception(message, inner);

/// <summary>HTTP 408, 429 or 5xx.</summary>
internal sealed class TransientStatusException(string message, TimeSpan? retryAfter) : Exception(message)
{
    public TimeSpan? RetryAfter { get; } = retryAfter;
}
