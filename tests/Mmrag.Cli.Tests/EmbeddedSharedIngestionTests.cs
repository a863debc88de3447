using System.Globalization;
using System.Text.RegularExpressions;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.AI;
using Mmrag.Clip.Inference;
using Mmrag.Ingestion.Chunking;
using Mmrag.Ingestion.Loaders;
using Mmrag.Ingestion.Pipeline;
using Mmrag.Knowledge;
using Mmrag.Storage.Embedded;
using Mmrag.Testing;
using SkiaSharp;
using Xunit.Abstractions;

namespace Mmrag.Cli.Tests;

/// <summary>
/// Runs its tests after the parallel ones, alone: they start several <c>mmrag</c> processes that fill the machine's
/// cores, which would starve other process tests (the SIGKILL test kills by elapsed time) and skew the split measured here.
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class ProcessHeavyCollection
{
    public const string Name = "process-heavy";
}

/// <summary>
/// Two <c>mmrag ingest</c> processes on one embedded knowledge base (issue 15, item 8): through the store's claims they
/// split the folder, instead of both doing most of it (about 85 % of the work was done twice before).
/// </summary>
[Collection(ProcessHeavyCollection.Name)]
public sealed class EmbeddedSharedIngestionTests(ITestOutputHelper log) : IDisposable
{
    private const int Notes = 60;
    private const int Pictures = 60;
    private readonly TemporaryDirectory _temp = new();

    public void Dispose() => _temp.Dispose();

    [Fact]
    public async Task TwoIngestProcesses_OneEmbeddedKnowledgeBase_SplitTheFilesAndStoreEachOnce()
    {
        string folder = WriteFolder(Path.Combine(_temp.Path, "shared"));
        string kb = Path.Combine(_temp.Path, "kb");
        // The knowledge base exists before the race (creating it is not what this test is about).
        string seed = Path.Combine(_temp.Path, "seed");
        Directory.CreateDirectory(seed);
        await File.WriteAllTextAsync(Path.Combine(seed, "seed.txt"), "The seed note of the shared knowledge base.");
        var created = await CliRunner.RunAsync("ingest", seed, "--kb", kb, "--model", Fixtures.TinyModel);
        Assert.True(created.ExitCode == 0, created.Error + created.Output);

        using var first = MmragProcess.Start(null, "ingest", folder, "--kb", kb);
        using var second = MmragProcess.Start(null, "ingest", folder, "--kb", kb);
        (int ExitCode, string Output)[] runs = await Task.WhenAll(
            MmragProcess.FinishAsync(first, TimeSpan.FromMinutes(4)), MmragProcess.FinishAsync(second, TimeSpan.FromMinutes(4)));

        string both = string.Join(Environment.NewLine + "----" + Environment.NewLine, runs.Select(r => r.Output));
        log.WriteLine(both);
        Assert.All(runs, r => Assert.True(r.ExitCode == 0, both));
        (int Added, int Replaced, int Failed)[] summaries = [.. runs.Select(r => Summary(r.Output))];
        Assert.All(summaries, s => Assert.Equal((0, 0), (s.Replaced, s.Failed)));
        int[] added = [.. summaries.Select(s => s.Added)];
        // Each file once. How the files fell between the processes depends on when the system started each (one
        // started late under load may find everything claimed or stored), so the split itself is asserted in-process
        // (TwoPipelines_OneEmbeddedKnowledgeBase_SplitTheFilesAndStoreEachOnce).
        Assert.True(added.Sum() == Notes + Pictures, $"{added.Sum()} files ingested for {Notes + Pictures}: work was done twice. {both}");

        await using EmbeddedKnowledgeStore store = await EmbeddedKnowledgeStore.OpenExistingAsync(kb);
        KnowledgeBaseStats stats = await store.GetStatsAsync();
        Assert.Equal((1 + Notes + Pictures, 1 + Notes, Pictures), (stats.Documents, stats.TextChunks, stats.Images));
    }

    [Fact]
    public async Task TwoPipelines_OneEmbeddedKnowledgeBase_SplitTheFilesAndStoreEachOnce()
    {
        string folder = WriteFolder(Path.Combine(_temp.Path, "shared"));
        string kb = Path.Combine(_temp.Path, "kb");
        using ClipModel model = ClipModel.Load(Fixtures.TinyModel);
        var space = new EmbeddingSpace(model.ModelId, model.Dimension);
        await using EmbeddedKnowledgeStore first = await EmbeddedKnowledgeStore.OpenAsync(kb, space);
        await using EmbeddedKnowledgeStore second = await EmbeddedKnowledgeStore.OpenAsync(kb, space);
        var loaders = LoaderRegistry.CreateDefault(new TextChunker(text => model.Tokenizer.EncodeToIds(text).Length));
        IngestionPipeline Pipeline(EmbeddedKnowledgeStore store, Func<Task> arrival) =>
            new(store, new WaitingEmbeddingGenerator<string>(new ClipTextEmbeddingGenerator(model), arrival),
                new WaitingEmbeddingGenerator<DataContent>(new ClipImageEmbeddingGenerator(model), arrival), loaders);

        // Neither embeds until both have claimed work (see Rendezvous): the split is decided by the claims alone.
        var meeting = new Rendezvous(2);
        var options = new IngestionOptions { EmbeddingBatchSize = 8 };
        IngestionSummary[] runs = await Task.WhenAll(
            Task.Run(() => Pipeline(first, meeting.Arrival(0)).IngestAsync([folder], options)),
            Task.Run(() => Pipeline(second, meeting.Arrival(1)).IngestAsync([folder], options)));

        Assert.All(runs, r => Assert.Equal((0, 0), (r.Failed, r.Replaced)));
        Assert.All(runs, r => Assert.Equal(Notes + Pictures, r.Added + r.Unchanged + r.ClaimedElsewhere));
        Assert.Equal(Notes + Pictures, runs.Sum(r => r.Added));
        Assert.All(runs, r => Assert.True(r.Added > 0, $"one pipeline did nothing: {string.Join(" / ", runs.Select(x => x.Added))} added"));
        KnowledgeBaseStats stats = await first.GetStatsAsync();
        Assert.Equal((Notes + Pictures, Notes, Pictures), (stats.Documents, stats.TextChunks, stats.Images));
    }

