using System.Globalization;
using System.Net;
using System.Text;
using System.Text.RegularExpressions;
using HtmlAgilityPack;
using Mmrag.Ingestion.Chunking;

namespace Mmrag.Ingestion.Loaders;

/// <summary>An <c>&lt;img&gt;</c> of a page: its <c>src</c> and <c>srcset</c> as written, alt text and caption.</summary>
internal sealed record HtmlImage(string Source, string? SrcSet, string? Alt, string? Caption);

/// <summary>
/// Reads a saved web page (<c>.html</c>, <c>.htm</c>), e.g. a Wikipedia article saved with its images. Boilerplate
/// is dropped (scripts, styles, navigation, headers and footers outside the article, asides, and elements such as
/// Wikipedia's navboxes, edit links and reference markers); the main text is taken from <c>#mw-content-text</c>,
/// <c>&lt;main&gt;</c>, <c>&lt;article&gt;</c> or <c>#content</c> when present, else the body. Headings become
/// sections, and <c>&lt;img&gt;</c> files that exist locally inside the ingested root become image items whose keyword
/// text is their alt text, figure caption (or Wikipedia thumbnail caption) and section title. The title is the
/// page's <c>&lt;title&gt;</c>, else its first h1. A page whose elements nest deeper than
/// <see cref="MaxNestingDepth"/> is refused: HtmlAgilityPack's parser is quadratic in the nesting depth (40,000
/// levels took 51 s, 200,000 never finished), and no real page nests like that. Stateless and thread-safe.
/// </summary>
public sealed partial class HtmlLoader : IDocumentLoader
{
    /// <summary>Deepest element nesting read; deeper pages fail with a message saying so.</summary>
    public const int MaxNestingDepth = 1_000;

    // Below this depth the text of an element is taken as a whole rather than walked element by element.
    private const int MaxDepth = 256;

    // Declared sizes at or under this (both sides) mark icons and spacers, not pictures worth embedding.
    private const int IconSize = 24;

    private static readonly HashSet<string> DroppedElements = new(StringComparer.OrdinalIgnoreCase)
    {
        "script", "style", "noscript", "template", "nav", "aside", "form", "button", "select", "textarea", "input",
        "iframe", "object", "embed", "svg", "canvas", "link", "meta", "head",
    };

    private static readonly HashSet<string> DroppedRoles = new(StringComparer.OrdinalIgnoreCase)
    {
        "navigation", "banner", "contentinfo", "complementary", "search",
    };

    private static readonly HashSet<string> DroppedClasses = new(StringComparer.OrdinalIgnoreCase)
    {
        "navbox", "vertical-navbox", "navbox-styles", "navbar", "mw-editsection", "reference", "references", "reflist",
        "mw-references-wrap", "sidebar", "noprint", "toc", "catlinks", "mw-jump-link", "hatnote", "printfooter",
        "mw-empty-elt", "navigation-not-searchable", "mw-cite-backlink",
    };

    private static readonly HashSet<string> DroppedIds = new(StringComparer.OrdinalIgnoreCase)
    {
        "toc", "catlinks", "footer", "mw-navigation", "mw-panel", "siteSub", "contentSub", "jump-to-nav", "p-lang",
    };

    private static readonly HashSet<string> BlockElements = new(StringComparer.OrdinalIgnoreCase)
    {
        "p", "div", "section", "article", "main", "header", "footer", "li", "ul", "ol", "dl", "dt", "dd", "table",
        "thead", "tbody", "tfoot", "caption", "blockquote", "pre", "figure", "figcaption", "hr", "center",
        "address", "details", "summary",
    };

    private readonly TextChunker _chunker;

    static HtmlLoader() => Encoding.RegisterProvider(CodePagesEncodingProvider.Instance);

    /// <summary>Creates the loader.</summary>
    public HtmlLoader(TextChunker chunker)
    {
        ArgumentNullException.ThrowIfNull(chunker);
        _chunker = chunker;
    }

    /// <inheritdoc />
    public bool CanLoad(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        var extension = Path.GetExtension(path);
        return extension.Equals(".html", StringComparison.OrdinalIgnoreCase) || extension.Equals(".htm", StringComparison.OrdinalIgnoreCase);
    }

