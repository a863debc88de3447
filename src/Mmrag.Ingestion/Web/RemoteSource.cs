namespace Mmrag.Ingestion.Web;

/// <summary>
/// A document that lives at a URL instead of in a file: a web page, a PDF on a web site, a Wikipedia article. An
/// ingestion run treats it like a file (claims, progress, failures, summary counts): its
/// <see cref="SourcePath"/> is the URL, which becomes the document's source (search hits, citations and the web page
/// link to it), and its <see cref="LoadAsync"/> produces the document in code, usually through
/// <see cref="RemoteLoadContext.Fetcher"/> and <see cref="RemoteLoadContext.LoadHtmlAsync"/>. Give sources to a run in
/// <see cref="Pipeline.IngestionOptions.Sources"/>; http(s) URLs among the run's paths become web pages by themselves.
/// <para>Implementations must be thread-safe for one call at a time per instance; the run calls each source once.</para>
/// </summary>
public abstract class RemoteSource
{
    /// <summary>Creates a source for <paramref name="uri"/> (absolute http or https; the fragment is dropped).</summary>
    /// <exception cref="ArgumentException">Not an absolute http(s) URL.</exception>
    protected RemoteSource(Uri uri)
    {
        ArgumentNullException.ThrowIfNull(uri);
        Uri = RemoteSources.Normalize(uri);
    }

    /// <summary>The document's URL: its identity in the knowledge base and its provenance.</summary>
    public Uri Uri { get; }

    /// <summary>The URL as the document's source path (<see cref="Uri.AbsoluteUri"/>).</summary>
    public string SourcePath => Uri.AbsoluteUri;

    /// <summary>
    /// Fetches and reads the document. <paramref name="context"/>'s <see cref="RemoteLoadContext.Stored"/> is the
    /// state stored with the current version (validators, version, metadata), for a conditional request: answer
    /// <see cref="RemoteLoadResult.Unchanged"/> when it is current. Throw <see cref="WebFetchException"/> or
    /// <see cref="DocumentLoadException"/> (naming the URL) when it cannot be read; the run records it as failed and
    /// goes on. The run's <see cref="Pipeline.IngestionOptions.FileTimeout"/> bounds the call.
    /// </summary>
    public abstract Task<RemoteLoadResult> LoadAsync(RemoteLoadContext context, CancellationToken cancellationToken = default);

    /// <inheritdoc />
    public override string ToString() => SourcePath;
}

/// <summary>Recognising and normalising the URLs that name remote documents.</summary>
public static class RemoteSources
{
    /// <summary>Whether <paramref name="path"/> is an http or https URL (as given on the command line or to the API) rather than a file path.</summary>
    public static bool IsUrl(string? path) =>
        path is not null
        && (path.StartsWith("http://", StringComparison.OrdinalIgnoreCase) || path.StartsWith("https://", StringComparison.OrdinalIgnoreCase));

    /// <summary>The absolute http(s) URL without its fragment (the same page with another fragment is the same document).</summary>
    /// <exception cref="ArgumentException">Not an absolute http(s) URL.</exception>
    public static Uri Normalize(Uri uri)
    {
        ArgumentNullException.ThrowIfNull(uri);
        if (!uri.IsAbsoluteUri || (uri.Scheme != Uri.UriSchemeHttp && uri.Scheme != Uri.UriSchemeHttps))
        {
            throw new ArgumentException($"'{uri}' is not an absolute http or https URL.", nameof(uri));
        }

        return uri.Fragment.Length == 0 ? uri : new UriBuilder(uri) { Fragment = string.Empty }.Uri;
    }

    /// <summary>Parses <paramref name="text"/> as an absolute http(s) URL without its fragment; null when it is not one.</summary>
    public static Uri? TryParse(string? text) =>
        Uri.TryCreate(text?.Trim(), UriKind.Absolute, out var uri) && (uri.Scheme == Uri.UriSchemeHttp || uri.Scheme == Uri.UriSchemeHttps)
            ? Normalize(uri)
            : null;
}

/// <summary>
/// Turns the paths that name remote documents of one kind (e.g. <c>wikipedia:Helsinki</c>) into sources, so they can be
/// given to a run (and to the server's jobs) among file paths. http(s) URLs need none: the run reads them as web pages.
/// Implementations are thread-safe.
/// </summary>
public interface IRemoteSourceResolver
{
    /// <summary>The sources <paramref name="path"/> names, or null when it is not of this resolver's kind (it is then taken as a file path).</summary>
    /// <exception cref="ArgumentException">The path is of this kind but malformed; the message says why (the run records it as a failure).</exception>
    IReadOnlyList<RemoteSource>? Resolve(string path);
}
