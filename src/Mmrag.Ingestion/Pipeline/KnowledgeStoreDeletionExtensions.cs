using Mmrag.Ingestion.Loaders;
using Mmrag.Knowledge;
using Mmrag.Storage;

namespace Mmrag.Ingestion.Pipeline;

/// <summary>Deleting ingested documents by id or by path, with their recorded failures.</summary>
public static class KnowledgeStoreDeletionExtensions
{
    /// <summary>Deletes the document <paramref name="documentId"/>, its items and its file's recorded failures; false when there was none.</summary>
    public static async Task<bool> DeleteDocumentAndFailuresAsync(this IKnowledgeStore store, string documentId,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(store);
        ArgumentException.ThrowIfNullOrWhiteSpace(documentId);
        var document = await store.GetDocumentAsync(documentId, cancellationToken).ConfigureAwait(false);
        var deleted = await store.DeleteDocumentAsync(documentId, cancellationToken).ConfigureAwait(false);
        if (document is not null)
        {
            await store.ClearFailuresAsync(document.SourcePath, cancellationToken).ConfigureAwait(false);
        }

        return deleted;
    }

    /// <summary>
    /// Deletes the documents ingested from <paramref name="path"/>: the file's document, or every document under the
    /// folder. The files need not exist any more. Recorded failures of those paths are cleared too.
    /// </summary>
    /// <returns>How many documents were deleted.</returns>
    public static async Task<int> DeletePathAsync(this IKnowledgeStore store, string path, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(store);
        ArgumentException.ThrowIfNullOrWhiteSpace(path);
        var target = PathGuard.Normalize(path);
        var matches = new List<DocumentRecord>();
        await foreach (var document in store.ListDocumentsAsync(cancellationToken).ConfigureAwait(false))
        {
            if (PathGuard.IsLexicallyUnder(document.SourcePath, target))
            {
                matches.Add(document);
            }
        }

        var deleted = 0;
        foreach (var document in matches)
        {
            if (await store.DeleteDocumentAsync(document.Id, cancellationToken).ConfigureAwait(false))
            {
                deleted++;
            }

            await store.ClearFailuresAsync(document.SourcePath, cancellationToken).ConfigureAwait(false);
        }

        var failures = await store.ListFailuresAsync(cancellationToken).ConfigureAwait(false);
        foreach (var failed in failures.Select(f => f.SourcePath).Distinct(PathGuard.Comparer))
        {
            if (PathGuard.IsLexicallyUnder(failed, target))
            {
                await store.ClearFailuresAsync(failed, cancellationToken).ConfigureAwait(false);
            }
        }

        return deleted;
    }
}
