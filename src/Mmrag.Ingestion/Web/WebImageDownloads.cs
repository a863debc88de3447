namespace Mmrag.Ingestion.Web;

/// <summary>
/// The images one run downloads, each URL once: a page that shows an image another page (or the same page) already
/// showed gets it from here, as does a page that asks for a URL that failed (a 404, a time-out). Downloaded bodies wait
/// in a private temporary folder, not in memory, so a crawl of many pages holds no more than the page being read;
/// the folder goes when the run disposes this. A download cut short by a smaller size limit than the next asker's
/// (the rest of a page's image budget) is tried again for that one. Thread-safe.
/// </summary>
internal sealed class WebImageDownloads(WebFetcher fetcher) : IDisposable
{
    private static readonly string[] ImageTypes = ["image/*", "application/octet-stream"];

    private readonly Lock _lock = new();
    private readonly Dictionary<Uri, Lazy<Task<WebImageDownload>>> _downloads = [];
    private DirectoryInfo? _folder;
    private bool _disposed;

    /// <summary>
    /// The download of <paramref name="uri"/>, at most <paramref name="maxBytes"/> long (the fetcher's own limit
    /// applies too): fetched now, or the outcome of an earlier fetch of the same URL in this run. A fetch first asks
    /// <paramref name="check"/> (robots.txt of the crawl), which is also asked at each redirect; a refusal is the
    /// download's problem, and nothing is requested.
    /// </summary>
    public async Task<WebImageDownload> GetAsync(Uri uri, long maxBytes, Func<Uri, CancellationToken, Task<string?>>? check,
        CancellationToken cancellationToken)
    {
        var limit = Math.Min(maxBytes, fetcher.Options.MaxResponseBytes);
        while (true)
        {
            Lazy<Task<WebImageDownload>> entry;
            lock (_lock)
            {
                if (!_downloads.TryGetValue(uri, out entry!))
                {
                    entry = new Lazy<Task<WebImageDownload>>(() => FetchAsync(uri, limit, check, cancellationToken));
                    _downloads[uri] = entry;
                }
            }

            try
            {
                var download = await entry.Value.WaitAsync(cancellationToken).ConfigureAwait(false);
                if (download.TooLargeAt is not { } smaller || smaller >= limit)
                {
                    return download;
                }
            }
            catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
            {
                // The page that started the download gave up (its time limit): this one fetches it itself.
            }

            lock (_lock)
            {
                if (_downloads.TryGetValue(uri, out var current) && current == entry)
                {
                    _downloads.Remove(uri);
                }
            }
        }
    }

    /// <summary>The body of a successful download.</summary>
    public static Task<byte[]> ReadAsync(WebImageDownload download, CancellationToken cancellationToken) =>
        File.ReadAllBytesAsync(download.Path!, cancellationToken);

    private async Task<WebImageDownload> FetchAsync(Uri uri, long limit, Func<Uri, CancellationToken, Task<string?>>? check,
        CancellationToken cancellationToken)
    {
        if (check is not null && await check(uri, cancellationToken).ConfigureAwait(false) is { } refusal)
        {
            return new WebImageDownload(uri, null, 0, null, $"{uri} was not downloaded: {refusal}.");
        }

        WebResource fetched;
        try
        {
            fetched = await fetcher.GetAsync(uri, new WebFetchRequest { AcceptedMediaTypes = ImageTypes, MaxBytes = limit, CheckRedirect = check },
                cancellationToken).ConfigureAwait(false);
        }
        catch (WebFetchException ex)
        {
            return new WebImageDownload(uri, null, 0, null, ex.Message) { TimedOut = ex.IsTimeout, TooLargeAt = ex.IsTooLarge ? limit : null };
        }

        try
        {
            var path = System.IO.Path.Combine(Folder(), Guid.NewGuid().ToString("N"));
            await File.WriteAllBytesAsync(path, fetched.Content, cancellationToken).ConfigureAwait(false);
            return new WebImageDownload(uri, path, fetched.Content.Length, fetched.MediaType, null);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return new WebImageDownload(uri, null, 0, null, $"{uri}: the downloaded image could not be kept in a temporary file ({ex.Message}).");
        }
    }

    private string Folder()
    {
        lock (_lock)
        {
            // A page given up at its time limit may still be downloading when the run ends: it keeps nothing.
            ObjectDisposedException.ThrowIf(_disposed, this);
            _folder ??= Directory.CreateTempSubdirectory("mmrag-web-images-");
            return _folder.FullName;
        }
    }

    /// <summary>Deletes the downloaded bodies.</summary>
    public void Dispose()
    {
        DirectoryInfo? folder;
        lock (_lock)
        {
            folder = _folder;
            _folder = null;
            _disposed = true;
        }

        try
        {
            folder?.Delete(recursive: true);
        }
        catch (IOException)
        {
            // A temporary folder left behind is harmless.
        }
    }
}

/// <summary>One image URL's download in a run: its body in <see cref="Path"/>, or why it could not be had.</summary>
/// <param name="Uri">The URL asked for.</param>
/// <param name="Path">The body's temporary file; null when it failed.</param>
/// <param name="Length">The body's length in bytes.</param>
/// <param name="MediaType">The response's media type, when it sent one.</param>
/// <param name="Problem">Why it failed (names the URL); null when it was downloaded.</param>
internal sealed record WebImageDownload(Uri Uri, string? Path, long Length, string? MediaType, string? Problem)
{
    /// <summary>The fetch ran past the fetcher's time limit.</summary>
    public bool TimedOut { get; init; }

    /// <summary>The body was larger than this limit, in bytes.</summary>
    public long? TooLargeAt { get; init; }
}
