using Microsoft.Data.Sqlite;
using Mmrag.Knowledge;
using Mmrag.Storage.Embedded.Indexing;
using Mmrag.Storage.Embedded.Sql;
using Mmrag.Storage.Providers;

namespace Mmrag.Storage.Embedded;

/// <content>Writes: documents and items, failures, settings.</content>
public sealed partial class EmbeddedKnowledgeStore
{
    /// <inheritdoc />
    /// <exception cref="ArgumentException">An item belongs to another document, repeats an id, or has a vector of the
    /// wrong dimension, with a non-finite value, or of length zero.</exception>
    /// <exception cref="KnowledgeStoreException">The database refused the write (e.g. another document already has this source path).</exception>
    public async Task UpsertDocumentAsync(DocumentRecord document, IReadOnlyList<KnowledgeItem> items, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(document);
        ArgumentNullException.ThrowIfNull(items);
        ThrowIfDisposed();
        PreparedItem[] prepared = PrepareItems(document, items);
        await _writeLock.WaitAsync(cancellationToken).ConfigureAwait(false);
        Interlocked.Increment(ref _localWrites);
        try
        {
            await RunAsync("storing document " + document.Id, async (connection, ct) =>
            {
                using SqliteTransaction tx = connection.BeginTransaction(deferred: false);
                long before = VectorIndexHost.ReadGeneration(connection, tx);
                List<long> removed = await DeleteItemsAsync(connection, tx, document.Id, ct).ConfigureAwait(false);
                using (SqliteCommand upsert = Command(connection, ItemRows.UpsertDocumentSql, tx))
                {
                    upsert.Parameters.AddWithValue("$id", document.Id);
                    upsert.Parameters.AddWithValue("$source_path", document.SourcePath);
                    upsert.Parameters.AddWithValue("$content_hash", document.ContentHash);
                    upsert.Parameters.AddWithValue("$media_type", document.MediaType);
                    upsert.Parameters.AddWithValue("$title", (object?)document.Title ?? DBNull.Value);
                    upsert.Parameters.AddWithValue("$item_count", prepared.Length);
                    upsert.Parameters.AddWithValue("$ingested_at", StoreText.Time(document.IngestedAt));
                    upsert.Parameters.AddWithValue("$tags", StoreText.Tags(document.Tags));
                    await upsert.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
                }

                var added = new PendingSlot[prepared.Length];
                var interner = new MetadataInterner();
                using (SqliteCommand insert = ItemRows.CreateInsertItem(connection, tx))
                {
                    for (int i = 0; i < prepared.Length; i++)
                    {
                        KnowledgeItem item = prepared[i].Item;
                        ItemRows.BindItem(insert, item, VectorBlob.Encode(prepared[i].Vector));
                        long rowId = (long)(await insert.ExecuteScalarAsync(ct).ConfigureAwait(false))!;
                        var metadata = new SlotMetadata(rowId, item.Kind, interner.String(document.Id), interner.String(item.Provenance.SourcePath),
                            interner.Tags(item.Tags), ContentHashKey.Of(item.ContentHash));
                        added[i] = new PendingSlot(metadata, prepared[i].Vector);
                    }
                }

                long after = await BumpGenerationAsync(connection, tx, ct).ConfigureAwait(false);
                tx.Commit();
                // Committed: from here on nothing may be cancelled, or memory would disagree with the database.
                await _index.ApplyCommittedLockedAsync(before, after, removed, added).ConfigureAwait(false);
                return true;
            }, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            Interlocked.Decrement(ref _localWrites);
            _writeLock.Release();
        }
    }

    /// <inheritdoc />
    public async Task<bool> DeleteDocumentAsync(string documentId, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(documentId);
        ThrowIfDisposed();
        await _writeLock.WaitAsync(cancellationToken).ConfigureAwait(false);
        Interlocked.Increment(ref _localWrites);
        try
        {
            return await RunAsync("deleting document " + documentId, async (connection, ct) =>
            {
                using SqliteTransaction tx = connection.BeginTransaction(deferred: false);
                long before = VectorIndexHost.ReadGeneration(connection, tx);
                List<long> removed = await DeleteItemsAsync(connection, tx, documentId, ct).ConfigureAwait(false);
                using SqliteCommand delete = Command(connection, "DELETE FROM documents WHERE id = $id", tx);
                delete.Parameters.AddWithValue("$id", documentId);
                if (await delete.ExecuteNonQueryAsync(ct).ConfigureAwait(false) == 0)
                {
                    return false;
                }

                long after = await BumpGenerationAsync(connection, tx, ct).ConfigureAwait(false);
                tx.Commit();
                await _index.ApplyCommittedLockedAsync(before, after, removed, []).ConfigureAwait(false);
                return true;
            }, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            Interlocked.Decrement(ref _localWrites);
            _writeLock.Release();
        }
    }

    /// <inheritdoc />
    public Task RecordFailureAsync(IngestionFailure failure, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(failure);
        ArgumentNullException.ThrowIfNull(failure.SourcePath, nameof(failure));
        ArgumentNullException.ThrowIfNull(failure.Reason, nameof(failure));
        return RunAsync("recording a failure", async (connection, ct) =>
        {
            using SqliteCommand insert = Command(connection, "INSERT INTO failures(source_path, reason, detail, at) VALUES ($path, $reason, $detail, $at)");
            insert.Parameters.AddWithValue("$path", failure.SourcePath);
            insert.Parameters.AddWithValue("$reason", failure.Reason);
            insert.Parameters.AddWithValue("$detail", (object?)failure.Detail ?? DBNull.Value);
            insert.Parameters.AddWithValue("$at", StoreText.Time(failure.At));
            return await insert.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
        }, cancellationToken);
    }

    /// <inheritdoc />
    public Task ClearFailuresAsync(string sourcePath, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(sourcePath);
        return RunAsync("clearing failures", async (connection, ct) =>
        {
            using SqliteCommand delete = Command(connection, "DELETE FROM failures WHERE source_path = $path");
            delete.Parameters.AddWithValue("$path", sourcePath);
            return await delete.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
        }, cancellationToken);
    }

    /// <inheritdoc />
    public Task SetSettingAsync(string key, string? value, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(key);
        return SetSettingsAsync([new(key, value)], cancellationToken);
    }

    /// <inheritdoc />
    /// <remarks>One transaction: a reader sees all of the values or none of them.</remarks>
    public Task SetSettingsAsync(IReadOnlyList<KeyValuePair<string, string?>> settings, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(settings);
        AtomicSettingsExtensions.CheckKeys([.. settings.Select(static s => s.Key)]);
        return RunAsync("storing settings " + string.Join(", ", settings.Select(static s => s.Key)), async (connection, ct) =>
        {
            using SqliteTransaction tx = connection.BeginTransaction(deferred: false);
            using SqliteCommand delete = Command(connection, "DELETE FROM settings WHERE key = $key", tx);
            using SqliteCommand upsert = Command(connection,
                "INSERT INTO settings(key, value) VALUES ($key, $value) ON CONFLICT(key) DO UPDATE SET value = excluded.value", tx);
            foreach ((string key, string? value) in settings)
            {
                SqliteCommand command = value is null ? delete : upsert;
                command.Parameters.Clear();
                command.Parameters.AddWithValue("$key", key);
                if (value is not null)
                {
                    command.Parameters.AddWithValue("$value", value);
                }

                await command.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
            }

            tx.Commit();
            return true;
        }, cancellationToken);
    }

    private static async Task<List<long>> DeleteItemsAsync(SqliteConnection connection, SqliteTransaction tx, string documentId, CancellationToken ct)
    {
        var removed = new List<long>();
        using (SqliteCommand select = Command(connection, "SELECT rowid FROM items WHERE document_id = $id", tx))
        {
            select.Parameters.AddWithValue("$id", documentId);
            using SqliteDataReader reader = await select.ExecuteReaderAsync(ct).ConfigureAwait(false);
            while (await reader.ReadAsync(ct).ConfigureAwait(false))
            {
                removed.Add(reader.GetInt64(0));
            }
        }

        if (removed.Count > 0)
        {
            using SqliteCommand delete = Command(connection, "DELETE FROM items WHERE document_id = $id", tx);
            delete.Parameters.AddWithValue("$id", documentId);
            await delete.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
        }

        return removed;
    }

    private static async Task<long> BumpGenerationAsync(SqliteConnection connection, SqliteTransaction tx, CancellationToken ct)
    {
        using SqliteCommand bump = Command(connection, "UPDATE kb_info SET generation = generation + 1 WHERE id = 1 RETURNING generation", tx);
        return (long)(await bump.ExecuteScalarAsync(ct).ConfigureAwait(false))!;
    }

    /// <summary>Checks the items against the document and the embedding space, and normalizes their vectors.</summary>
    private PreparedItem[] PrepareItems(DocumentRecord document, IReadOnlyList<KnowledgeItem> items)
    {
        float[][] vectors = StoreInput.CheckItems(document, items, Space, _options.NormTolerance);
        var prepared = new PreparedItem[items.Count];
        for (int i = 0; i < prepared.Length; i++)
        {
            prepared[i] = new PreparedItem(items[i], vectors[i]);
        }

        return prepared;
    }

    private readonly record struct PreparedItem(KnowledgeItem Item, float[] Vector);
}
