using System.Globalization;
using System.Net;
using HtmlAgilityPack;

namespace Mmrag.Ingestion.Web.Wikipedia;

/// <summary>
/// An article's parser output, prepared for the HTML loader: which of its files are pictures worth taking (shown at
/// least <see cref="WikipediaOptions.MinDisplayedSize"/> pixels, in the order the article shows them), and the page
/// rewritten so that each such <c>&lt;img&gt;</c> points at the rendition <c>prop=imageinfo</c> gave (the chosen
/// width), every other image is dropped, and the article's title is the page's title.
/// </summary>
internal static class WikipediaHtml
{
    /// <summary>
    /// The files of <paramref name="imageFiles"/> (from <c>prop=images</c>) that the article shows as pictures, in order,
    /// at most <see cref="WikipediaOptions.MaxImages"/>. An <c>&lt;img&gt;</c> is matched to its file by the file name
    /// in its URL (<c>…/thumb/a/ab/Name.jpg/250px-Name.jpg</c> or <c>…/a/ab/Name.jpg</c>), which does not depend on the
    /// language's name for the File namespace.
    /// </summary>
    public static IReadOnlyList<string> SelectImages(string html, IReadOnlyList<string> imageFiles, WikipediaOptions options)
    {
        var known = imageFiles.ToHashSet(StringComparer.Ordinal);
        var selected = new List<string>();
        foreach (var (image, name) in Images(Parse(html), known))
        {
            if (selected.Count >= options.MaxImages)
            {
                break;
            }

            var shown = DisplayedSize(image) is not { } size || size >= options.MinDisplayedSize;
            if (name is not null && shown && !selected.Contains(name, StringComparer.Ordinal))
            {
                selected.Add(name);
            }
        }

        return selected;
    }

    /// <summary>
    /// The page the HTML loader reads: the article's HTML inside <c>&lt;div id="mw-content-text"&gt;</c> under a
    /// <c>&lt;title&gt;</c>, each taken image's <c>src</c> set to <paramref name="renditions"/>' URL (its <c>srcset</c>
    /// dropped), every other <c>&lt;img&gt;</c> removed.
    /// </summary>
    public static string Prepare(WikipediaArticle article, IReadOnlyDictionary<string, Uri> renditions)
    {
        var document = Parse(article.Html);
        var known = article.ImageFiles.ToHashSet(StringComparer.Ordinal);
        var used = new HashSet<string>(StringComparer.Ordinal);
        foreach (var (image, file) in Images(document, known).ToList())
        {
            // Each picture once: a gallery and a thumbnail of the same file would be the same item twice.
            if (file is { } name && renditions.TryGetValue(name, out var url) && used.Add(name))
            {
                image.SetAttributeValue("src", url.AbsoluteUri);
                image.Attributes.Remove("srcset");
                image.Attributes.Remove("data-src");
            }
            else
            {
                image.Remove();
            }
        }

        var title = WebUtility.HtmlEncode(article.Title);
        return $"<!DOCTYPE html><html lang=\"{WebUtility.HtmlEncode(article.Language)}\"><head><meta charset=\"utf-8\"><title>{title}</title></head>"
            + $"<body><main><h1>{title}</h1><div id=\"mw-content-text\">{document.DocumentNode.OuterHtml}</div></main></body></html>";
    }

    private static HtmlDocument Parse(string html)
    {
        var document = new HtmlDocument { OptionMaxNestedChildNodes = Loaders.HtmlLoader.MaxNestingDepth };
        document.LoadHtml(html);
        return document;
    }

    /// <summary>Every <c>&lt;img&gt;</c> with the article's file it shows (null when it shows none of them).</summary>
    private static IEnumerable<(HtmlNode Image, string? File)> Images(HtmlDocument document, HashSet<string> known) =>
        document.DocumentNode.Descendants("img")
            .Select(image => (image, FileOf(image.GetAttributeValue("src", null) ?? image.GetAttributeValue("data-src", null), known)));

    private static string? FileOf(string? source, HashSet<string> known)
    {
        if (string.IsNullOrWhiteSpace(source))
        {
            return null;
        }

        var path = source;
        if (Uri.TryCreate(source.StartsWith("//", StringComparison.Ordinal) ? "https:" + source : source, UriKind.Absolute, out var uri))
        {
            path = uri.AbsolutePath;
        }

        var segments = path.Split('/', StringSplitOptions.RemoveEmptyEntries);
        // The file's own segment: the last one for an original, the one before "250px-Name.jpg" for a thumbnail.
        for (var i = segments.Length - 1; i >= 0 && i >= segments.Length - 2; i--)
        {
            var segment = Uri.UnescapeDataString(segments[i]);
            if (known.Contains(segment))
            {
                return segment;
            }
        }

        return null;
    }

    /// <summary>The longer side of the image as the article shows it (its width/height attributes), when declared.</summary>
    private static int? DisplayedSize(HtmlNode image)
    {
        static int? Read(string? value) => int.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out var n) ? n : null;
        var width = Read(image.GetAttributeValue("width", null));
        var height = Read(image.GetAttributeValue("height", null));
        return width is null && height is null ? null : Math.Max(width ?? 0, height ?? 0);
    }
}
