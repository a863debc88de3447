using Mmrag.Knowledge;

namespace Mmrag.Ingestion;

/// <summary>One item a loader found in a file, before it is embedded.</summary>
public sealed record LoadedItem
{
    /// <summary>Text chunk or image.</summary>
    public required ItemKind Kind { get; init; }

    /// <summary>Chunk text; for images the keyword text (description, caption, alt text, section title, nearby text).</summary>
    public string Text { get; init; } = string.Empty;

    /// <summary>For images: the description from a sidecar (description.json, CSV, &lt;image&gt;.txt), when there is one.</summary>
    public string? Description { get; init; }

    /// <summary>For images: the encoded image bytes (a file's bytes, or an image extracted from a document).</summary>
    public ReadOnlyMemory<byte> ImageBytes { get; init; }

    /// <summary>For images: media type of <see cref="ImageBytes"/> (image/jpeg, image/png, …).</summary>
    public string? ImageMediaType { get; init; }

    /// <summary>For images: the image's own file, when it has one (an image file, or an &lt;img&gt; of an HTML page).</summary>
    public string? ImagePath { get; init; }

    /// <summary>Where it came from.</summary>
    public required Provenance Provenance { get; init; }
}

/// <summary>What a loader read from one file.</summary>
/// <param name="SourcePath">The file.</param>
/// <param name="MediaType">Its media type.</param>
/// <param name="Title">Its title, when it has one.</param>
/// <param name="Items">Text chunks and images, in document order.</param>
/// <param name="Failures">Parts of the file that could not be read (e.g. one broken image in a PDF); the rest is still usable.</param>
public sealed record LoadedDocument(string SourcePath, string MediaType, string? Title, IReadOnlyList<LoadedItem> Items, IReadOnlyList<IngestionFailure> Failures);

/// <summary>Reads one kind of file into items. Implementations are stateless and thread-safe.</summary>
public interface IDocumentLoader
{
    /// <summary>Whether this loader reads <paramref name="path"/> (by extension / media type).</summary>
    bool CanLoad(string path);

    /// <summary>
    /// Reads the file. Throws <see cref="DocumentLoadException"/> (naming the file) when the file as a whole cannot be read;
    /// parts that fail are returned in <see cref="LoadedDocument.Failures"/>.
    /// </summary>
    Task<LoadedDocument> LoadAsync(string path, DocumentLoadContext context, CancellationToken cancellationToken = default);
}

/// <summary>What a loader may need besides the file: the ingested root (sidecar paths may not leave it) and the sidecar descriptions.</summary>
/// <param name="Root">The folder being ingested (or the file's folder).</param>
/// <param name="Descriptions">Image descriptions by absolute image path, from sidecar files.</param>
public sealed record DocumentLoadContext(string Root, IReadOnlyDictionary<string, string> Descriptions)
{
    /// <summary>Largest image accepted, in pixels (decoded width × height).</summary>
    public long MaxImagePixels { get; init; } = 100_000_000;

    /// <summary>Largest file read, in bytes.</summary>
    public long MaxFileBytes { get; init; } = 512L * 1024 * 1024;

    /// <summary>
    /// Most items (text chunks and images) taken from one file: a loader stops reading there, keeps the items so far and
    /// reports in <see cref="LoadedDocument.Failures"/> that the rest was left out.
    /// </summary>
    public int MaxItems { get; init; } = 20_000;
}

/// <summary>A file could not be read as a document; the message names the file.</summary>
public sealed class DocumentLoadException : Exception
{
    /// <summary>Creates the exception.</summary>
    public DocumentLoadException(string message) : base(message) { }

    /// <summary>Creates the exception with its cause.</summary>
    public DocumentLoadException(string message, Exception innerException) : base(message, innerException) { }

    /// <summary>Creates the exception.</summary>
    public DocumentLoadException() { }
}
