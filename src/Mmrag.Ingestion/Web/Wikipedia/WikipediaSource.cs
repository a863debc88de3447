using System.Diagnostics.CodeAnalysis;
using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using Mmrag.Knowledge;

namespace Mmrag.Ingestion.Web.Wikipedia;

/// <summary>
/// A Wikipedia article as a remote document, read through the MediaWiki Action API with the run's guarded fetcher:
/// <c>action=parse</c> gives the article's HTML, revision and files; when the revision is the stored one nothing more
/// is fetched (one request per unchanged article). Otherwise the pictures the article shows are looked up with
/// <c>prop=imageinfo</c> (at most <see cref="WikipediaOptions.MaxTitlesPerQuery"/> per request) at
/// <see cref="WikipediaOptions.ImageWidth"/>, and the page goes through the run's HTML path
/// (<see cref="RemoteLoadContext.LoadHtmlAsync"/>): sections, captions, images downloaded from their renditions. Each
/// image's description carries its licence and author (<see cref="ImageAttribution"/>), so hits, citations and prompts
/// show them; the document's state keeps the title, revision, language, URL and every image's licence fields
/// (<see cref="RemoteDocumentState.Metadata"/>, keys in <see cref="MetadataKeys"/>). Its URL is the article's
/// (<c>https://en.wikipedia.org/wiki/Helsinki</c>): the document's identity and what citations link to.
/// <para>Thread-safe for one load at a time.</para>
/// </summary>
public sealed partial class WikipediaSource : RemoteSource
{
    private static readonly string[] JsonTypes = ["application/json"];

    /// <summary>Creates the source for the article <paramref name="title"/> of <paramref name="options"/>' wiki.</summary>
    /// <exception cref="ArgumentException">The title is blank or holds characters no title may hold, or the options are invalid.</exception>
    public WikipediaSource(string title, WikipediaOptions options)
        : base(MediaWikiApi.ArticleUrl(Checked(options), CheckedTitle(title)))
    {
        Title = title.Trim();
        Options = options;
    }

    /// <summary>The title asked for (the article may be a redirect to another).</summary>
    public string Title { get; }

    /// <summary>The wiki and how its images are taken.</summary>
    public WikipediaOptions Options { get; }

    /// <summary>
    /// The article a path <c>wikipedia:Title</c> or <c>wikipedia:LANG:Title</c> names (a language code before a colon
    /// picks that edition, e.g. <c>wikipedia:fi:Helsinki</c>), or false when the path is not one.
    /// </summary>
    /// <exception cref="ArgumentException">The path starts with <c>wikipedia:</c> but names no valid title.</exception>
    public static bool TryParsePath(string path, WikipediaOptions options, [NotNullWhen(true)] out WikipediaSource? article)
    {
        ArgumentNullException.ThrowIfNull(path);
        ArgumentNullException.ThrowIfNull(options);
        article = null;
        if (!path.StartsWith(WikipediaOptions.PathPrefix, StringComparison.OrdinalIgnoreCase))
        {
            return false;
        }

        var rest = path[WikipediaOptions.PathPrefix.Length..].Trim();
        var language = LanguagePrefix().Match(rest);
        if (language.Success)
        {
            if (language.Length == rest.Length)
            {
                throw new ArgumentException($"'{path}' names a language but no article title (wikipedia:LANG:Title).", nameof(path));
            }

            options = options with { Language = language.Groups[1].Value };
            rest = rest[language.Length..];
        }

        article = new WikipediaSource(rest, options);
        return true;
    }

    /// <summary>The document's version: the revision, and the image settings it was read with (another width is another version).</summary>
    public string VersionOf(long revision) =>
        string.Create(CultureInfo.InvariantCulture, $"mediawiki:{Options.Language}:revision {revision}:images {Options.MaxImages}x{Options.ImageWidth}px");

