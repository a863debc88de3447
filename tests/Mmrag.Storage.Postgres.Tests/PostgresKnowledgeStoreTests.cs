using Microsoft.Extensions.DependencyInjection;
using Mmrag.Knowledge;
using Mmrag.Storage.ContractTests;
using Mmrag.Storage.Postgres.Sql;
using Npgsql;

namespace Mmrag.Storage.Postgres.Tests;

/// <summary>What the PostgreSQL store does beyond the contract: migrations, schemas, opening, errors, DI.</summary>
[Collection(PostgresCollection.Name)]
public sealed class PostgresKnowledgeStoreTests(PostgresTestServer server) : IAsyncLifetime
{
    private static readonly EmbeddingSpace Space = new("test-model", 8);
    private readonly List<string> _schemas = [];

    public Task InitializeAsync() => Task.CompletedTask;

    public Task DisposeAsync() => server.DropSchemasAsync(_schemas);

    private PostgresStoreOptions NewOptions()
    {
        _schemas.Add(PostgresTestServer.NewSchema());
        return new PostgresStoreOptions { Schema = _schemas[^1] };
    }

    [Fact]
    public async Task Open_NewSchema_RecordsTheMigrationsOnceAndReopensWithoutReapplying()
    {
        PostgresStoreOptions options = NewOptions();
        await (await PostgresKnowledgeStore.OpenAsync(server.ConnectionString, Space, options)).DisposeAsync();
        await (await PostgresKnowledgeStore.OpenAsync(server.ConnectionString, Space, options)).DisposeAsync();

        await using NpgsqlDataSource dataSource = NpgsqlDataSource.Create(server.WithPoolSize(1));
        await using NpgsqlConnection connection = await dataSource.OpenConnectionAsync();
        await using var command = new NpgsqlCommand($"SELECT array_agg(version ORDER BY version) FROM \"{options.Schema}\".schema_migrations", connection);
        int[] versions = (int[])(await command.ExecuteScalarAsync())!;
        Assert.Equal(Enumerable.Range(1, StoreSchema.LatestVersion), versions);
    }

    [Fact]
    public async Task EfSearch_RecallAskedAfterTheTableGrewPast100kItems_WalksWiderAsTheEmbeddedStoreDoes()
    {
        const int K = 100, Rows = 150_000;
        await using PostgresKnowledgeStore small = await PostgresKnowledgeStore.OpenAsync(server.ConnectionString, Space, NewOptions());
        string smallSchema = _schemas[^1];
        await using PostgresKnowledgeStore large = await PostgresKnowledgeStore.OpenAsync(server.ConnectionString, Space, NewOptions());
        string largeSchema = _schemas[^1];
        Assert.True(await large.SuspendVectorIndexForBulkLoadAsync()); // no graph to link 150k rows into one by one
        float[] query = ContractData.UnitVector(new Random(1), Space.Dimension);
        foreach (PostgresKnowledgeStore store in new[] { small, large })
        {
            DocumentRecord document = ContractData.Document("doc");
            await store.UpsertDocumentAsync(document, [ContractData.Item(document, 0, query)]);
            Assert.Single(await store.SearchVectorsAsync(query, 10, recall: 0.95)); // the store's estimate is now of one item
        }

        // The rows come from the server itself (an upsert of 150k items would take minutes here); ANALYZE does what
        // autovacuum does on a real server (and never on PGlite).
        await using (var connection = new NpgsqlConnection(server.ConnectionString))
        {
            await connection.OpenAsync();
            await using var fill = new NpgsqlCommand($"""
                INSERT INTO "{largeSchema}".items (id, document_id, kind, content_hash, text, source_path, position, embedding)
                SELECT 'doc#b' || g, 'doc', 'text', 'h' || g, '', 'doc', g, ARRAY[1, g % 7, 0, 0, 0, 0, 0, 1]::real[]::vector
                FROM generate_series(1, {Rows - 1}) g;
                ANALYZE "{largeSchema}".items;
                ANALYZE "{smallSchema}".items;
                """, connection) { CommandTimeout = 300 };
            await fill.ExecuteNonQueryAsync();
        }

        // A search reads the estimate again with its settings, for the searches after it.
        Assert.Equal(10, (await large.SearchVectorsAsync(query, 10, recall: 0.95)).Count);
        int smallEf = await small.EfSearchAsync(0.95, K);
        int largeEf = await large.EfSearchAsync(0.95, K);

        Assert.Equal(SearchRecall.EfSearchFor(0.95, K), smallEf);
        // The count is the planner's estimate, not a count: within 10 % of it.
        Assert.InRange(largeEf, SearchRecall.EfSearchFor(0.95, K, Rows * 9 / 10), SearchRecall.EfSearchFor(0.95, K, Rows * 11 / 10));
        Assert.True(largeEf > smallEf);
        Assert.Equal(Math.Max(new PostgresStoreOptions().MinEfSearch, 2 * K), await large.EfSearchAsync(null, K));
    }

