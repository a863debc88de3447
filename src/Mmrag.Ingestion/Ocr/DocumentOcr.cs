using Mmrag.Ingestion.Chunking;
using Mmrag.Knowledge;

namespace Mmrag.Ingestion.Ocr;

/// <summary>
/// Adds the text Tesseract reads in a loaded document's images: to the image item's keyword text (after its
/// description and other words, so the keyword index finds the image and the hit shows the text), and as text chunks
/// citing the image (caption <see cref="Caption"/>) when the text is longer than one chunk or the image is all there
/// is of its page (a scanned PDF page becomes a page of text). An image Tesseract fails on keeps its item without OCR
/// text and the failure is reported with the document. Thread-safe.
/// </summary>
internal sealed class DocumentOcr(TesseractOcr ocr, TextChunker? chunker)
{
    /// <summary>The caption of the text chunks made from an image's text.</summary>
    public const string Caption = "text in image";

    public async Task<LoadedDocument> ApplyAsync(LoadedDocument document, CancellationToken cancellationToken)
    {
        if (!document.Items.Any(item => item.Kind == ItemKind.Image))
        {
            return document;
        }

        var isImageFile = document.MediaType.StartsWith("image/", StringComparison.Ordinal);
        var items = new List<LoadedItem>(document.Items.Count);
        var failures = new List<IngestionFailure>(document.Failures);
        foreach (var item in document.Items)
        {
            if (item.Kind != ItemKind.Image)
            {
                Add(item);
                continue;
            }

            var where = item.Provenance.Page is { } page ? $"page {page}, item {item.Provenance.Position}" : null;
            string text;
            try
            {
                text = await ocr.RecognizeAsync(item.ImageBytes, where is null ? document.SourcePath : $"{document.SourcePath} ({where})",
                    cancellationToken).ConfigureAwait(false);
            }
            catch (OcrException ex)
            {
                failures.Add(new IngestionFailure(document.SourcePath, $"No text was read from an image: {ex.Message}", where, DateTimeOffset.UtcNow));
                Add(item);
                continue;
            }

            if (text.Length == 0)
            {
                Add(item);
                continue;
            }

            Add(item with { Text = string.IsNullOrEmpty(item.Text) ? text : item.Text + "\n" + text });
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
}
