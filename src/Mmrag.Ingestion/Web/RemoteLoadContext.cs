using Mmrag.Imaging;
using Mmrag.Ingestion.Loaders;

namespace Mmrag.Ingestion.Web;

/// <summary>How <see cref="RemoteLoadContext.LoadHtmlAsync"/> treats a page's images.</summary>
public sealed record RemoteHtmlOptions
{
    /// <summary>
    /// A description for the image downloaded from a URL (e.g. its licence and attribution), stored with the image item
    /// and shown with its hits and citations; null or a null result stores none.
    /// </summary>
    public Func<Uri, string?>? DescribeImage { get; init; }
}

/// <summary>
/// What a <see cref="RemoteSource"/> gets from the run: the guarded fetcher, the state stored with the current version
/// (for conditional requests), the run's limits, and the loaders (HTML with downloaded images, or any file type) that
/// produce a <see cref="LoadedDocument"/> whose source is the source's URL. One per source and call.
/// </summary>
public sealed class RemoteLoadContext
{
    private readonly LoaderRegistry _loaders;
    private readonly HtmlLoader _html;
    private readonly WebImageDownloads _images;

    internal RemoteLoadContext(RemoteSource source, WebFetcher fetcher, WebImageDownloads images, LoaderRegistry loaders, HtmlLoader html,
        RemoteDocumentState? stored)
    {
        Source = source;
        Fetcher = fetcher;
        _images = images;
        _loaders = loaders;
        _html = html;
        Stored = stored;
    }

    /// <summary>The source being loaded.</summary>
    public RemoteSource Source { get; }

    /// <summary>The run's guarded HTTP fetcher (private hosts refused unless the run allows them; size, time and redirect limits).</summary>
    public WebFetcher Fetcher { get; }

    /// <summary>
    /// The state stored with the document's current version, or null when there is none or the stored document is
    /// not that version (then the source must load it in full).
    /// </summary>
    public RemoteDocumentState? Stored { get; }

    /// <summary>Largest image kept, in pixels (width × height read from its header).</summary>
    public long MaxImagePixels { get; init; } = 100_000_000;

    /// <summary>Largest document or image read, in bytes (the fetcher's own limit applies too).</summary>
    public long MaxBytes { get; init; } = 512L * 1024 * 1024;

    /// <summary>Most items taken from the document.</summary>
    public int MaxItems { get; init; } = 20_000;

    /// <summary>Most bytes of images kept from one page (<see cref="WebIngestionOptions.MaxImageBytesPerPage"/>).</summary>
    public long MaxImageBytesPerPage { get; init; } = WebIngestionOptions.DefaultMaxImageBytesPerPage;

    /// <summary>Most image downloads asked for by one page (<see cref="WebIngestionOptions.MaxImageRequestsPerPage"/>).</summary>
    public int MaxImageRequestsPerPage { get; init; } = WebIngestionOptions.DefaultMaxImageRequestsPerPage;

    /// <summary>
    /// Reads an HTML page fetched into memory like the HTML loader reads a saved one (main text, sections, figures and
    /// captions); each <c>&lt;img&gt;</c> is downloaded through <see cref="Fetcher"/>, relative to
    /// <paramref name="pageUri"/> (the page's final URL): the largest <c>srcset</c> candidate that fits the size and
    /// pixel limits and what is left of <see cref="MaxImageBytesPerPage"/>, else the next smaller one, else <c>src</c>
    /// (after a candidate that timed out, none: a slow server would spend the document's time limit on each). Each URL
    /// is downloaded once per run, however many pages show it. An image that cannot be had is a warning of the
    /// document naming its URL. After <see cref="MaxImageRequestsPerPage"/> downloads asked for, the page's other images
    /// are left out, with one warning naming the page. Items name the source's URL as their source.
    /// </summary>
    public async Task<LoadedDocument> LoadHtmlAsync(ReadOnlyMemory<byte> html, Uri pageUri, RemoteHtmlOptions? options = null,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(pageUri);
        return await LoadPageAsync(html.ToArray(), pageUri, options, links: null, checkImage: null, cancellationToken).ConfigureAwait(false);
    }

