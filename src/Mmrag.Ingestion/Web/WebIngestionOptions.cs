namespace Mmrag.Ingestion.Web;

/// <summary>How a run fetches web pages given by URL, and how far it crawls from them. Validated when the run starts.</summary>
public sealed record WebIngestionOptions
{
    /// <summary>The default of <see cref="MaxImageBytesPerPage"/>: 64 MiB.</summary>
    public const long DefaultMaxImageBytesPerPage = 64L * 1024 * 1024;

    /// <summary>The default of <see cref="MaxImageRequestsPerPage"/>: 200.</summary>
    public const int DefaultMaxImageRequestsPerPage = 200;

    /// <summary>The fetcher's guard and limits (private hosts, response size, time, redirects, User-Agent).</summary>
    public WebFetcherOptions Fetcher { get; init; } = new();

    /// <summary>The deepest crawl <see cref="Depth"/> may ask for (the CLI, the API and a server's own limit are held to it).</summary>
    public const int MaxDepth = 10;

    /// <summary>How many links away from a given page to crawl: 0 (the default) reads the page alone, at most <see cref="MaxDepth"/>.</summary>
    public int Depth { get; init; }

    /// <summary>Most pages read from one run's URLs, crawled pages and followed PDFs included.</summary>
    public int MaxPages { get; init; } = 100;

    /// <summary>Crawl only links to the host of the page the crawl started from.</summary>
    public bool SameSite { get; init; }

    /// <summary>Also download the PDFs a page links to (<c>--follow pdf</c>), read by the PDF loader with the PDF's URL as their source.</summary>
    public bool FollowPdf { get; init; }

    /// <summary>Least time between two page requests to one host (robots.txt's <c>Crawl-delay</c> may ask for more, up to 30 s).</summary>
    public TimeSpan HostDelay { get; init; } = TimeSpan.FromSeconds(1);

    /// <summary>
    /// Honour each host's robots.txt (cached per host for the run; one that cannot be had disallows the host until a later
    /// request finds it, at most 3 tries a run): a page it disallows is skipped, with the reason.
    /// </summary>
    public bool RespectRobotsTxt { get; init; } = true;

    /// <summary>
    /// Most bytes of images downloaded and kept for one page (or article): each image is asked for with what is left as
    /// its size limit, and those past it are skipped with a warning naming the page and the image's URL. The page's
    /// text is stored all the same; an image is kept whole or not at all.
    /// </summary>
    public long MaxImageBytesPerPage { get; init; } = DefaultMaxImageBytesPerPage;

    /// <summary>
    /// Most image downloads one page (or article) may ask for, each <c>srcset</c> candidate counted, whether it answers
    /// or fails: a page of thousands of broken <c>&lt;img&gt;</c> tags costs that many requests, not one each. The images
    /// past it are skipped with one warning naming the page; its text is stored all the same. 0 downloads none.
    /// </summary>
    public int MaxImageRequestsPerPage { get; init; } = DefaultMaxImageRequestsPerPage;

    /// <summary>Throws when a setting is out of range; the message names it.</summary>
    public void Validate()
    {
        ArgumentNullException.ThrowIfNull(Fetcher, nameof(Fetcher));
        Fetcher.Validate();
        if (Depth is < 0 or > MaxDepth)
        {
            throw new ArgumentOutOfRangeException(nameof(Depth), Depth, $"WebIngestionOptions.Depth must be between 0 and {MaxDepth}.");
        }

        if (MaxPages < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(MaxPages), MaxPages, "WebIngestionOptions.MaxPages must be at least 1.");
        }

        if (MaxImageBytesPerPage < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(MaxImageBytesPerPage), MaxImageBytesPerPage, "WebIngestionOptions.MaxImageBytesPerPage must be positive.");
        }

        if (MaxImageRequestsPerPage < 0)
        {
            throw new ArgumentOutOfRangeException(nameof(MaxImageRequestsPerPage), MaxImageRequestsPerPage, "WebIngestionOptions.MaxImageRequestsPerPage must not be negative.");
        }

        if (HostDelay < TimeSpan.Zero || HostDelay > TimeSpan.FromMinutes(1))
        {
            throw new ArgumentOutOfRangeException(nameof(HostDelay), HostDelay, "WebIngestionOptions.HostDelay must be between 0 and 1 minute.");
        }
    }
}
