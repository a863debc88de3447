namespace Mmrag.Knowledge;

/// <summary>What an item is.</summary>
public enum ItemKind
{
    /// <summary>A chunk of a text document (txt, Markdown, HTML, PDF page text).</summary>
    TextChunk,

    /// <summary>An image: a file of its own, or one found inside a document.</summary>
    Image,
}

/// <summary>Where an item came from, for citations.</summary>
/// <param name="SourcePath">The ingested file (absolute path, or a URL for remote sources).</param>
/// <param name="DocumentTitle">Title of the document, when it has one.</param>
/// <param name="Page">1-based page (PDF), when known.</param>
/// <param name="Section">Heading path of the section the item sits in (e.g. "History › Early years").</param>
/// <param name="Caption">Caption or alt text of an image from a document.</param>
/// <param name="Position">Order of the item inside its document (0-based).</param>
public sealed record Provenance(
    string SourcePath,
    string? DocumentTitle = null,
    int? Page = null,
    string? Section = null,
    string? Caption = null,
    int Position = 0);

/// <summary>One searchable unit of a knowledge base: a text chunk or an image, with its vector.</summary>
public sealed record KnowledgeItem
{
    /// <summary>Stable id, unique in the knowledge base (derived from the document id and the item's position and content).</summary>
    public required string Id { get; init; }

    /// <summary>Id of the document the item belongs to.</summary>
    public required string DocumentId { get; init; }

    /// <summary>Text chunk or image.</summary>
    public required ItemKind Kind { get; init; }

    /// <summary>SHA-256 (hex) of the item's content: the chunk text's UTF-8 bytes, or the image's encoded bytes.</summary>
    public required string ContentHash { get; init; }

    /// <summary>
    /// The keyword text: the chunk's text, or for an image its description, caption and nearby text.
    /// Indexed for keyword search; may be empty for an image with no description.
    /// </summary>
    public string Text { get; init; } = string.Empty;

    /// <summary>For images: the description given by a sidecar or a captioning model, when there is one.</summary>
    public string? Description { get; init; }

    /// <summary>For images: where the image can be read (its file, or the file extracted from a document).</summary>
    public string? ImagePath { get; init; }

    /// <summary>Where the item came from.</summary>
    public required Provenance Provenance { get; init; }

    /// <summary>The L2-normalized embedding (may be empty when an item is read without its vector).</summary>
    public ReadOnlyMemory<float> Vector { get; init; }

    /// <summary>Free-form tags (filterable).</summary>
    public IReadOnlyList<string> Tags { get; init; } = [];
}
