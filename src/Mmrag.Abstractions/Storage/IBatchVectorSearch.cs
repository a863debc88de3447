using Mmrag.Knowledge;

namespace Mmrag.Storage;

/// <summary>
/// Optional store capability: the exact top k of many query vectors at once, for the work where many queries meet
/// every item (evaluation baselines, adapter training, sampling). A store with an in-process index scores the batch as
/// one blocked matrix product instead of one scan per query; each query's hits are those
/// <see cref="IKnowledgeStore.SearchVectorsAsync"/> returns for it with recall 1. Stores implement it beside
/// <see cref="IKnowledgeStore"/>; callers use <see cref="BatchVectorSearchExtensions.SearchVectorsExactAsync"/>, which
/// falls back to one search per query. Thread-safe.
/// </summary>
public interface IBatchVectorSearch
{
    /// <summary>
    /// For each of <paramref name="queries"/> (unit vectors), the <paramref name="k"/> nearest items matching
    /// <paramref name="filter"/>, best first, exactly; all queries see the same state of the store.
    /// </summary>
    Task<IReadOnlyList<IReadOnlyList<StoreHit>>> SearchVectorsBatchAsync(IReadOnlyList<ReadOnlyMemory<float>> queries, int k, SearchFilter? filter = null,
        CancellationToken cancellationToken = default);
}

/// <summary>Many exact vector searches through <see cref="IBatchVectorSearch"/> where the store offers it.</summary>
public static class BatchVectorSearchExtensions
{
    /// <summary>
    /// The exact top <paramref name="k"/> of each query, in the queries' order: one batch when the store implements
    /// <see cref="IBatchVectorSearch"/>, else one <see cref="IKnowledgeStore.SearchVectorsAsync"/> per query with recall 1.
    /// </summary>
    public static async Task<IReadOnlyList<IReadOnlyList<StoreHit>>> SearchVectorsExactAsync(this IKnowledgeStore store, IReadOnlyList<ReadOnlyMemory<float>> queries,
        int k, SearchFilter? filter = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(store);
        ArgumentNullException.ThrowIfNull(queries);
        if (store is IBatchVectorSearch batch)
        {
            return await batch.SearchVectorsBatchAsync(queries, k, filter, cancellationToken).ConfigureAwait(false);
        }

        var results = new IReadOnlyList<StoreHit>[queries.Count];
        for (var i = 0; i < queries.Count; i++)
        {
            results[i] = await store.SearchVectorsAsync(queries[i], k, filter, recall: 1.0, cancellationToken).ConfigureAwait(false);
        }

        return results;
    }
}
