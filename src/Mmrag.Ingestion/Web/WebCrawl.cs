using System.Diagnostics;
using System.Text;

namespace Mmrag.Ingestion.Web;

/// <summary>
/// The web pages of one run: which URLs are scheduled (each once, at most <see cref="WebIngestionOptions.MaxPages"/>),
/// how far from a given page a link may lead (<see cref="WebIngestionOptions.Depth"/>, same host with
/// <see cref="WebIngestionOptions.SameSite"/>, PDFs with <see cref="WebIngestionOptions.FollowPdf"/>), each host's
/// robots.txt (fetched once) and the delay between two requests to one host. Thread-safe.
/// </summary>
internal sealed class WebCrawl(WebFetcher fetcher, WebIngestionOptions options)
{
    /// <summary>Most links kept from one page (in its stored state, for crawling on from an unchanged page).</summary>
    public const int MaxLinksPerPage = 1_000;

    /// <summary>Why a page or a redirect to it is not fetched when robots.txt disallows it.</summary>
    public const string RobotsDisallowed = "robots.txt disallows it for mmrag";

    private const long MaxRobotsBytes = 512 * 1024;

    private readonly Lock _lock = new();
    private readonly HashSet<string> _scheduled = new(StringComparer.Ordinal);
    private readonly Dictionary<string, Task<RobotsTxt>> _robots = new(StringComparer.OrdinalIgnoreCase);
    private readonly Dictionary<string, long> _nextRequest = new(StringComparer.OrdinalIgnoreCase);

    public WebIngestionOptions Options { get; } = options;

    /// <summary>A page given to the run (depth 0, its host the site of its crawl); null when it is already scheduled or the page budget is spent.</summary>
    public WebPageSource? Start(Uri uri) => Schedule(RemoteSources.Normalize(uri), 0, uri.IdnHost);

    /// <summary>The pages and PDFs <paramref name="page"/> links to that the options say to read next.</summary>
    public IReadOnlyList<RemoteSource> FollowUps(WebPageSource page, IEnumerable<Uri> links)
    {
        var next = new List<RemoteSource>();
        foreach (var link in links)
        {
            var pdf = link.AbsolutePath.EndsWith(".pdf", StringComparison.OrdinalIgnoreCase);
            var wanted = pdf ? Options.FollowPdf : page.Depth < Options.Depth;
            if (!wanted || (Options.SameSite && !string.Equals(link.IdnHost, page.Site, StringComparison.OrdinalIgnoreCase)))
            {
                continue;
            }

            if (Schedule(link, page.Depth + 1, page.Site) is { } source)
            {
                next.Add(source);
            }
        }

        return next;
    }

    /// <summary>The links of a page worth keeping: http(s), absolute, without fragments, each once, at most <see cref="MaxLinksPerPage"/>.</summary>
    public static List<Uri> Links(IEnumerable<string> hrefs, Uri baseUri) =>
    [
        .. hrefs
            .Select(href => Uri.TryCreate(baseUri, href, out var uri) && (uri.Scheme == Uri.UriSchemeHttp || uri.Scheme == Uri.UriSchemeHttps)
                ? RemoteSources.Normalize(uri)
                : null)
            .OfType<Uri>()
            .Distinct()
            .Take(MaxLinksPerPage),
    ];

    /// <summary>Whether the host's robots.txt lets mmrag fetch <paramref name="uri"/> (fetched once per host and run).</summary>
    public async Task<bool> AllowedAsync(Uri uri, CancellationToken cancellationToken)
    {
        if (!Options.RespectRobotsTxt)
        {
            return true;
        }

        Task<RobotsTxt> robots;
        lock (_lock)
        {
            var key = uri.GetLeftPart(UriPartial.Authority);
            // Shared by every page of the host, so not cancelled with the page that happened to ask first (the
            // fetcher's own time limit bounds it); each page stops waiting when its own token says so.
            if (!_robots.TryGetValue(key, out robots!) || robots.IsCanceled || robots.IsFaulted)
            {
                robots = FetchRobotsAsync(uri, CancellationToken.None);
                _robots[key] = robots;
            }
        }

        return (await robots.WaitAsync(cancellationToken).ConfigureAwait(false)).Allows(uri);
    }

