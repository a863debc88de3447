using Mmrag.Ingestion.Ocr;
using Mmrag.Ingestion.Pipeline;
using Mmrag.Ingestion.Web;
using Mmrag.Ingestion.Web.Wikipedia;

namespace Mmrag.Hosting;

/// <summary>
/// What a caller asks of one ingestion run besides its paths: how web pages are crawled (<see cref="Web"/>), whether the
/// text in images is read and in which languages (<see cref="OcrLanguages"/>), and which Wikipedia <c>wikipedia:</c>
/// paths are read from (<see cref="WikipediaLanguage"/>, <see cref="WikipediaApi"/>). The CLI (<c>mmrag ingest</c>'s
/// options) and the server (a request's fields under its operator settings) both describe a run with one, and
/// <see cref="MmragKnowledgeBase.CreateIngestionOptions(IngestionRequest, Func{IngestionOptions, IngestionOptions}?)"/>
/// turns it into the run's options: the one place the web, OCR and Wikipedia settings of a run are built. Immutable.
/// </summary>
public sealed record IngestionRequest
{
    /// <summary>How the run's URLs are crawled, and whether private hosts may be fetched.</summary>
    public WebIngestionRequest Web { get; init; } = new();

    /// <summary>Tesseract's languages joined with <c>+</c> (<c>eng</c>, <c>eng+deu</c>); null: no OCR. See <see cref="OcrLanguagesFor"/>.</summary>
    public string? OcrLanguages { get; init; }

    /// <summary>The language edition of <c>wikipedia:Title</c> paths that name none; null: the knowledge base's (<see cref="MmragOptions.Wikipedia"/>).</summary>
    public string? WikipediaLanguage { get; init; }

    /// <summary>The MediaWiki API articles are read from; null: the knowledge base's (<see cref="MmragOptions.Wikipedia"/>).</summary>
    public Uri? WikipediaApi { get; init; }

    /// <summary>
    /// Reach the host and port of the wiki's configured API (<see cref="WikipediaOptions.ApiUrl"/>, this request's or the
    /// knowledge base's) even when private hosts are refused (<see cref="WebFetcherOptions.TrustedHosts"/>): a server
    /// sets it for its operator's own mirror, whose API no client can change, without opening private hosts to every
    /// client. Other hosts, and the same address on another port, stay guarded.
    /// </summary>
    public bool TrustWikipediaApi { get; init; }

    /// <summary>The run's Tesseract settings; null without OCR.</summary>
    public TesseractOcrOptions? Ocr => OcrLanguages is null ? null : new TesseractOcrOptions { Languages = OcrLanguages };

    /// <summary>
    /// The <see cref="OcrLanguages"/> of an OCR switch (<c>--ocr</c>, <c>"ocr": true</c>) and a language list
    /// (<c>--ocr-lang</c>, <c>"ocr_lang"</c>): a list implies OCR, the switch alone reads in Tesseract's default
    /// languages, neither (or a blank list alone) means no OCR.
    /// </summary>
    public static string? OcrLanguagesFor(bool ocr, string? languages) =>
        !string.IsNullOrWhiteSpace(languages) ? languages.Trim()
        : ocr ? new TesseractOcrOptions().Languages
        : null;

    /// <summary>
    /// A MediaWiki API URL given as text (<c>--wikipedia-api</c>, a configuration key), which must be an absolute http(s) URL.
    /// </summary>
    /// <param name="value">The URL as given.</param>
    /// <param name="setting">The option or key it came from, named in the error.</param>
    /// <exception cref="ArgumentException">It is not an absolute http(s) URL; the message names <paramref name="setting"/>.</exception>
    public static Uri ParseWikipediaApi(string value, string setting)
    {
        ArgumentNullException.ThrowIfNull(value);
        return Uri.TryCreate(value.Trim(), UriKind.Absolute, out var url) && (url.Scheme == Uri.UriSchemeHttps || url.Scheme == Uri.UriSchemeHttp)
            ? url
            : throw new ArgumentException($"{setting} '{value}' must be an absolute http(s) URL such as https://en.wikipedia.org/w/api.php.", nameof(value));
    }

    /// <summary>The wiki of this run: <paramref name="configured"/> (the knowledge base's) with this request's language and API.</summary>
    public WikipediaOptions WikipediaFrom(WikipediaOptions configured)
    {
        ArgumentNullException.ThrowIfNull(configured);
        return configured with
        {
            Language = WikipediaLanguage ?? configured.Language,
            ApiUrl = WikipediaApi ?? configured.ApiUrl,
        };
    }

    /// <summary>
    /// Throws <see cref="ArgumentException"/> naming the setting when a value is out of range, before anything is opened;
    /// the wiki is checked as <paramref name="configured"/> (default: Wikipedia's own settings) with this request's changes.
    /// </summary>
    public void Validate(WikipediaOptions? configured = null)
    {
        Web.Validate();
        Ocr?.Validate();
        WikipediaFrom(configured ?? new WikipediaOptions()).Validate();
    }

    /// <summary>
    /// <paramref name="options"/> with this request's web, OCR and Wikipedia settings; <paramref name="configured"/> is the
    /// knowledge base's wiki, which the request may point elsewhere. Validates first.
    /// </summary>
    public IngestionOptions ApplyTo(IngestionOptions options, WikipediaOptions configured)
    {
        ArgumentNullException.ThrowIfNull(options);
        Validate(configured);
        var wiki = WikipediaFrom(configured);
        var applied = Web.ApplyTo(options);
        if (TrustWikipediaApi && wiki.ApiUrl is { } api)
        {
            var fetcher = applied.Web.Fetcher;
            applied = applied with
            {
                Web = applied.Web with { Fetcher = fetcher with { TrustedHosts = [.. fetcher.TrustedHosts, WebFetcherOptions.TrustedHost(api)] } },
            };
        }

        return applied with
        {
            Ocr = Ocr,
            SourceResolvers = [.. options.SourceResolvers.Where(static r => r is not WikipediaSourceResolver), new WikipediaSourceResolver(wiki)],
        };
    }
}
