using Mmrag.Knowledge;
using Mmrag.Storage;

namespace Mmrag.Ingestion.Pipeline;

/// <summary>What <see cref="KnowledgeStoreTransfer"/> copied.</summary>
/// <param name="Documents">Documents written to the target.</param>
/// <param name="Items">Items written, with their stored vectors (nothing re-embedded).</param>
/// <param name="Failures">Failure records copied.</param>
public sealed record KnowledgeStoreTransferSummary(int Documents, int Items, int Failures);

/// <summary>Copies a knowledge base from one store backend to another (e.g. embedded → PostgreSQL) without re-embedding.</summary>
public static class KnowledgeStoreTransfer
{
    /// <summary>
    /// Copies every document with its items and vectors, and the failure records, from <paramref name="source"/> to
    /// <paramref name="target"/>. Both must hold the same embedding space. Each document is one atomic upsert on the
    /// target, so an interrupted copy can simply be run again.
    /// </summary>
    public static Task<KnowledgeStoreTransferSummary> CopyAsync(IKnowledgeStore source, IKnowledgeStore target,
        IProgress<int>? documentsCopied = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(source);
        ArgumentNullException.ThrowIfNull(target);
        if (source.Space != target.Space)
        {
            throw new EmbeddingSpaceMismatchException(
                $"Cannot copy {source.Space.Dimension}-d vectors of '{source.Space.ModelId}' into a store of '{target.Space.ModelId}' ({target.Space.Dimension}-d).");
        }

        return CopyAsync(source, target, transformItems: null, documentsCopied, cancellationToken);
    }

    /// <summary>
    /// Copies like <see cref="CopyAsync(IKnowledgeStore, IKnowledgeStore, IProgress{int}?, CancellationToken)"/>, passing
    /// each document's items (in position order) through <paramref name="transformItems"/> first: a re-embed gives
    /// them the target space's vectors, keeping ids, text, descriptions, tags and provenance.
    /// </summary>
    public static async Task<KnowledgeStoreTransferSummary> CopyAsync(IKnowledgeStore source, IKnowledgeStore target,
        Func<DocumentRecord, IReadOnlyList<KnowledgeItem>, CancellationToken, Task<IReadOnlyList<KnowledgeItem>>>? transformItems,
        IProgress<int>? documentsCopied = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(source);
        ArgumentNullException.ThrowIfNull(target);

        var documents = 0;
        var items = 0;
        await foreach (var document in source.ListDocumentsAsync(cancellationToken).ConfigureAwait(false))
        {
            var ordered = await ReadItemsAsync(source, document, cancellationToken).ConfigureAwait(false);
            if (transformItems is not null)
            {
                ordered = await transformItems(document, ordered, cancellationToken).ConfigureAwait(false);
            }

            await target.UpsertDocumentAsync(document, ordered, cancellationToken).ConfigureAwait(false);
            documents++;
            items += ordered.Count;
            documentsCopied?.Report(documents);
        }

        var failures = await source.ListFailuresAsync(cancellationToken).ConfigureAwait(false);
        foreach (var failure in failures.Reverse())
        {
            await target.RecordFailureAsync(failure, cancellationToken).ConfigureAwait(false);
        }

        return new KnowledgeStoreTransferSummary(documents, items, failures.Count);
    }

    /// <summary>A document's items in position order, with their vectors.</summary>
    /// <exception cref="KnowledgeStoreException">The store returned fewer items than the document has.</exception>
    public static async Task<IReadOnlyList<KnowledgeItem>> ReadItemsAsync(IKnowledgeStore store, DocumentRecord document, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(store);
        ArgumentNullException.ThrowIfNull(document);
        // The contract has no "items of a document" read: a search restricted to the document, with k = its item count,
        // returns exactly its items (any query vector will do, the filter decides).
        var probe = new float[store.Space.Dimension];
        probe[0] = 1f;
        var hits = document.ItemCount == 0 ? [] : await store.SearchVectorsAsync(probe, document.ItemCount,
            new SearchFilter { DocumentIds = [document.Id] }, SearchRecall.Exact, cancellationToken).ConfigureAwait(false);
        if (hits.Count != document.ItemCount)
        {
            throw new KnowledgeStoreException(
                $"Reading document '{document.SourcePath}' returned {hits.Count} of its {document.ItemCount} items; nothing of it was copied.");
        }

        return [.. hits.Select(static h => h.Item).OrderBy(static i => i.Provenance.Position)];
    }
}