    /// <summary>Waits until the host of <paramref name="uri"/> may be asked again (<see cref="WebIngestionOptions.HostDelay"/>, or robots.txt's crawl delay).</summary>
    public async Task WaitTurnAsync(Uri uri, CancellationToken cancellationToken)
    {
        var delay = Options.HostDelay;
        var key = uri.GetLeftPart(UriPartial.Authority);
        Task<RobotsTxt>? robots;
        lock (_lock)
        {
            _robots.TryGetValue(key, out robots);
        }

        if (robots is { IsCompletedSuccessfully: true } && robots.Result.CrawlDelay is { } crawlDelay && crawlDelay > delay)
        {
            delay = crawlDelay;
        }

        TimeSpan wait;
        lock (_lock)
        {
            var now = Stopwatch.GetTimestamp();
            var next = _nextRequest.GetValueOrDefault(key, now);
            var start = Math.Max(now, next);
            _nextRequest[key] = start + (long)(delay.TotalSeconds * Stopwatch.Frequency);
            wait = Stopwatch.GetElapsedTime(now, start);
        }

        if (wait > TimeSpan.Zero)
        {
            await Task.Delay(wait, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>
    /// A redirect of a page to <paramref name="uri"/> (<see cref="WebFetchRequest.CheckRedirect"/>): the hop is held to
    /// robots.txt and the delay of its own host like a page given by URL; the refusal's reason, or null after the wait.
    /// </summary>
    public async Task<string?> CheckRedirectAsync(Uri uri, CancellationToken cancellationToken)
    {
        if (TrustedOnlyForItsSource(uri) is { } refusal)
        {
            return refusal;
        }

        if (!await AllowedAsync(uri, cancellationToken).ConfigureAwait(false))
        {
            return RobotsDisallowed;
        }

        await WaitTurnAsync(uri, cancellationToken).ConfigureAwait(false);
        return null;
    }

    /// <summary>
    /// An image a page shows, at <paramref name="uri"/> (and each redirect hop of its download): held to robots.txt of its
    /// own host, not to the host delay (a page's images belong to the page's request, as a browser fetches them with
    /// it); the refusal's reason, or null.
    /// </summary>
    public async Task<string?> CheckImageAsync(Uri uri, CancellationToken cancellationToken) =>
        TrustedOnlyForItsSource(uri) ?? (await AllowedAsync(uri, cancellationToken).ConfigureAwait(false) ? null : RobotsDisallowed);

    /// <summary>
    /// Why a crawl may not fetch <paramref name="uri"/> although the fetcher would: its host and port are among
    /// <see cref="WebFetcherOptions.TrustedHosts"/> (an operator's private Wikipedia mirror), which are trusted for the
    /// source configured with them, not for pages a client or another page names. Null when the crawl may.
    /// </summary>
    public string? TrustedOnlyForItsSource(Uri uri) =>
        !fetcher.Options.AllowPrivateHosts && fetcher.Options.Trusts(uri.IdnHost, uri.Port)
            ? $"{uri.IdnHost}:{uri.Port} is trusted only for the source configured with it (the Wikipedia API); pages, redirects and images there are refused unless private hosts are allowed (--allow-private-hosts)"
            : null;

    private WebPageSource? Schedule(Uri uri, int depth, string site)
    {
        lock (_lock)
        {
            if (_scheduled.Count >= Options.MaxPages || !_scheduled.Add(uri.AbsoluteUri))
            {
                return null;
            }
        }

        return new WebPageSource(uri, this, depth, site);
    }

    private async Task<RobotsTxt> FetchRobotsAsync(Uri page, CancellationToken cancellationToken)
    {
        var robots = new Uri(page.GetLeftPart(UriPartial.Authority) + "/robots.txt");
        try
        {
            await WaitTurnAsync(robots, cancellationToken).ConfigureAwait(false);
            var response = await fetcher.GetAsync(robots, new WebFetchRequest { MaxBytes = MaxRobotsBytes }, cancellationToken).ConfigureAwait(false);
            return RobotsTxt.Parse(Encoding.UTF8.GetString(response.Content));
        }
        catch (WebFetchException ex) when (ex.IsRefusedHost || (ex.StatusCode is { } status && (int)status is >= 400 and < 500 and not 429))
        {
            // RFC 9309: robots.txt unavailable (4xx) allows everything. A host the guard refuses fails on the page
            // itself, with the guard's reason rather than a robots.txt one.
            return RobotsTxt.AllowAll;
        }
        catch (WebFetchException)
        {
            // RFC 9309: unreachable (a server error, too many requests, a time-out, a dropped connection) means "assume
            // complete disallow".
            return RobotsTxt.DisallowAll;
        }
    }
}