    [Fact]
    public async Task SearchVectors_UnfilteredTopK_FindsNearlyAllOfTheExactTopK()
    {
        // Behaviour, not a plan: whether a planner picks the HNSW index for 1,000 rows is its own (right) choice.
        await using PostgresKnowledgeStore store = await PostgresKnowledgeStore.OpenAsync(server.ConnectionString, new EmbeddingSpace("m", 32), NewOptions());
        Corpus corpus = Corpus.Build(1000, 32, 5);
        await corpus.StoreAsync(store);

        var random = new Random(6);
        int found = 0;
        const int Queries = 20, K = 10;
        for (int q = 0; q < Queries; q++)
        {
            float[] query = ContractData.UnitVector(random, 32);
            IReadOnlyList<StoreHit> hits = await store.SearchVectorsAsync(query, K);
            Assert.Equal(K, hits.Count);
            Assert.All(hits, h => Assert.Equal(ContractData.Dot(query, h.Item.Vector.Span), h.Score, 1e-3));
            Assert.True(hits.Zip(hits.Skip(1)).All(p => p.First.Score >= p.Second.Score - 1e-6), "hits are not best first");
            found += ContractData.BruteForceTopK(corpus.Items, query, K).Intersect(hits.Select(h => h.Item.Id)).Count();
        }

        Assert.True(found >= 0.95 * Queries * K, $"recall@{K} {found / (double)(Queries * K):F3} is below 0.95");
    }

    [Fact]
    public async Task Search_WarmStore_TakesOneRoundTripPerVectorOrKeywordQuery()
    {
        PostgresStoreOptions options = NewOptions();
        await using (PostgresKnowledgeStore writer = await PostgresKnowledgeStore.OpenAsync(server.ConnectionString, Space, options))
        {
            await StoreWordsAsync(writer, "doc", "harbour lights", "granite quay", "harbour wall", "river mouth", "harbour crane", "old market");
        }

        await using var proxy = new RoundTripCountingProxy(server.WithPoolSize(1));
        await using PostgresKnowledgeStore store = await PostgresKnowledgeStore.OpenExistingAsync(proxy.ConnectionString, options);
        float[] query = ContractData.UnitVector(new Random(3), 8);
        var filter = new SearchFilter { Kind = ItemKind.TextChunk, PathPrefix = "/kb/" };
        await store.SearchVectorsAsync(query, 3); // the pool's connection opens and pgvector's types load
        Assert.Equal(3, (await store.SearchKeywordsAsync("harbour", 5)).Count);

        foreach ((string name, Func<Task> search) in (IEnumerable<(string, Func<Task>)>)
        [
            ("vector search", () => store.SearchVectorsAsync(query, 3)),
            ("filtered vector search", () => store.SearchVectorsAsync(query, 3, filter)),
            ("vector search for a recall", () => store.SearchVectorsAsync(query, 3, recall: 0.95)),
            ("vector search without vectors", () => store.SearchVectorsAsync(query, 3, null, null, includeVectors: false)),
            ("keyword search", () => store.SearchKeywordsAsync("harbour", 5, filter)),
        ])
        {
            proxy.Reset();
            await search();
            Assert.True(proxy.RoundTrips == 1, $"{name}: {proxy.RoundTrips} round trips");
        }
    }

