using Mmrag.Ingestion.Pipeline;

namespace Mmrag.Ingestion.Web;

/// <summary>
/// A web page (HTML, or a PDF) given by URL or reached by a crawl: robots.txt and the host delay are honoured (for
/// each redirect too, at the host it leads to), the request is conditional on the stored validators, and the page's
/// links become the crawl's next pages.
/// </summary>
internal sealed class WebPageSource(Uri uri, WebCrawl crawl, int depth, string site) : RemoteSource(uri)
{
    /// <summary>The metadata key under which a page's links are kept, so a crawl goes on from a page that has not changed.</summary>
    public const string LinksKey = "links";

    /// <summary>The metadata key of the URL the page was read from after redirects.</summary>
    public const string FinalUrlKey = "url";

    private static readonly string[] PageTypes = ["text/html", "application/xhtml+xml", "application/pdf"];

    /// <summary>Links from the page given to the run to this one.</summary>
    public int Depth { get; } = depth;

    /// <summary>The host of the page the crawl started from.</summary>
    public string Site { get; } = site;

    public override async Task<RemoteLoadResult> LoadAsync(RemoteLoadContext context, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(context);
        if (crawl.TrustedOnlyForItsSource(Uri) is { } refusal)
        {
            throw new WebFetchException(Uri, refusal + ".") { IsRefusedHost = true };
        }

        if (!await crawl.AllowedAsync(Uri, cancellationToken).ConfigureAwait(false))
        {
            return RemoteLoadResult.Skipped(WebCrawl.RobotsDisallowed + "; it was not fetched.");
        }

        await crawl.WaitTurnAsync(Uri, cancellationToken).ConfigureAwait(false);
        var stored = context.Stored;
        WebResource page;
        try
        {
            page = await context.Fetcher.GetAsync(Uri, new WebFetchRequest
            {
                AcceptedMediaTypes = PageTypes,
                MaxBytes = context.MaxBytes,
                IfNoneMatch = stored?.ETag,
                IfModifiedSince = stored?.ETag is null ? stored?.LastModified : null,
                CheckRedirect = crawl.CheckRedirectAsync,
            }, cancellationToken).ConfigureAwait(false);
        }
        catch (WebFetchException ex) when (ex.IsRefusedRedirect)
        {
            return RemoteLoadResult.Skipped(ex.Reason);
        }
        catch (WebFetchException ex) when (ex.IsGone)
        {
            return RemoteLoadResult.Gone(ex.Message);
        }

        if (page.NotModified)
        {
            if (stored is null)
            {
                throw new WebFetchException(Uri, "the server answered 304 Not Modified to a request that was not conditional.");
            }

            return Unchanged(stored, page);
        }

        // A server that sends no validators answers 200 every time: the body's hash is the version, and an unchanged
        // one is known before any of the page's images is downloaded again. The final URL must be the same too, as
        // the page's relative links and images resolve against it.
        var version = DocumentIds.Sha256Hex(page.Content);
        if (stored is not null && stored.Version == version
            && stored.Metadata.TryGetValue(FinalUrlKey, out var finalUrl) && finalUrl == page.Uri.AbsoluteUri)
        {
            return Unchanged(stored, page);
        }

        var hrefs = new List<string>();
        var document = IsPdf(page)
            ? await context.LoadFileAsync(page.Content, ".pdf", cancellationToken).ConfigureAwait(false)
            : await context.LoadPageAsync(page.Content, page.Uri, null, hrefs, crawl.CheckImageAsync, cancellationToken).ConfigureAwait(false);
        var links = WebCrawl.Links(hrefs, page.Uri);
        var state = new RemoteDocumentState(version)
        {
            ETag = page.ETag,
            LastModified = page.LastModified,
            Metadata = new Dictionary<string, string>(StringComparer.Ordinal)
            {
                [FinalUrlKey] = page.Uri.AbsoluteUri,
                [LinksKey] = string.Join('\n', links.Select(static l => l.AbsoluteUri)),
            },
        };
        return RemoteLoadResult.Loaded(document, state) with { FollowUps = crawl.FollowUps(this, links) };
    }

    /// <summary>The stored version is current: its validators refreshed, and the crawl goes on from its stored links.</summary>
    private RemoteLoadResult Unchanged(RemoteDocumentState stored, WebResource page)
    {
        var known = stored.Metadata.TryGetValue(LinksKey, out var text)
            ? text.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(RemoteSources.TryParse).OfType<Uri>()
            : [];
        return RemoteLoadResult.Unchanged(stored with { ETag = page.ETag ?? stored.ETag, LastModified = page.LastModified ?? stored.LastModified })
            with { FollowUps = crawl.FollowUps(this, known) };
    }

    private static bool IsPdf(WebResource page) =>
        page.MediaType == "application/pdf" || page.Content.AsSpan(0, Math.Min(page.Content.Length, 1024)).IndexOf("%PDF-"u8) == 0;
}
