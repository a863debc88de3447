using Mmrag.Ingestion.Chunking;
using Mmrag.Knowledge;

namespace Mmrag.Ingestion.Ocr;

/// <summary>
/// Adds the text Tesseract reads in a loaded document's images: to the image item's keyword text (after its
/// description and other words, on a line starting <see cref="ImageTexts.OcrMarker"/>, so the keyword index finds the
/// image and <see cref="ImageTexts.DescribeImage"/> shows the text with the hit and in prompts), and as text chunks
/// citing the image (caption <see cref="Caption"/>) when the text is longer than one chunk or the image is all there
/// is of its page (a scanned PDF page becomes a page of text). An image Tesseract fails on keeps its item without OCR
/// text and the failure is reported with the document. Thread-safe.
/// </summary>
internal sealed class DocumentOcr(TesseractOcr ocr, TextChunker? chunker)
{
    /// <summary>The caption of the text chunks made from an image's text.</summary>
    public const string Caption = "text in image";

    // One instance serves a whole run, whose files are loaded several at once: the bound holds across them.
    private readonly SemaphoreSlim _processes = new(ocr.Options.MaxParallelism, ocr.Options.MaxParallelism);

    public async Task<LoadedDocument> ApplyAsync(LoadedDocument document, CancellationToken cancellationToken)
    {
        if (!document.Items.Any(item => item.Kind == ItemKind.Image))
        {
            return document;
        }

        var isImageFile = document.MediaType.StartsWith("image/", StringComparison.Ordinal);
        var read = await ReadImagesAsync(document, cancellationToken).ConfigureAwait(false);
        var items = new List<LoadedItem>(document.Items.Count);
        var failures = new List<IngestionFailure>(document.Failures);
        for (var index = 0; index < document.Items.Count; index++)
        {
            var item = document.Items[index];
            if (!read.TryGetValue(index, out var result))
            {
                Add(item);
                continue;
            }

            if (result.Error is { } error)
            {
                failures.Add(new IngestionFailure(document.SourcePath, $"No text was read from an image: {error.Message}", Where(item), DateTimeOffset.UtcNow));
                Add(item);
                continue;
            }

            var text = result.Text!;
            if (text.Length == 0)
            {
                Add(item);
                continue;
            }

            Add(item with { Text = (string.IsNullOrEmpty(item.Text) ? "" : item.Text + "\n") + ImageTexts.OcrMarker + text });
            var chunks = chunker?.Split(text) ?? [text];
            var pageHasText = !isImageFile && document.Items.Any(other => other.Kind == ItemKind.TextChunk && other.Provenance.Page == item.Provenance.Page);
            if (chunks.Count > 1 || (!isImageFile && !pageHasText))
            {
                foreach (var chunk in chunks)
                {
                    Add(new LoadedItem
                    {
                        Kind = ItemKind.TextChunk,
                        Text = chunk,
                        Provenance = item.Provenance with { Caption = Caption },
                    });
                }
            }
        }

        return document with { Items = items, Failures = failures };

        // Positions follow document order, the OCR chunks right after their image.
        void Add(LoadedItem item) => items.Add(item with { Provenance = item.Provenance with { Position = items.Count } });
    }

    private sealed record ImageText(string? Text, OcrException? Error);

    private static string? Where(LoadedItem item) => item.Provenance.Page is { } page ? $"page {page}, item {item.Provenance.Position}" : null;

    /// <summary>The text of each image item (by index), read by up to <see cref="TesseractOcrOptions.MaxParallelism"/> processes at once (in the whole run).</summary>
    private async Task<Dictionary<int, ImageText>> ReadImagesAsync(LoadedDocument document, CancellationToken cancellationToken)
    {
        var images = Enumerable.Range(0, document.Items.Count).Where(i => document.Items[i].Kind == ItemKind.Image).ToList();
        var read = new ImageText[document.Items.Count];
        var parallel = new ParallelOptions { MaxDegreeOfParallelism = ocr.Options.MaxParallelism, CancellationToken = cancellationToken };
        await Parallel.ForEachAsync(images, parallel, async (index, token) =>
        {
            var item = document.Items[index];
            var name = Where(item) is { } where ? $"{document.SourcePath} ({where})" : document.SourcePath;
            await _processes.WaitAsync(token).ConfigureAwait(false);
            try
            {
                read[index] = new ImageText(await ocr.RecognizeAsync(item.ImageBytes, name, token).ConfigureAwait(false), null);
            }
            catch (OcrException ex)
            {
                read[index] = new ImageText(null, ex);
            }
            finally
            {
                _processes.Release();
            }
        }).ConfigureAwait(false);
        return images.ToDictionary(index => index, index => read[index]);
    }
}
