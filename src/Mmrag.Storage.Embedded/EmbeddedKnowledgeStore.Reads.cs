using System.Globalization;
using System.IO.Hashing;
using System.Runtime.CompilerServices;
using System.Text;
using Microsoft.Data.Sqlite;
using Mmrag.Knowledge;
using Mmrag.Storage.Embedded.Indexing;
using Mmrag.Storage.Embedded.Sql;
using Mmrag.Storage.Providers;

namespace Mmrag.Storage.Embedded;

/// <content>Reads: items, documents, searches, failures, stats, samples, settings.</content>
public sealed partial class EmbeddedKnowledgeStore
{
    /// <summary>BM25 of the FTS table aliased <paramref name="alias"/>, with column weights in the table's column order: text, description, caption, section, title.</summary>
    private static string Bm25(string alias) => $"bm25({alias}.items_fts, 1.0, 1.0, 0.8, 0.5, 0.5)";

    /// <summary>How often a vector search tries without the write lock before it takes it.</summary>
    private const int OptimisticSearchAttempts = 3;

    /// <inheritdoc />
    public Task<DocumentRecord?> GetDocumentAsync(string documentId, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(documentId);
        return RunAsync("reading document " + documentId, async (connection, ct) =>
        {
            using SqliteCommand select = Command(connection, $"SELECT {ItemRows.DocumentColumns} FROM documents d WHERE d.id = $id");
            select.Parameters.AddWithValue("$id", documentId);
            using SqliteDataReader reader = await select.ExecuteReaderAsync(ct).ConfigureAwait(false);
            return await reader.ReadAsync(ct).ConfigureAwait(false) ? ItemRows.ReadDocument(reader) : null;
        }, cancellationToken);
    }