    [Fact]
    public async Task Batch_LocalSettingThenQuery_HoldsForTheQueryAndNotAfter()
    {
        // What one-round-trip searches rely on: a batch is one implicit transaction, so set_config(…, true) in its first
        // statement holds for the next one and ends with the batch (pgvector's settings are read the same way).
        await using NpgsqlDataSource dataSource = NpgsqlDataSource.Create(server.WithPoolSize(1));
        await using NpgsqlConnection connection = await dataSource.OpenConnectionAsync();
        await using var batch = new NpgsqlBatch(connection)
        {
            BatchCommands = { new NpgsqlBatchCommand("SELECT set_config('work_mem', '7MB', true)"), new NpgsqlBatchCommand("SELECT current_setting('work_mem')") },
        };
        await using (NpgsqlDataReader reader = await batch.ExecuteReaderAsync())
        {
            Assert.True(await reader.NextResultAsync());
            Assert.True(await reader.ReadAsync());
            Assert.Equal("7MB", reader.GetString(0));
        }

        await using var after = new NpgsqlCommand("SELECT current_setting('work_mem')", connection);
        Assert.NotEqual("7MB", (string?)await after.ExecuteScalarAsync());
    }

    [Fact]
    public async Task Search_WithoutVectors_ReturnsTheSameHitsWithEmptyVectors()
    {
        await using PostgresKnowledgeStore store = await PostgresKnowledgeStore.OpenAsync(server.ConnectionString, Space, NewOptions());
        await StoreWordsAsync(store, "doc", "harbour lights", "harbour wall", "river mouth", "granite quay");
        float[] query = ContractData.UnitVector(new Random(4), 8);

        IReadOnlyList<StoreHit> full = await store.SearchVectorsAsync(query, 3);
        IReadOnlyList<StoreHit> light = await store.SearchVectorsAsync(query, 3, null, null, includeVectors: false);
        Assert.Equal(full.Select(h => (h.Item.Id, h.Item.Text, Math.Round(h.Score, 5))), light.Select(h => (h.Item.Id, h.Item.Text, Math.Round(h.Score, 5))));
        Assert.All(full, h => Assert.Equal(8, h.Item.Vector.Length));
        Assert.All(light, h => Assert.True(h.Item.Vector.IsEmpty));

        IReadOnlyList<StoreHit> keywords = await store.SearchKeywordsAsync("harbour", 5, null, includeVectors: false);
        Assert.Equal(2, keywords.Count);
        Assert.All(keywords, h => Assert.True(h.Item.Vector.IsEmpty));
    }

    [Fact]
    public async Task Open_ReadOnlySession_OpensAndSearchesAnExistingKnowledgeBase()
    {
        PostgresStoreOptions options = NewOptions();
        await using (PostgresKnowledgeStore writer = await PostgresKnowledgeStore.OpenAsync(server.ConnectionString, Space, options))
        {
            await StoreWordsAsync(writer, "doc", "harbour lights", "granite quay");
        }

        // As on a read replica: every transaction of the session is read-only, so DDL fails with 25006.
        await using SessionSettingsScope replica = await server.WithSessionSettingsAsync(("default_transaction_read_only", "on"));
        await using PostgresKnowledgeStore store = await PostgresKnowledgeStore.OpenAsync(replica.ConnectionString, Space, options);
        await AssertSearchesAsync(store);
        await using (PostgresKnowledgeStore existing = await PostgresKnowledgeStore.OpenExistingAsync(replica.ConnectionString, options))
        {
            await AssertSearchesAsync(existing);
        }

        // The session really is read-only (so the open above wrote nothing).
        KnowledgeStoreException refused = await Assert.ThrowsAsync<KnowledgeStoreException>(() => store.SetSettingAsync("k", "v"));
        Assert.Equal("25006", Assert.IsType<PostgresException>(refused.InnerException).SqlState);
    }

    [Fact]
    public async Task Open_ReadOnlySessionDuringABulkLoad_OpensWithoutTheVectorIndexAndSearchesExactly()
    {
        PostgresStoreOptions options = NewOptions();
        await using PostgresKnowledgeStore loader = await PostgresKnowledgeStore.OpenAsync(server.ConnectionString, Space, options);
        Assert.True(await loader.SuspendVectorIndexForBulkLoadAsync());
        await StoreWordsAsync(loader, "doc", "harbour lights", "granite quay");

        await using (SessionSettingsScope replica = await server.WithSessionSettingsAsync(("default_transaction_read_only", "on")))
        {
            await using PostgresKnowledgeStore store = await PostgresKnowledgeStore.OpenAsync(replica.ConnectionString, Space, options);
            await AssertSearchesAsync(store);
        }

        Assert.False(await VectorIndexExistsAsync(options.Schema)); // the load's to build
    }