    /// <inheritdoc />
    public override async Task<RemoteLoadResult> LoadAsync(RemoteLoadContext context, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(context);
        WikipediaArticle article;
        try
        {
            using var answer = await GetJsonAsync(context, MediaWikiApi.ParseRequest(Options, Title), cancellationToken).ConfigureAwait(false);
            article = MediaWikiApi.ReadParse(answer.RootElement, Title, Options);
        }
        catch (MediaWikiException ex) when (ex.Code == "missingtitle")
        {
            // Gone: pruned with --prune when it was stored before (the article was deleted), else a failure naming it.
            return RemoteLoadResult.Gone($"{SourcePath}: {ex.Message}.");
        }
        catch (MediaWikiException ex)
        {
            throw new DocumentLoadException($"{SourcePath}: {ex.Message}.", ex);
        }

        var version = VersionOf(article.RevisionId);
        if (context.Stored is { } stored && stored.Version == version)
        {
            return RemoteLoadResult.Unchanged();
        }

        var files = WikipediaHtml.SelectImages(article.Html, article.ImageFiles, Options);
        var (images, problems) = await ImageInfoAsync(context, files, cancellationToken).ConfigureAwait(false);
        // Two files may answer with one rendition URL (file redirects, or a forged answer): the first one describes it.
        var byUrl = images.DistinctBy(i => i.Image.Url).ToDictionary(i => i.Image.Url, i => i.Image);
        var html = WikipediaHtml.Prepare(article, images.DistinctBy(i => i.File, StringComparer.Ordinal).ToDictionary(i => i.File, i => i.Image.Url, StringComparer.Ordinal));
        var document = await context.LoadHtmlAsync(Encoding.UTF8.GetBytes(html), article.Url, new RemoteHtmlOptions
        {
            DescribeImage = url => byUrl.TryGetValue(url, out var image) ? Describe(image) : null,
        }, cancellationToken).ConfigureAwait(false);
        var at = DateTimeOffset.UtcNow;
        document = document with
        {
            Title = article.Title,
            Failures = [.. document.Failures, .. problems.Select(p => new IngestionFailure(SourcePath, p.Reason, $"image '{p.File}'", at))],
        };
        return RemoteLoadResult.Loaded(document, new RemoteDocumentState(version) { Metadata = Metadata(article, [.. images.Select(i => i.Image)]) });
    }

    /// <summary>The description stored with an image: what it shows (from its file page), then its credit line (<see cref="ImageTexts.CreditMarker"/>).</summary>
    public static string Describe(WikipediaImage image)
    {
        ArgumentNullException.ThrowIfNull(image);
        var credit = ImageTexts.CreditMarker + image.Attribution.Text;
        return image.Attribution.Description is { } description ? description + "\n" + credit : credit;
    }

    /// <summary>The keys of the document state's metadata.</summary>
    public static class MetadataKeys
    {
        /// <summary>The article's title (after redirects).</summary>
        public const string Title = "wikipedia.title";

        /// <summary>The revision id read.</summary>
        public const string Revision = "wikipedia.revision";

        /// <summary>The language edition.</summary>
        public const string Language = "wikipedia.language";

        /// <summary>The article's canonical URL.</summary>
        public const string Url = "wikipedia.url";

        /// <summary>The page id.</summary>
        public const string PageId = "wikipedia.page_id";

        /// <summary>The title asked for, when it redirected.</summary>
        public const string RedirectedFrom = "wikipedia.redirected_from";

        /// <summary>The prefix of an image's keys: <c>wikipedia.image.N.</c> then file, url, license, license_url, artist, credit, attribution_required, attribution.</summary>
        public const string ImagePrefix = "wikipedia.image.";
    }

    private static Dictionary<string, string> Metadata(WikipediaArticle article, IReadOnlyList<WikipediaImage> images)
    {
        var metadata = new Dictionary<string, string>(StringComparer.Ordinal)
        {
            [MetadataKeys.Title] = article.Title,
            [MetadataKeys.Revision] = article.RevisionId.ToString(CultureInfo.InvariantCulture),
            [MetadataKeys.Language] = article.Language,
            [MetadataKeys.Url] = article.Url.AbsoluteUri,
            [MetadataKeys.PageId] = article.PageId.ToString(CultureInfo.InvariantCulture),
        };
        if (article.RedirectedFrom is { } from)
        {
            metadata[MetadataKeys.RedirectedFrom] = from;
        }

        for (var i = 0; i < images.Count; i++)
        {
            var image = images[i];
            var prefix = MetadataKeys.ImagePrefix + i.ToString(CultureInfo.InvariantCulture) + ".";
            var attribution = image.Attribution;
            foreach (var (key, value) in new (string, string?)[]
            {
                ("file", image.FileTitle), ("url", image.Url.AbsoluteUri), ("license", attribution.License), ("license_url", attribution.LicenseUrl),
                ("artist", attribution.Artist), ("credit", attribution.Credit), ("file_page", attribution.FilePage),
                ("attribution_required", attribution.AttributionRequired ? "true" : "false"), ("attribution", attribution.Text),
            })
            {
                if (value is not null)
                {
                    metadata[prefix + key] = value;
                }
            }
        }

        return metadata;
    }