    /// <param name="html">The page.</param>
    /// <param name="pageUri">Its final URL.</param>
    /// <param name="options">How its images are described.</param>
    /// <param name="links">Receives its links, when given.</param>
    /// <param name="checkImage">Asked before an image is downloaded and at each redirect of its download (a crawl's
    /// robots.txt); a reason to refuse it, or null.</param>
    /// <param name="cancellationToken">Stops the load.</param>
    internal Task<LoadedDocument> LoadPageAsync(byte[] html, Uri pageUri, RemoteHtmlOptions? options, List<string>? links,
        Func<Uri, CancellationToken, Task<string?>>? checkImage, CancellationToken cancellationToken)
    {
        var images = new WebImages(this, pageUri, options ?? new RemoteHtmlOptions(), checkImage);
        return _html.LoadAsync(html, Source.SourcePath, MaxItems, images.ReadAsync, links, cancellationToken);
    }

    /// <summary>
    /// Reads a document of another type fetched into memory (e.g. a PDF) with the loader for
    /// <paramref name="extension"/> (<c>.pdf</c>); its items name the source's URL as their source. Images inside it
    /// are kept in the knowledge base's image cache.
    /// </summary>
    /// <exception cref="DocumentLoadException">No loader reads that type, or the content cannot be read.</exception>
    public async Task<LoadedDocument> LoadFileAsync(ReadOnlyMemory<byte> content, string extension, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(extension);
        var name = "document" + (extension.StartsWith('.') ? extension : "." + extension);
        if (_loaders.Find(name) is PdfLoader pdf)
        {
            return await pdf.LoadAsync(content.ToArray(), Source.SourcePath, LoadContext(), cancellationToken).ConfigureAwait(false);
        }

        if (_loaders.Find(name) is not { } loader)
        {
            throw new DocumentLoadException($"{Source.SourcePath}: no loader reads '{extension}' documents.");
        }

        // Other loaders read files: the content goes through a private temporary file, and the names are put back.
        var folder = Directory.CreateTempSubdirectory("mmrag-remote-");
        try
        {
            var path = Path.Combine(folder.FullName, name);
            await File.WriteAllBytesAsync(path, content.ToArray(), cancellationToken).ConfigureAwait(false);
            var loaded = await loader.LoadAsync(path, LoadContext() with { Root = folder.FullName }, cancellationToken).ConfigureAwait(false);
            return Renamed(loaded, path, Source.SourcePath);
        }
        finally
        {
            try
            {
                folder.Delete(recursive: true);
            }
            catch (IOException)
            {
                // A temporary folder left behind is harmless.
            }
        }
    }

    private DocumentLoadContext LoadContext() => new(Path.GetTempPath(), new Dictionary<string, string>())
    {
        MaxFileBytes = MaxBytes,
        MaxImagePixels = MaxImagePixels,
        MaxItems = MaxItems,
    };

    private static LoadedDocument Renamed(LoadedDocument document, string from, string to) => document with
    {
        SourcePath = to,
        Items = [.. document.Items.Select(i => i with
        {
            Provenance = i.Provenance with { SourcePath = to },
            ImagePath = i.ImagePath is not null && i.ImagePath.StartsWith(Path.GetDirectoryName(from)!, StringComparison.Ordinal) ? null : i.ImagePath,
        })],
        Failures = [.. document.Failures.Select(f => f with { SourcePath = to, Reason = f.Reason.Replace(from, to, StringComparison.Ordinal) })],
    };