    [RealServerFact("PGlite denies a role made with CREATE ROLE the catalogs (pg_range) that every client reads on connecting.")]
    public async Task Open_RoleWithOnlyUsageAndSelect_OpensAndSearches()
    {
        PostgresStoreOptions options = NewOptions();
        await using (PostgresKnowledgeStore writer = await PostgresKnowledgeStore.OpenAsync(server.ConnectionString, Space, options))
        {
            await StoreWordsAsync(writer, "doc", "harbour lights", "granite quay");
        }

        string role = "r_" + Guid.NewGuid().ToString("N")[..16];
        await server.ExecuteAsync($"CREATE ROLE {role} NOLOGIN; GRANT {role} TO CURRENT_USER; " +
            $"GRANT USAGE ON SCHEMA \"{options.Schema}\" TO {role}; GRANT SELECT ON ALL TABLES IN SCHEMA \"{options.Schema}\" TO {role}");
        try
        {
            await using SessionSettingsScope reader = await server.WithSessionSettingsAsync(("role", role));
            await using PostgresKnowledgeStore store = await PostgresKnowledgeStore.OpenAsync(reader.ConnectionString, Space, options);
            await AssertSearchesAsync(store);
            KnowledgeStoreException refused = await Assert.ThrowsAsync<KnowledgeStoreException>(() => store.SetSettingAsync("k", "v"));
            Assert.Equal("42501", Assert.IsType<PostgresException>(refused.InnerException).SqlState);
        }
        finally
        {
            await server.ExecuteAsync($"DROP OWNED BY {role}; DROP ROLE {role}");
        }
    }

    [Fact]
    public async Task Open_OlderVersionInAReadOnlySession_SaysWhatItNeeds_AndOpensWithReadOnlyAsItIs()
    {
        PostgresStoreOptions options = NewOptions();
        await CreateVersion1Async(options.Schema, ("flower", "a red flower"), ("quay", "granite quay"));

        await using (SessionSettingsScope replica = await server.WithSessionSettingsAsync(("default_transaction_read_only", "on")))
        {
            KnowledgeStoreException error = await Assert.ThrowsAsync<KnowledgeStoreException>(() =>
                PostgresKnowledgeStore.OpenAsync(replica.ConnectionString, Space, options));
            Assert.Contains($"migrating it from schema version 1 to {StoreSchema.LatestVersion}", error.Message, StringComparison.Ordinal);
            Assert.Contains("ReadOnly", error.Message, StringComparison.Ordinal);

            options.ReadOnly = true;
            await using PostgresKnowledgeStore store = await PostgresKnowledgeStore.OpenAsync(replica.ConnectionString, Space, options);
            Assert.Equal(["flower#0"], (await store.SearchKeywordsAsync("flower", 5)).Select(h => h.Item.Id)); // its own configuration, simple
            Assert.Equal(2, (await store.SearchVectorsAsync(ContractData.UnitVector(new Random(1), 8), 5)).Count);
            Assert.Equal(2, (await store.GetStatsAsync()).TextChunks);
            await Assert.ThrowsAsync<InvalidOperationException>(() => store.SetSettingAsync("k", "v"));
            await Assert.ThrowsAsync<InvalidOperationException>(() => store.UpsertDocumentAsync(ContractData.Document("d"), []));
        }

        Assert.Equal(new[] { 1 }, await VersionsAsync(options.Schema)); // nothing was migrated
    }

    [Fact]
    public async Task Open_Version1OnSimple_MovesKeywordsToEnglishStemmingAndReleasesClaimsOfDeletedDocuments()
    {
        PostgresStoreOptions options = NewOptions();
        await CreateVersion1Async(options.Schema, ("flower", "a red flower"), ("quay", "granite quay"));
        // Version 1 kept a deleted document's completed claim; only the document table said it was gone.
        await server.ExecuteAsync($"INSERT INTO \"{options.Schema}\".ingestion_claims VALUES ('gone', 'h', 'a', now(), now(), now())");

        await using PostgresKnowledgeStore store = await PostgresKnowledgeStore.OpenAsync(server.ConnectionString, Space, options);
        Assert.Equal(Enumerable.Range(1, StoreSchema.LatestVersion), await VersionsAsync(options.Schema));
        Assert.Equal(["flower#0"], (await store.SearchKeywordsAsync("flowers", 5)).Select(h => h.Item.Id));
        Assert.True(await store.TryClaimAsync("gone", "h", "b", TimeSpan.FromMinutes(5)));

        await using PostgresKnowledgeStore reopened = await PostgresKnowledgeStore.OpenExistingAsync(server.ConnectionString, options);
        Assert.Equal(["flower#0"], (await reopened.SearchKeywordsAsync("flowers", 5)).Select(h => h.Item.Id));
    }

