using Mmrag.Hosting.Feedback;
using Mmrag.Ingestion.Pipeline;
using Mmrag.Storage.Embedded;
using Mmrag.Storage.Postgres;

namespace Mmrag.Hosting.Maintenance;

/// <summary>What a migration copied.</summary>
/// <param name="Transfer">Documents, items and failure records copied.</param>
/// <param name="Schema">The PostgreSQL schema written.</param>
/// <param name="ModelId">The knowledge base's model id.</param>
public sealed record MigrationSummary(KnowledgeStoreTransferSummary Transfer, string Schema, string ModelId);

/// <summary>Copies an embedded knowledge base into PostgreSQL + pgvector, vectors included (nothing is re-embedded).</summary>
public static class KnowledgeBaseMigration
{
    /// <summary>
    /// Copies the embedded knowledge base in <paramref name="folder"/> into the PostgreSQL knowledge base
    /// <paramref name="target"/> names (<see cref="MmragOptions.PostgresConnection"/> and <see cref="MmragOptions.PostgresSchema"/>),
    /// with the model record, so that commands on the copy find the same model.
    /// </summary>
    public static async Task<MigrationSummary> RunAsync(string folder, MmragOptions target, IProgress<int>? documentsCopied = null,
        CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(folder);
        ArgumentNullException.ThrowIfNull(target);
        ArgumentException.ThrowIfNullOrWhiteSpace(target.PostgresConnection);
        folder = Path.GetFullPath(folder);
        ReembedSwap.RecoverIfInterrupted(folder);
        var source = await EmbeddedKnowledgeStore.OpenExistingAsync(folder, cancellationToken: cancellationToken).ConfigureAwait(false);
        await using var sourceScope = source.ConfigureAwait(false);
        var store = await PostgresKnowledgeStore.OpenAsync(PostgresConnectionStrings.Normalize(target.PostgresConnection), source.Space,
            MmragKnowledgeBase.PostgresOptions(target), cancellationToken).ConfigureAwait(false);
        await using var storeScope = store.ConfigureAwait(false);
        // Into an empty knowledge base, load first and build the vector index once: far cheaper than row by row.
        var suspended = await store.SuspendVectorIndexForBulkLoadAsync(cancellationToken).ConfigureAwait(false);
        KnowledgeStoreTransferSummary summary;
        try
        {
            summary = await KnowledgeStoreTransfer.CopyAsync(source, store, documentsCopied, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            if (suspended)
            {
                // Also after a failure or Ctrl+C (then interrupted itself, and the next open of the knowledge base builds it).
                await store.BuildVectorIndexAsync(cancellationToken).ConfigureAwait(false);
            }
        }

        await FeedbackTransfer.CopyAsync(source, store, reembedTexts: null, cancellationToken).ConfigureAwait(false);
        if (KnowledgeBaseRecord.ReadModel(folder) is { } model)
        {
            await store.SetSettingAsync(KnowledgeBaseRecord.ModelSettingKey, model, cancellationToken).ConfigureAwait(false);
        }

        return new MigrationSummary(summary, store.Schema, source.Space.ModelId);
    }
}
