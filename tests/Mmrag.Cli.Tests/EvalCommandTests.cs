using System.Text.Json;

namespace Mmrag.Cli.Tests;

public sealed class EvalCommandTests : IDisposable
{
    private readonly string _kb = Path.Combine(Path.GetTempPath(), "mmrag-cli-eval-" + Guid.NewGuid().ToString("N"));

    private static string Set => Path.GetFullPath(Path.Combine(Fixtures.Clip, "..", "shapes", "dev"));

    private static string ShapesClip => Path.GetFullPath(Path.Combine(Fixtures.Clip, "..", "shapes-clip"));

    [Fact]
    public async Task Eval_ShapesDevIngestedAsDocumented_PrintsTheJsonKeysAndTheTable()
    {
        var images = Path.Combine(Set, "images");
        var ingest = await CliRunner.RunAsync("ingest", images, Path.Combine(Set, "docs"), "--descriptions", Path.Combine(images, "description.json"),
            "--kb", _kb, "--model", ShapesClip);
        Assert.True(ingest.ExitCode == 0, ingest.Error + ingest.Output);
        var queries = Path.Combine(Set, "queries.jsonl");

        var json = await CliRunner.RunAsync("eval", "--kb", _kb, "--queries", queries, "--format", "json");
        var table = await CliRunner.RunAsync("eval", "--kb", _kb, "--queries", queries, "--sweep", "--no-hybrid");

        Assert.True(json.ExitCode == 0, json.Error);
        using var document = JsonDocument.Parse(json.Output);
        var root = document.RootElement;
        var textToImage = root.GetProperty("directions").GetProperty("text->image");
        Assert.Equal(62, textToImage.GetProperty("queries").GetInt32());
        foreach (var metric in new[] { "recall@1", "recall@5", "recall@10", "hit@1", "hit@5", "hit@10", "mrr@10", "ndcg@10" })
        {
            Assert.InRange(textToImage.GetProperty(metric).GetDouble(), 0, 1);
        }

        Assert.Equal(146, root.GetProperty("overall").GetProperty("queries").GetInt32());
        Assert.Equal(0.5, root.GetProperty("threshold").GetDouble());
        Assert.InRange(root.GetProperty("kept").GetDouble(), 0.9, 1);
        Assert.InRange(root.GetProperty("declined").GetDouble(), 0, 1);
        Assert.Equal(21, root.GetProperty("sweep").GetArrayLength());
        Assert.Equal(0.3298, root.GetProperty("baseline").GetProperty("directions").GetProperty("text->image").GetProperty("recall@1").GetDouble(), 3);
        Assert.InRange(root.GetProperty("baseline").GetProperty("declined_at_equal_kept").GetDouble(), 0, 1);
        Assert.Equal(21, root.GetProperty("baseline").GetProperty("sweep").GetArrayLength());
        Assert.True(root.GetProperty("latency_ms").GetProperty("p95").GetDouble() >= root.GetProperty("latency_ms").GetProperty("p50").GetDouble());

        Assert.True(table.ExitCode == 0, table.Error);
        Assert.Contains("hybrid off", table.Output, StringComparison.Ordinal);
        Assert.Contains("image->all", table.Output, StringComparison.Ordinal);
        Assert.Contains("declined", table.Output, StringComparison.Ordinal);
        Assert.Contains("threshold   kept  declined  balanced | plain cosine at the same kept", table.Output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Eval_ThresholdWithSweep_IsAUsageError()
    {
        var result = await CliRunner.RunAsync("eval", "--kb", _kb, "--queries", "q.jsonl", "--threshold", "0.4", "--sweep");

        Assert.NotEqual(0, result.ExitCode);
        Assert.Contains("--threshold or --sweep", result.Error + result.Output, StringComparison.Ordinal);
    }

    public void Dispose()
    {
        if (Directory.Exists(_kb))
        {
            Directory.Delete(_kb, recursive: true);
        }
    }
}
