using System.Text.Json;
using Mmrag.Knowledge;
using Mmrag.Storage.Providers;
using Npgsql;
using NpgsqlTypes;
using Pgvector;

namespace Mmrag.Storage.Postgres;

/// <content>Writes: documents and items, failures, settings.</content>
public sealed partial class PostgresKnowledgeStore
{
    /// <inheritdoc />
    /// <exception cref="ArgumentException">An item belongs to another document, repeats an id, or has a vector of the
    /// wrong dimension, with a non-finite value, or of length zero.</exception>
    /// <exception cref="KnowledgeStoreException">The database refused the write (e.g. another document already has this source path or item id).</exception>
    public async Task UpsertDocumentAsync(DocumentRecord document, IReadOnlyList<KnowledgeItem> items, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(document);
        ArgumentNullException.ThrowIfNull(items);
        ThrowIfDisposed();
        Vector[] vectors = PrepareVectors(document, items);
        await RunWriteAsync("storing document " + document.Id, async (connection, ct) =>
        {
            NpgsqlTransaction tx = await connection.BeginTransactionAsync(ct).ConfigureAwait(false);
            await using (tx.ConfigureAwait(false))
            {
                await ExecuteAsync(connection, tx, $"DELETE FROM {_s}.items WHERE document_id = $1", ct, document.Id).ConfigureAwait(false);
                using (NpgsqlCommand upsert = Command(connection, tx, $"""
                    INSERT INTO {_s}.documents (id, source_path, content_hash, media_type, title, item_count, ingested_at, tags)
                    VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
                    ON CONFLICT (id) DO UPDATE SET source_path = EXCLUDED.source_path, content_hash = EXCLUDED.content_hash,
                        media_type = EXCLUDED.media_type, title = EXCLUDED.title, item_count = EXCLUDED.item_count,
                        ingested_at = EXCLUDED.ingested_at, tags = EXCLUDED.tags
                    """, document.Id, document.SourcePath, document.ContentHash, document.MediaType, document.Title, items.Count,
                    document.IngestedAt.ToUniversalTime(), document.Tags.ToArray()))
                {
                    await upsert.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
                }

                for (int start = 0; start < items.Count; start += _options.InsertBatchSize)
                {
                    int count = Math.Min(_options.InsertBatchSize, items.Count - start);
                    await InsertItemsAsync(connection, tx, items, vectors, start, count, ct).ConfigureAwait(false);
                }

                await tx.CommitAsync(ct).ConfigureAwait(false);
            }

            return 0;
        }, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>One multi-row insert: a column array per field, zipped by <c>unnest</c> (COPY is avoided on purpose: PGlite's server dies on it).</summary>
    private async Task InsertItemsAsync(NpgsqlConnection connection, NpgsqlTransaction tx, IReadOnlyList<KnowledgeItem> items, Vector[] vectors,
        int start, int count, CancellationToken cancellationToken)
    {
        var ids = new string[count];
        var documentIds = new string[count];
        var kinds = new string[count];
        var hashes = new string[count];
        var texts = new string[count];
        var descriptions = new string?[count];
        var imagePaths = new string?[count];
        var sourcePaths = new string[count];
        var titles = new string?[count];
        var pages = new int?[count];
        var sections = new string?[count];
        var captions = new string?[count];
        var positions = new int[count];
        var tags = new string[count];
        var embeddings = new Vector[count];
        for (int i = 0; i < count; i++)
        {
            KnowledgeItem item = items[start + i];
            ids[i] = item.Id;
            documentIds[i] = item.DocumentId;
            kinds[i] = KindName(item.Kind);
            hashes[i] = item.ContentHash;
            texts[i] = item.Text ?? string.Empty;
            descriptions[i] = item.Description;
            imagePaths[i] = item.ImagePath;
            sourcePaths[i] = item.Provenance.SourcePath;
            titles[i] = item.Provenance.DocumentTitle;
            pages[i] = item.Provenance.Page;
            sections[i] = item.Provenance.Section;
            captions[i] = item.Provenance.Caption;
            positions[i] = item.Provenance.Position;
            // Arrays of arrays cannot be unnested row by row, so each item's tags travel as one JSON array.
            tags[i] = JsonSerializer.Serialize(item.Tags);
            embeddings[i] = vectors[start + i];
        }

        using var command = new NpgsqlCommand($"""
            INSERT INTO {_s}.items (id, document_id, kind, content_hash, text, description, image_path, source_path, title, page, section,
                caption, position, tags, embedding)
            SELECT u.id, u.document_id, u.kind, u.content_hash, u.text, u.description, u.image_path, u.source_path, u.title, u.page, u.section,
                u.caption, u.position, ARRAY(SELECT jsonb_array_elements_text(u.tags)), u.embedding
            FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[], $9::text[],
                $10::integer[], $11::text[], $12::text[], $13::integer[], $14::jsonb[], $15::vector[])
                AS u (id, document_id, kind, content_hash, text, description, image_path, source_path, title, page, section, caption, position,
                tags, embedding)
            """, connection, tx);
        NpgsqlDbType textArray = NpgsqlDbType.Array | NpgsqlDbType.Text;
        command.Parameters.Add(new NpgsqlParameter { Value = ids, NpgsqlDbType = textArray });
        command.Parameters.Add(new NpgsqlParameter { Value = documentIds, NpgsqlDbType = textArray });
        command.Parameters.Add(new NpgsqlParameter { Value = kinds, NpgsqlDbType = textArray });
        command.Parameters.Add(new NpgsqlParameter { Value = hashes, NpgsqlDbType = textArray });
        command.Parameters.Add(new NpgsqlParameter { Value = texts, NpgsqlDbType = textArray });
        command.Parameters.Add(new NpgsqlParameter { Value = descriptions, NpgsqlDbType = textArray });
        command.Parameters.Add(new NpgsqlParameter { Value = imagePaths, NpgsqlDbType = textArray });
        command.Parameters.Add(new NpgsqlParameter { Value = sourcePaths, NpgsqlDbType = textArray });
        command.Parameters.Add(new NpgsqlParameter { Value = titles, NpgsqlDbType = textArray });
        command.Parameters.Add(new NpgsqlParameter { Value = pages, NpgsqlDbType = NpgsqlDbType.Array | NpgsqlDbType.Integer });
        command.Parameters.Add(new NpgsqlParameter { Value = sections, NpgsqlDbType = textArray });
        command.Parameters.Add(new NpgsqlParameter { Value = captions, NpgsqlDbType = textArray });
        command.Parameters.Add(new NpgsqlParameter { Value = positions, NpgsqlDbType = NpgsqlDbType.Array | NpgsqlDbType.Integer });
        command.Parameters.Add(new NpgsqlParameter { Value = tags, NpgsqlDbType = NpgsqlDbType.Array | NpgsqlDbType.Jsonb });
        command.Parameters.Add(new NpgsqlParameter { Value = embeddings });
        await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Checks every item before anything is written, and returns the unit vectors to store.</summary>
    private Vector[] PrepareVectors(DocumentRecord document, IReadOnlyList<KnowledgeItem> items) =>
        [.. StoreInput.CheckItems(document, items, Space, _options.NormTolerance).Select(v => new Vector(v))];

    /// <inheritdoc />
    /// <remarks>The document's completed ingestion claim goes with it (in the same statement), so that version is work
    /// again for <see cref="TryClaimAsync"/>; a claim still in progress (a new version being ingested) stays.</remarks>
    public Task<bool> DeleteDocumentAsync(string documentId, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(documentId);
        return RunWriteAsync("deleting document " + documentId, async (connection, ct) =>
            await ScalarAsync<long>(connection, null, $"""
                WITH gone AS (DELETE FROM {_s}.documents WHERE id = $1 RETURNING id),
                     done AS (DELETE FROM {_s}.ingestion_claims c USING gone WHERE c.document_id = gone.id AND c.completed_at IS NOT NULL)
                SELECT count(*) FROM gone
                """, ct, documentId).ConfigureAwait(false) > 0,
            cancellationToken);
    }

    /// <inheritdoc />
    public Task RecordFailureAsync(IngestionFailure failure, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(failure);
        return RunWriteAsync("recording a failure", (connection, ct) =>
            ExecuteAsync(connection, null, $"INSERT INTO {_s}.failures (source_path, reason, detail, at) VALUES ($1, $2, $3, $4)", ct,
                failure.SourcePath, failure.Reason, failure.Detail, failure.At.ToUniversalTime()), cancellationToken);
    }

    /// <inheritdoc />
    public Task ClearFailuresAsync(string sourcePath, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(sourcePath);
        return RunWriteAsync("clearing failures", (connection, ct) =>
            ExecuteAsync(connection, null, $"DELETE FROM {_s}.failures WHERE source_path = $1", ct, sourcePath), cancellationToken);
    }

    /// <inheritdoc />
    public Task SetSettingAsync(string key, string? value, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(key);
        return RunWriteAsync("storing setting " + key, (connection, ct) => value is null
            ? ExecuteAsync(connection, null, $"DELETE FROM {_s}.settings WHERE key = $1", ct, key)
            : ExecuteAsync(connection, null,
                $"INSERT INTO {_s}.settings (key, value) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value", ct, key, value),
            cancellationToken);
    }

    /// <inheritdoc />
    /// <remarks>One statement (the deletions in a data-modifying CTE beside the upsert), so one transaction.</remarks>
    /// <exception cref="InvalidOperationException">The store was opened with <see cref="PostgresStoreOptions.ReadOnly"/>.</exception>
    public Task SetSettingsAsync(IReadOnlyList<KeyValuePair<string, string?>> settings, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(settings);
        AtomicSettingsExtensions.CheckKeys([.. settings.Select(static s => s.Key)]);
        return RunWriteAsync("storing settings " + string.Join(", ", settings.Select(static s => s.Key)), (connection, ct) => ExecuteAsync(connection, null, $"""
            WITH input AS (SELECT * FROM unnest($1::text[], $2::text[]) AS t(key, value)),
                 removed AS (DELETE FROM {_s}.settings WHERE key IN (SELECT key FROM input WHERE value IS NULL))
            INSERT INTO {_s}.settings (key, value) SELECT key, value FROM input WHERE value IS NOT NULL
            ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value
            """, ct, settings.Select(static s => s.Key).ToArray(), settings.Select(static s => s.Value).ToArray()), cancellationToken);
    }
}
