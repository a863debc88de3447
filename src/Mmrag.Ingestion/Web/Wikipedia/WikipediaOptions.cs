using System.Text.RegularExpressions;

namespace Mmrag.Ingestion.Web.Wikipedia;

/// <summary>
/// Which Wikipedia an ingestion reads articles from and how: the language edition (or another MediaWiki's API), the
/// width the article's images are downloaded at, and how many images are taken. Validated when the run starts.
/// </summary>
public sealed partial record WikipediaOptions
{
    /// <summary>The prefix that makes a path argument an article title: <c>wikipedia:Helsinki</c>.</summary>
    public const string PathPrefix = "wikipedia:";

    /// <summary>Most titles one MediaWiki query may name (the API's limit for clients without the apihighlimits right).</summary>
    public const int MaxTitlesPerQuery = 50;

    /// <summary>Language edition (the subdomain of wikipedia.org): <c>en</c>, <c>fi</c>, <c>sv</c>, <c>zh-min-nan</c>.</summary>
    public string Language { get; init; } = "en";

    /// <summary>
    /// The MediaWiki Action API endpoint; null means <c>https://{Language}.wikipedia.org/w/api.php</c>. Another wiki (or a
    /// test's loopback server) is named here; article URLs are made on the same host (<c>/wiki/Title</c>).
    /// </summary>
    public Uri? ApiUrl { get; init; }

    /// <summary>Width, in pixels, the article's images are asked for (MediaWiki scales them; smaller originals come as they are).</summary>
    public int ImageWidth { get; init; } = 800;

    /// <summary>Most images taken from one article, in the order the article shows them.</summary>
    public int MaxImages { get; init; } = 40;

    /// <summary>
    /// Images shown smaller than this in the article (flags, icons, map markers), in pixels on their longer side, are
    /// not taken: they say nothing a search would look for.
    /// </summary>
    public int MinDisplayedSize { get; init; } = 100;

    /// <summary>The API endpoint used: <see cref="ApiUrl"/>, or the language edition's.</summary>
    public Uri EffectiveApiUrl => ApiUrl ?? new Uri($"https://{Language}.wikipedia.org/w/api.php");

    /// <summary>Throws when a setting is out of range; the message names it.</summary>
    public void Validate()
    {
        if (string.IsNullOrWhiteSpace(Language) || !LanguageCode().IsMatch(Language))
        {
            throw new ArgumentException($"WikipediaOptions.Language '{Language}' is not a Wikipedia language code (such as en, fi or zh-min-nan).", nameof(Language));
        }

        if (ApiUrl is { } api && (!api.IsAbsoluteUri || (api.Scheme != Uri.UriSchemeHttps && api.Scheme != Uri.UriSchemeHttp)))
        {
            throw new ArgumentException($"WikipediaOptions.ApiUrl '{api}' must be an absolute http(s) URL such as https://en.wikipedia.org/w/api.php.", nameof(ApiUrl));
        }

        if (ImageWidth is < 16 or > 4096)
        {
            throw new ArgumentOutOfRangeException(nameof(ImageWidth), ImageWidth, "WikipediaOptions.ImageWidth must be between 16 and 4096 pixels.");
        }

        if (MaxImages < 0)
        {
            throw new ArgumentOutOfRangeException(nameof(MaxImages), MaxImages, "WikipediaOptions.MaxImages must not be negative.");
        }

        if (MinDisplayedSize < 0)
        {
            throw new ArgumentOutOfRangeException(nameof(MinDisplayedSize), MinDisplayedSize, "WikipediaOptions.MinDisplayedSize must not be negative.");
        }
    }

    [GeneratedRegex("^[a-z]{2,3}(-[a-z0-9]{1,8})*$", RegexOptions.CultureInvariant)]
    private static partial Regex LanguageCode();
}
