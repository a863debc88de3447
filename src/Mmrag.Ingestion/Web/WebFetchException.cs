using System.Net;

namespace Mmrag.Ingestion.Web;

/// <summary>A URL could not be fetched; the message names the URL and the reason (refused address, limit, status, content type).</summary>
public sealed class WebFetchException : Exception
{
    /// <summary>Creates the exception.</summary>
    public WebFetchException(Uri uri, string reason, HttpStatusCode? statusCode = null, Exception? innerException = null)
        : base($"{uri}: {reason}", innerException)
    {
        ArgumentNullException.ThrowIfNull(uri);
        Uri = uri;
        Reason = reason;
        StatusCode = statusCode;
    }

    /// <summary>Creates the exception.</summary>
    public WebFetchException() { }

    /// <summary>Creates the exception.</summary>
    public WebFetchException(string message) : base(message) { }

    /// <summary>Creates the exception.</summary>
    public WebFetchException(string message, Exception innerException) : base(message, innerException) { }

    /// <summary>The URL that failed (after redirects, the one that failed).</summary>
    public Uri? Uri { get; }

    /// <summary>Why, without the URL.</summary>
    public string Reason { get; } = string.Empty;

    /// <summary>The HTTP status of an error response (e.g. 404, 410), when the server answered with one.</summary>
    public HttpStatusCode? StatusCode { get; }

    /// <summary>Whether the fetch ran past <see cref="WebFetcherOptions.Timeout"/> (a slow server is likely slow for its other URLs too).</summary>
    public bool IsTimeout { get; internal init; }

    /// <summary>Whether the body was larger than the limit of the request (<see cref="WebFetchRequest.MaxBytes"/> or <see cref="WebFetcherOptions.MaxResponseBytes"/>).</summary>
    public bool IsTooLarge { get; internal init; }

    /// <summary>Whether the guard refused the host (a private, loopback or metadata address) before any request.</summary>
    public bool IsRefusedHost { get; internal init; }

    /// <summary>Whether a redirect was refused by the request's <see cref="WebFetchRequest.CheckRedirect"/> (e.g. robots.txt of the host it led to).</summary>
    public bool IsRefusedRedirect { get; internal init; }

    /// <summary>Whether the server says the resource is gone: 404 Not Found or 410 Gone.</summary>
    public bool IsGone => StatusCode is HttpStatusCode.NotFound or HttpStatusCode.Gone;
}
