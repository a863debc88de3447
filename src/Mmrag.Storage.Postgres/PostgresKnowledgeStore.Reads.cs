using System.Globalization;
using System.Runtime.CompilerServices;
using Mmrag.Knowledge;
using Mmrag.Storage.Providers;
using Npgsql;
using Pgvector;

namespace Mmrag.Storage.Postgres;

/// <content>Reads: documents, items, vector and keyword search, failures, stats, samples, settings.</content>
public sealed partial class PostgresKnowledgeStore
{
    private const string ItemColumnsWithoutVector =
        "i.id, i.document_id, i.kind, i.content_hash, i.text, i.description, i.image_path, i.source_path, i.title, i.page, i.section, i.caption, i.position, i.tags";

    private const string AllItemColumns = ItemColumnsWithoutVector + ", i.embedding";

    /// <summary>The item columns <see cref="ReadItem"/> reads; without the vector, a NULL stands in its place (an empty vector).</summary>
    private static string ItemColumns(bool includeVectors) => includeVectors ? AllItemColumns : ItemColumnsWithoutVector + ", NULL::vector";

    private const string DocumentColumns = "id, source_path, content_hash, media_type, title, item_count, ingested_at, tags";

    /// <summary>About how many items there are, as the last vector search read it (-1 before the first).</summary>
    private long _itemCount = -1;

    /// <summary>At most this many distinct words of a keyword query are searched; a longer text keeps its first ones.</summary>
    internal const int MaxKeywordTerms = 64;

    /// <inheritdoc />
    public Task<DocumentRecord?> GetDocumentAsync(string documentId, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(documentId);
        return RunAsync("reading document " + documentId, async (connection, ct) =>
        {
            using NpgsqlCommand command = Command(connection, null, $"SELECT {DocumentColumns} FROM {_s}.documents WHERE id = $1", documentId);
            NpgsqlDataReader reader = await command.ExecuteReaderAsync(ct).ConfigureAwait(false);
            await using (reader.ConfigureAwait(false))
            {
                return await reader.ReadAsync(ct).ConfigureAwait(false) ? ReadDocument(reader) : null;
            }
        }, cancellationToken);
    }

