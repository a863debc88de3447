using Mmrag.Knowledge;

namespace Mmrag.Storage;

/// <summary>
/// Optional store capability: one keyword search answering for several item kinds at once, for a hybrid search that
/// wants the best keyword matches of each kind. A store that ranks only a budget of candidate rows (the embedded store:
/// BM25 costs per row scored) ranks one budget for all the kinds instead of one per kind. Stores implement it beside
/// <see cref="IKnowledgeStore"/>; callers use <see cref="KeywordSearchByKindExtensions.SearchKeywordsByKindAsync"/>,
/// which falls back to one search per kind. Thread-safe.
/// </summary>
public interface IKeywordSearchByKind
{
    /// <summary>
    /// For each of <paramref name="kinds"/>, the best <see cref="KindLimit.K"/> keyword matches of <paramref name="text"/>
    /// among the items of that kind matching <paramref name="filter"/> (none when the filter names another kind), best
    /// first, scored as <see cref="IKnowledgeStore.SearchKeywordsAsync"/> scores them. Where every match is ranked, each
    /// list is what that search returns for the kind; a store that ranks a budget of candidates shares it between the
    /// kinds, so a kind's list may then miss a row its own search would have ranked.
    /// </summary>
    Task<IReadOnlyList<IReadOnlyList<StoreHit>>> SearchKeywordsByKindAsync(string text, IReadOnlyList<KindLimit> kinds, SearchFilter? filter = null,
        CancellationToken cancellationToken = default);
}

/// <summary>How many hits of one item kind a search wants.</summary>
/// <param name="Kind">The item kind.</param>
/// <param name="K">How many hits (0 or more).</param>
public readonly record struct KindLimit(ItemKind Kind, int K);

/// <summary>Keyword searches of several kinds through <see cref="IKeywordSearchByKind"/> where the store offers it.</summary>
public static class KeywordSearchByKindExtensions
{
    /// <summary>
    /// The keyword hits of each of <paramref name="kinds"/>, in the kinds' order: one search when the store implements
    /// <see cref="IKeywordSearchByKind"/>, else one <see cref="IKnowledgeStore.SearchKeywordsAsync"/> per kind (at once).
    /// </summary>
    public static async Task<IReadOnlyList<IReadOnlyList<StoreHit>>> SearchKeywordsByKindAsync(this IKnowledgeStore store, string text,
        IReadOnlyList<KindLimit> kinds, SearchFilter? filter = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(store);
        ArgumentNullException.ThrowIfNull(text);
        ArgumentNullException.ThrowIfNull(kinds);
        if (store is IKeywordSearchByKind byKind)
        {
            return await byKind.SearchKeywordsByKindAsync(text, kinds, filter, cancellationToken).ConfigureAwait(false);
        }

        var searches = new Task<IReadOnlyList<StoreHit>>[kinds.Count];
        for (var i = 0; i < kinds.Count; i++)
        {
            searches[i] = filter?.Kind is { } only && only != kinds[i].Kind
                ? Task.FromResult<IReadOnlyList<StoreHit>>([])
                : store.SearchKeywordsAsync(text, kinds[i].K, (filter ?? SearchFilter.None) with { Kind = kinds[i].Kind }, cancellationToken);
        }

        return await Task.WhenAll(searches).ConfigureAwait(false);
    }
}