    /// <summary>The images of <paramref name="files"/>, in their order, and why the others have none.</summary>
    private async Task<(List<(string File, WikipediaImage Image)> Images, List<(string File, string Reason)> Problems)> ImageInfoAsync(RemoteLoadContext context, IReadOnlyList<string> files,
        CancellationToken cancellationToken)
    {
        var found = new Dictionary<string, ImageInfoResult>(StringComparer.Ordinal);
        foreach (var (first, batch) in MediaWikiApi.ImageInfoRequests(Options, files))
        {
            var request = first;
            var pending = batch.ToList();
            // The API may answer in parts ("continue"); each part covers some files. A bound keeps a looping wiki from holding the run.
            for (var part = 0; pending.Count > 0 && part < 20; part++)
            {
                using var answer = await GetJsonAsync(context, request, cancellationToken).ConfigureAwait(false);
                foreach (var result in MediaWikiApi.ReadImageInfo(answer.RootElement, pending, Options))
                {
                    found[result.File] = result;
                }

                pending.RemoveAll(found.ContainsKey);
                var continuation = MediaWikiApi.Continuation(answer.RootElement);
                if (continuation.Count == 0)
                {
                    break;
                }

                request = MediaWikiApi.ImageInfoRequest(Options, pending.Count > 0 ? pending : batch, continuation);
            }
        }

        var images = new List<(string, WikipediaImage)>();
        var problems = new List<(string, string)>();
        foreach (var file in files)
        {
            if (found.GetValueOrDefault(file) is { Image: { } image })
            {
                images.Add((file, image));
            }
            else
            {
                problems.Add((file, $"The image was not read: {found.GetValueOrDefault(file)?.Problem ?? "the wiki gave no image information for it"}."));
            }
        }

        return (images, problems);
    }

    private async Task<JsonDocument> GetJsonAsync(RemoteLoadContext context, Uri request, CancellationToken cancellationToken)
    {
        var answer = await context.Fetcher.GetAsync(request, new WebFetchRequest { AcceptedMediaTypes = JsonTypes }, cancellationToken).ConfigureAwait(false);
        try
        {
            return JsonDocument.Parse(answer.Content);
        }
        catch (JsonException ex)
        {
            throw new DocumentLoadException($"{SourcePath}: the MediaWiki API at {Options.EffectiveApiUrl} did not answer with JSON ({ex.Message}).", ex);
        }
    }

    private static WikipediaOptions Checked(WikipediaOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        return options;
    }

    /// <summary>The longest article title MediaWiki accepts, in UTF-8 bytes.</summary>
    public const int MaxTitleBytes = 255;

    /// <summary>
    /// <paramref name="title"/> trimmed, when it can be a Wikipedia article title: not blank, none of
    /// <c>| # &lt; &gt; [ ] { }</c>, at most <see cref="MaxTitleBytes"/> UTF-8 bytes. The one check every way in (a
    /// <c>wikipedia:</c> path of the CLI or a server job, the server's <c>wikipedia</c> titles) goes through, so a title
    /// is refused before any request rather than by the wiki.
    /// </summary>
    /// <exception cref="ArgumentException">It cannot be a title; the message names it and why.</exception>
    public static string CheckedTitle(string title)
    {
        ArgumentNullException.ThrowIfNull(title);
        if (string.IsNullOrWhiteSpace(title) || title.IndexOfAny(['|', '#', '<', '>', '[', ']', '{', '}']) >= 0)
        {
            throw new ArgumentException($"'{Shorten(title)}' is not a Wikipedia article title (a title is not blank and holds none of | # < > [ ] {{ }}).", nameof(title));
        }

        var trimmed = title.Trim();
        var bytes = Encoding.UTF8.GetByteCount(trimmed);
        if (bytes > MaxTitleBytes)
        {
            throw new ArgumentException(
                $"the Wikipedia title '{Shorten(trimmed)}' is {bytes:N0} UTF-8 bytes long, more than {MaxTitleBytes} UTF-8 bytes, MediaWiki's limit.",
                nameof(title));
        }

        return trimmed;
    }

    // A refused title may be very long (a request names it): the message keeps its start, enough to recognise it.
    private static string Shorten(string title) => title.Length <= 80 ? title : title[..77] + "...";

    [GeneratedRegex("^([a-z]{2,3}(?:-[a-z0-9]{1,8})*):", RegexOptions.CultureInvariant)]
    private static partial Regex LanguagePrefix();
}
