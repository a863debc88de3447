using System.Text;
using Markdig;
using Markdig.Extensions.Tables;
using Markdig.Extensions.Yaml;
using Markdig.Syntax;
using Markdig.Syntax.Inlines;
using Mmrag.Ingestion.Chunking;

namespace Mmrag.Ingestion.Loaders;

/// <summary>
/// Reads Markdown (<c>.md</c>, <c>.markdown</c>) with Markdig: headings become sections (heading path
/// <c>A › B</c>; the first H1 is the title and not repeated in the path), paragraphs, lists, tables and code become
/// text, and local images <c>![alt](path)</c> that exist inside the ingested root become image items whose keyword
/// text is their alt text, title and section. Stateless and thread-safe.
/// </summary>
public sealed class MarkdownLoader : IDocumentLoader
{
    internal const string SectionSeparator = " › ";

    // Leading blanks and quote markers kept per line (see ClampIndentation).
    private const int MaxIndentation = 64;

    private static readonly MarkdownPipeline Pipeline = new MarkdownPipelineBuilder()
        .UsePipeTables()
        .UseGridTables()
        .UseYamlFrontMatter()
        .UseAutoLinks()
        .Build();

    private readonly TextChunker _chunker;

    /// <summary>Creates the loader.</summary>
    public MarkdownLoader(TextChunker chunker)
    {
        ArgumentNullException.ThrowIfNull(chunker);
        _chunker = chunker;
    }

    /// <inheritdoc />
    public bool CanLoad(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        var extension = Path.GetExtension(path);
        return extension.Equals(".md", StringComparison.OrdinalIgnoreCase) || extension.Equals(".markdown", StringComparison.OrdinalIgnoreCase);
    }

    /// <inheritdoc />
    public async Task<LoadedDocument> LoadAsync(string path, DocumentLoadContext context, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(path);
        ArgumentNullException.ThrowIfNull(context);
        var full = Path.GetFullPath(path);
        var bytes = await LoaderFiles.ReadAsync(full, context.MaxFileBytes, cancellationToken).ConfigureAwait(false);
        var decoded = TextDecoding.Decode(bytes);
        var builder = new DocumentBuilder(full, _chunker, context.MaxItems);
        if (!decoded.IsValid)
        {
            builder.AddFailure($"Invalid UTF-8 at byte offset {decoded.FirstInvalidOffset} (line {decoded.FirstInvalidLine}); replaced with U+FFFD.",
                $"byte {decoded.FirstInvalidOffset}");
        }

        MarkdownDocument parsed;
        try
        {
            parsed = Markdown.Parse(ClampIndentation(decoded.Text), Pipeline);
        }
        catch (ArgumentException ex) when (ex.Message.Contains("nested", StringComparison.OrdinalIgnoreCase))
        {
            // Markdig's own depth limit: hundreds of nested quotes, lists, brackets or emphasis are not a document.
            throw new DocumentLoadException($"{full}: its Markdown is nested too deeply to read ({ex.Message}).", ex);
        }

        cancellationToken.ThrowIfCancellationRequested();
        var walker = new Walker();
        walker.Walk(parsed);
        builder.Title = walker.Title;
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

            var resolved = await ImageReferences.ReadAsync(image.Url, builder, context, cancellationToken).ConfigureAwait(false);
            if (resolved is not null)
            {
                var caption = FirstNonEmpty(image.Alt, image.Title);
                builder.AddImage(resolved.Bytes, resolved.MediaType, resolved.Path, KeywordText(image.Alt, image.Title, part.Section),
                    caption, description: null, part.Section);
            }
        }

