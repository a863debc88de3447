using System.Text;
using System.Text.RegularExpressions;
using Mmrag.Ingestion.Chunking;
using Mmrag.Threading;
using UglyToad.PdfPig;
using UglyToad.PdfPig.Content;
using UglyToad.PdfPig.Core;
using UglyToad.PdfPig.DocumentLayoutAnalysis.TextExtractor;
using UglyToad.PdfPig.Exceptions;
using UglyToad.PdfPig.Tokens;

namespace Mmrag.Ingestion.Loaders;

/// <summary>
/// Reads a PDF with PdfPig: the text of each page (in content order) is chunked with its page number, and embedded
/// raster images become image items of their page — a DCT image is its JPEG stream as stored, any other image is
/// converted to PNG. An image that cannot be converted is reported (page and image index) and the rest goes on. Each
/// image's keyword text is the page's first line when it looks like a heading plus the page text nearest the image.
/// Encrypted and malformed files fail with a <see cref="DocumentLoadException"/> naming them, and every parsing step
/// runs under a time limit so a hostile file cannot hang ingestion. Stateless and thread-safe.
/// </summary>
public sealed partial class PdfLoader : IDocumentLoader
{
    private const int MaxHeadingLength = 80;

    private readonly TextChunker _chunker;
    private readonly PdfLoaderOptions _options;

    /// <summary>Creates the loader.</summary>
    public PdfLoader(TextChunker chunker, PdfLoaderOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(chunker);
        _chunker = chunker;
        _options = options ?? new PdfLoaderOptions();
        _options.Validate();
    }

    /// <inheritdoc />
    public bool CanLoad(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        return Path.GetExtension(path).Equals(".pdf", StringComparison.OrdinalIgnoreCase);
    }