    [Fact]
    public async Task Open_Version1OnSimple_WithSimpleAsked_KeepsSimple()
    {
        PostgresStoreOptions options = NewOptions();
        options.TextSearchConfiguration = StoreSchema.Simple;
        await CreateVersion1Async(options.Schema, ("flower", "a red flower"));

        await using PostgresKnowledgeStore store = await PostgresKnowledgeStore.OpenAsync(server.ConnectionString, Space, options);
        Assert.Equal(Enumerable.Range(1, StoreSchema.LatestVersion), await VersionsAsync(options.Schema));
        Assert.Empty(await store.SearchKeywordsAsync("flowers", 5));
        Assert.Equal(["flower#0"], (await store.SearchKeywordsAsync("flower", 5)).Select(h => h.Item.Id));
    }

    /// <summary>A knowledge base as version 1 of the schema made it (text search configuration simple), with one text item per (document id, text).</summary>
    private async Task CreateVersion1Async(string schema, params (string Id, string Text)[] documents)
    {
        var context = new StoreSchema.Context(schema, Space, StoreSchema.Simple, StoreSchema.Simple, 16, 32);
        string s = StoreSchema.Identifier(schema);
        var sql = new System.Text.StringBuilder();
        sql.Append("CREATE EXTENSION IF NOT EXISTS vector; ").Append(StoreSchema.CreateSchema(schema)).Append("; ")
            .Append(StoreSchema.CreateMigrationsTable(schema)).Append("; ").Append(StoreSchema.Migrations[0].Sql(context))
            .Append($"; INSERT INTO {s}.schema_migrations (version, description) VALUES (1, 'version 1');");
        var random = new Random(1);
        foreach ((string id, string text) in documents)
        {
            string vector = "[" + string.Join(",", ContractData.UnitVector(random, 8).Select(v => v.ToString("R", System.Globalization.CultureInfo.InvariantCulture))) + "]";
            sql.Append($"INSERT INTO {s}.documents (id, source_path, content_hash, media_type, item_count, ingested_at) VALUES ('{id}', '/kb/{id}.txt', 'h-{id}', 'text/plain', 1, now());")
                .Append($"INSERT INTO {s}.items (id, document_id, kind, content_hash, text, source_path, position, embedding) VALUES ('{id}#0', '{id}', 'text', 'c-{id}', '{text}', '/kb/{id}.txt', 0, '{vector}');");
        }

        await server.ExecuteAsync(sql.ToString());
    }

    private async Task<int[]> VersionsAsync(string schema)
    {
        await using NpgsqlDataSource dataSource = NpgsqlDataSource.Create(server.WithPoolSize(1));
        await using NpgsqlConnection connection = await dataSource.OpenConnectionAsync();
        await using var command = new NpgsqlCommand($"SELECT array_agg(version ORDER BY version) FROM \"{schema}\".schema_migrations", connection);
        return (int[])(await command.ExecuteScalarAsync())!;
    }

    /// <summary>Stores one document with a text item per text (vectors seeded by the document id's length).</summary>
    private static async Task StoreWordsAsync(IKnowledgeStore store, string documentId, params string[] texts)
    {
        var random = new Random(documentId.Length);
        DocumentRecord document = ContractData.Document(documentId);
        await store.UpsertDocumentAsync(document, [.. texts.Select((text, i) => ContractData.Item(document, i, ContractData.UnitVector(random, 8), text))]);
    }

    /// <summary>The store written by <see cref="StoreWordsAsync"/> with "harbour lights" and "granite quay" answers searches and stats.</summary>
    private static async Task AssertSearchesAsync(PostgresKnowledgeStore store)
    {
        Assert.Equal(Space, store.Space);
        Assert.Equal(["doc#0"], (await store.SearchKeywordsAsync("harbour", 5)).Select(h => h.Item.Id));
        Assert.Equal(2, (await store.SearchVectorsAsync(ContractData.UnitVector(new Random(2), 8), 5)).Count);
        Assert.Equal((1, 2), ((await store.GetStatsAsync()).Documents, (await store.GetStatsAsync()).TextChunks));
        Assert.NotNull(await store.GetItemAsync("doc#1"));
    }