    /// <inheritdoc />
    public async IAsyncEnumerable<DocumentRecord> ListDocumentsAsync([EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        // Read in one go: a caller that awaits other store calls per document must not hold a connection (and, on
        // servers that serialize transactions, block them).
        List<DocumentRecord> documents = await RunAsync("listing documents", async (connection, ct) =>
        {
            var list = new List<DocumentRecord>();
            using NpgsqlCommand command = Command(connection, null, $"SELECT {DocumentColumns} FROM {_s}.documents ORDER BY source_path COLLATE \"C\"");
            NpgsqlDataReader reader = await command.ExecuteReaderAsync(ct).ConfigureAwait(false);
            await using (reader.ConfigureAwait(false))
            {
                while (await reader.ReadAsync(ct).ConfigureAwait(false))
                {
                    list.Add(ReadDocument(reader));
                }
            }

            return list;
        }, cancellationToken).ConfigureAwait(false);
        foreach (DocumentRecord document in documents)
        {
            cancellationToken.ThrowIfCancellationRequested();
            yield return document;
        }
    }

    /// <inheritdoc />
    public Task<KnowledgeItem?> GetItemAsync(string itemId, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(itemId);
        return RunAsync("reading item " + itemId, async (connection, ct) =>
        {
            using NpgsqlCommand command = Command(connection, null, $"SELECT {AllItemColumns} FROM {_s}.items i WHERE i.id = $1", itemId);
            List<KnowledgeItem> items = await ReadItemsAsync(command, ct).ConfigureAwait(false);
            return items.Count == 0 ? null : items[0];
        }, cancellationToken);
    }

    /// <inheritdoc />
    public Task<IReadOnlyDictionary<string, ReadOnlyMemory<float>>> FindVectorsByContentHashAsync(IReadOnlyCollection<string> contentHashes,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(contentHashes);
        return RunAsync<IReadOnlyDictionary<string, ReadOnlyMemory<float>>>("finding vectors by content hash", async (connection, ct) =>
        {
            var found = new Dictionary<string, ReadOnlyMemory<float>>(StringComparer.Ordinal);
            if (contentHashes.Count == 0)
            {
                return found;
            }

            using NpgsqlCommand command = Command(connection, null,
                $"SELECT DISTINCT ON (content_hash) content_hash, embedding FROM {_s}.items WHERE content_hash = ANY($1) ORDER BY content_hash, id",
                (object)contentHashes.Distinct(StringComparer.Ordinal).ToArray());
            NpgsqlDataReader reader = await command.ExecuteReaderAsync(ct).ConfigureAwait(false);
            await using (reader.ConfigureAwait(false))
            {
                while (await reader.ReadAsync(ct).ConfigureAwait(false))
                {
                    found[reader.GetString(0)] = reader.GetFieldValue<Vector>(1).ToArray();
                }
            }

            return found;
        }, cancellationToken);
    }

    /// <inheritdoc />
    /// <remarks>
    /// One round trip: a batch of <c>set_config('hnsw.ef_search', …, true)</c> and the query, which the server runs as
    /// one implicit transaction (so the settings hold for the query and end with it). <c>hnsw.ef_search</c> is
    /// max(<see cref="PostgresStoreOptions.MinEfSearch"/>, 2k), or <see cref="SearchRecall.EfSearchFor"/> with the estimated
    /// number of items (read from the catalog with the previous search's settings; one more round trip before the
    /// store's first search) when a recall is asked for (at most 1,000, pgvector's limit), with pgvector's strict-order iterative scan, so a filter that
    /// rejects most neighbours still fills k. When the index returns fewer than k rows (a very selective filter, or
    /// fewer items than k), a second batch runs the query with index scans off: a sequential, exact scan; a recall that
    /// needs an exact search (<see cref="SearchRecall.NeedsExactSearch"/>) goes there at once.
    /// </remarks>
    /// <exception cref="ArgumentException">The query's dimension is not the knowledge base's, or it is zero or not finite.</exception>
    public Task<IReadOnlyList<StoreHit>> SearchVectorsAsync(ReadOnlyMemory<float> query, int k, SearchFilter? filter = null, double? recall = null,
        CancellationToken cancellationToken = default) =>
        SearchVectorsAsync(query, k, filter, recall, includeVectors: true, cancellationToken);

    /// <summary>
    /// <see cref="SearchVectorsAsync(ReadOnlyMemory{float}, int, SearchFilter?, double?, CancellationToken)"/>, returning the
    /// hits' vectors only when <paramref name="includeVectors"/> is true: without them a hit is about 60 bytes instead
    /// of 4 bytes per dimension more (2 KB at 512), for callers that need ids, text and scores only.
    /// </summary>
    public Task<IReadOnlyList<StoreHit>> SearchVectorsAsync(ReadOnlyMemory<float> query, int k, SearchFilter? filter, double? recall, bool includeVectors,
        CancellationToken cancellationToken = default)
    {
        float[] unit = StoreInput.CheckVectorQuery(query.Span, k, recall, Space, _options.NormTolerance);
        return RunAsync<IReadOnlyList<StoreHit>>("vector search", async (connection, ct) =>
        {
            if (k == 0 || filter?.DocumentIds is { Count: 0 })
            {
                return [];
            }

            var vector = new Vector(unit);
            bool exact = recall is { } wanted && SearchRecall.NeedsExactSearch(wanted);
            List<StoreHit> hits = [];
            if (!exact)
            {
                int efSearch = await EfSearchAsync(connection, recall, k, ct).ConfigureAwait(false);
                // The item count estimate comes back with the settings, fresh for the next search, at no extra round trip.
                hits = await SearchVectorsOnceAsync(connection,
                    $"SELECT set_config('hnsw.ef_search', $1, true), set_config('hnsw.iterative_scan', 'strict_order', true), {ItemCountEstimateSql("$2")}",
                    [efSearch.ToString(CultureInfo.InvariantCulture), ItemsTable], vector, k, filter, includeVectors, ct).ConfigureAwait(false);
            }

            if (exact || hits.Count < k)
            {
                // Sequential scans are switched on as well: a server may have them off (PGlite does by default), and then
                // the planner keeps the HNSW index scan, approximate, despite enable_indexscan = off.
                hits = await SearchVectorsOnceAsync(connection,
                    "SELECT set_config('enable_indexscan', 'off', true), set_config('enable_seqscan', 'on', true)",
                    [], vector, k, filter, includeVectors, ct).ConfigureAwait(false);
            }

            return hits;
        }, cancellationToken);
    }

    /// <summary>
    /// The <c>hnsw.ef_search</c> of a search for <paramref name="k"/> at <paramref name="recall"/>:
    /// <see cref="SearchRecall.EfSearchFor"/> with the estimated number of items, so a larger table gets the wider walk
    /// it needs for the same recall (as the embedded store passes its live count), at most 1,000 (pgvector's limit);
    /// max(<see cref="PostgresStoreOptions.MinEfSearch"/>, 2k) without a recall.
    /// </summary>
    internal async Task<int> EfSearchAsync(NpgsqlConnection connection, double? recall, int k, CancellationToken cancellationToken)
    {
        if (recall is not { } wanted)
        {
            return Math.Min(1000, Math.Max(_options.MinEfSearch, 2 * k));
        }

        long items = await EstimateItemCountAsync(connection, cancellationToken).ConfigureAwait(false);
        return Math.Min(1000, Math.Max(k, SearchRecall.EfSearchFor(wanted, k, items)));
    }

    /// <summary>The <c>hnsw.ef_search</c> that a search for <paramref name="k"/> at <paramref name="recall"/> would use now (diagnostics and tests).</summary>
    internal Task<int> EfSearchAsync(double? recall, int k, CancellationToken cancellationToken = default) =>
        RunAsync("choosing the search breadth", (connection, ct) => EfSearchAsync(connection, recall, k, ct), cancellationToken);

    /// <summary>
    /// About how many items there are (0 when unknown): what the last vector search read with its settings, or, before
    /// the first, read now.
    /// </summary>
    private async Task<long> EstimateItemCountAsync(NpgsqlConnection connection, CancellationToken cancellationToken)
    {
        long known = Volatile.Read(ref _itemCount);
        if (known >= 0)
        {
            return known;
        }

        using NpgsqlCommand command = Command(connection, null, $"SELECT {ItemCountEstimateSql("$1")}", ItemsTable);
        long count = await command.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false) is long estimate ? Math.Max(0, estimate) : 0;
        Volatile.Write(ref _itemCount, count);
        return count;
    }

