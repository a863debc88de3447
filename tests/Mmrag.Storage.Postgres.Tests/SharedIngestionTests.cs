using System.Diagnostics;
using Microsoft.Extensions.AI;
using Mmrag.Clip.Inference;
using Mmrag.Ingestion.Chunking;
using Mmrag.Ingestion.Loaders;
using Mmrag.Ingestion.Pipeline;
using Mmrag.Knowledge;
using Mmrag.Testing;
using SkiaSharp;

namespace Mmrag.Storage.Postgres.Tests;

/// <summary>
/// Several ingesters on one PostgreSQL knowledge base, through the real pipeline and tiny CLIP model, and through
/// separate <c>mmrag ingest</c> processes: the files are split between them, and every item is stored exactly once.
/// </summary>
[Collection(PostgresCollection.Name)]
public sealed class SharedIngestionTests(PostgresTestServer server) : IAsyncLifetime, IDisposable
{
    private static readonly Lazy<ClipModel> Model = new(() => ClipModel.Load(ClipFixtureLocator.ModelDirectory));
    private readonly string _schema = PostgresTestServer.NewSchema();
    private readonly string _folder = Path.Combine(Path.GetTempPath(), "mmrag-shared-ingest-" + Guid.NewGuid().ToString("N"));

    public Task InitializeAsync()
    {
        Directory.CreateDirectory(_folder);
        return Task.CompletedTask;
    }

    public Task DisposeAsync() => server.DropSchemasAsync([_schema]);

    public void Dispose()
    {
        if (Directory.Exists(_folder))
        {
            Directory.Delete(_folder, recursive: true);
        }
    }

    private Task<PostgresKnowledgeStore> OpenAsync() =>
        PostgresKnowledgeStore.OpenAsync(server.WithPoolSize(4), new EmbeddingSpace(Model.Value.ModelId, Model.Value.Dimension),
            new PostgresStoreOptions { Schema = _schema });

    private static IngestionPipeline Pipeline(PostgresKnowledgeStore store) =>
        new(store, new ClipTextEmbeddingGenerator(Model.Value), new ClipImageEmbeddingGenerator(Model.Value),
            LoaderRegistry.CreateDefault(new TextChunker(text => Model.Value.Tokenizer.EncodeToIds(text).Length)));

    /// <summary>A pipeline whose first embedding waits for <paramref name="arrival"/> (see <c>Rendezvous</c>).</summary>
    private static IngestionPipeline Pipeline(PostgresKnowledgeStore store, Func<Task> arrival) =>
        new(store, new WaitingEmbeddingGenerator<string>(new ClipTextEmbeddingGenerator(Model.Value), arrival),
            new WaitingEmbeddingGenerator<DataContent>(new ClipImageEmbeddingGenerator(Model.Value), arrival),
            LoaderRegistry.CreateDefault(new TextChunker(text => Model.Value.Tokenizer.EncodeToIds(text).Length)));

    [Fact]
    public async Task TwoPipelines_SameFolder_SplitTheFilesAndStoreEachOnce()
    {
        WriteFolder(texts: 40, images: 40);
        await using PostgresKnowledgeStore first = await OpenAsync();
        await using PostgresKnowledgeStore second = await OpenAsync();

        // Neither embeds until both have claimed work (see Rendezvous).
        var meeting = new Rendezvous(2);
        var options = new IngestionOptions { EmbeddingBatchSize = 8 };
        IngestionSummary[] runs = await Task.WhenAll(
            Task.Run(() => Pipeline(first, meeting.Arrival(0)).IngestAsync([_folder], options)),
            Task.Run(() => Pipeline(second, meeting.Arrival(1)).IngestAsync([_folder], options)));

        Assert.All(runs, r => Assert.Equal((0, 0), (r.Failed, r.Replaced)));
        Assert.All(runs, r => Assert.Equal(80, r.Added + r.Unchanged + r.ClaimedElsewhere));
        Assert.Equal(80, runs.Sum(r => r.Added)); // no file was ingested twice
        Assert.All(runs, r => Assert.True(r.Added > 0, $"one pipeline did nothing: {string.Join(" / ", runs.Select(x => x.Added))} added"));
        KnowledgeBaseStats stats = await first.GetStatsAsync();
        Assert.Equal((80, 40, 40), (stats.Documents, stats.TextChunks, stats.Images));
        Assert.Equal(runs.Sum(r => r.Items), stats.TextChunks + stats.Images);
    }

