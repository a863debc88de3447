using System.Diagnostics;
using System.Text;

namespace Mmrag.Ingestion.Web;

/// <summary>
/// The web pages of one run: which URLs are scheduled (each once, at most <see cref="WebIngestionOptions.MaxPages"/>),
/// how far from a given page a link may lead (<see cref="WebIngestionOptions.Depth"/>, same host with
/// <see cref="WebIngestionOptions.SameSite"/>, PDFs with <see cref="WebIngestionOptions.FollowPdf"/>), each host's
/// robots.txt (fetched once, again after a failure that may pass) and the delay between two requests to one host. Thread-safe.
/// </summary>
internal sealed class WebCrawl(WebFetcher fetcher, WebIngestionOptions options)
{
    /// <summary>Most links kept from one page (in its stored state, for crawling on from an unchanged page).</summary>
    public const int MaxLinksPerPage = 1_000;

    /// <summary>Why a page or a redirect to it is not fetched when robots.txt disallows it.</summary>
    public const string RobotsDisallowed = "robots.txt disallows it for mmrag";

    /// <summary>
    /// Most times one host's robots.txt is asked for in a run while it cannot be had (a server error, 429, a time-out):
    /// a passing failure costs the pages asked meanwhile, not the whole site, and a host that stays down is not asked
    /// again for each of its pages.
    /// </summary>
    public const int MaxRobotsAttempts = 3;

    private const long MaxRobotsBytes = 512 * 1024;

    private readonly Lock _lock = new();
    private readonly HashSet<string> _scheduled = new(StringComparer.Ordinal);
    private readonly Dictionary<string, HostRobots> _robots = new(StringComparer.OrdinalIgnoreCase);
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

    /// <summary>
    /// Whether the host's robots.txt lets mmrag fetch <paramref name="uri"/>: fetched once per host and run, with the
    /// page's <paramref name="cancellationToken"/>. One that cannot be had (a server error, 429, a time-out, a dropped
    /// connection) disallows the host for now, as RFC 9309 says, and is asked for again by the host's next request, at
    /// most <see cref="MaxRobotsAttempts"/> times in a run; after that the host stays disallowed.
    /// </summary>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled (never reported as a disallow).</exception>
    public async Task<bool> AllowedAsync(Uri uri, CancellationToken cancellationToken)
    {
        if (!Options.RespectRobotsTxt)
        {
            return true;
        }

        var key = uri.GetLeftPart(UriPartial.Authority);
        while (true)
        {
            Task<Robots> fetch;
            lock (_lock)
            {
                if (!_robots.TryGetValue(key, out var host))
                {
                    host = new HostRobots();
                    _robots[key] = host;
                }

                // A fetch cancelled with the page that started it (its time limit) is no answer, and one that found
                // robots.txt unreachable stands only until the host's next request (within the attempts of a run).
                if (host.Fetch is null || host.Fetch.IsCanceled || host.Fetch.IsFaulted
                    || (host.Fetch is { IsCompletedSuccessfully: true, Result.Unreachable: true } && host.Unreachable < MaxRobotsAttempts))
                {
                    host.Fetch = FetchRobotsAsync(uri, host, cancellationToken);
                }

                fetch = host.Fetch;
            }

            try
            {
                return (await fetch.WaitAsync(cancellationToken).ConfigureAwait(false)).Rules.Allows(uri);
            }
            catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
            {
                // Another page started the fetch and gave up (its time limit): this one asks itself.
            }
        }
    }

    /// <summary>Waits until the host of <paramref name="uri"/> may be asked again (<see cref="WebIngestionOptions.HostDelay"/>, or robots.txt's crawl delay).</summary>
    public async Task WaitTurnAsync(Uri uri, CancellationToken cancellationToken)
    {
        var delay = Options.HostDelay;
        var key = uri.GetLeftPart(UriPartial.Authority);
        Task<Robots>? robots;
        lock (_lock)
        {
            robots = _robots.GetValueOrDefault(key)?.Fetch;
        }

        if (robots is { IsCompletedSuccessfully: true } && robots.Result.Rules.CrawlDelay is { } crawlDelay && crawlDelay > delay)
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

    private async Task<Robots> FetchRobotsAsync(Uri page, HostRobots host, CancellationToken cancellationToken)
    {
        var robots = new Uri(page.GetLeftPart(UriPartial.Authority) + "/robots.txt");
        try
        {
            await WaitTurnAsync(robots, cancellationToken).ConfigureAwait(false);
            var response = await fetcher.GetAsync(robots, new WebFetchRequest { MaxBytes = MaxRobotsBytes }, cancellationToken).ConfigureAwait(false);
            return new Robots(RobotsTxt.Parse(Encoding.UTF8.GetString(response.Content)), Unreachable: false);
        }
        catch (WebFetchException ex) when (cancellationToken.IsCancellationRequested)
        {
            // A request torn down by the page's own cancellation says nothing about the host.
            throw new OperationCanceledException(ex.Message, ex, cancellationToken);
        }
        catch (WebFetchException ex) when (ex.IsRefusedHost || (ex.StatusCode is { } status && (int)status is >= 400 and < 500 and not 429))
        {
            // RFC 9309: robots.txt unavailable (4xx) allows everything. A host the guard refuses fails on the page
            // itself, with the guard's reason rather than a robots.txt one.
            return new Robots(RobotsTxt.AllowAll, Unreachable: false);
        }
        catch (WebFetchException)
        {
            // RFC 9309: unreachable (a server error, too many requests, a time-out, a dropped connection) means "assume
            // complete disallow", for now: AllowedAsync asks again for a later request.
            lock (_lock)
            {
                host.Unreachable++;
            }

            return new Robots(RobotsTxt.DisallowAll, Unreachable: true);
        }
    }

    /// <summary>A fetch of robots.txt: its rules, and whether they stand for one that could not be had.</summary>
    private readonly record struct Robots(RobotsTxt Rules, bool Unreachable);

    /// <summary>A host's robots.txt in this run: the latest fetch, and how many found it unreachable. Guarded by <c>_lock</c>.</summary>
    private sealed class HostRobots
    {
        public Task<Robots>? Fetch { get; set; }

        public int Unreachable { get; set; }
    }
}
