using System.Text.RegularExpressions;
using Mmrag.Knowledge;

namespace Mmrag.Ingestion.Loaders;

/// <summary>
/// Reads an image file (JPEG, PNG, WebP, GIF, BMP) as one image item. The format is taken from the bytes, not the
/// extension; the description comes from the sidecars (<see cref="DocumentLoadContext.Descriptions"/>), and the
/// keyword text is the description plus the words of the file name. Whether the pixels decode, and the pixel-count
/// limit, are checked when the image is embedded. Stateless and thread-safe.
/// </summary>
public sealed partial class ImageFileLoader : IDocumentLoader
{
    /// <summary>The extensions this loader reads (case-insensitive).</summary>
    public static IReadOnlySet<string> Extensions => ImageFormats.Extensions;

    /// <inheritdoc />
    public bool CanLoad(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        return ImageFormats.HasImageExtension(path);
    }

    /// <inheritdoc />
    public async Task<LoadedDocument> LoadAsync(string path, DocumentLoadContext context, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(path);
        ArgumentNullException.ThrowIfNull(context);
        var full = Path.GetFullPath(path);
        var bytes = await LoaderFiles.ReadAsync(full, context.MaxFileBytes, cancellationToken).ConfigureAwait(false);
        var mediaType = ImageFormats.Sniff(bytes)
            ?? throw new DocumentLoadException($"{full}: not a JPEG, PNG, WebP, GIF or BMP image (its first bytes match none of them).");

        context.Descriptions.TryGetValue(full, out var description);
        description = string.IsNullOrWhiteSpace(description) ? null : description.Trim();
        var stem = Path.GetFileNameWithoutExtension(full);
        var nameWords = FileNameWords(stem);
        var text = description is null ? nameWords
            : nameWords.Length == 0 ? description
            : description + "\n" + nameWords;

        var item = new LoadedItem
        {
            Kind = ItemKind.Image,
            Text = text,
            Description = description,
            ImageBytes = bytes,
            ImageMediaType = mediaType,
            ImagePath = full,
            Provenance = new Provenance(full, DocumentTitle: stem),
        };
        return new LoadedDocument(full, mediaType, stem, [item], []);
    }

    /// <summary>
    /// The words of a file name as weak keywords: <c>golden_retriever-puppy2</c> → <c>golden retriever puppy2</c>.
    /// Camera counters and other digit-only parts (<c>IMG_20240101_1234</c>) carry no meaning and are dropped.
    /// </summary>
    internal static string FileNameWords(string stem)
    {
        var words = NameSeparators().Split(CamelBoundary().Replace(stem, " "))
            .Where(word => word.Length > 0 && !word.All(char.IsAsciiDigit))
            .Where(word => !word.Equals("img", StringComparison.OrdinalIgnoreCase) && !word.Equals("dsc", StringComparison.OrdinalIgnoreCase));
        return string.Join(' ', words);
    }

    [GeneratedRegex(@"[\s_\-.+,()\[\]]+")]
    private static partial Regex NameSeparators();

    [GeneratedRegex(@"(?<=\p{Ll})(?=\p{Lu})")]
    private static partial Regex CamelBoundary();
}