    [Fact]
    public async Task BulkLoad_IntoAnEmptyKnowledgeBase_DropsTheVectorIndexUntilBuiltAgain_NeverWhenItemsExist()
    {
        PostgresStoreOptions options = NewOptions();
        var space = new EmbeddingSpace("m", 32);
        await using PostgresKnowledgeStore store = await PostgresKnowledgeStore.OpenAsync(server.ConnectionString, space, options);
        Corpus corpus = Corpus.Build(600, 32, 9);

        Assert.True(await store.SuspendVectorIndexForBulkLoadAsync());
        Assert.False(await VectorIndexExistsAsync(options.Schema));
        await corpus.StoreAsync(store);
        float[] query = ContractData.UnitVector(new Random(10), 32);
        Assert.Equal(ContractData.BruteForceTopK(corpus.Items, query, 10), (await store.SearchVectorsAsync(query, 10)).Select(h => h.Item.Id)); // exact meanwhile

        await store.BuildVectorIndexAsync();
        Assert.True(await VectorIndexExistsAsync(options.Schema));
        Assert.Equal(10, (await store.SearchVectorsAsync(query, 10)).Count);

        Assert.False(await store.SuspendVectorIndexForBulkLoadAsync()); // it holds items now: their searches keep the index
        Assert.True(await VectorIndexExistsAsync(options.Schema));
    }

    [Fact]
    public async Task Open_AfterABulkLoadDiedWithoutItsIndex_BuildsTheIndexAgain()
    {
        PostgresStoreOptions options = NewOptions();
        await using (PostgresKnowledgeStore loader = await PostgresKnowledgeStore.OpenAsync(server.ConnectionString, Space, options))
        {
            Assert.True(await loader.SuspendVectorIndexForBulkLoadAsync());
            await loader.UpsertDocumentAsync(ContractData.Document("d"), [ContractData.Item(ContractData.Document("d"), 0, ContractData.UnitVector(new Random(1), 8))]);
        } // the loader "dies" here, before BuildVectorIndexAsync

        Assert.False(await VectorIndexExistsAsync(options.Schema));
        await (await PostgresKnowledgeStore.OpenExistingAsync(server.ConnectionString, options)).DisposeAsync();
        Assert.True(await VectorIndexExistsAsync(options.Schema));
    }

    private async Task<bool> VectorIndexExistsAsync(string schema)
    {
        await using NpgsqlDataSource dataSource = NpgsqlDataSource.Create(server.WithPoolSize(1));
        await using NpgsqlConnection connection = await dataSource.OpenConnectionAsync();
        await using var command = new NpgsqlCommand("SELECT to_regclass($1) IS NOT NULL", connection);
        command.Parameters.Add(new NpgsqlParameter { Value = $"\"{schema}\".items_embedding" });
        return (bool)(await command.ExecuteScalarAsync())!;
    }