    /// <inheritdoc />
    public async Task<LoadedDocument> LoadAsync(string path, DocumentLoadContext context, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(path);
        ArgumentNullException.ThrowIfNull(context);
        var full = Path.GetFullPath(path);
        var bytes = await LoaderFiles.ReadAsync(full, context.MaxFileBytes, cancellationToken).ConfigureAwait(false);
        return await LoadAsync(bytes, full, context, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Reads a PDF held in memory (e.g. downloaded) whose items name <paramref name="full"/> (a path or URL) as their source.</summary>
    internal async Task<LoadedDocument> LoadAsync(byte[] bytes, string full, DocumentLoadContext context, CancellationToken cancellationToken)
    {
        if (bytes.AsSpan(0, Math.Min(bytes.Length, 1024)).IndexOf("%PDF-"u8) < 0)
        {
            throw new DocumentLoadException($"{full}: not a PDF file (no %PDF- header in its first 1024 bytes).");
        }

        var document = await RunStepAsync(() => Open(bytes, full), full, "opening the file", cancellationToken).ConfigureAwait(false);
        try
        {
            if (document.NumberOfPages == 0)
            {
                throw new DocumentLoadException($"{full}: the PDF has no pages.");
            }

            var builder = new DocumentBuilder(full, _chunker, context.MaxItems)
            {
                Title = document.Information?.Title is { } title && !string.IsNullOrWhiteSpace(title) ? title.Trim() : null,
            };
            for (var number = 1; number <= document.NumberOfPages; number++)
            {
                cancellationToken.ThrowIfCancellationRequested();
                if (builder.IsFull)
                {
                    builder.MarkTruncated();
                    break;
                }

                var pageNumber = number;
                PageContent content;
                try
                {
                    content = await RunStepAsync(() => ReadPage(document, pageNumber), full, $"reading page {pageNumber}", cancellationToken)
                        .ConfigureAwait(false);
                }
                catch (PageReadException ex)
                {
                    builder.AddFailure($"Page {pageNumber} could not be read ({ex.InnerException?.Message}); the other pages were read.",
                        $"page {pageNumber}");
                    continue;
                }

                foreach (var paragraph in TextChunker.Paragraphs(content.Text))
                {
                    builder.AddParagraph(paragraph, section: null, pageNumber);
                }

                if (content.ImagesError is { } imagesError)
                {
                    builder.AddFailure($"The images of page {pageNumber} could not be listed ({imagesError}).", $"page {pageNumber}");
                }

                foreach (var image in content.Images)
                {
                    if (image.Bytes is null)
                    {
                        builder.AddFailure($"Image {image.Index} on page {pageNumber} could not be extracted ({image.Error}); the rest of the file was read.",
                            $"page {pageNumber}, image {image.Index}");
                        continue;
                    }

                    builder.AddImage(image.Bytes, image.MediaType!, imagePath: null, image.NearbyText, caption: null, description: null,
                        section: null, pageNumber);
                }
            }

            return builder.Build("application/pdf");
        }
        finally
        {
            document.Dispose();
        }
    }

    private static PdfDocument Open(byte[] bytes, string path)
    {
        try
        {
            return PdfDocument.Open(bytes, new ParsingOptions { UseLenientParsing = true, SkipMissingFonts = true });
        }
        catch (PdfDocumentEncryptedException ex)
        {
            throw new DocumentLoadException($"{path}: the PDF is encrypted and cannot be opened without its password.", ex);
        }
        catch (Exception ex) when (ex is not OperationCanceledException and not DocumentLoadException)
        {
            throw new DocumentLoadException($"{path}: not a readable PDF ({ex.Message}).", ex);
        }
    }

    /// <summary>
    /// Runs one synchronous PdfPig step on a worker thread and stops waiting for it after <see cref="PdfLoaderOptions.StepTimeout"/>.
    /// </summary>
    private async Task<T> RunStepAsync<T>(Func<T> step, string path, string what, CancellationToken cancellationToken)
    {
        var task = Task.Run(step, CancellationToken.None);
        try
        {
            return await task.WaitAsync(_options.StepTimeout, cancellationToken).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            task.Abandon();
            throw new DocumentLoadException(
                $"{path}: gave up {what} after {_options.StepTimeout.TotalSeconds:0.#} s; the file is probably malformed.");
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            task.Abandon();
            throw;
        }
    }

    private PageContent ReadPage(PdfDocument document, int number)
    {
        Page page;
        string text;
        try
        {
            page = document.GetPage(number);
            text = ContentOrderTextExtractor.GetText(page, new ContentOrderTextExtractor.Options { SeparateParagraphsWithDoubleNewline = true });
            text = LineEndHyphen().Replace(text, "$1$2");
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            throw new PageReadException(ex);
        }

        var images = new List<PageImage>();
        List<IPdfImage> found;
        try
        {
            found = [.. page.GetImages()];
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            return new PageContent(text, images, ex.Message);
        }

        List<TextLine>? lines = null;
        for (var index = 0; index < found.Count; index++)
        {
            var image = found[index];
            try
            {
                if (image.IsImageMask || image.WidthInSamples < _options.MinImageSide || image.HeightInSamples < _options.MinImageSide)
                {
                    continue;
                }

                lines ??= Lines(page);
                var nearby = NearbyText(lines, image.BoundingBox, text);
                if (ImageFormats.Sniff(image.RawMemory.Span) == ImageFormats.Jpeg)
                {
                    images.Add(new PageImage(index + 1, image.RawMemory.ToArray(), ImageFormats.Jpeg, null, nearby));
                }
                else if (image.TryGetPng(out var png) && png is { Length: > 0 })
                {
                    images.Add(new PageImage(index + 1, png, ImageFormats.Png, null, nearby));
                }
                else
                {
                    images.Add(new PageImage(index + 1, null, null, $"its encoding ({Filters(image)}) cannot be converted to PNG", nearby));
                }
            }
            catch (Exception ex) when (ex is not OperationCanceledException)
            {
                images.Add(new PageImage(index + 1, null, null, ex.Message, string.Empty));
            }
        }

        return new PageContent(text, images, null);
    }

    private static string Filters(IPdfImage image)
    {
        if (image.ImageDictionary is { } dictionary
            && (dictionary.TryGet(NameToken.Filter, out var filter) || dictionary.TryGet(NameToken.F, out filter)))
        {
            return filter switch
            {
                NameToken name => name.Data,
                ArrayToken array => string.Join(", ", array.Data.OfType<NameToken>().Select(n => n.Data)),
                _ => "unknown filter",
            };
        }

        return "no filter";
    }

    /// <summary>The page's words grouped into lines (same baseline), top of the page first.</summary>
    private static List<TextLine> Lines(Page page)
    {
        var lines = new List<TextLine>();
        foreach (var word in page.GetWords().OrderByDescending(w => w.BoundingBox.Bottom).ThenBy(w => w.BoundingBox.Left))
        {
            var box = word.BoundingBox;
            var line = lines.Count > 0 && Math.Abs(lines[^1].Bottom - box.Bottom) <= Math.Max(2.0, box.Height * 0.3) ? lines[^1] : null;
            if (line is null)
            {
                line = new TextLine(box.Bottom);
                lines.Add(line);
            }

            line.Add(word.Text, box);
        }

        return lines;
    }

    /// <summary>The page's heading-like first line, then the lines nearest the image (in reading order) up to the length budget.</summary>
    private string NearbyText(List<TextLine> lines, PdfRectangle image, string pageText)
    {
        var firstLine = pageText.AsSpan().TrimStart().ToString().Split('\n', 2)[0].Trim();
        var heading = firstLine.Length is > 0 and <= MaxHeadingLength ? firstLine : null;
        var chosen = new List<TextLine>();
        var length = 0;
        foreach (var line in lines.OrderBy(l => l.DistanceTo(image)))
        {
            if (length >= _options.NearbyTextLength)
            {
                break;
            }

            chosen.Add(line);
            length += line.Text.Length + 1;
        }

        var nearby = string.Join(' ', chosen.OrderByDescending(l => l.Bottom).Select(l => l.Text));
        if (nearby.Length > _options.NearbyTextLength)
        {
            nearby = nearby[.._options.NearbyTextLength].TrimEnd();
        }

        return heading is null || nearby.Contains(heading, StringComparison.Ordinal) ? nearby : (heading + "\n" + nearby).Trim();
    }

    private sealed record PageImage(int Index, byte[]? Bytes, string? MediaType, string? Error, string NearbyText);

    private sealed record PageContent(string Text, List<PageImage> Images, string? ImagesError);

    /// <summary>A page's text could not be read (a partial failure; other pages go on).</summary>
    private sealed class PageReadException(Exception inner) : Exception(inner.Message, inner);

    private sealed class TextLine(double bottom)
    {
        private readonly StringBuilder _text = new();
        private double _left = double.MaxValue, _right = double.MinValue, _top = double.MinValue;

        public double Bottom { get; } = bottom;

        public string Text => _text.ToString();

        public void Add(string word, PdfRectangle box)
        {
            if (_text.Length > 0)
            {
                _text.Append(' ');
            }

            _text.Append(word);
            _left = Math.Min(_left, box.Left);
            _right = Math.Max(_right, box.Right);
            _top = Math.Max(_top, box.Top);
        }

        public double DistanceTo(PdfRectangle box)
        {
            var dy = Math.Max(0, Math.Max(box.Bottom - _top, Bottom - box.Top));
            var dx = Math.Max(0, Math.Max(box.Left - _right, _left - box.Right));
            return dy + dx;
        }
    }

    [GeneratedRegex(@"(\p{L})-\n(\p{Ll})")]
    private static partial Regex LineEndHyphen();
}
