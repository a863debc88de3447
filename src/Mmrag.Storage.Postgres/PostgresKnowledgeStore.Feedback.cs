using Mmrag.Storage.Postgres.Sql;
using Mmrag.Storage.Providers;
using Npgsql;
using Pgvector;

namespace Mmrag.Storage.Postgres;

/// <content>Relevance feedback: judgements with their query vectors (pgvector <c>vector</c>, 4 bytes a value).</content>
public sealed partial class PostgresKnowledgeStore
{
    private const string JudgementColumns = "id, modality, query_text, query_image, query_vector, item_id, relevant, model_id, source, created_at";

    /// <inheritdoc />
    /// <exception cref="ArgumentException">The judgement lacks an id, item id or model id, names an unknown source or
    /// modality, or its vector is empty, not finite, zero, or (for this knowledge base's model) of another dimension.</exception>
    /// <exception cref="InvalidOperationException">The store was opened with <see cref="PostgresStoreOptions.ReadOnly"/>.</exception>
    /// <exception cref="KnowledgeStoreException">The knowledge base predates feedback (schema version below 4) and was opened read-only, or the database failed.</exception>
    public Task AddJudgementAsync(RelevanceJudgement judgement, CancellationToken cancellationToken = default)
    {
        float[] vector = StoreInput.CheckJudgement(judgement, Space, _options.NormTolerance);
        return RunFeedbackAsync("storing judgement " + judgement.Id, write: true, (connection, ct) => ExecuteAsync(connection, null, $"""
            INSERT INTO {_s}.relevance_feedback ({JudgementColumns}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
            ON CONFLICT (id) DO UPDATE SET modality = EXCLUDED.modality, query_text = EXCLUDED.query_text, query_image = EXCLUDED.query_image,
                query_vector = EXCLUDED.query_vector, item_id = EXCLUDED.item_id, relevant = EXCLUDED.relevant, model_id = EXCLUDED.model_id,
                source = EXCLUDED.source, created_at = EXCLUDED.created_at
            """, ct, judgement.Id, judgement.Modality == FeedbackQueryModality.Image ? "image" : "text", judgement.QueryText, judgement.QueryImage,
            new Vector(vector), judgement.ItemId, judgement.Relevant, judgement.ModelId, judgement.Source, judgement.CreatedAt.ToUniversalTime()),
            cancellationToken);
    }

    /// <inheritdoc />
    /// <exception cref="KnowledgeStoreException">The knowledge base predates feedback (schema version below 4) and was opened read-only, or the database failed.</exception>
    public Task<IReadOnlyList<RelevanceJudgement>> ListJudgementsAsync(string? modelId = null, CancellationToken cancellationToken = default) =>
        RunFeedbackAsync("listing judgements", write: false, (connection, ct) => ReadJudgementsAsync(Command(connection, null,
            $"SELECT {JudgementColumns} FROM {_s}.relevance_feedback WHERE $1::text IS NULL OR model_id = $1 ORDER BY created_at, seq", modelId), withVectors: true, ct),
            cancellationToken);