    [Fact]
    public async Task OpenExisting_UsesTheStoredSpace_AndFailsWhereThereIsNone()
    {
        PostgresStoreOptions options = NewOptions();
        await (await PostgresKnowledgeStore.OpenAsync(server.ConnectionString, Space, options)).DisposeAsync();
        await using (PostgresKnowledgeStore existing = await PostgresKnowledgeStore.OpenExistingAsync(server.ConnectionString, options))
        {
            Assert.Equal(Space, existing.Space);
        }

        KnowledgeStoreException error = await Assert.ThrowsAsync<KnowledgeStoreException>(() =>
            PostgresKnowledgeStore.OpenExistingAsync(server.ConnectionString, NewOptions()));
        Assert.Contains("postgres store", error.Message, StringComparison.Ordinal);
        Assert.Contains("no knowledge base", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task TwoSchemas_InOneDatabase_AreSeparateKnowledgeBases()
    {
        await using PostgresKnowledgeStore a = await PostgresKnowledgeStore.OpenAsync(server.ConnectionString, Space, NewOptions());
        await using PostgresKnowledgeStore b = await PostgresKnowledgeStore.OpenAsync(server.ConnectionString, new EmbeddingSpace("other", 4), NewOptions());
        DocumentRecord doc = ContractData.Document("doc");
        await a.UpsertDocumentAsync(doc, [ContractData.Item(doc, 0, ContractData.UnitVector(new Random(1), 8), "alpha")]);
        Assert.Null(await b.GetDocumentAsync("doc"));
        Assert.Single(await a.SearchKeywordsAsync("alpha", 5));
        Assert.Empty(await b.SearchKeywordsAsync("alpha", 5));
    }

    [Fact]
    public async Task Open_UnreachableServer_ThrowsKnowledgeStoreExceptionNamingTheBackend()
    {
        string unreachable = new NpgsqlConnectionStringBuilder(server.ConnectionString) { Host = "127.0.0.1", Port = 1, Timeout = 2 }.ConnectionString;
        KnowledgeStoreException error = await Assert.ThrowsAsync<KnowledgeStoreException>(() =>
            PostgresKnowledgeStore.OpenAsync(unreachable, Space, NewOptions()));
        Assert.Contains("postgres store at 127.0.0.1:1", error.Message, StringComparison.Ordinal);
        Assert.Contains("opening", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Filter_ValuesThatLookLikeSql_AreParametersNotSql()
    {
        await using PostgresKnowledgeStore store = await PostgresKnowledgeStore.OpenAsync(server.ConnectionString, Space, NewOptions());
        DocumentRecord doc = ContractData.Document("doc'; DROP TABLE items; --", "/kb/o'brien/a.txt", tags: ["it's"]);
        KnowledgeItem item = ContractData.Item(doc, 0, ContractData.UnitVector(new Random(2), 8), "quote", tags: ["it's"]);
        await store.UpsertDocumentAsync(doc, [item]);
        var filter = new SearchFilter { DocumentIds = [doc.Id], PathPrefix = "/kb/o'brien/", Tags = ["it's"], ExcludeContentHashes = ["'"] };
        Assert.Equal([item.Id], (await store.SearchVectorsAsync(item.Vector, 5, filter)).Select(h => h.Item.Id));
        Assert.Equal([item.Id], (await store.SearchKeywordsAsync("quote", 5, filter)).Select(h => h.Item.Id));
    }

    [Fact]
    public void FilterTranslator_EveryField_AddsOneParameterEachAndNoValueToTheSql()
    {
        using var command = new NpgsqlCommand();
        command.Parameters.Add(new NpgsqlParameter { Value = 1 });
        string sql = PostgresFilterTranslator.Translate(new SearchFilter
        {
            Kind = ItemKind.Image, DocumentIds = ["d'1"], PathPrefix = "/p'", Tags = ["t'"], ExcludeContentHashes = ["h'"],
        }, command);
        Assert.Equal("i.kind = $2 AND i.document_id = ANY($3) AND starts_with(i.source_path, $4) AND i.tags @> $5 AND NOT (i.content_hash = ANY($6))", sql);
        Assert.Equal(6, command.Parameters.Count);
        Assert.Equal("TRUE", PostgresFilterTranslator.Translate(new SearchFilter { PathPrefix = "", Tags = [] }, command));
    }

    [Fact]
    public void KeywordQuery_UserText_BecomesWordsJoinedByOr()
    {
        Assert.Equal("red or AND or lighthouse", PostgresKnowledgeStore.KeywordQuery("\"red\" AND (lighthouse)"));
        Assert.Equal("it or s or red", PostgresKnowledgeStore.KeywordQuery("it's red OR red"));
        Assert.Null(PostgresKnowledgeStore.KeywordQuery("- ( ) : * \" 🙂"));
    }

    [Fact]
    public void Options_InvalidSetting_ThrowsNamingIt()
    {
        ArgumentOutOfRangeException error = Assert.Throws<ArgumentOutOfRangeException>(() => new PostgresStoreOptions { MinEfSearch = 0 }.Validate());
        Assert.Equal(nameof(PostgresStoreOptions.MinEfSearch), error.ParamName);
        Assert.Throws<ArgumentOutOfRangeException>(() => new ServiceCollection().AddPostgresKnowledgeStore("Host=x", Space, o => o.Schema = ""));
    }

    [Fact]
    public async Task AddPostgresKnowledgeStore_ResolvesOneStoreAsEveryInterface()
    {
        PostgresStoreOptions options = NewOptions();
        ServiceProvider provider = new ServiceCollection()
            .AddPostgresKnowledgeStore(server.ConnectionString, Space, o => o.Schema = options.Schema)
            .BuildServiceProvider();
        await using (provider)
        {
            PostgresKnowledgeStore store = provider.GetRequiredService<PostgresKnowledgeStore>();
            Assert.Same(store, provider.GetRequiredService<IKnowledgeStore>());
            Assert.Same(store, provider.GetRequiredService<IIngestionWorkClaims>());
            Assert.Equal(Space, store.Space);
        }
    }
}
