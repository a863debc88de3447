using Mmrag.Knowledge;

namespace Mmrag.Storage;

/// <summary>A hit from one of the store's indexes, before retrieval fuses and calibrates scores.</summary>
/// <param name="Item">The item (with its vector).</param>
/// <param name="Score">Inner product of unit vectors (cosine) for vector search; the engine's relevance (higher is better) for keyword search.</param>
public sealed record StoreHit(KnowledgeItem Item, double Score);

/// <summary>
/// The knowledge base's storage contract, implemented by the embedded store (SQLite + in-process index) and the
/// PostgreSQL + pgvector store, and verified for both by one contract test suite. Implementations are thread-safe:
/// any number of concurrent readers, writes serialized. Vectors given to the store are L2-normalized.
/// </summary>
public interface IKnowledgeStore : IAsyncDisposable
{
    /// <summary>The model and dimension every vector in this store comes from.</summary>
    EmbeddingSpace Space { get; }

    /// <summary>
    /// Stores <paramref name="document"/> with exactly <paramref name="items"/>, replacing any earlier version of the
    /// document and its items in one transaction: readers see the old version or the new one, never a mix.
    /// </summary>
    Task UpsertDocumentAsync(DocumentRecord document, IReadOnlyList<KnowledgeItem> items, CancellationToken cancellationToken = default);

    /// <summary>Deletes a document and its items; false when there was none.</summary>
    Task<bool> DeleteDocumentAsync(string documentId, CancellationToken cancellationToken = default);

    /// <summary>The stored document with this id, or null.</summary>
    Task<DocumentRecord?> GetDocumentAsync(string documentId, CancellationToken cancellationToken = default);

    /// <summary>All stored documents, ordered by source path.</summary>
    IAsyncEnumerable<DocumentRecord> ListDocumentsAsync(CancellationToken cancellationToken = default);

    /// <summary>The item with this id (with its vector), or null.</summary>
    Task<KnowledgeItem?> GetItemAsync(string itemId, CancellationToken cancellationToken = default);

    /// <summary>
    /// Vectors already stored for these content hashes (any item with the same content), so unchanged content is never
    /// embedded twice. Hashes with no stored vector are absent from the result.
    /// </summary>
    Task<IReadOnlyDictionary<string, ReadOnlyMemory<float>>> FindVectorsByContentHashAsync(IReadOnlyCollection<string> contentHashes,
        CancellationToken cancellationToken = default);

    /// <summary>
    /// The <paramref name="k"/> items nearest to <paramref name="query"/> (unit vector) that match <paramref name="filter"/>,
    /// best first. <paramref name="recall"/> (in (0, 1], see <see cref="SearchRecall"/>) sets how much of the exact top k
    /// an approximate index must find: 1 asks for the exact top k, lower values buy speed; null is the store's default.
    /// </summary>
    Task<IReadOnlyList<StoreHit>> SearchVectorsAsync(ReadOnlyMemory<float> query, int k, SearchFilter? filter = null, double? recall = null,
        CancellationToken cancellationToken = default);

    /// <summary>The <paramref name="k"/> best keyword matches of <paramref name="text"/> among items matching <paramref name="filter"/>, best first.</summary>
    Task<IReadOnlyList<StoreHit>> SearchKeywordsAsync(string text, int k, SearchFilter? filter = null, CancellationToken cancellationToken = default);

    /// <summary>Records that a file or part of it could not be ingested (kept until the file is ingested successfully).</summary>
    Task RecordFailureAsync(IngestionFailure failure, CancellationToken cancellationToken = default);

    /// <summary>Forgets the failures recorded for a file (after it was ingested successfully or removed).</summary>
    Task ClearFailuresAsync(string sourcePath, CancellationToken cancellationToken = default);

    /// <summary>Recorded failures, newest first.</summary>
    Task<IReadOnlyList<IngestionFailure>> ListFailuresAsync(CancellationToken cancellationToken = default);

    /// <summary>Counts and sizes.</summary>
    Task<KnowledgeBaseStats> GetStatsAsync(CancellationToken cancellationToken = default);

    /// <summary>
    /// Up to <paramref name="count"/> items of <paramref name="kind"/> (with vectors), chosen pseudo-randomly but
    /// deterministically for a given <paramref name="seed"/> and store content; used to estimate score distributions.
    /// </summary>
    Task<IReadOnlyList<KnowledgeItem>> SampleItemsAsync(ItemKind kind, int count, int seed, CancellationToken cancellationToken = default);

    /// <summary>A value stored with the knowledge base under <paramref name="key"/> (e.g. score calibration), or null.</summary>
    Task<string?> GetSettingAsync(string key, CancellationToken cancellationToken = default);

    /// <summary>Stores <paramref name="value"/> under <paramref name="key"/> (null deletes it).</summary>
    Task SetSettingAsync(string key, string? value, CancellationToken cancellationToken = default);
}

/// <summary>A store operation failed for a reason of the backend (I/O, database, corrupt index). Names the backend and operation.</summary>
public sealed class KnowledgeStoreException : Exception
{
    /// <summary>Creates the exception.</summary>
    public KnowledgeStoreException(string message) : base(message) { }

    /// <summary>Creates the exception with its cause.</summary>
    public KnowledgeStoreException(string message, Exception innerException) : base(message, innerException) { }

    /// <summary>Creates the exception.</summary>
    public KnowledgeStoreException() { }
}

/// <summary>A knowledge base was opened with a model other than the one its vectors come from.</summary>
public sealed class EmbeddingSpaceMismatchException : Exception
{
    /// <summary>Creates the exception.</summary>
    public EmbeddingSpaceMismatchException(string message) : base(message) { }

    /// <summary>Creates the exception with its cause.</summary>
    public EmbeddingSpaceMismatchException(string message, Exception innerException) : base(message, innerException) { }

    /// <summary>Creates the exception.</summary>
    public EmbeddingSpaceMismatchException() { }
}
