using Microsoft.Data.Sqlite;
using Mmrag.Storage.Embedded.Sql;
using Mmrag.Storage.Providers;

namespace Mmrag.Storage.Embedded;

/// <content>Relevance feedback: judgements with their query vectors (float32 little-endian BLOBs, as item vectors are).</content>
public sealed partial class EmbeddedKnowledgeStore
{
    private const string JudgementColumns = "id, modality, query_text, query_image, query_vector, item_id, relevant, model_id, source, created_at";

    /// <summary>The same columns with an empty blob where the vector is: listings never need it.</summary>
    private const string JudgementColumnsWithoutVector = "id, modality, query_text, query_image, x'', item_id, relevant, model_id, source, created_at";

    /// <inheritdoc />
    /// <exception cref="ArgumentException">The judgement lacks an id, item id or model id, names an unknown source or
    /// modality, or its vector is empty, not finite, zero, or (for this knowledge base's model) of another dimension.</exception>
    public Task AddJudgementAsync(RelevanceJudgement judgement, CancellationToken cancellationToken = default)
    {
        float[] vector = StoreInput.CheckJudgement(judgement, Space, _options.NormTolerance);
        return RunAsync("storing judgement " + judgement.Id, async (connection, ct) =>
        {
            // The id's row is replaced in place (its seq, and so its place in the order, stays).
            using SqliteCommand upsert = Command(connection, $"""
                INSERT INTO relevance_feedback({JudgementColumns})
                VALUES ($id, $modality, $text, $image, $vector, $item, $relevant, $model, $source, $at)
                ON CONFLICT(id) DO UPDATE SET modality = excluded.modality, query_text = excluded.query_text,
                    query_image = excluded.query_image, query_vector = excluded.query_vector, item_id = excluded.item_id,
                    relevant = excluded.relevant, model_id = excluded.model_id, source = excluded.source, created_at = excluded.created_at
                """);
            upsert.Parameters.AddWithValue("$id", judgement.Id);
            upsert.Parameters.AddWithValue("$modality", judgement.Modality == FeedbackQueryModality.Image ? "image" : "text");
            upsert.Parameters.AddWithValue("$text", (object?)judgement.QueryText ?? DBNull.Value);
            upsert.Parameters.AddWithValue("$image", (object?)judgement.QueryImage ?? DBNull.Value);
            upsert.Parameters.AddWithValue("$vector", VectorBlob.Encode(vector));
            upsert.Parameters.AddWithValue("$item", judgement.ItemId);
            upsert.Parameters.AddWithValue("$relevant", judgement.Relevant ? 1 : 0);
            upsert.Parameters.AddWithValue("$model", judgement.ModelId);
            upsert.Parameters.AddWithValue("$source", judgement.Source);
            upsert.Parameters.AddWithValue("$at", StoreText.Time(judgement.CreatedAt));
            return await upsert.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
        }, cancellationToken);
    }

    /// <inheritdoc />
    public Task<IReadOnlyList<RelevanceJudgement>> ListJudgementsAsync(string? modelId = null, CancellationToken cancellationToken = default) =>
        RunAsync<IReadOnlyList<RelevanceJudgement>>("listing judgements", async (connection, ct) =>
        {
            using SqliteCommand select = Command(connection,
                $"SELECT {JudgementColumns} FROM relevance_feedback WHERE $model IS NULL OR model_id = $model ORDER BY created_at, seq");
            select.Parameters.AddWithValue("$model", (object?)modelId ?? DBNull.Value);
            return await ReadJudgementsAsync(select, withVectors: true, ct).ConfigureAwait(false);
        }, cancellationToken);

    /// <inheritdoc />
    public Task<JudgementPage> ListJudgementsPageAsync(int offset, int limit, string? modelId = null, CancellationToken cancellationToken = default)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(offset);
        ArgumentOutOfRangeException.ThrowIfLessThan(limit, 1);
        return RunAsync("listing judgements", async (connection, ct) =>
        {
            // One read transaction: the page and the count see the same judgements, whatever is added meanwhile.
            using SqliteTransaction tx = connection.BeginTransaction(deferred: true);
            using SqliteCommand select = Command(connection,
                $"SELECT {JudgementColumnsWithoutVector} FROM relevance_feedback WHERE $model IS NULL OR model_id = $model ORDER BY created_at, seq LIMIT $limit OFFSET $offset",
                tx);
            select.Parameters.AddWithValue("$model", (object?)modelId ?? DBNull.Value);
            select.Parameters.AddWithValue("$limit", limit);
            select.Parameters.AddWithValue("$offset", offset);
            IReadOnlyList<RelevanceJudgement> judgements = await ReadJudgementsAsync(select, withVectors: false, ct).ConfigureAwait(false);
            using SqliteCommand count = Command(connection, "SELECT count(*) FROM relevance_feedback WHERE $model IS NULL OR model_id = $model", tx);
            count.Parameters.AddWithValue("$model", (object?)modelId ?? DBNull.Value);
            var page = new JudgementPage(judgements, Convert.ToInt32(await count.ExecuteScalarAsync(ct).ConfigureAwait(false), System.Globalization.CultureInfo.InvariantCulture));
            tx.Commit();
            return page;
        }, cancellationToken);
    }

    /// <summary>Reads rows of <see cref="JudgementColumns"/>, or of <see cref="JudgementColumnsWithoutVector"/> (empty vectors) without <paramref name="withVectors"/>.</summary>
    private static async Task<IReadOnlyList<RelevanceJudgement>> ReadJudgementsAsync(SqliteCommand select, bool withVectors, CancellationToken cancellationToken)
    {
        using SqliteDataReader reader = await select.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        var judgements = new List<RelevanceJudgement>();
        while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
        {
            var blob = (byte[])reader.GetValue(4);
            if (withVectors && (blob.Length == 0 || blob.Length % sizeof(float) != 0))
            {
                throw new InvalidDataException($"The stored query vector of judgement '{reader.GetString(0)}' is not a whole number of float32 values.");
            }

            var vector = new float[blob.Length / sizeof(float)];
            VectorBlob.TryDecode(blob, vector);
            judgements.Add(new RelevanceJudgement(reader.GetString(0),
                reader.GetString(1) == "image" ? FeedbackQueryModality.Image : FeedbackQueryModality.Text,
                reader.IsDBNull(2) ? null : reader.GetString(2), reader.IsDBNull(3) ? null : reader.GetString(3), vector,
                reader.GetString(5), reader.GetInt64(6) != 0, reader.GetString(7), reader.GetString(8), StoreText.ParseTime(reader.GetString(9))));
        }

        return judgements;
    }

    /// <inheritdoc />
    public Task<bool> RemoveJudgementAsync(string id, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(id);
        return RunAsync("removing judgement " + id, async (connection, ct) =>
        {
            using SqliteCommand delete = Command(connection, "DELETE FROM relevance_feedback WHERE id = $id");
            delete.Parameters.AddWithValue("$id", id);
            return await delete.ExecuteNonQueryAsync(ct).ConfigureAwait(false) == 1;
        }, cancellationToken);
    }

    /// <inheritdoc />
    public Task<int> ClearJudgementsAsync(CancellationToken cancellationToken = default) =>
        RunAsync("clearing judgements", async (connection, ct) =>
        {
            using SqliteCommand delete = Command(connection, "DELETE FROM relevance_feedback");
            return await delete.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
        }, cancellationToken);
}
