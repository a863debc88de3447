namespace Mmrag.Knowledge;

/// <summary>
/// The text found in an image by OCR: stored in the image item's <see cref="KnowledgeItem.Text"/> (the keyword text)
/// after <see cref="OcrMarker"/>, so the keyword index finds it; these helpers give it to what shows or sends an image
/// described by its <see cref="KnowledgeItem.Description"/>. An image taken from a site with licences (a Wikipedia
/// article's photos) carries its credit line in its description after <see cref="CreditMarker"/>, read by
/// <see cref="Credit"/>. Stateless and thread-safe.
/// </summary>
public static class ImageTexts
{
    /// <summary>Starts the OCR text's line in an image's keyword text; one token that queries rarely hold.</summary>
    public const string OcrMarker = "OCR: ";

    /// <summary>Starts the credit line (author, licence, where from) in the description of an image whose licence asks for one.</summary>
    public const string CreditMarker = "Image credit: ";

    /// <summary>The image item's credit line (its author, licence and file page), or null when its description has none.</summary>
    public static string? Credit(this KnowledgeItem item)
    {
        ArgumentNullException.ThrowIfNull(item);
        if (item.Kind != ItemKind.Image || item.Description is not { } description)
        {
            return null;
        }

        var line = description.Split('\n').FirstOrDefault(l => l.StartsWith(CreditMarker, StringComparison.Ordinal));
        return line is null ? null : line[CreditMarker.Length..].Trim() is { Length: > 0 } credit ? credit : null;
    }

    /// <summary>The text OCR found in the image item, or null when it was not read with OCR or held no text.</summary>
    public static string? OcrText(this KnowledgeItem item)
    {
        ArgumentNullException.ThrowIfNull(item);
        var text = item.Text;
        var at = text.StartsWith(OcrMarker, StringComparison.Ordinal) ? 0 : text.IndexOf("\n" + OcrMarker, StringComparison.Ordinal) is >= 0 and var i ? i + 1 : -1;
        return at < 0 || item.Kind != ItemKind.Image ? null : text[(at + OcrMarker.Length)..].Trim();
    }

    /// <summary>
    /// What an image says in words: its description with the OCR text after it (<c>OCR: …</c>), or its keyword text
    /// when it has no description (which holds the OCR text already).
    /// </summary>
    public static string DescribeImage(this KnowledgeItem item)
    {
        ArgumentNullException.ThrowIfNull(item);
        if (string.IsNullOrWhiteSpace(item.Description))
        {
            return item.Text;
        }

        return item.OcrText() is { Length: > 0 } ocr ? item.Description + "\n" + OcrMarker + ocr : item.Description;
    }
}
