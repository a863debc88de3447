namespace Mmrag.Knowledge;

/// <summary>An ingested source file and the version of it that is stored.</summary>
/// <param name="Id">Stable id of the document (derived from its normalized path).</param>
/// <param name="SourcePath">Absolute path of the file (or URL).</param>
/// <param name="ContentHash">SHA-256 (hex) of the file's bytes when it was ingested, followed by <c>+ocr:LANGS</c> when its images were read with OCR (the version ingestion compares).</param>
/// <param name="MediaType">e.g. image/jpeg, text/markdown, application/pdf.</param>
/// <param name="Title">Title, when the document has one.</param>
/// <param name="ItemCount">Number of items stored for it.</param>
/// <param name="IngestedAt">When this version was stored.</param>
public sealed record DocumentRecord(
    string Id,
    string SourcePath,
    string ContentHash,
    string MediaType,
    string? Title,
    int ItemCount,
    DateTimeOffset IngestedAt)
{
    /// <summary>Free-form tags applied to every item of the document.</summary>
    public IReadOnlyList<string> Tags { get; init; } = [];
}

/// <summary>A file or item that could not be ingested, and why.</summary>
/// <param name="SourcePath">The file.</param>
/// <param name="Reason">A message a user can act on.</param>
/// <param name="Detail">Where in the file (page, image index), when known.</param>
/// <param name="At">When it failed.</param>
public sealed record IngestionFailure(string SourcePath, string Reason, string? Detail, DateTimeOffset At);

/// <summary>The embedding space of a knowledge base: every vector in it comes from this model.</summary>
/// <param name="ModelId">Model identifier (e.g. clip-vit-base-patch32).</param>
/// <param name="Dimension">Vector dimension.</param>
public sealed record EmbeddingSpace(string ModelId, int Dimension);

/// <summary>Counts that describe a knowledge base.</summary>
public sealed record KnowledgeBaseStats(EmbeddingSpace Space, int Documents, int TextChunks, int Images, int Failures, long StorageBytes);
