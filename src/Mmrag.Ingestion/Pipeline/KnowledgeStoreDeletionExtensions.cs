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
        bool Under(string source) => PathGuard.IsLexicallyUnder(source, target);
        return await store.DeleteWhereAsync(Under, Under, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// Deletes the documents whose source path <paramref name="documentGone"/> accepts, clearing their recorded failures,
    /// then clears the recorded failures of every path <paramref name="failureGone"/> accepts.
    /// </summary>
    /// <returns>How many documents were deleted.</returns>
    internal static async Task<int> DeleteWhereAsync(this IKnowledgeStore store, Func<string, bool> documentGone, Func<string, bool> failureGone,
        CancellationToken cancellationToken)
    {
        var matches = new List<DocumentRecord>();
        await foreach (var document in store.ListDocumentsAsync(cancellationToken).ConfigureAwait(false))
        {
            if (documentGone(document.SourcePath))
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
            if (failureGone(failed))
            {
                await store.ClearFailuresAsync(failed, cancellationToken).ConfigureAwait(false);
            }
        }

        return deleted;
    }
}