        return builder.Build("text/markdown");
    }

    /// <summary>
    /// Cuts every line's leading indentation to <see cref="MaxIndentation"/> columns. Markdig's cost grows with
    /// indentation times nesting (3,000 lines indented two more columns each took 92 s before it gave up), and no
    /// document nests sensibly deeper than this.
    /// </summary>
    internal static string ClampIndentation(string text)
    {
        var span = text.AsSpan();
        var needed = false;
        var column = 0;
        foreach (var c in span)
        {
            if (c == '\n')
            {
                column = 0;
            }
            else if (column >= 0 && c is ' ' or '\t' or '>')
            {
                if (++column > MaxIndentation)
                {
                    needed = true;
                    break;
                }
            }
            else
            {
                column = -1;
            }
        }

        if (!needed)
        {
            return text;
        }

        var result = new StringBuilder(text.Length);
        foreach (var line in text.Split('\n'))
        {
            var indent = 0;
            while (indent < line.Length && line[indent] is ' ' or '\t' or '>')
            {
                indent++;
            }

            if (result.Length > 0)
            {
                result.Append('\n');
            }

            result.Append(indent > MaxIndentation ? string.Concat(line.AsSpan(0, MaxIndentation), line.AsSpan(indent)) : line);
        }

        return result.ToString();
    }

    internal static string KeywordText(params string?[] parts) =>
        string.Join(". ", parts.Where(p => !string.IsNullOrWhiteSpace(p)).Select(p => p!.Trim()).Distinct(StringComparer.Ordinal));

    private static string? FirstNonEmpty(params string?[] values) => values.FirstOrDefault(v => !string.IsNullOrWhiteSpace(v))?.Trim();

    private sealed record ImageRef(string Url, string? Alt, string? Title);

    private sealed record Part(string Text, string? Section, ImageRef? Image);

    /// <summary>Flattens the syntax tree into paragraphs and images in document order, tracking the heading path.</summary>
    private sealed class Walker
    {
        private readonly List<(int Level, string Text)> _headings = [];
        private bool _titleTaken;

        public List<Part> Parts { get; } = [];

        public string? Title { get; private set; }

        private string? Section => _headings.Count == 0 ? null : string.Join(SectionSeparator, _headings.Select(h => h.Text));

        public void Walk(ContainerBlock container)
        {
            foreach (var block in container)
            {
                switch (block)
                {
                    case YamlFrontMatterBlock or ThematicBreakBlock or HtmlBlock or LinkReferenceDefinitionGroup:
                        break;
                    case HeadingBlock heading:
                        Heading(heading);
                        break;
                    case ListBlock list:
                        var listImages = new List<ImageRef>();
                        var listText = new StringBuilder();
                        ListText(list, 0, listText, listImages);
                        Emit(listText.ToString(), listImages);
                        break;
                    case Table table:
                        var tableImages = new List<ImageRef>();
                        Emit(TableText(table, tableImages), tableImages);
                        break;
                    case CodeBlock code:
                        Emit(code.Lines.ToString(), []);
                        break;
                    case LeafBlock leaf:
                        var images = new List<ImageRef>();
                        Emit(InlineText(leaf.Inline, images), images);
                        break;
                    case ContainerBlock inner:
                        Walk(inner);
                        break;
                }
            }
        }

        private void Heading(HeadingBlock heading)
        {
            var images = new List<ImageRef>();
            var text = InlineText(heading.Inline, images).Trim();
            if (heading.Level == 1 && !_titleTaken && text.Length > 0)
            {
                _titleTaken = true;
                Title = text;
                _headings.Clear();
                Emit(string.Empty, images);
                return;
            }

            while (_headings.Count > 0 && _headings[^1].Level >= heading.Level)
            {
                _headings.RemoveAt(_headings.Count - 1);
            }

            if (text.Length > 0)
            {
                _headings.Add((heading.Level, text));
            }

            Emit(string.Empty, images);
        }

        private void Emit(string text, List<ImageRef> images)
        {
            var section = Section;
            if (!string.IsNullOrWhiteSpace(text))
            {
                Parts.Add(new Part(text.Trim(), section, null));
            }

            foreach (var image in images)
            {
                Parts.Add(new Part(string.Empty, section, image));
            }
        }

        private static void ListText(ListBlock list, int depth, StringBuilder text, List<ImageRef> images)
        {
            var number = 1;
            foreach (var child in list)
            {
                if (child is not ListItemBlock item)
                {
                    continue;
                }

                var marker = list.IsOrdered ? $"{number++}. " : "- ";
                var first = true;
                foreach (var block in item)
                {
                    if (block is ListBlock nested)
                    {
                        ListText(nested, depth + 1, text, images);
                        continue;
                    }

                    var line = block switch
                    {
                        CodeBlock code => code.Lines.ToString(),
                        LeafBlock leaf => InlineText(leaf.Inline, images),
                        _ => string.Empty,
                    };
                    if (string.IsNullOrWhiteSpace(line))
                    {
                        continue;
                    }

                    text.Append(' ', depth * 2).Append(first ? marker : "  ").Append(line.Trim()).Append('\n');
                    first = false;
                }
            }
        }

        private static string TableText(Table table, List<ImageRef> images)
        {
            var text = new StringBuilder();
            foreach (var row in table.OfType<TableRow>())
            {
                var cells = row.OfType<TableCell>()
                    .Select(cell => string.Join(' ', cell.OfType<LeafBlock>().Select(leaf => InlineText(leaf.Inline, images).Trim())));
                text.Append(string.Join(" | ", cells)).Append('\n');
            }

            return text.ToString();
        }

        private static string InlineText(ContainerInline? container, List<ImageRef> images)
        {
            if (container is null)
            {
                return string.Empty;
            }

            var text = new StringBuilder();
            Append(container, text, images);
            return text.ToString();
        }

        private static void Append(ContainerInline container, StringBuilder text, List<ImageRef> images)
        {
            foreach (var inline in container)
            {
                switch (inline)
                {
                    case LiteralInline literal:
                        text.Append(literal.Content.ToString());
                        break;
                    case CodeInline code:
                        text.Append(code.Content);
                        break;
                    case HtmlEntityInline entity:
                        text.Append(entity.Transcoded.ToString());
                        break;
                    case LineBreakInline lineBreak:
                        text.Append(lineBreak.IsHard ? '\n' : ' ');
                        break;
                    case AutolinkInline autolink:
                        text.Append(autolink.Url);
                        break;
                    case LinkInline { IsImage: true } image:
                        var alt = new StringBuilder();
                        Append(image, alt, images);
                        if (!string.IsNullOrWhiteSpace(image.Url))
                        {
                            images.Add(new ImageRef(image.Url, alt.ToString().Trim(), image.Title));
                        }

                        break;
                    case ContainerInline inner:
                        Append(inner, text, images);
                        break;
                }
            }
        }
    }
}