    /// <summary>Downloads a page's images (see <see cref="LoadHtmlAsync(ReadOnlyMemory{byte}, Uri, RemoteHtmlOptions?, CancellationToken)"/>).</summary>
    private sealed class WebImages(RemoteLoadContext context, Uri pageUri, RemoteHtmlOptions options,
        Func<Uri, CancellationToken, Task<string?>>? checkImage)
    {
        // An image shown twice on the page is one download and counts once against the page's budget.
        private readonly Dictionary<Uri, ResolvedImage> _kept = [];
        private long _keptBytes;
        // The image URLs this page asked for, failed ones included: a hostile page's broken images are bounded by their
        // number, not only by time. A URL asked for again (the same icon down a list) is answered from the run's
        // downloads and does not count again.
        private readonly HashSet<Uri> _asked = [];
        private bool _requestsSpent;

        public async Task<ResolvedImage?> ReadAsync(HtmlImage image, DocumentBuilder builder, CancellationToken cancellationToken)
        {
            var source = image.Source.Trim();
            if (source.StartsWith("data:", StringComparison.OrdinalIgnoreCase))
            {
                // An inline image: the file loaders' reading of data: URIs (nothing is fetched).
                return await ImageReferences.ReadAsync(source, builder, new DocumentLoadContext(Path.GetTempPath(), new Dictionary<string, string>())
                {
                    MaxFileBytes = context.MaxBytes,
                    MaxImagePixels = context.MaxImagePixels,
                }, cancellationToken).ConfigureAwait(false);
            }

            var candidates = SrcSet.Candidates(image.SrcSet, source, pageUri);
            var detail = $"image '{Shorten(source)}'";
            if (candidates.Count == 0)
            {
                if (source.Length > 0 && !source.StartsWith('#'))
                {
                    builder.AddFailure("The image reference is not an http or https URL; it was not read.", detail);
                }

                return null;
            }

            string? problem = null;
            foreach (var candidate in candidates)
            {
                if (_kept.TryGetValue(candidate, out var again))
                {
                    return again;
                }

                var left = context.MaxImageBytesPerPage - _keptBytes;
                if (left <= 0)
                {
                    problem = $"{candidate} was not downloaded: the page's images already take the {context.MaxImageBytesPerPage:N0}-byte budget (MaxImageBytesPerPage).";
                    break;
                }

                if (!_asked.Contains(candidate) && _asked.Count >= context.MaxImageRequestsPerPage)
                {
                    if (!_requestsSpent)
                    {
                        _requestsSpent = true;
                        builder.AddFailure($"The page {pageUri} asks for more images than the {context.MaxImageRequestsPerPage:N0} downloads a page may "
                            + "(MaxImageRequestsPerPage); its other images were not downloaded.", detail);
                    }

                    break;
                }

                _asked.Add(candidate);

                var download = await context._images.GetAsync(candidate, Math.Min(context.MaxBytes, left), checkImage, cancellationToken).ConfigureAwait(false);
                if (download.Problem is not null)
                {
                    problem = download.TooLargeAt is { } limit && limit == left
                        ? $"{candidate} is larger than the {left:N0} bytes left of the page's {context.MaxImageBytesPerPage:N0}-byte image budget (MaxImageBytesPerPage)."
                        : download.Problem;
                    if (download.TimedOut)
                    {
                        break; // The next smaller candidate, from the same slow server, would take as long (a 404 does fall back).
                    }

                    continue; // The next smaller candidate may fit.
                }

                if (download.Length > left)
                {
                    // Downloaded for another page with more room left.
                    problem = $"{candidate} ({download.Length:N0} bytes) is larger than the {left:N0} bytes left of the page's {context.MaxImageBytesPerPage:N0}-byte image budget (MaxImageBytesPerPage).";
                    continue;
                }

                var content = await WebImageDownloads.ReadAsync(download, cancellationToken).ConfigureAwait(false);
                var mediaType = ImageFormats.Sniff(content);
                if (mediaType is null)
                {
                    // Vector images (SVG) are common on the web and simply not something CLIP reads.
                    problem = download.MediaType == "image/svg+xml" ? null : $"{candidate} is not a JPEG, PNG, WebP, GIF or BMP image.";
                    continue;
                }

                var size = ImageHeader.Read(content);
                if (size is null || size.CanvasPixels > context.MaxImagePixels)
                {
                    problem = size is null
                        ? $"{candidate}: its size cannot be read from its header."
                        : $"{candidate} is {size.CanvasWidth}×{size.CanvasHeight} pixels, more than the {context.MaxImagePixels:N0}-pixel limit (MaxImagePixels).";
                    continue;
                }

                var description = options.DescribeImage?.Invoke(candidate);
                var resolved = new ResolvedImage(content, mediaType, null) { Description = description };
                _kept[candidate] = resolved;
                _keptBytes += content.Length;
                return resolved;
            }

            if (problem is not null)
            {
                builder.AddFailure($"The image was not read: {problem}", detail);
            }

            return null;
        }

        private static string Shorten(string reference) => reference.Length <= 120 ? reference : reference[..117] + "...";
    }
}
