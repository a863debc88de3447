using Mmrag.Ingestion.Chunking;

namespace Mmrag.Ingestion.Loaders;

/// <summary>
/// Reads a plain-text file (<c>.txt</c>) into chunks. UTF-8 (a BOM is skipped; UTF-16 with a BOM is read too);
/// invalid UTF-8 sequences are replaced with U+FFFD and reported as one failure naming the first bad byte offset,
/// so a stray Latin-1 byte costs one character, not the file. The title is the first line when it is short.
/// Stateless and thread-safe.
/// </summary>
public sealed class TextFileLoader : IDocumentLoader
{
    private const int MaxTitleLength = 100;

    private readonly TextChunker _chunker;

    /// <summary>Creates the loader.</summary>
    public TextFileLoader(TextChunker chunker)
    {
        ArgumentNullException.ThrowIfNull(chunker);
        _chunker = chunker;
    }

    /// <inheritdoc />
    public bool CanLoad(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        return Path.GetExtension(path).Equals(".txt", StringComparison.OrdinalIgnoreCase);
    }

    /// <inheritdoc />
    public async Task<LoadedDocument> LoadAsync(string path, DocumentLoadContext context, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(path);
        ArgumentNullException.ThrowIfNull(context);
        var full = Path.GetFullPath(path);
        var bytes = await LoaderFiles.ReadAsync(full, context.MaxFileBytes, cancellationToken).ConfigureAwait(false);
        var decoded = TextDecoding.Decode(bytes);
        var builder = new DocumentBuilder(full, _chunker);
        if (!decoded.IsValid)
        {
            builder.AddFailure(
                $"Invalid UTF-8 at byte offset {decoded.FirstInvalidOffset} (line {decoded.FirstInvalidLine}); "
                + $"{decoded.InvalidSequences} invalid sequence(s) were replaced with U+FFFD and the rest of the file was read.",
                $"byte {decoded.FirstInvalidOffset}");
        }

        var text = decoded.Text;
        builder.Title = FirstLineTitle(text);
        builder.AddParagraph(text, section: null);
        return builder.Build("text/plain");
    }

    private static string? FirstLineTitle(string text)
    {
        foreach (var line in text.AsSpan().EnumerateLines())
        {
            var trimmed = line.Trim();
            if (trimmed.IsEmpty)
            {
                continue;
            }

            return trimmed.Length <= MaxTitleLength ? trimmed.ToString() : null;
        }

        return null;
    }
}
