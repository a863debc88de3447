using System.Diagnostics;
using System.Text.Json;
using Mmrag.Ingestion.Pipeline;
using Mmrag.Knowledge;
using Mmrag.Storage.Embedded;
using Mmrag.Testing;

namespace Mmrag.Storage.Postgres.Tests;

/// <summary>
/// Migrating an embedded knowledge base into PostgreSQL keeps every item and gives the same search results: through the
/// library, and through <c>mmrag kb migrate</c> as a user runs it.
/// </summary>
[Collection(PostgresCollection.Name)]
public sealed class KnowledgeStoreTransferTests(PostgresTestServer server) : IAsyncLifetime
{
    private readonly string _folder = Path.Combine(Path.GetTempPath(), "mmrag-migrate-" + Guid.NewGuid().ToString("N"));
    private readonly string _schema = PostgresTestServer.NewSchema();

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync()
    {
        await server.DropSchemasAsync([_schema]);
        if (Directory.Exists(_folder))
        {
            Directory.Delete(_folder, recursive: true);
        }
    }

    [Fact]
    public async Task CopyAsync_EmbeddedToPostgres_RoundTripsDocumentsItemsAndSearchResults()
    {
        var space = new EmbeddingSpace("synthetic-48", 48);
        var random = new Random(11);
        await using var source = await EmbeddedKnowledgeStore.OpenAsync(_folder, space);
        for (var d = 0; d < 12; d++)
        {
            var documentId = $"doc{d:D2}";
            var items = Enumerable.Range(0, 1 + d % 5).Select(i => new KnowledgeItem
            {
                Id = $"{documentId}-{i}",
                DocumentId = documentId,
                Kind = i % 2 == 0 ? ItemKind.TextChunk : ItemKind.Image,
                ContentHash = $"{d:x2}{i:x2}".PadRight(64, '0'),
                Text = $"document {d} item {i} about {(d % 3 == 0 ? "gardens" : "storms")}",
                ImagePath = i % 2 == 0 ? null : $"/photos/{d}-{i}.jpg",
                Provenance = new Provenance($"/kb/{documentId}.md", Page: i + 1, Section: "Intro", Position: i),
                Vector = RandomUnit(random, space.Dimension),
            }).ToList();
            await source.UpsertDocumentAsync(new DocumentRecord(documentId, $"/kb/{documentId}.md", $"{d:x64}", "text/markdown", $"Doc {d}", items.Count, DateTimeOffset.UnixEpoch), items);
        }

        await source.RecordFailureAsync(new IngestionFailure("/kb/broken.pdf", "truncated", null, DateTimeOffset.UnixEpoch));
        await using var target = await PostgresKnowledgeStore.OpenAsync(server.ConnectionString, space, new PostgresStoreOptions { Schema = _schema });

        var summary = await KnowledgeStoreTransfer.CopyAsync(source, target);

        var expectedItems = Enumerable.Range(0, 12).Sum(d => 1 + d % 5);
        Assert.Equal(new KnowledgeStoreTransferSummary(12, expectedItems, 1), summary);
        var sourceStats = await source.GetStatsAsync();
        var targetStats = await target.GetStatsAsync();
        Assert.Equal((sourceStats.Documents, sourceStats.TextChunks, sourceStats.Images, sourceStats.Failures),
            (targetStats.Documents, targetStats.TextChunks, targetStats.Images, targetStats.Failures));
        for (var q = 0; q < 5; q++)
        {
            var query = RandomUnit(random, space.Dimension);
            var fromSource = await source.SearchVectorsAsync(query, 5);
            var fromTarget = await target.SearchVectorsAsync(query, 5);
            Assert.Equal(fromSource.Select(static h => h.Item.Id), fromTarget.Select(static h => h.Item.Id));
            Assert.Equal(fromSource.Select(static h => h.Score), fromTarget.Select(static h => h.Score), static (a, b) => Math.Abs(a - b) < 1e-4);
        }

        var keyword = await target.SearchKeywordsAsync("gardens", 50);
        Assert.Equal(Enumerable.Range(0, 12).Where(d => d % 3 == 0).Sum(d => 1 + d % 5), keyword.Count);
        var copied = await target.GetItemAsync("doc04-1");
        Assert.NotNull(copied);
        Assert.Equal("/photos/4-1.jpg", copied.ImagePath);
        Assert.Equal(2, copied.Provenance.Page);
    }

