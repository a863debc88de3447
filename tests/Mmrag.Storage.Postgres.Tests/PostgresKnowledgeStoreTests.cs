using Microsoft.Extensions.DependencyInjection;
using Mmrag.Knowledge;
using Mmrag.Storage.ContractTests;
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
        Assert.Equal(new[] { 1 }, versions);
    }

    [Fact]
    public async Task SearchVectors_UnfilteredTopK_UsesTheHnswIndex()
    {
        PostgresStoreOptions options = NewOptions();
        await using PostgresKnowledgeStore store = await PostgresKnowledgeStore.OpenAsync(server.ConnectionString, new EmbeddingSpace("m", 32), options);
        await Corpus.Build(1000, 32, 5).StoreAsync(store);

        var builder = new NpgsqlDataSourceBuilder(server.WithPoolSize(1));
        builder.UseVector();
        await using NpgsqlDataSource dataSource = builder.Build();
        await using NpgsqlConnection connection = await dataSource.OpenConnectionAsync();
        await using var command = new NpgsqlCommand(
            $"EXPLAIN SELECT id FROM \"{options.Schema}\".items i ORDER BY i.embedding <#> $1 LIMIT 10", connection);
        command.Parameters.Add(new NpgsqlParameter { Value = new Pgvector.Vector(ContractData.UnitVector(new Random(6), 32)) });
        var plan = new List<string>();
        await using (NpgsqlDataReader reader = await command.ExecuteReaderAsync())
        {
            while (await reader.ReadAsync())
            {
                plan.Add(reader.GetString(0));
            }
        }

        Assert.Contains(plan, line => line.Contains("items_embedding", StringComparison.Ordinal));
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
