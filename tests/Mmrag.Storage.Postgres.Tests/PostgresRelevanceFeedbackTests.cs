using Mmrag.Knowledge;
using Mmrag.Storage.ContractTests;
using Mmrag.Storage.Postgres.Sql;

namespace Mmrag.Storage.Postgres.Tests;

/// <summary>What PostgreSQL's feedback does beyond the contract: the migration of a knowledge base from before it, read-only opens.</summary>
[Collection(PostgresCollection.Name)]
public sealed class PostgresRelevanceFeedbackTests(PostgresTestServer server) : IAsyncLifetime
{
    private static readonly EmbeddingSpace Space = new("feedback-model", 8);
    private readonly string _schema = PostgresTestServer.NewSchema();

    public Task InitializeAsync() => Task.CompletedTask;

    public Task DisposeAsync() => server.DropSchemasAsync([_schema]);

    private PostgresStoreOptions Options(bool readOnly = false) => new() { Schema = _schema, ReadOnly = readOnly };

    private static RelevanceJudgement Judgement(string id) =>
        new(id, FeedbackQueryModality.Text, "a red flower", null, ContractData.UnitVector(new Random(id.Length), Space.Dimension), "flower#0", true,
            Space.ModelId, "api", ContractData.Time);

    /// <summary>A knowledge base with one document, taken back to schema version 3 (before feedback).</summary>
    private async Task CreateVersion3Async()
    {
        await using (PostgresKnowledgeStore store = await PostgresKnowledgeStore.OpenAsync(server.ConnectionString, Space, Options()))
        {
            DocumentRecord document = ContractData.Document("flower");
            await store.UpsertDocumentAsync(document, [ContractData.Item(document, 0, ContractData.UnitVector(new Random(1), Space.Dimension), "a red flower")]);
        }

        await server.ExecuteAsync($"DROP TABLE \"{_schema}\".relevance_feedback; " +
            $"DELETE FROM \"{_schema}\".schema_migrations WHERE version >= {StoreSchema.FeedbackVersion}");
    }

    [Fact]
    public async Task Open_Version3KnowledgeBase_AddsTheFeedbackTableAndKeepsItsItems()
    {
        await CreateVersion3Async();

        await using PostgresKnowledgeStore store = await PostgresKnowledgeStore.OpenAsync(server.ConnectionString, Space, Options());
        await store.AddJudgementAsync(Judgement("j"));

        Assert.Equal("j", Assert.Single(await store.ListJudgementsAsync()).Id);
        Assert.Equal(["flower#0"], (await store.SearchKeywordsAsync("flower", 5)).Select(h => h.Item.Id));
        Assert.Equal(1, (await store.GetStatsAsync()).TextChunks);
    }

    [Fact]
    public async Task ReadOnlyOpen_Version3KnowledgeBase_FeedbackSaysItPredatesFeedbackAndHowToUpgrade()
    {
        await CreateVersion3Async();

        await using PostgresKnowledgeStore store = await PostgresKnowledgeStore.OpenAsync(server.ConnectionString, Space, Options(readOnly: true));

        KnowledgeStoreException error = await Assert.ThrowsAsync<KnowledgeStoreException>(() => store.ListJudgementsAsync());
        Assert.Contains("predates relevance feedback", error.Message, StringComparison.Ordinal);
        Assert.Contains("without ReadOnly", error.Message, StringComparison.Ordinal);
        Assert.Equal(["flower#0"], (await store.SearchKeywordsAsync("flower", 5)).Select(h => h.Item.Id)); // the rest still reads
    }

    [Fact]
    public async Task ReadOnlyOpen_CurrentKnowledgeBase_ListsFeedbackAndRefusesEveryChange()
    {
        await using (PostgresKnowledgeStore writer = await PostgresKnowledgeStore.OpenAsync(server.ConnectionString, Space, Options()))
        {
            await writer.AddJudgementAsync(Judgement("kept"));
        }

        await using PostgresKnowledgeStore store = await PostgresKnowledgeStore.OpenAsync(server.ConnectionString, Space, Options(readOnly: true));

        Assert.Equal("kept", Assert.Single(await store.ListJudgementsAsync()).Id);
        InvalidOperationException add = await Assert.ThrowsAsync<InvalidOperationException>(() => store.AddJudgementAsync(Judgement("new")));
        Assert.Contains("read-only", add.Message, StringComparison.Ordinal);
        await Assert.ThrowsAsync<InvalidOperationException>(() => store.RemoveJudgementAsync("kept"));
        await Assert.ThrowsAsync<InvalidOperationException>(() => store.ClearJudgementsAsync());
        Assert.Equal("kept", Assert.Single(await store.ListJudgementsAsync()).Id);
    }
}