    /// <summary>The items table's name, for <c>to_regclass</c>.</summary>
    private string ItemsTable => $"{_s}.items";

    /// <summary>
    /// An expression for about how many items there are, never a count: the planner's own estimate, the rows per page of
    /// the last ANALYZE or VACUUM (autovacuum's, or an index build's) times the table's pages now, so rows added since
    /// count too; 0 before the first ANALYZE. <paramref name="tableParameter"/> holds <see cref="ItemsTable"/>.
    /// </summary>
    private static string ItemCountEstimateSql(string tableParameter) => $"""
        (SELECT CASE WHEN c.reltuples < 0 OR c.relpages = 0 THEN 0
            ELSE c.reltuples / c.relpages * (pg_relation_size(c.oid) / current_setting('block_size')::float8) END::bigint
        FROM pg_class c WHERE c.oid = to_regclass({tableParameter}))
        """;

    /// <summary>
    /// The settings statement (with <paramref name="settingParameters"/>) and the query, sent as one batch: one round
    /// trip and one implicit transaction, so <c>set_config(…, true)</c> holds for the query and no further. A third
    /// column of the settings statement is the item count estimate (<see cref="ItemCountEstimateSql"/>), kept for the next search.
    /// </summary>
    private async Task<List<StoreHit>> SearchVectorsOnceAsync(NpgsqlConnection connection, string settingsSql, IReadOnlyList<object> settingParameters,
        Vector query, int k, SearchFilter? filter, bool includeVectors, CancellationToken cancellationToken)
    {
        using var batch = new NpgsqlBatch(connection);
        var settings = new NpgsqlBatchCommand(settingsSql);
        foreach (object parameter in settingParameters)
        {
            settings.Parameters.Add(new NpgsqlParameter { Value = parameter });
        }

        var search = new NpgsqlBatchCommand();
        search.Parameters.Add(new NpgsqlParameter { Value = query });
        search.Parameters.Add(new NpgsqlParameter { Value = k });
        string condition = PostgresFilterTranslator.Translate(filter, search.Parameters);
        search.CommandText =
            $"SELECT {ItemColumns(includeVectors)}, -(i.embedding <#> $1) FROM {_s}.items i WHERE {condition} ORDER BY i.embedding <#> $1 LIMIT $2";
        batch.BatchCommands.Add(settings);
        batch.BatchCommands.Add(search);
        NpgsqlDataReader reader = await batch.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        await using (reader.ConfigureAwait(false))
        {
            if (reader.FieldCount > 2 && await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
            {
                Volatile.Write(ref _itemCount, reader.IsDBNull(2) ? 0 : Math.Max(0, reader.GetInt64(2)));
            }

            await reader.NextResultAsync(cancellationToken).ConfigureAwait(false); // past the settings' row
            return await ReadHitsAsync(reader, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <inheritdoc />
    /// <remarks>
    /// The text is split into words (letters, digits, combining marks), which are searched OR-ed through
    /// <c>websearch_to_tsquery</c> (so no character of the text is query syntax) in the knowledge base's text search
    /// configuration (<see cref="PostgresStoreOptions.TextSearchConfiguration"/>: English stemming by default) and ranked
    /// by <c>ts_rank_cd</c>: items matching more of the words, closer together, rank higher. The word "or" itself is
    /// not searched. One statement, one round trip.
    /// </remarks>
    public Task<IReadOnlyList<StoreHit>> SearchKeywordsAsync(string text, int k, SearchFilter? filter = null, CancellationToken cancellationToken = default) =>
        SearchKeywordsAsync(text, k, filter, includeVectors: true, cancellationToken);

    /// <summary>
    /// <see cref="SearchKeywordsAsync(string, int, SearchFilter?, CancellationToken)"/>, returning the hits' vectors only
    /// when <paramref name="includeVectors"/> is true.
    /// </summary>
    public Task<IReadOnlyList<StoreHit>> SearchKeywordsAsync(string text, int k, SearchFilter? filter, bool includeVectors,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(text);
        ArgumentOutOfRangeException.ThrowIfNegative(k);
        return RunAsync<IReadOnlyList<StoreHit>>("keyword search", async (connection, ct) =>
        {
            string? query = KeywordQuery(text);
            if (k == 0 || query is null || filter?.DocumentIds is { Count: 0 })
            {
                return [];
            }

            using NpgsqlCommand command = Command(connection, null, "", query, _textSearchConfiguration, k);
            string condition = PostgresFilterTranslator.Translate(filter, command);
            command.CommandText = $"""
                SELECT {ItemColumns(includeVectors)}, ts_rank_cd(i.search, q) AS rank
                FROM {_s}.items i, websearch_to_tsquery($2::regconfig, $1) q
                WHERE i.search @@ q AND {condition}
                ORDER BY rank DESC, i.id
                LIMIT $3
                """;
            NpgsqlDataReader reader = await command.ExecuteReaderAsync(ct).ConfigureAwait(false);
            await using (reader.ConfigureAwait(false))
            {
                return await ReadHitsAsync(reader, ct).ConfigureAwait(false);
            }
        }, cancellationToken);
    }

    /// <summary>The words of <paramref name="text"/> joined by " or " for <c>websearch_to_tsquery</c>, or null when it has none.</summary>
    internal static string? KeywordQuery(string text)
    {
        // "or" is websearch_to_tsquery's operator, so the word itself cannot be searched.
        var terms = KeywordTerms.Split(text, MaxKeywordTerms, static term => term.Equals("or", StringComparison.OrdinalIgnoreCase));
        return terms.Count == 0 ? null : string.Join(" or ", terms);
    }

    /// <inheritdoc />
    public Task<IReadOnlyList<IngestionFailure>> ListFailuresAsync(CancellationToken cancellationToken = default) =>
        RunAsync<IReadOnlyList<IngestionFailure>>("listing failures", async (connection, ct) =>
        {
            var failures = new List<IngestionFailure>();
            using NpgsqlCommand command = Command(connection, null, $"SELECT source_path, reason, detail, at FROM {_s}.failures ORDER BY at DESC, id DESC");
            NpgsqlDataReader reader = await command.ExecuteReaderAsync(ct).ConfigureAwait(false);
            await using (reader.ConfigureAwait(false))
            {
                while (await reader.ReadAsync(ct).ConfigureAwait(false))
                {
                    failures.Add(new IngestionFailure(reader.GetString(0), reader.GetString(1), reader.IsDBNull(2) ? null : reader.GetString(2),
                        reader.GetFieldValue<DateTimeOffset>(3)));
                }
            }

            return failures;
        }, cancellationToken);

    /// <inheritdoc />
    /// <remarks><see cref="KnowledgeBaseStats.StorageBytes"/> is <c>pg_total_relation_size</c> of the knowledge base's tables (with indexes and TOAST).</remarks>
    public Task<KnowledgeBaseStats> GetStatsAsync(CancellationToken cancellationToken = default) =>
        RunAsync("reading stats", async (connection, ct) =>
        {
            using NpgsqlCommand command = Command(connection, null, $"""
                SELECT (SELECT count(*) FROM {_s}.documents),
                       (SELECT count(*) FROM {_s}.items WHERE kind = 'text'),
                       (SELECT count(*) FROM {_s}.items WHERE kind = 'image'),
                       (SELECT count(*) FROM {_s}.failures),
                       (SELECT coalesce(sum(pg_total_relation_size(to_regclass(t))), 0)::bigint FROM unnest($1::text[]) t)
                """, (object)new[] { "documents", "items", "failures", "settings", "ingestion_claims" }.Select(t => $"{_s}.{t}").ToArray());
            NpgsqlDataReader reader = await command.ExecuteReaderAsync(ct).ConfigureAwait(false);
            await using (reader.ConfigureAwait(false))
            {
                await reader.ReadAsync(ct).ConfigureAwait(false);
                return new KnowledgeBaseStats(Space, (int)reader.GetInt64(0), (int)reader.GetInt64(1), (int)reader.GetInt64(2), (int)reader.GetInt64(3),
                    reader.GetInt64(4));
            }
        }, cancellationToken);

    /// <inheritdoc />
    /// <remarks>Items are ordered by <c>md5(id || seed)</c>: deterministic for a seed and content, independent of insertion order.</remarks>
    public Task<IReadOnlyList<KnowledgeItem>> SampleItemsAsync(ItemKind kind, int count, int seed, CancellationToken cancellationToken = default)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(count);
        return RunAsync<IReadOnlyList<KnowledgeItem>>("sampling items", async (connection, ct) =>
        {
            if (count == 0)
            {
                return [];
            }

            using NpgsqlCommand command = Command(connection, null,
                $"SELECT {AllItemColumns} FROM {_s}.items i WHERE i.kind = $1 ORDER BY md5(i.id || ':' || $2), i.id LIMIT $3",
                KindName(kind), seed.ToString(CultureInfo.InvariantCulture), count);
            return await ReadItemsAsync(command, ct).ConfigureAwait(false);
        }, cancellationToken);
    }

    /// <inheritdoc />
    public Task<string?> GetSettingAsync(string key, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(key);
        return RunAsync("reading setting " + key, async (connection, ct) =>
        {
            using NpgsqlCommand command = Command(connection, null, $"SELECT value FROM {_s}.settings WHERE key = $1", key);
            return await command.ExecuteScalarAsync(ct).ConfigureAwait(false) as string;
        }, cancellationToken);
    }

    /// <inheritdoc />
    /// <remarks>One statement, so one snapshot.</remarks>
    public Task<IReadOnlyList<string?>> GetSettingsAsync(IReadOnlyList<string> keys, CancellationToken cancellationToken = default)
    {
        AtomicSettingsExtensions.CheckKeys(keys);
        return RunAsync<IReadOnlyList<string?>>("reading settings " + string.Join(", ", keys), async (connection, ct) =>
        {
            using NpgsqlCommand command = Command(connection, null, $"SELECT key, value FROM {_s}.settings WHERE key = ANY($1)", (object)keys.ToArray());
            var found = new Dictionary<string, string>(keys.Count, StringComparer.Ordinal);
            NpgsqlDataReader reader = await command.ExecuteReaderAsync(ct).ConfigureAwait(false);
            await using (reader.ConfigureAwait(false))
            {
                while (await reader.ReadAsync(ct).ConfigureAwait(false))
                {
                    found[reader.GetString(0)] = reader.GetString(1);
                }
            }

            return [.. keys.Select(key => found.GetValueOrDefault(key))];
        }, cancellationToken);
    }

    private static DocumentRecord ReadDocument(NpgsqlDataReader reader) =>
        new(reader.GetString(0), reader.GetString(1), reader.GetString(2), reader.GetString(3), reader.IsDBNull(4) ? null : reader.GetString(4),
            reader.GetInt32(5), reader.GetFieldValue<DateTimeOffset>(6))
        {
            Tags = reader.GetFieldValue<string[]>(7),
        };

    private static KnowledgeItem ReadItem(NpgsqlDataReader reader) => new()
    {
        Id = reader.GetString(0),
        DocumentId = reader.GetString(1),
        Kind = ParseKind(reader.GetString(2)),
        ContentHash = reader.GetString(3),
        Text = reader.GetString(4),
        Description = reader.IsDBNull(5) ? null : reader.GetString(5),
        ImagePath = reader.IsDBNull(6) ? null : reader.GetString(6),
        Provenance = new Provenance(reader.GetString(7), reader.IsDBNull(8) ? null : reader.GetString(8), reader.IsDBNull(9) ? null : reader.GetInt32(9),
            reader.IsDBNull(10) ? null : reader.GetString(10), reader.IsDBNull(11) ? null : reader.GetString(11), reader.GetInt32(12)),
        Tags = reader.GetFieldValue<string[]>(13),
        Vector = reader.IsDBNull(14) ? ReadOnlyMemory<float>.Empty : reader.GetFieldValue<Vector>(14).ToArray(),
    };

    private static async Task<List<KnowledgeItem>> ReadItemsAsync(NpgsqlCommand command, CancellationToken cancellationToken)
    {
        var items = new List<KnowledgeItem>();
        NpgsqlDataReader reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        await using (reader.ConfigureAwait(false))
        {
            while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
            {
                items.Add(ReadItem(reader));
            }
        }

        return items;
    }

    /// <summary>The hits of the reader's current result set: item columns, then the score.</summary>
    private static async Task<List<StoreHit>> ReadHitsAsync(NpgsqlDataReader reader, CancellationToken cancellationToken)
    {
        var hits = new List<StoreHit>();
        while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
        {
            hits.Add(new StoreHit(ReadItem(reader), Convert.ToDouble(reader.GetValue(15), CultureInfo.InvariantCulture)));
        }

        return hits;
    }
}