    [Fact]
    public async Task Pipeline_FileHeldByACrashedIngester_IsLeftUntilTheLeaseRunsOut()
    {
        WriteFolder(texts: 3, images: 0);
        await using PostgresKnowledgeStore store = await OpenAsync();
        string held = Path.Combine(_folder, "note_001.txt");
        string hash = DocumentIds.Sha256Hex(await File.ReadAllBytesAsync(held));
        Assert.True(await store.TryClaimAsync(DocumentIds.ForPath(held), hash, "crashed-ingester", TimeSpan.FromSeconds(2)));

        IngestionSummary during = await Pipeline(store).IngestAsync([_folder]);
        Assert.Equal((2, 1), (during.Added, during.ClaimedElsewhere));
        Assert.Null(await store.GetDocumentAsync(DocumentIds.ForPath(held)));

        await Task.Delay(TimeSpan.FromSeconds(2.5));
        IngestionSummary after = await Pipeline(store).IngestAsync([_folder]);
        Assert.Equal((1, 2, 0), (after.Added, after.Unchanged, after.ClaimedElsewhere));
        Assert.NotNull(await store.GetDocumentAsync(DocumentIds.ForPath(held)));
    }

    [Fact]
    public async Task Pipeline_EmbeddingLongerThanTheLease_RenewsItsClaimSoNoOtherIngesterTakesTheFile()
    {
        WriteFolder(texts: 1, images: 0);
        string file = Path.Combine(_folder, "note_000.txt");
        string hash = DocumentIds.Sha256Hex(await File.ReadAllBytesAsync(file));
        await using PostgresKnowledgeStore store = await OpenAsync();
        var slowText = new SlowTextEmbeddingGenerator(new ClipTextEmbeddingGenerator(Model.Value), TimeSpan.FromSeconds(3));
        var pipeline = new IngestionPipeline(store, slowText, new ClipImageEmbeddingGenerator(Model.Value),
            LoaderRegistry.CreateDefault(new TextChunker(text => Model.Value.Tokenizer.EncodeToIds(text).Length)));

        Task<IngestionSummary> run = pipeline.IngestAsync([_folder], new IngestionOptions { ClaimLease = TimeSpan.FromSeconds(1) });
        await slowText.Started.Task;
        await Task.Delay(TimeSpan.FromSeconds(1.8)); // past the first lease: only a renewal keeps the claim
        Assert.False(await store.TryClaimAsync(DocumentIds.ForPath(file), hash, "another-ingester", TimeSpan.FromMinutes(1)));

        Assert.Equal(1, (await run).Added);
        Assert.False(await store.TryClaimAsync(DocumentIds.ForPath(file), hash, "another-ingester", TimeSpan.FromMinutes(1))); // stored: done
    }

    [Fact]
    public async Task Pipeline_WithClaims_StillReingestsNewDescriptionsDeletedDocumentsAndFailedFiles()
    {
        WriteFolder(texts: 2, images: 2);
        string broken = Path.Combine(_folder, "broken.png");
        await File.WriteAllBytesAsync(broken, [0x89, 0x50, 0x4E, 0x47, 1, 2, 3]);
        await using PostgresKnowledgeStore store = await OpenAsync();
        IngestionSummary first = await Pipeline(store).IngestAsync([_folder]);
        Assert.Equal((4, 1), (first.Added, first.Failed));

        // The same bytes with a new description are a new version; a deleted document is work again; a failed file is tried again.
        await File.WriteAllTextAsync(Path.Combine(_folder, "image_000.txt"), "A new description of the first square.");
        Assert.True(await store.DeleteDocumentAsync(DocumentIds.ForPath(Path.Combine(_folder, "note_000.txt"))));
        IngestionSummary second = await Pipeline(store).IngestAsync([_folder]);
        Assert.Equal((1, 1, 2, 1, 0), (second.Added, second.Replaced, second.Unchanged, second.Failed, second.ClaimedElsewhere));
        KnowledgeItem? image = await store.GetItemAsync(DocumentIds.ForItem(DocumentIds.ForPath(Path.Combine(_folder, "image_000.png")), 0,
            DocumentIds.Sha256Hex(await File.ReadAllBytesAsync(Path.Combine(_folder, "image_000.png")))));
        Assert.Equal("A new description of the first square.", image?.Description);
    }