    [Fact]
    public async Task Migrate_SampleKnowledgeBase_PostgresReturnsTheSameSearchResults()
    {
        // What a user runs: the sample knowledge base through the real CLI, copied, then searched through both stores.
        string kb = Path.Combine(_folder, "kb");
        string samples = Path.Combine(ClipFixtureLocator.RepositoryRoot, "samples", "kb");
        string connection = server.WithPoolSize(3);
        await MmragAsync("ingest", samples, "--kb", kb, "--model", ClipFixtureLocator.ModelDirectory);
        await using (EmbeddedKnowledgeStore embeddedStore = await EmbeddedKnowledgeStore.OpenExistingAsync(kb))
        {
            // A judgement from the page: migrated with the rest, vector and all.
            await embeddedStore.AddJudgementAsync(new RelevanceJudgement("judged", FeedbackQueryModality.Text, "a flower", null,
                RandomUnit(new Random(7), embeddedStore.Space.Dimension), "any-item", true, embeddedStore.Space.ModelId, "page", DateTimeOffset.UtcNow));
        }

        // No --schema: kb migrate takes MMRAG_PG_SCHEMA, as every other command does.
        using Process migrate = MmragProcess.Start(new Dictionary<string, string?> { ["MMRAG_PG_SCHEMA"] = _schema }, "kb", "migrate", "--from", kb, "--to", connection);
        (int migrated, string copied) = await MmragProcess.FinishAsync(migrate, TimeSpan.FromMinutes(3));
        Assert.True(migrated == 0, copied);
        Assert.Contains("copied 16 documents", copied, StringComparison.Ordinal);
        Assert.Contains($"schema {_schema}", copied, StringComparison.Ordinal);
        string feedback = await MmragAsync("kb", "feedback", "--store", "postgres", "--connection", connection, "--schema", _schema, "--format", "json");
        Assert.Contains("\"id\":\"judged\"", feedback, StringComparison.Ordinal);

        string[][] queries =
        [
            ["--text", "a flower in the garden"],
            ["--text", "wooden workbench"],
            ["--image", Path.Combine(samples, "photos", "garden.jpg")],
        ];
        foreach (string[] query in queries)
        {
            string[] common = ["search", .. query, "--no-hybrid", "--threshold", "0", "--k", "8", "--format", "json"];
            string[] embedded = HitIds(await MmragAsync([.. common, "--kb", kb]));
            string[] postgres = HitIds(await MmragAsync([.. common, "--store", "postgres", "--connection", connection, "--schema", _schema]));
            Assert.NotEmpty(embedded);
            Assert.Equal(embedded, postgres);
        }
    }

    private static string[] HitIds(string json)
    {
        using JsonDocument document = JsonDocument.Parse(json);
        return [.. document.RootElement.GetProperty("hits").EnumerateArray().Select(static h => h.GetProperty("id").GetString()!)];
    }

    private static async Task<string> MmragAsync(params string[] args)
    {
        (int exitCode, string output) = await MmragProcess.RunAsync(args);
        Assert.True(exitCode == 0, $"mmrag {string.Join(' ', args)} exited with {exitCode}: {output}");
        return output;
    }

    private static float[] RandomUnit(Random random, int dimension)
    {
        var vector = new float[dimension];
        var norm = 0.0;
        for (var i = 0; i < dimension; i++)
        {
            vector[i] = (float)(random.NextDouble() * 2 - 1);
            norm += vector[i] * vector[i];
        }

        for (var i = 0; i < dimension; i++)
        {
            vector[i] /= (float)Math.Sqrt(norm);
        }

        return vector;
    }
}