    /// <inheritdoc />
    /// <exception cref="KnowledgeStoreException">The knowledge base predates feedback (schema version below 4) and was opened read-only, or the database failed.</exception>
    public Task<JudgementPage> ListJudgementsPageAsync(int offset, int limit, string? modelId = null, CancellationToken cancellationToken = default)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(offset);
        ArgumentOutOfRangeException.ThrowIfLessThan(limit, 1);
        return RunFeedbackAsync("listing judgements", write: false, async (connection, ct) =>
        {
            // One statement, so one snapshot: the count always agrees with the page, whatever is added meanwhile. The
            // count's row comes back even when the page is empty (past the end), with NULLs for the judgement.
            using NpgsqlCommand command = Command(connection, null, $"""
                SELECT p.id, p.modality, p.query_text, p.query_image, NULL, p.item_id, p.relevant, p.model_id, p.source, p.created_at, c.total
                FROM (SELECT count(*) AS total FROM {_s}.relevance_feedback WHERE $1::text IS NULL OR model_id = $1) c
                LEFT JOIN LATERAL (SELECT id, modality, query_text, query_image, item_id, relevant, model_id, source, created_at, seq
                    FROM {_s}.relevance_feedback WHERE $1::text IS NULL OR model_id = $1 ORDER BY created_at, seq LIMIT $2 OFFSET $3) p ON true
                ORDER BY p.created_at, p.seq
                """, modelId, limit, offset);
            NpgsqlDataReader reader = await command.ExecuteReaderAsync(ct).ConfigureAwait(false);
            await using (reader.ConfigureAwait(false))
            {
                var judgements = new List<RelevanceJudgement>();
                long total = 0;
                while (await reader.ReadAsync(ct).ConfigureAwait(false))
                {
                    total = reader.GetInt64(10);
                    if (!reader.IsDBNull(0))
                    {
                        judgements.Add(ReadJudgement(reader, withVectors: false));
                    }
                }

                return new JudgementPage(judgements, checked((int)total));
            }
        }, cancellationToken);
    }

    /// <summary>Runs <paramref name="command"/> (disposing it) over rows of <see cref="JudgementColumns"/> (without <paramref name="withVectors"/>, any value stands for the vector).</summary>
    private static async Task<IReadOnlyList<RelevanceJudgement>> ReadJudgementsAsync(NpgsqlCommand command, bool withVectors, CancellationToken cancellationToken)
    {
        using (command)
        {
            NpgsqlDataReader reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
            await using (reader.ConfigureAwait(false))
            {
                var judgements = new List<RelevanceJudgement>();
                while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
                {
                    judgements.Add(ReadJudgement(reader, withVectors));
                }

                return judgements;
            }
        }
    }

    /// <summary>The judgement in the reader's current row of <see cref="JudgementColumns"/> (without <paramref name="withVectors"/>, an empty vector whatever the row holds).</summary>
    private static RelevanceJudgement ReadJudgement(NpgsqlDataReader reader, bool withVectors) =>
        new(reader.GetString(0), reader.GetString(1) == "image" ? FeedbackQueryModality.Image : FeedbackQueryModality.Text,
            reader.IsDBNull(2) ? null : reader.GetString(2), reader.IsDBNull(3) ? null : reader.GetString(3),
            withVectors ? reader.GetFieldValue<Vector>(4).ToArray() : ReadOnlyMemory<float>.Empty, reader.GetString(5), reader.GetBoolean(6),
            reader.GetString(7), reader.GetString(8), reader.GetFieldValue<DateTimeOffset>(9));

    /// <inheritdoc />
    /// <exception cref="InvalidOperationException">The store was opened with <see cref="PostgresStoreOptions.ReadOnly"/>.</exception>
    public Task<bool> RemoveJudgementAsync(string id, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(id);
        return RunFeedbackAsync("removing judgement " + id, write: true, async (connection, ct) =>
            await ExecuteAsync(connection, null, $"DELETE FROM {_s}.relevance_feedback WHERE id = $1", ct, id).ConfigureAwait(false) == 1,
            cancellationToken);
    }

    /// <inheritdoc />
    /// <exception cref="InvalidOperationException">The store was opened with <see cref="PostgresStoreOptions.ReadOnly"/>.</exception>
    public Task<int> ClearJudgementsAsync(CancellationToken cancellationToken = default) =>
        RunFeedbackAsync("clearing judgements", write: true, (connection, ct) => ExecuteAsync(connection, null, $"DELETE FROM {_s}.relevance_feedback", ct),
            cancellationToken);

    /// <summary>
    /// Runs a feedback operation. A read-only open does not migrate, so a knowledge base from before version
    /// <see cref="StoreSchema.FeedbackVersion"/> opened that way has no feedback table: that is said plainly, with the way out.
    /// </summary>
    private async Task<T> RunFeedbackAsync<T>(string operation, bool write, Func<NpgsqlConnection, CancellationToken, Task<T>> body,
        CancellationToken cancellationToken)
    {
        try
        {
            return write
                ? await RunWriteAsync(operation, body, cancellationToken).ConfigureAwait(false)
                : await RunAsync(operation, body, cancellationToken).ConfigureAwait(false);
        }
        catch (KnowledgeStoreException ex) when (ex.InnerException is PostgresException { SqlState: PostgresErrorCodes.UndefinedTable })
        {
            throw new KnowledgeStoreException(
                $"{_backend}: {operation} failed: this knowledge base predates relevance feedback (it has no relevance_feedback table, added by " +
                $"schema version {StoreSchema.FeedbackVersion}). Open it once without ReadOnly, as a role that may change the schema, to upgrade it.", ex);
        }
    }
}
