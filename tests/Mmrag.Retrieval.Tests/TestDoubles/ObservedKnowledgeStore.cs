using System.Collections.Concurrent;
using Mmrag.Knowledge;
using Mmrag.Storage;

namespace Mmrag.Retrieval.Tests.TestDoubles;

/// <summary>
/// Wraps any <see cref="IKnowledgeStore"/> and records what retrieval asks of it, with hooks to delay or alter answers,
/// so the retrieval suites run unchanged over every backend.
/// </summary>
public sealed class ObservedKnowledgeStore(IKnowledgeStore inner) : IKnowledgeStore, IKeywordSearchByKind
{
    private int _sampleCalls;
    private int _keywordByKindCalls;
    private int _statsCalls;

    public IKnowledgeStore Inner { get; } = inner;

    public EmbeddingSpace Space => Inner.Space;

    /// <summary>Filters passed to vector searches, in call order.</summary>
    public ConcurrentQueue<SearchFilter?> VectorFilters { get; } = new();

    public ConcurrentQueue<double?> VectorRecalls { get; } = new();

    /// <summary>Filters passed to keyword searches, in call order.</summary>
    public ConcurrentQueue<SearchFilter?> KeywordFilters { get; } = new();

    /// <summary>Keyword searches asked for several kinds at once (<see cref="IKeywordSearchByKind"/>); their filters, one per kind, are in <see cref="KeywordFilters"/> too.</summary>
    public int KeywordByKindCalls => Volatile.Read(ref _keywordByKindCalls);

    public int SampleCalls => Volatile.Read(ref _sampleCalls);

    public int StatsCalls => Volatile.Read(ref _statsCalls);

    /// <summary>Awaited before every vector or keyword search.</summary>
    public Func<CancellationToken, Task>? BeforeSearch { get; set; }

    /// <summary>Return keyword hits without their vectors, as a keyword index may.</summary>
    public bool StripKeywordVectors { get; set; }

    /// <summary>Make <see cref="SetSettingAsync"/> fail like a read-only store.</summary>
    public bool FailSettingWrites { get; set; }

    public Task UpsertDocumentAsync(DocumentRecord document, IReadOnlyList<KnowledgeItem> items, CancellationToken cancellationToken = default) =>
        Inner.UpsertDocumentAsync(document, items, cancellationToken);

    public Task<bool> DeleteDocumentAsync(string documentId, CancellationToken cancellationToken = default) =>
        Inner.DeleteDocumentAsync(documentId, cancellationToken);

    public Task<DocumentRecord?> GetDocumentAsync(string documentId, CancellationToken cancellationToken = default) =>
        Inner.GetDocumentAsync(documentId, cancellationToken);

    public IAsyncEnumerable<DocumentRecord> ListDocumentsAsync(CancellationToken cancellationToken = default) =>
        Inner.ListDocumentsAsync(cancellationToken);

    public Task<KnowledgeItem?> GetItemAsync(string itemId, CancellationToken cancellationToken = default) =>
        Inner.GetItemAsync(itemId, cancellationToken);

    public Task<IReadOnlyDictionary<string, ReadOnlyMemory<float>>> FindVectorsByContentHashAsync(IReadOnlyCollection<string> contentHashes,
        CancellationToken cancellationToken = default) => Inner.FindVectorsByContentHashAsync(contentHashes, cancellationToken);

    public async Task<IReadOnlyList<StoreHit>> SearchVectorsAsync(ReadOnlyMemory<float> query, int k, SearchFilter? filter = null, double? recall = null,
        CancellationToken cancellationToken = default)
    {
        VectorFilters.Enqueue(filter);
        VectorRecalls.Enqueue(recall);
        if (BeforeSearch is { } hook)
        {
            await hook(cancellationToken);
        }

        return await Inner.SearchVectorsAsync(query, k, filter, recall, cancellationToken);
    }

    public async Task<IReadOnlyList<StoreHit>> SearchKeywordsAsync(string text, int k, SearchFilter? filter = null, CancellationToken cancellationToken = default)
    {
        KeywordFilters.Enqueue(filter);
        if (BeforeSearch is { } hook)
        {
            await hook(cancellationToken);
        }

        return Stripped(await Inner.SearchKeywordsAsync(text, k, filter, cancellationToken));
    }

    /// <summary>Answered by the inner store's own <see cref="IKeywordSearchByKind"/> where it has one, else one search per kind.</summary>
    public async Task<IReadOnlyList<IReadOnlyList<StoreHit>>> SearchKeywordsByKindAsync(string text, IReadOnlyList<KindLimit> kinds, SearchFilter? filter = null,
        CancellationToken cancellationToken = default)
    {
        Interlocked.Increment(ref _keywordByKindCalls);
        foreach (var kind in kinds)
        {
            KeywordFilters.Enqueue((filter ?? SearchFilter.None) with { Kind = kind.Kind });
        }

        if (BeforeSearch is { } hook)
        {
            await hook(cancellationToken);
        }

        var lists = await Inner.SearchKeywordsByKindAsync(text, kinds, filter, cancellationToken);
        return [.. lists.Select(Stripped)];
    }

    private IReadOnlyList<StoreHit> Stripped(IReadOnlyList<StoreHit> hits) =>
        StripKeywordVectors ? [.. hits.Select(h => h with { Item = h.Item with { Vector = ReadOnlyMemory<float>.Empty } })] : hits;

    public Task RecordFailureAsync(IngestionFailure failure, CancellationToken cancellationToken = default) =>
        Inner.RecordFailureAsync(failure, cancellationToken);

    public Task ClearFailuresAsync(string sourcePath, CancellationToken cancellationToken = default) =>
        Inner.ClearFailuresAsync(sourcePath, cancellationToken);

    public Task<IReadOnlyList<IngestionFailure>> ListFailuresAsync(CancellationToken cancellationToken = default) =>
        Inner.ListFailuresAsync(cancellationToken);

    public Task<KnowledgeBaseStats> GetStatsAsync(CancellationToken cancellationToken = default)
    {
        Interlocked.Increment(ref _statsCalls);
        return Inner.GetStatsAsync(cancellationToken);
    }

    public Task<IReadOnlyList<KnowledgeItem>> SampleItemsAsync(ItemKind kind, int count, int seed, CancellationToken cancellationToken = default)
    {
        Interlocked.Increment(ref _sampleCalls);
        return Inner.SampleItemsAsync(kind, count, seed, cancellationToken);
    }

    public Task<string?> GetSettingAsync(string key, CancellationToken cancellationToken = default) =>
        Inner.GetSettingAsync(key, cancellationToken);

    public Task SetSettingAsync(string key, string? value, CancellationToken cancellationToken = default) =>
        FailSettingWrites
            ? throw new KnowledgeStoreException($"observed store: setting '{key}' cannot be written (read-only).")
            : Inner.SetSettingAsync(key, value, cancellationToken);

    public ValueTask DisposeAsync() => Inner.DisposeAsync();
}
