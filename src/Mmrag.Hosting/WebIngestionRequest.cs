using Mmrag.Hosting.Wire;
using Mmrag.Ingestion.Pipeline;
using Mmrag.Ingestion.Web;

namespace Mmrag.Hosting;

/// <summary>
/// What a caller asks of the web pages of an ingestion (the CLI's <c>--depth --max-pages --same-site --follow</c> and
/// <c>--allow-private-hosts</c>, the API's <c>depth</c>, <c>max_pages</c>, <c>same_site</c>, <c>follow</c>), applied
/// to a run's options in one place for both. Immutable.
/// </summary>
public sealed record WebIngestionRequest
{
    /// <summary>The kinds of linked documents <see cref="Follow"/> may name.</summary>
    public static IReadOnlyList<string> FollowKinds { get; } = ["pdf"];

    /// <summary>The deepest crawl anyone may ask for (a server's operator may allow less): <see cref="WebIngestionOptions.MaxDepth"/>.</summary>
    public const int DepthLimit = WebIngestionOptions.MaxDepth;

    /// <summary>The most pages anyone may ask for (a server's operator may allow less).</summary>
    public const int MaxPagesLimit = 100_000;

    /// <summary>How many links away from the given pages to crawl (0: the pages alone).</summary>
    public int Depth { get; init; }

    /// <summary>Most pages read (null: the default, 100).</summary>
    public int? MaxPages { get; init; }

    /// <summary>Crawl only the host of the page a crawl started from.</summary>
    public bool SameSite { get; init; }

    /// <summary>Linked documents to download besides pages: <c>pdf</c>.</summary>
    public IReadOnlyList<string> Follow { get; init; } = [];

    /// <summary>Allow hosts that resolve to loopback, private or link-local addresses (the CLI's opt-in; a server's own setting).</summary>
    public bool AllowPrivateHosts { get; init; }

    /// <summary>Throws <see cref="ArgumentException"/> naming the setting (as the API and the CLI spell it) when a value is out of range.</summary>
    public void Validate()
    {
        if (Depth is < 0 or > DepthLimit)
        {
            throw new ArgumentException($"depth must be between 0 and {DepthLimit} (got {Depth}).", nameof(Depth));
        }

        if (MaxPages is < 1 or > MaxPagesLimit)
        {
            throw new ArgumentException($"max_pages must be between 1 and {MaxPagesLimit} (got {MaxPages}).", nameof(MaxPages));
        }

        if (Follow.FirstOrDefault(f => !FollowKinds.Contains(f, StringComparer.OrdinalIgnoreCase)) is { } unknown)
        {
            throw new ArgumentException($"follow: '{unknown}' is not one of {string.Join(", ", FollowKinds)}.", nameof(Follow));
        }
    }

    /// <summary>
    /// The request the wire's crawl settings make (absent fields: the defaults; <c>follow</c> kinds each once), not yet
    /// validated (<see cref="Validate"/>).
    /// </summary>
    public static WebIngestionRequest FromWire(CrawlRequest wire)
    {
        ArgumentNullException.ThrowIfNull(wire);
        return new WebIngestionRequest
        {
            Depth = wire.Depth ?? 0,
            MaxPages = wire.MaxPages,
            SameSite = wire.SameSite ?? false,
            // A list of a million "pdf"s is one kind: what is kept (and journaled) stays small.
            Follow = [.. (wire.Follow ?? []).Select(static f => f ?? "").Distinct(StringComparer.OrdinalIgnoreCase)],
        };
    }

    /// <summary>The crawl settings on the wire (<see cref="AllowPrivateHosts"/> is no request's to make, so it is not there).</summary>
    public CrawlRequest ToWire() => new(Depth, MaxPages, SameSite, Follow);

    /// <summary><paramref name="options"/> with this request's web settings.</summary>
    public IngestionOptions ApplyTo(IngestionOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        Validate();
        var web = options.Web;
        return options with
        {
            Web = web with
            {
                Depth = Depth,
                MaxPages = MaxPages ?? web.MaxPages,
                SameSite = SameSite,
                FollowPdf = Follow.Contains("pdf", StringComparer.OrdinalIgnoreCase),
                Fetcher = web.Fetcher with { AllowPrivateHosts = AllowPrivateHosts || web.Fetcher.AllowPrivateHosts },
            },
        };
    }

}