    [Fact]
    public async Task Ingest_RightAfterAnIngesterWasKilledHoldingClaims_TakesThemOverWithoutWaitingForTheLease()
    {
        string folder = WriteFolder(Path.Combine(_temp.Path, "photos"));
        string kb = Path.Combine(_temp.Path, "kb");
        var created = await CliRunner.RunAsync("ingest", Path.Combine(folder, "log_000.txt"), "--kb", kb, "--model", Fixtures.TinyModel);
        Assert.True(created.ExitCode == 0, created.Error + created.Output);

        // Killed (SIGKILL: no chance to give its claims back) while it holds claims on files it has not stored yet.
        long held = 0;
        for (int attempt = 0; attempt < 3 && held == 0; attempt++)
        {
            using var victim = MmragProcess.Start(null, "ingest", folder, "--kb", kb);
            victim.OutputDataReceived += static (_, _) => { };
            victim.ErrorDataReceived += static (_, _) => { };
            victim.BeginOutputReadLine();
            victim.BeginErrorReadLine();
            var deadline = DateTime.UtcNow.AddMinutes(2);
            while (!victim.HasExited && DateTime.UtcNow < deadline && await UnfinishedClaimsAsync(kb) == 0)
            {
                await Task.Delay(20);
            }

            victim.Kill(entireProcessTree: true);
            await victim.WaitForExitAsync();
            held = await UnfinishedClaimsAsync(kb);
        }

        Assert.True(held > 0, "the ingester was never killed while holding a claim");
        var rerun = await CliRunner.RunAsync("ingest", folder, "--kb", kb);
        Assert.True(rerun.ExitCode == 0, rerun.Error + rerun.Output);
        Assert.DoesNotContain("left to other ingesters", rerun.Output, StringComparison.Ordinal);
        await using EmbeddedKnowledgeStore store = await EmbeddedKnowledgeStore.OpenExistingAsync(kb);
        Assert.Equal(Notes + Pictures, (await store.GetStatsAsync()).Documents);
    }

    /// <summary>Claims taken and neither completed nor given back, read straight from the knowledge base's database.</summary>
    private static async Task<long> UnfinishedClaimsAsync(string kb)
    {
        await using var connection = new SqliteConnection($"Data Source={Path.Combine(kb, EmbeddedKnowledgeStore.DatabaseFileName)};Mode=ReadOnly;Pooling=False");
        await connection.OpenAsync();
        await using SqliteCommand count = connection.CreateCommand();
        count.CommandText = "SELECT count(*) FROM ingestion_claims WHERE completed_at IS NULL";
        return (long)(await count.ExecuteScalarAsync())!;
    }

    /// <summary>One-chunk notes and distinct pictures described in a <c>description.json</c> (a described image's claim is not its file hash).</summary>
    private static string WriteFolder(string folder)
    {
        Directory.CreateDirectory(folder);
        for (int i = 0; i < Notes; i++)
        {
            File.WriteAllText(Path.Combine(folder, $"log_{i:D3}.txt"), $"Logbook entry {i}: the ferry number {i} crossed the bay before noon.");
        }

        using var descriptions = new StreamWriter(Path.Combine(folder, "description.json"));
        for (int i = 0; i < Pictures; i++)
        {
            using var bitmap = new SKBitmap(40, 32);
            using (var canvas = new SKCanvas(bitmap))
            {
                canvas.Clear(new SKColor((byte)(i * 41), (byte)(200 - (i * 3)), (byte)(i * 13)));
                using var paint = new SKPaint { Color = SKColors.White };
                canvas.DrawRect(i % 30, i % 20, 8, 8, paint);
            }

            using var data = bitmap.Encode(SKEncodedImageFormat.Png, 100);
            File.WriteAllBytes(Path.Combine(folder, $"tile_{i:D3}.png"), data.ToArray());
            descriptions.WriteLine($$"""{"image_path": "tile_{{i:D3}}.png", "description": "tile {{i}}, a white square on colour"}""");
        }

        return folder;
    }

    /// <summary>The added, replaced and failed counts of an ingest summary ("…: 75 added, 0 unchanged, 0 replaced, …, 0 failed; …").</summary>
    private static (int Added, int Replaced, int Failed) Summary(string output)
    {
        Match summary = Regex.Match(output, @"(\d+) added, \d+ unchanged, (\d+) replaced.*?, (\d+) failed;");
        Assert.True(summary.Success, "no ingest summary in: " + output);
        return (Number(1), Number(2), Number(3));

        int Number(int group) => int.Parse(summary.Groups[group].Value, CultureInfo.InvariantCulture);
    }
}