    /// <inheritdoc />
    public async Task<LoadedDocument> LoadAsync(string path, DocumentLoadContext context, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(path);
        ArgumentNullException.ThrowIfNull(context);
        var full = Path.GetFullPath(path);
        var bytes = await LoaderFiles.ReadAsync(full, context.MaxFileBytes, cancellationToken).ConfigureAwait(false);
        return await LoadAsync(bytes, full, context.MaxItems,
            (image, builder, token) => ImageReferences.ReadAsync(image.Source, builder, context, token), links: null, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// Reads a page held in memory whose items name <paramref name="sourcePath"/> (a file or URL) as their source;
    /// <paramref name="readImage"/> reads each <c>&lt;img&gt;</c> (null: left out); the targets of the page's
    /// <c>&lt;a href&gt;</c> links (as written, navigation included) are added to <paramref name="links"/> when given.
    /// </summary>
    internal async Task<LoadedDocument> LoadAsync(byte[] bytes, string sourcePath, int maxItems,
        Func<HtmlImage, DocumentBuilder, CancellationToken, Task<ResolvedImage?>> readImage, List<string>? links, CancellationToken cancellationToken)
    {
        var full = sourcePath;
        var builder = new DocumentBuilder(full, _chunker, maxItems);
        var html = Decode(bytes, builder);

        var document = Parse(html, full);
        cancellationToken.ThrowIfCancellationRequested();
        if (links is not null)
        {
            links.AddRange(DescendantsOf(document.DocumentNode, cancellationToken)
                .Where(static node => node.Name == "a" && node.NodeType == HtmlNodeType.Element)
                .Select(static node => node.GetAttributeValue("href", null))
                .OfType<string>()
                .Select(static href => WebUtility.HtmlDecode(href).Trim())
                .Where(static href => href.Length > 0));
        }

        var title = Clean(document.DocumentNode.SelectSingleNode("//title") is { } titleNode ? TextOf(titleNode) : string.Empty);
        foreach (var node in DescendantsOf(document.DocumentNode, cancellationToken).Where(IsBoilerplate).ToList())
        {
            node.Remove();
        }

        var main = document.GetElementbyId("mw-content-text")
            ?? document.DocumentNode.SelectSingleNode("//main")
            ?? document.DocumentNode.SelectSingleNode("//article")
            ?? document.GetElementbyId("content")
            ?? document.DocumentNode.SelectSingleNode("//body")
            ?? document.DocumentNode;

        var walker = new Walker(cancellationToken);
        walker.Visit(main, 0);
        walker.Flush();
        builder.Title = title.Length > 0 ? title
            : walker.FirstHeading ?? (document.DocumentNode.SelectSingleNode("//h1") is { } h1 ? Clean(TextOf(h1)) : null);

        foreach (var part in walker.Parts)
        {
            cancellationToken.ThrowIfCancellationRequested();
            if (builder.IsFull)
            {
                builder.MarkTruncated();
                break;
            }

            if (part.Image is not { } image)
            {
                builder.AddParagraph(part.Text, part.Section);
                continue;
            }

            var resolved = await readImage(image, builder, cancellationToken).ConfigureAwait(false);
            if (resolved is not null)
            {
                builder.AddImage(resolved.Bytes, resolved.MediaType, resolved.Path,
                    MarkdownLoader.KeywordText(image.Alt, image.Caption, part.Section),
                    string.IsNullOrWhiteSpace(image.Caption) ? NullIfEmpty(image.Alt) : image.Caption, resolved.Description, part.Section);
            }
        }

        return builder.Build("text/html");
    }

    private static HtmlDocument Parse(string html, string path)
    {
        // HtmlAgilityPack counts the depth as it parses and stops at the limit, so a hostile page costs little.
        var document = new HtmlDocument { OptionMaxNestedChildNodes = MaxNestingDepth };
        try
        {
            document.LoadHtml(html);
            return document;
        }
        catch (Exception ex) when (ex.Message.Contains("nested tags", StringComparison.Ordinal))
        {
            throw new DocumentLoadException(
                $"{path}: its elements nest deeper than {MaxNestingDepth:N0} levels (HtmlLoader.MaxNestingDepth); the page was not read.", ex);
        }
    }

    /// <summary>
    /// The descendants in document order, iteratively: HtmlAgilityPack's own <c>Descendants()</c> nests one iterator per
    /// level, so each node costs its depth.
    /// </summary>
    private static IEnumerable<HtmlNode> DescendantsOf(HtmlNode node, CancellationToken cancellationToken)
    {
        var stack = new Stack<HtmlNode>();
        for (var child = node.LastChild; child is not null; child = child.PreviousSibling)
        {
            stack.Push(child);
        }

        var count = 0;
        while (stack.TryPop(out var current))
        {
            if (++count % 4096 == 0)
            {
                cancellationToken.ThrowIfCancellationRequested();
            }

            yield return current;
            for (var child = current.LastChild; child is not null; child = child.PreviousSibling)
            {
                stack.Push(child);
            }
        }
    }

    /// <summary>BOM, else the declared <c>&lt;meta charset&gt;</c>, else UTF-8 (invalid bytes replaced and reported).</summary>
    private static string Decode(byte[] bytes, DocumentBuilder builder)
    {
        if (bytes.AsSpan().StartsWith((ReadOnlySpan<byte>)[0xEF, 0xBB, 0xBF]) || bytes.AsSpan().StartsWith((ReadOnlySpan<byte>)[0xFF, 0xFE])
            || bytes.AsSpan().StartsWith((ReadOnlySpan<byte>)[0xFE, 0xFF]))
        {
            return TextDecoding.Decode(bytes).Text;
        }

        var head = Encoding.ASCII.GetString(bytes, 0, Math.Min(bytes.Length, 4096));
        if (MetaCharset().Match(head) is { Success: true } match)
        {
            var name = match.Groups[1].Value;
            if (!name.Equals("utf-8", StringComparison.OrdinalIgnoreCase) && !name.Equals("utf8", StringComparison.OrdinalIgnoreCase))
            {
                try
                {
                    return Encoding.GetEncoding(name).GetString(bytes);
                }
                catch (ArgumentException)
                {
                    builder.AddFailure($"Unknown charset '{name}' declared; read as UTF-8.");
                }
            }
        }

        var decoded = TextDecoding.Decode(bytes);
        if (!decoded.IsValid)
        {
            builder.AddFailure($"Invalid UTF-8 at byte offset {decoded.FirstInvalidOffset} (line {decoded.FirstInvalidLine}); replaced with U+FFFD.",
                $"byte {decoded.FirstInvalidOffset}");
        }

        return decoded.Text;
    }

    private static bool IsBoilerplate(HtmlNode node)
    {
        if (node.NodeType != HtmlNodeType.Element)
        {
            return false;
        }

        if (DroppedElements.Contains(node.Name))
        {
            return true;
        }

        // A page's own header/footer is chrome; an article's header holds its title.
        if ((node.Name is "header" or "footer") && !node.Ancestors("article").Any())
        {
            return true;
        }

        if (DroppedRoles.Contains(node.GetAttributeValue("role", string.Empty)) || DroppedIds.Contains(node.Id ?? string.Empty))
        {
            return true;
        }

        var style = node.GetAttributeValue("style", string.Empty);
        if (style.Length > 0 && DisplayNone().IsMatch(style))
        {
            return true;
        }

        return node.GetClasses().Any(DroppedClasses.Contains);
    }

    private static string TextOf(HtmlNode node)
    {
        var text = new StringBuilder();
        foreach (var descendant in DescendantsOf(node, CancellationToken.None).Prepend(node))
        {
            if (descendant.NodeType == HtmlNodeType.Text)
            {
                text.Append(WebUtility.HtmlDecode(((HtmlTextNode)descendant).Text)).Append(' ');
            }
        }

        return text.ToString();
    }

    private static string Clean(string text) => Whitespace().Replace(text, " ").Trim();

    private static string? NullIfEmpty(string? text) => string.IsNullOrWhiteSpace(text) ? null : text.Trim();

    private sealed record Part(string Text, string? Section, HtmlImage? Image);

    /// <summary>Flattens the content into paragraphs and images in document order, tracking the heading path.</summary>
    private sealed class Walker(CancellationToken cancellationToken)
    {
        private int _visited;

        private readonly List<(int Level, string Text)> _headings = [];
        private readonly StringBuilder _paragraph = new();
        private readonly List<HtmlImage> _images = [];

        public List<Part> Parts { get; } = [];

        public string? FirstHeading { get; private set; }

        private string? Section => _headings.Count == 0 ? null : string.Join(MarkdownLoader.SectionSeparator, _headings.Select(h => h.Text));

        public void Visit(HtmlNode node, int depth)
        {
            if (++_visited % 4096 == 0)
            {
                cancellationToken.ThrowIfCancellationRequested();
            }

            switch (node.NodeType)
            {
                case HtmlNodeType.Text:
                    AppendText(WebUtility.HtmlDecode(((HtmlTextNode)node).Text));
                    return;
                case HtmlNodeType.Comment:
                    return;
            }

            if (depth > MaxDepth)
            {
                AppendText(TextOf(node));
                return;
            }

            var name = node.Name;
            if (name.Length == 2 && name[0] is 'h' or 'H' && name[1] is >= '1' and <= '6' && node.NodeType == HtmlNodeType.Element)
            {
                Flush();
                Heading(name[1] - '0', Clean(TextOf(node)));
                return;
            }

            switch (name)
            {
                case "img":
                    Image(node);
                    return;
                case "br":
                    _paragraph.Append('\n');
                    return;
                case "td" or "th":
                    VisitChildren(node, depth);
                    _paragraph.Append(" | ");
                    return;
                case "tr":
                    // One line per row, one paragraph per table.
                    _paragraph.Append('\n');
                    VisitChildren(node, depth);
                    _paragraph.Append('\n');
                    return;
            }

            var block = BlockElements.Contains(name);
            if (block)
            {
                Flush();
            }

            VisitChildren(node, depth);
            if (block)
            {
                Flush();
            }
        }

        public void Flush()
        {
            var lines = _paragraph.ToString().Split('\n')
                .Select(line => line.Trim().TrimEnd('|').Trim())
                .Where(line => line.Length > 0);
            var text = string.Join('\n', lines);
            _paragraph.Clear();
            if (text.Length > 0)
            {
                Parts.Add(new Part(text, Section, null));
            }

            foreach (var image in _images)
            {
                Parts.Add(new Part(string.Empty, Section, image));
            }

            _images.Clear();
        }

        private void VisitChildren(HtmlNode node, int depth)
        {
            foreach (var child in node.ChildNodes)
            {
                Visit(child, depth + 1);
            }
        }

        private void AppendText(string text)
        {
            var collapsed = Whitespace().Replace(text, " ");
            if (collapsed.Length == 0 || (collapsed == " " && (_paragraph.Length == 0 || char.IsWhiteSpace(_paragraph[^1]))))
            {
                return;
            }

            if (collapsed[0] == ' ' && _paragraph.Length > 0 && char.IsWhiteSpace(_paragraph[^1]))
            {
                collapsed = collapsed[1..];
            }

            _paragraph.Append(collapsed);
        }

        private void Heading(int level, string text)
        {
            if (text.Length == 0)
            {
                return;
            }

            if (level == 1 && FirstHeading is null)
            {
                // The page's own title heading starts the section paths rather than prefixing all of them.
                FirstHeading = text;
                _headings.Clear();
                return;
            }

            while (_headings.Count > 0 && _headings[^1].Level >= level)
            {
                _headings.RemoveAt(_headings.Count - 1);
            }

            _headings.Add((level, text));
        }

        private void Image(HtmlNode image)
        {
            var source = image.GetAttributeValue("src", null) ?? image.GetAttributeValue("data-src", null);
            var srcset = image.GetAttributeValue("srcset", null) ?? image.GetAttributeValue("data-srcset", null);
            // An image offered by srcset alone is still one (a downloaded page picks among its candidates).
            if ((string.IsNullOrWhiteSpace(source) && string.IsNullOrWhiteSpace(srcset)) || IsIcon(image))
            {
                return;
            }

            var alt = NullIfEmpty(Clean(WebUtility.HtmlDecode(image.GetAttributeValue("alt", string.Empty))));
            _images.Add(new HtmlImage(WebUtility.HtmlDecode(source ?? string.Empty), srcset is null ? null : WebUtility.HtmlDecode(srcset), alt, Caption(image)));
        }

        private static bool IsIcon(HtmlNode image) =>
            int.TryParse(image.GetAttributeValue("width", string.Empty), NumberStyles.Integer, CultureInfo.InvariantCulture, out var width)
            && int.TryParse(image.GetAttributeValue("height", string.Empty), NumberStyles.Integer, CultureInfo.InvariantCulture, out var height)
            && width <= IconSize && height <= IconSize;

        /// <summary>The caption of an image: its &lt;figure&gt;'s &lt;figcaption&gt;, or a Wikipedia thumbnail or gallery caption.</summary>
        private static string? Caption(HtmlNode image)
        {
            var ancestor = image.ParentNode;
            for (var level = 0; ancestor is not null && level < 8; level++, ancestor = ancestor.ParentNode)
            {
                HtmlNode? caption = null;
                if (ancestor.Name == "figure")
                {
                    caption = DescendantsOf(ancestor, CancellationToken.None).FirstOrDefault(d => d.Name == "figcaption");
                }
                else if (ancestor.HasClass("thumbinner") || ancestor.HasClass("thumb"))
                {
                    caption = DescendantsOf(ancestor, CancellationToken.None).FirstOrDefault(d => d.HasClass("thumbcaption"));
                }
                else if (ancestor.HasClass("gallerybox"))
                {
                    caption = DescendantsOf(ancestor, CancellationToken.None).FirstOrDefault(d => d.HasClass("gallerytext"));
                }

                if (caption is not null)
                {
                    return NullIfEmpty(Clean(TextOf(caption)));
                }
            }

            return null;
        }
    }

    [GeneratedRegex(@"\s+")]
    private static partial Regex Whitespace();

    [GeneratedRegex(@"display\s*:\s*none", RegexOptions.IgnoreCase)]
    private static partial Regex DisplayNone();

    [GeneratedRegex(@"<meta[^>]+charset\s*=\s*[""']?\s*([A-Za-z0-9_.:-]+)", RegexOptions.IgnoreCase)]
    private static partial Regex MetaCharset();
}