    /// <inheritdoc />
    public async IAsyncEnumerable<DocumentRecord> ListDocumentsAsync([EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        ThrowIfDisposed();
        const string operation = "listing documents";
        SqliteConnection connection;
        SqliteCommand select;
        SqliteDataReader reader;
        try
        {
            connection = await OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
            select = Command(connection, $"SELECT {ItemRows.DocumentColumns} FROM documents d ORDER BY d.source_path");
            reader = await select.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (IsBackendException(ex))
        {
            throw Wrap(operation, ex, cancellationToken);
        }

        await using (connection.ConfigureAwait(false))
        await using (select.ConfigureAwait(false))
        await using (reader.ConfigureAwait(false))
        {
            while (true)
            {
                DocumentRecord document;
                try
                {
                    if (!await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
                    {
                        yield break;
                    }

                    document = ItemRows.ReadDocument(reader);
                }
                catch (Exception ex) when (IsBackendException(ex))
                {
                    throw Wrap(operation, ex, cancellationToken);
                }

                yield return document;
            }
        }
    }

    /// <inheritdoc />
    public Task<KnowledgeItem?> GetItemAsync(string itemId, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(itemId);
        return RunAsync("reading item " + itemId, async (connection, ct) =>
        {
            using SqliteCommand select = Command(connection, $"SELECT {ItemRows.ItemColumns} FROM items i WHERE i.id = $id");
            select.Parameters.AddWithValue("$id", itemId);
            using SqliteDataReader reader = await select.ExecuteReaderAsync(ct).ConfigureAwait(false);
            return await reader.ReadAsync(ct).ConfigureAwait(false) ? ItemRows.ReadItem(reader, Space.Dimension) : null;
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

            using SqliteCommand select = Command(connection,
                "SELECT content_hash, vector FROM items WHERE rowid IN " +
                "(SELECT min(rowid) FROM items WHERE content_hash IN (SELECT value FROM json_each($hashes)) GROUP BY content_hash)");
            select.Parameters.AddWithValue("$hashes", StoreText.JsonArray(contentHashes.Distinct(StringComparer.Ordinal)));
            using SqliteDataReader reader = await select.ExecuteReaderAsync(ct).ConfigureAwait(false);
            while (await reader.ReadAsync(ct).ConfigureAwait(false))
            {
                var vector = new float[Space.Dimension];
                if (!VectorBlob.TryDecode((byte[])reader.GetValue(1), vector))
                {
                    throw new InvalidDataException($"A stored vector for content hash '{reader.GetString(0)}' does not have dimension {Space.Dimension}.");
                }

                found[reader.GetString(0)] = vector;
            }

            return found;
        }, cancellationToken);
    }

    /// <inheritdoc />
    /// <remarks>Exact when at most <see cref="EmbeddedStoreOptions.ExactSearchThreshold"/> items are candidates (or the filter
    /// leaves fewer than <see cref="EmbeddedStoreOptions.FilteredExactFraction"/> of them), or the recall asked for is
    /// above what the graph reliably gives (<see cref="SearchRecall.NeedsExactSearch"/>); HNSW otherwise, with ef =
    /// <see cref="SearchRecall.EfSearchFor"/> for a requested recall, else max(<c>EfSearch</c>, 2k).</remarks>
    /// <exception cref="ArgumentException">The query's dimension is not the knowledge base's, or it is zero or not finite.</exception>
    public async Task<IReadOnlyList<StoreHit>> SearchVectorsAsync(ReadOnlyMemory<float> query, int k, SearchFilter? filter = null, double? recall = null,
        CancellationToken cancellationToken = default)
    {
        ThrowIfDisposed();
        float[] q = StoreInput.CheckVectorQuery(query.Span, k, recall, Space, _options.NormTolerance);
        cancellationToken.ThrowIfCancellationRequested();
        if (k == 0)
        {
            return [];
        }

        return await SearchConsistentAsync(ct => SearchOnceAsync(q, k, filter, recall, ct), cancellationToken).ConfigureAwait(false);
    }

    /// <inheritdoc />
    /// <remarks>One index snapshot pinned together with a database read transaction at the same generation, one pass of
    /// <see cref="ExactVectorIndex.SearchBatch"/> over it and one read of the hits' rows in that transaction: every hit's
    /// row is there whatever is written meanwhile, so the batch runs once, and writers wait for nothing longer than
    /// the pinning (never for the batch).</remarks>
    public async Task<IReadOnlyList<IReadOnlyList<StoreHit>>> SearchVectorsBatchAsync(IReadOnlyList<ReadOnlyMemory<float>> queries, int k,
        SearchFilter? filter = null, CancellationToken cancellationToken = default)
    {
        ThrowIfDisposed();
        ArgumentNullException.ThrowIfNull(queries);
        int dimension = Space.Dimension;
        float[] all = new float[queries.Count * dimension];
        for (int i = 0; i < queries.Count; i++)
        {
            StoreInput.CheckVectorQuery(queries[i].Span, k, recall: 1.0, Space, _options.NormTolerance).CopyTo(all, i * dimension);
        }

        cancellationToken.ThrowIfCancellationRequested();
        if (k == 0 || queries.Count == 0)
        {
            return [.. queries.Select(static _ => (IReadOnlyList<StoreHit>)[])];
        }

        return await RunAsync<IReadOnlyList<IReadOnlyList<StoreHit>>>("vector search", async (connection, ct) =>
        {
            (SqliteTransaction tx, IndexSnapshot snapshot) = await PinSnapshotAsync(connection, ct).ConfigureAwait(false);
            using (tx)
            {
                VectorHit[][] found = _index.SearchExactBatch(snapshot, all, k, filter, ct);
                long[] rowIds = [.. found.SelectMany(static f => f).Select(h => snapshot.Table.RowIds[h.Slot]).Distinct()];
                Dictionary<long, KnowledgeItem> items = await ReadItemsAsync(connection, tx, rowIds, ct).ConfigureAwait(false);
                tx.Commit();
                var results = new IReadOnlyList<StoreHit>[found.Length];
                for (int q = 0; q < found.Length; q++)
                {
                    // A row can be missing only when another process kept writing through every attempt to pin (see
                    // PinSnapshotAsync): that hit is left out, as a single search that gives up retrying leaves it out.
                    results[q] = [.. found[q].Where(h => items.ContainsKey(snapshot.Table.RowIds[h.Slot]))
                        .Select(h => new StoreHit(items[snapshot.Table.RowIds[h.Slot]], h.Score))];
                }

                return results;
            }
        }, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// An index snapshot and a database read transaction (on <paramref name="connection"/>, for the caller to dispose)
    /// at the same generation, so the snapshot's rows are exactly the rows the transaction reads. A write committed
    /// between the two looks (or not yet applied to the index) moves one of them: then the index catches up and the pair
    /// is taken again, a few times optimistically, then with the write lock held around the pinning alone.
    /// </summary>
    private async Task<(SqliteTransaction Transaction, IndexSnapshot Snapshot)> PinSnapshotAsync(SqliteConnection connection,
        CancellationToken cancellationToken)
    {
        for (int attempt = 1; ; attempt++)
        {
            bool locked = attempt > OptimisticSearchAttempts;
            if (locked)
            {
                await _writeLock.WaitAsync(cancellationToken).ConfigureAwait(false);
            }

            SqliteTransaction? tx = null;
            try
            {
                if (locked)
                {
                    await _index.SyncLockedAsync(cancellationToken).ConfigureAwait(false);
                }
                else if (_index.NeedsSync)
                {
                    await SyncAsync(cancellationToken).ConfigureAwait(false);
                }

                tx = connection.BeginTransaction(deferred: true);
                long generation = VectorIndexHost.ReadGeneration(connection, tx); // the transaction's snapshot starts here
                IndexSnapshot snapshot = _index.Current;
                // Under the lock only another process can have written since the catch-up; past a few such attempts the
                // pair is used as it is (hits whose rows are gone are left out).
                if ((snapshot.Generation == generation && !_index.NeedsSync) || attempt >= 2 * OptimisticSearchAttempts)
                {
                    (SqliteTransaction pinned, tx) = (tx, null);
                    return (pinned, snapshot);
                }

                if (!locked && snapshot.Generation < generation)
                {
                    tx.Dispose();
                    tx = null;
                    await SyncAsync(cancellationToken).ConfigureAwait(false); // behind: a write is being applied, or another process wrote
                }
            }
            finally
            {
                tx?.Dispose();
                if (locked)
                {
                    _writeLock.Release();
                }
            }
        }
    }

    /// <summary>
    /// Runs <paramref name="searchOnce"/> until its hits are consistent with the database: a few optimistic attempts,
    /// then under the write lock.
    /// </summary>
    private async Task<T> SearchConsistentAsync<T>(Func<CancellationToken, Task<(T Hits, bool Complete, bool GenerationMoved)>> searchOnce,
        CancellationToken cancellationToken)
    {
        for (int attempt = 1; attempt <= OptimisticSearchAttempts; attempt++)
        {
            if (_index.NeedsSync)
            {
                await SyncAsync(cancellationToken).ConfigureAwait(false);
            }

            (T hits, bool complete, bool generationMoved) = await searchOnce(cancellationToken).ConfigureAwait(false);

            // Consistent unless a write replaced rows this snapshot found, or another process wrote (the generation
            // moved with no local write running): then catch up and search again.
            if (complete && !(generationMoved && Volatile.Read(ref _localWrites) == 0))
            {
                return hits;
            }

            await SyncAsync(cancellationToken).ConfigureAwait(false);
        }

        // Writes keep overtaking this search: hold the write lock so no local write can commit in between.
        await _writeLock.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            T hits = default!;
            for (int attempt = 1; attempt <= OptimisticSearchAttempts; attempt++)
            {
                await _index.SyncLockedAsync(cancellationToken).ConfigureAwait(false);
                (hits, bool complete, _) = await searchOnce(cancellationToken).ConfigureAwait(false);
                if (complete)
                {
                    break; // only another process writing this fast could make it incomplete again
                }
            }

            return hits;
        }
        catch (Exception ex) when (IsBackendException(ex))
        {
            throw Wrap("vector search", ex, cancellationToken);
        }
        finally
        {
            _writeLock.Release();
        }
    }

    /// <summary>
    /// Searches the current snapshot and fetches the hits; <c>Complete</c> is false when some hit's row is gone,
    /// <c>GenerationMoved</c> when the database is at another generation than the snapshot.
    /// </summary>
    private async Task<(List<StoreHit> Hits, bool Complete, bool GenerationMoved)> SearchOnceAsync(float[] query, int k, SearchFilter? filter,
        double? recall, CancellationToken cancellationToken)
    {
        IndexSnapshot snapshot = _index.Current;
        VectorHit[] found = _index.Search(snapshot, query, k, filter, recall);
        long[] rowIds = new long[found.Length];
        for (int i = 0; i < found.Length; i++)
        {
            rowIds[i] = snapshot.Table.RowIds[found[i].Slot];
        }

        (long generation, Dictionary<long, KnowledgeItem> items) = await RunAsync("vector search",
            (connection, ct) => FetchItemsAsync(connection, rowIds, ct), cancellationToken).ConfigureAwait(false);
        var hits = new List<StoreHit>(found.Length);
        for (int i = 0; i < found.Length; i++)
        {
            if (items.TryGetValue(rowIds[i], out KnowledgeItem? item))
            {
                hits.Add(new StoreHit(item, found[i].Score));
            }
        }

        return (hits, hits.Count == found.Length, generation != snapshot.Generation);
    }

    /// <inheritdoc />
    /// <remarks>The text is split into words, each searched as a plain term (no FTS syntax reaches the engine); an item
    /// matching any word is a candidate and BM25 over all the words (negated, so higher is better) ranks them. No word: no
    /// hits. On a large knowledge base the candidates are limited to about
    /// <see cref="EmbeddedStoreOptions.KeywordCandidateBudget"/> rows, found through the rarest words (see
    /// <see cref="KeywordCandidatePlan"/>); "first rows" there means lowest rowid, i.e. earliest stored.</remarks>
    public Task<IReadOnlyList<StoreHit>> SearchKeywordsAsync(string text, int k, SearchFilter? filter = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(text);
        ArgumentOutOfRangeException.ThrowIfNegative(k);
        IReadOnlyList<string> terms = FtsQuery.Terms(text);
        if (terms.Count == 0 || k == 0)
        {
            ThrowIfDisposed();
            cancellationToken.ThrowIfCancellationRequested();
            return Task.FromResult<IReadOnlyList<StoreHit>>([]);
        }

        return RunAsync<IReadOnlyList<StoreHit>>("keyword search", async (connection, ct) =>
        {
            int budget = KeywordBudget(k);
            IReadOnlyList<int> counts = await CountKeywordMatchesAsync(connection, terms, budget + 1L, ct).ConfigureAwait(false);
            var plan = KeywordCandidatePlan.Create(terms, counts, budget);
            using SqliteCommand select = connection.CreateCommand();
            string condition = EmbeddedFilterTranslator.ToSql(filter, select, "i");
            select.CommandText = plan.IsPruned ? PrunedKeywordSql(plan, condition, select) : KeywordSql(condition);
            select.Parameters.AddWithValue("$match", FtsQuery.AnyOf(terms));
            select.Parameters.AddWithValue("$k", k);
            var hits = new List<StoreHit>();
            using SqliteDataReader reader = await select.ExecuteReaderAsync(ct).ConfigureAwait(false);
            while (await reader.ReadAsync(ct).ConfigureAwait(false))
            {
                hits.Add(new StoreHit(ItemRows.ReadItem(reader, Space.Dimension), reader.GetDouble(ItemRows.ItemColumnCount)));
            }

            return hits;
        }, cancellationToken);
    }

    /// <inheritdoc />
    /// <remarks>One statement: the words are counted and planned once, with the budget shared by the kinds (about
    /// <see cref="EmbeddedStoreOptions.KeywordCandidateBudget"/> rows in all, as one search of every kind ranks), BM25
    /// scores the candidates once, and each kind keeps its k best (ties by rowid). Ranking costs about the budget
    /// whatever the number of kinds, where one search per kind ranks about a budget each. When the budget prunes, a kind
    /// may miss a row that its own search, ranking a budget of that kind alone, would have found; otherwise each list
    /// equals <see cref="SearchKeywordsAsync"/>'s for that kind.</remarks>
    /// <exception cref="ArgumentException">A kind is listed twice or has a negative k.</exception>
    public async Task<IReadOnlyList<IReadOnlyList<StoreHit>>> SearchKeywordsByKindAsync(string text, IReadOnlyList<KindLimit> kinds, SearchFilter? filter = null,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(text);
        ArgumentNullException.ThrowIfNull(kinds);
        var results = new IReadOnlyList<StoreHit>[kinds.Count];
        var wanted = new List<int>(kinds.Count);
        for (int i = 0; i < kinds.Count; i++)
        {
            ArgumentOutOfRangeException.ThrowIfNegative(kinds[i].K, nameof(kinds));
            if (kinds.Take(i).Any(k => k.Kind == kinds[i].Kind))
            {
                throw new ArgumentException($"Kind {kinds[i].Kind} is listed twice; list each kind once.", nameof(kinds));
            }

            results[i] = [];
            if (kinds[i].K > 0 && (filter?.Kind is null || filter.Kind == kinds[i].Kind))
            {
                wanted.Add(i);
            }
        }

        IReadOnlyList<string> terms = FtsQuery.Terms(text);
        SearchFilter others = (filter ?? SearchFilter.None) with { Kind = null };
        if (terms.Count == 0 || wanted.Count <= 1)
        {
            foreach (int i in wanted)
            {
                results[i] = await SearchKeywordsAsync(text, kinds[i].K, others with { Kind = kinds[i].Kind }, cancellationToken).ConfigureAwait(false);
            }

            ThrowIfDisposed();
            cancellationToken.ThrowIfCancellationRequested();
            return results;
        }

        return await RunAsync<IReadOnlyList<IReadOnlyList<StoreHit>>>("keyword search", async (connection, ct) =>
        {
            int budget = KeywordBudget(wanted.Sum(i => kinds[i].K));
            IReadOnlyList<int> counts = await CountKeywordMatchesAsync(connection, terms, budget + 1L, ct).ConfigureAwait(false);
            var plan = KeywordCandidatePlan.Create(terms, counts, budget);
            using SqliteCommand select = connection.CreateCommand();
            string condition = EmbeddedFilterTranslator.ToSql(others, select, "i");
            var limits = new StringBuilder("CASE top.kind");
            for (int w = 0; w < wanted.Count; w++)
            {
                select.Parameters.AddWithValue($"$kind{w}", ItemRows.KindText(kinds[wanted[w]].Kind));
                select.Parameters.AddWithValue($"$k{w}", kinds[wanted[w]].K);
                limits.Append(CultureInfo.InvariantCulture, $" WHEN $kind{w} THEN $k{w}");
            }

            if (wanted.Count < Enum.GetValues<ItemKind>().Length)
            {
                condition = $"({condition}) AND i.kind IN ({string.Join(", ", Enumerable.Range(0, wanted.Count).Select(w => $"$kind{w}"))})";
            }

            // Every candidate is scored; its kind is read from its row (not its vector) to keep each kind's k best.
            select.CommandText = (plan.IsPruned
                    ? $"WITH {CandidatesSql(plan, condition, select)}, scored(id, score) AS MATERIALIZED (SELECT s.rowid, -{Bm25("s")} {CandidateRows}) "
                    : $"WITH scored(id, score) AS MATERIALIZED (SELECT s.rowid, -{Bm25("s")} {MatchingRows("$match", condition)}) ") +
                "SELECT " + ItemRows.ItemColumns + ", top.score FROM (SELECT s.id, s.score, k.kind, " +
                "row_number() OVER (PARTITION BY k.kind ORDER BY s.score DESC, s.id) AS n FROM scored s CROSS JOIN items k ON k.rowid = s.id) top " +
                $"CROSS JOIN items i ON i.rowid = top.id WHERE top.n <= {limits} END ORDER BY top.score DESC, top.id";
            select.Parameters.AddWithValue("$match", FtsQuery.AnyOf(terms));
            var lists = wanted.ToDictionary(i => kinds[i].Kind, _ => new List<StoreHit>());
            using SqliteDataReader reader = await select.ExecuteReaderAsync(ct).ConfigureAwait(false);
            while (await reader.ReadAsync(ct).ConfigureAwait(false))
            {
                KnowledgeItem item = ItemRows.ReadItem(reader, Space.Dimension);
                lists[item.Kind].Add(new StoreHit(item, reader.GetDouble(ItemRows.ItemColumnCount)));
            }

            foreach (int i in wanted)
            {
                results[i] = lists[kinds[i].Kind];
            }

            return results;
        }, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>How many rows a keyword search for k hits (in all) may rank.</summary>
    private int KeywordBudget(int k) => Math.Max(_options.KeywordCandidateBudget, k);

    /// <summary>How many rows match each word, counting no further than <paramref name="limit"/>.</summary>
    private static async Task<IReadOnlyList<int>> CountKeywordMatchesAsync(SqliteConnection connection, IReadOnlyList<string> terms, long limit,
        CancellationToken cancellationToken)
    {
        // Walking a word's row list without scoring or reading the rows is cheap, and the limit bounds it.
        using SqliteCommand count = Command(connection,
            "SELECT (SELECT count(*) FROM (SELECT 1 FROM items_fts WHERE items_fts MATCH w.value LIMIT $limit)) FROM json_each($words) w ORDER BY w.key");
        count.Parameters.AddWithValue("$words", StoreText.JsonArray(terms.Select(FtsQuery.Phrase)));
        count.Parameters.AddWithValue("$limit", limit);
        var counts = new List<int>(terms.Count);
        using SqliteDataReader reader = await count.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
        {
            counts.Add((int)Math.Min(reader.GetInt64(0), int.MaxValue));
        }

        return counts;
    }

    /// <summary>
    /// Ranks every row matching <c>$match</c> and the filter, then reads only the k best: the items' rows (with their
    /// vectors) are read once the order is known, not for every match.
    /// </summary>
    private static string KeywordSql(string condition) =>
        $"WITH top(id, score) AS MATERIALIZED (SELECT s.rowid, -{Bm25("s")} {MatchingRows("$match", condition)} ORDER BY 2 DESC, 1 LIMIT $k) " +
        TopItemsSql;

    /// <summary>
    /// Ranks only the plan's candidates by the whole query <c>$match</c>. The candidates pass the filter when they are
    /// gathered, so the capped rows are the first ones the filter allows; the capped part is a UNION ALL under one LIMIT,
    /// which SQLite runs arm by arm and stops once it has enough, so the single-word rows are read only when the paired
    /// ones fall short. <c>+s.rowid</c> keeps FTS5 from taking the candidate list as a rowid lookup, which would restart
    /// the query (and BM25's statistics) once per candidate; instead it walks the words' row lists once and scores only
    /// the candidates, within the candidates' rowid range (FTS5 seeks to its ends): when only frequent words found
    /// candidates, those are the earliest rows, and the walk stops there instead of at the end of every list.
    /// </summary>
    private static string PrunedKeywordSql(KeywordCandidatePlan plan, string condition, SqliteCommand command) =>
        $"WITH {CandidatesSql(plan, condition, command)}, " +
        $"top(id, score) AS MATERIALIZED (SELECT s.rowid, -{Bm25("s")} {CandidateRows} ORDER BY 2 DESC, 1 LIMIT $k) " +
        TopItemsSql;

    /// <summary>
    /// <c>candidates(id)</c>: the plan's candidate rows passing <paramref name="condition"/> (see <see cref="PrunedKeywordSql"/>).
    /// </summary>
    private static string CandidatesSql(KeywordCandidatePlan plan, string condition, SqliteCommand command)
    {
        string? whole = plan.Whole.Count > 0 ? FtsQuery.AnyOf(plan.Whole) : null;
        var gather = new List<string>(2);
        if (whole is not null)
        {
            gather.Add($"SELECT s.rowid {MatchingRows("$whole", condition)}");
            command.Parameters.AddWithValue("$whole", whole);
        }

        if (plan.Capped.Count > 0)
        {
            // Each arm excludes the rows of the arms before it, so no row is gathered twice.
            string? paired = plan.PairedWords.Count > 0 ? FtsQuery.AnyPairOf(plan.PairedWords) : null;
            var arms = new List<string>(2);
            if (paired is not null)
            {
                arms.Add($"SELECT id FROM (SELECT s.rowid AS id {MatchingRows("$paired", condition)} ORDER BY s.rowid LIMIT $capped_rows)");
                command.Parameters.AddWithValue("$paired", FtsQuery.Without(paired, whole));
            }

            arms.Add($"SELECT id FROM (SELECT s.rowid AS id {MatchingRows("$capped", condition)} ORDER BY s.rowid LIMIT $capped_rows)");
            command.Parameters.AddWithValue("$capped", FtsQuery.Without(FtsQuery.AnyOf(plan.Capped), whole, paired));
            command.Parameters.AddWithValue("$capped_rows", plan.CappedRows);
            gather.Add($"SELECT id FROM ({string.Join(" UNION ALL ", arms)} LIMIT $capped_rows)");
        }

        return $"candidates(id) AS MATERIALIZED ({string.Join(" UNION ALL ", gather)})";
    }

    /// <summary>FROM and WHERE for the rows of <c>candidates</c>, scored by the whole query <c>$match</c> (see <see cref="PrunedKeywordSql"/>).</summary>
    private const string CandidateRows =
        "FROM items_fts s WHERE s.items_fts MATCH $match AND s.rowid BETWEEN (SELECT min(id) FROM candidates) AND (SELECT max(id) FROM candidates) " +
        "AND +s.rowid IN candidates";

    /// <summary>
    /// FROM and WHERE for the FTS rows (aliased <c>s</c>) matching <paramref name="match"/> whose items pass the filter
    /// <paramref name="condition"/>. The FTS table drives the join (CROSS JOIN keeps that order): starting from the items
    /// would probe the keyword index once per item. Without a filter the items are not read at all.
    /// </summary>
    private static string MatchingRows(string match, string condition) =>
        condition == EmbeddedFilterTranslator.NoCondition
            ? $"FROM items_fts s WHERE s.items_fts MATCH {match}"
            : $"FROM items_fts s CROSS JOIN items i ON i.rowid = s.rowid WHERE s.items_fts MATCH {match} AND ({condition})";

    /// <summary>The items of <c>top(id, score)</c> with their scores, best first (ties by rowid, as the ranking broke them).</summary>
    private const string TopItemsSql =
        $"SELECT {ItemRows.ItemColumns}, top.score FROM top CROSS JOIN items i ON i.rowid = top.id ORDER BY top.score DESC, top.id";

    /// <inheritdoc />
    public Task<IReadOnlyList<IngestionFailure>> ListFailuresAsync(CancellationToken cancellationToken = default) =>
        RunAsync<IReadOnlyList<IngestionFailure>>("listing failures", async (connection, ct) =>
        {
            using SqliteCommand select = Command(connection, "SELECT source_path, reason, detail, at FROM failures ORDER BY at DESC, id DESC");
            var failures = new List<IngestionFailure>();
            using SqliteDataReader reader = await select.ExecuteReaderAsync(ct).ConfigureAwait(false);
            while (await reader.ReadAsync(ct).ConfigureAwait(false))
            {
                failures.Add(new IngestionFailure(reader.GetString(0), reader.GetString(1), reader.IsDBNull(2) ? null : reader.GetString(2),
                    StoreText.ParseTime(reader.GetString(3))));
            }

            return failures;
        }, cancellationToken);

    /// <inheritdoc />
    /// <remarks><see cref="KnowledgeBaseStats.StorageBytes"/> counts the database, its write-ahead log and shared-memory
    /// files, and <c>vectors.hnsw</c>.</remarks>
    public Task<KnowledgeBaseStats> GetStatsAsync(CancellationToken cancellationToken = default) =>
        RunAsync("reading stats", async (connection, ct) =>
        {
            using SqliteCommand select = Command(connection,
                "SELECT (SELECT count(*) FROM documents), (SELECT count(*) FROM items WHERE kind = 'text'), " +
                "(SELECT count(*) FROM items WHERE kind = 'image'), (SELECT count(*) FROM failures)");
            using SqliteDataReader reader = await select.ExecuteReaderAsync(ct).ConfigureAwait(false);
            await reader.ReadAsync(ct).ConfigureAwait(false);
            long bytes = 0;
            foreach (string name in (string[])[DatabaseFileName, DatabaseFileName + "-wal", DatabaseFileName + "-shm", IndexFileName])
            {
                var file = new FileInfo(Path.Combine(Folder, name));
                bytes += file.Exists ? file.Length : 0;
            }

            return new KnowledgeBaseStats(Space, reader.GetInt32(0), reader.GetInt32(1), reader.GetInt32(2), reader.GetInt32(3), bytes);
        }, cancellationToken);

    /// <inheritdoc />
    /// <remarks>The items whose XxHash3 of (id, seed) is smallest: the same seed and content give the same sample in any
    /// process, whatever order the items were written in.</remarks>
    public Task<IReadOnlyList<KnowledgeItem>> SampleItemsAsync(ItemKind kind, int count, int seed, CancellationToken cancellationToken = default)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(count);
        string kindText = ItemRows.KindText(kind);
        return RunAsync<IReadOnlyList<KnowledgeItem>>("sampling items", async (connection, ct) =>
        {
            if (count == 0)
            {
                return [];
            }

            using SqliteTransaction tx = connection.BeginTransaction(deferred: true);
            var chosen = new PriorityQueue<long, (ulong Key, string Id)>(count + 1, Comparer<(ulong Key, string Id)>.Create(
                (a, b) => b.Key != a.Key ? b.Key.CompareTo(a.Key) : string.CompareOrdinal(b.Id, a.Id))); // worst on top
            var keys = new Dictionary<long, (ulong Key, string Id)>();
            using (SqliteCommand ids = Command(connection, "SELECT rowid, id FROM items WHERE kind = $kind", tx))
            {
                ids.Parameters.AddWithValue("$kind", kindText);
                using SqliteDataReader reader = await ids.ExecuteReaderAsync(ct).ConfigureAwait(false);
                while (await reader.ReadAsync(ct).ConfigureAwait(false))
                {
                    string id = reader.GetString(1);
                    (ulong, string) key = (XxHash3.HashToUInt64(Encoding.UTF8.GetBytes(id), seed), id);
                    chosen.Enqueue(reader.GetInt64(0), key);
                    if (chosen.Count > count)
                    {
                        chosen.Dequeue();
                    }
                }
            }

            while (chosen.TryDequeue(out long rowId, out (ulong, string) key))
            {
                keys[rowId] = key;
            }

            using SqliteCommand select = Command(connection, $"SELECT {ItemRows.ItemColumns} FROM items i WHERE i.rowid IN (SELECT value FROM json_each($ids))", tx);
            select.Parameters.AddWithValue("$ids", StoreText.JsonArray(keys.Keys));
            var items = new List<(KnowledgeItem Item, (ulong Key, string Id) Key)>(keys.Count);
            using (SqliteDataReader reader = await select.ExecuteReaderAsync(ct).ConfigureAwait(false))
            {
                while (await reader.ReadAsync(ct).ConfigureAwait(false))
                {
                    items.Add((ItemRows.ReadItem(reader, Space.Dimension), keys[reader.GetInt64(0)]));
                }
            }

            return items.OrderBy(x => x.Key.Key).ThenBy(x => x.Key.Id, StringComparer.Ordinal).Select(x => x.Item).ToList();
        }, cancellationToken);
    }

    /// <inheritdoc />
    public Task<string?> GetSettingAsync(string key, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(key);
        return RunAsync("reading setting " + key, async (connection, ct) =>
        {
            using SqliteCommand select = Command(connection, "SELECT value FROM settings WHERE key = $key");
            select.Parameters.AddWithValue("$key", key);
            return await select.ExecuteScalarAsync(ct).ConfigureAwait(false) as string;
        }, cancellationToken);
    }

    /// <inheritdoc />
    /// <remarks>One statement, so one snapshot.</remarks>
    public Task<IReadOnlyList<string?>> GetSettingsAsync(IReadOnlyList<string> keys, CancellationToken cancellationToken = default)
    {
        AtomicSettingsExtensions.CheckKeys(keys);
        return RunAsync<IReadOnlyList<string?>>("reading settings " + string.Join(", ", keys), async (connection, ct) =>
        {
            using SqliteCommand select = Command(connection, "SELECT key, value FROM settings WHERE key IN (SELECT value FROM json_each($keys))");
            select.Parameters.AddWithValue("$keys", StoreText.JsonArray(keys));
            var found = new Dictionary<string, string>(keys.Count, StringComparer.Ordinal);
            using SqliteDataReader reader = await select.ExecuteReaderAsync(ct).ConfigureAwait(false);
            while (await reader.ReadAsync(ct).ConfigureAwait(false))
            {
                found[reader.GetString(0)] = reader.GetString(1);
            }

            return [.. keys.Select(key => found.GetValueOrDefault(key))];
        }, cancellationToken);
    }

    /// <summary>The database generation and the items with these rowids, read in one transaction.</summary>
    private async Task<(long Generation, Dictionary<long, KnowledgeItem> Items)> FetchItemsAsync(SqliteConnection connection, long[] rowIds,
        CancellationToken cancellationToken)
    {
        using SqliteTransaction tx = connection.BeginTransaction(deferred: true);
        long generation = VectorIndexHost.ReadGeneration(connection, tx);
        Dictionary<long, KnowledgeItem> items = await ReadItemsAsync(connection, tx, rowIds, cancellationToken).ConfigureAwait(false);
        tx.Commit();
        return (generation, items);
    }

    /// <summary>The items with these rowids (those that exist), read in <paramref name="tx"/>.</summary>
    private async Task<Dictionary<long, KnowledgeItem>> ReadItemsAsync(SqliteConnection connection, SqliteTransaction tx, long[] rowIds,
        CancellationToken cancellationToken)
    {
        var items = new Dictionary<long, KnowledgeItem>(rowIds.Length);
        if (rowIds.Length > 0)
        {
            using SqliteCommand select = Command(connection, $"SELECT {ItemRows.ItemColumns} FROM items i WHERE i.rowid IN (SELECT value FROM json_each($ids))", tx);
            select.Parameters.AddWithValue("$ids", StoreText.JsonArray(rowIds));
            using SqliteDataReader reader = await select.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
            while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
            {
                items[reader.GetInt64(0)] = ItemRows.ReadItem(reader, Space.Dimension);
            }
        }

        return items;
    }
}