    [Fact]
    public async Task TwoMmragIngestProcesses_SameFolder_SplitTheFilesAndStoreEachItemOnce()
    {
        WriteFolder(texts: 60, images: 90);
        string connection = server.WithPoolSize(3);

        using Process a = MmragProcess.Start(null, "ingest", _folder, "--store", "postgres", "--connection", connection, "--schema", _schema,
            "--model", ClipFixtureLocator.ModelDirectory);
        using Process b = MmragProcess.Start(null, "ingest", _folder, "--store", "postgres", "--connection", connection, "--schema", _schema,
            "--model", ClipFixtureLocator.ModelDirectory);
        (int ExitCode, string Output)[] results = await Task.WhenAll(
            MmragProcess.FinishAsync(a, TimeSpan.FromMinutes(4)), MmragProcess.FinishAsync(b, TimeSpan.FromMinutes(4)));

        Assert.All(results, r => Assert.True(r.ExitCode == 0, r.Output));
        int[] added = [.. results.Select(r => Count(r.Output, "added"))];
        Assert.All(results, r => Assert.Equal(0, Count(r.Output, "replaced")));
        // Each file once; how the files fell between the processes depends on when the system started each (one
        // started late under load may find everything claimed), so the split itself is proven in-process above.
        Assert.Equal(150, added.Sum());

        await using PostgresKnowledgeStore store = await OpenAsync();
        KnowledgeBaseStats stats = await store.GetStatsAsync();
        Assert.Equal((150, 60, 90), (stats.Documents, stats.TextChunks, stats.Images));
    }

    /// <summary>Small text files (one chunk each) and distinct PNG squares, each with a <c>.txt</c> description sidecar.</summary>
    private void WriteFolder(int texts, int images)
    {
        for (int i = 0; i < texts; i++)
        {
            File.WriteAllText(Path.Combine(_folder, $"note_{i:D3}.txt"), $"Field note {i}: the heron number {i} stood by the river at dawn.");
        }

        for (int i = 0; i < images; i++)
        {
            using var bitmap = new SKBitmap(48, 40);
            bitmap.Erase(new SKColor((byte)(i * 37), (byte)(255 - (i * 11)), (byte)(i * 5)));
            using var data = bitmap.Encode(SKEncodedImageFormat.Png, 100);
            File.WriteAllBytes(Path.Combine(_folder, $"image_{i:D3}.png"), data.ToArray());
            File.WriteAllText(Path.Combine(_folder, $"image_{i:D3}.txt"), $"Colour square number {i}.");
        }
    }

    /// <summary>The count before <paramref name="word"/> in the ingest summary ("…: 75 added, 0 unchanged, …").</summary>
    private static int Count(string output, string word)
    {
        var match = System.Text.RegularExpressions.Regex.Match(output, $@"(\d+) {word}\b");
        Assert.True(match.Success, $"no '{word}' count in: {output}");
        return int.Parse(match.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture);
    }

    /// <summary>The real text generator, made slow: stands for a large document whose embedding outlasts a claim's lease.</summary>
    private sealed class SlowTextEmbeddingGenerator(IEmbeddingGenerator<string, Embedding<float>> inner, TimeSpan delay)
        : DelegatingEmbeddingGenerator<string, Embedding<float>>(inner)
    {
        public TaskCompletionSource Started { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public override async Task<GeneratedEmbeddings<Embedding<float>>> GenerateAsync(IEnumerable<string> values,
            EmbeddingGenerationOptions? options = null, CancellationToken cancellationToken = default)
        {
            Started.TrySetResult();
            await Task.Delay(delay, cancellationToken);
            return await base.GenerateAsync(values, options, cancellationToken);
        }
    }
}
