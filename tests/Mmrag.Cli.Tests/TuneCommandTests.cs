using System.Text.Json;

namespace Mmrag.Cli.Tests;

public sealed class TuneCommandTests : IDisposable
{
    private readonly string _kb = Path.Combine(Path.GetTempPath(), "mmrag-cli-tune-" + Guid.NewGuid().ToString("N"));

    private static string Set => Path.GetFullPath(Path.Combine(Fixtures.Clip, "..", "shapes", "dev"));

    private static string ShapesClip => Path.GetFullPath(Path.Combine(Fixtures.Clip, "..", "shapes-clip"));

    [Fact]
    public async Task Tune_ShapesDevPairs_StoresAnAdapterThatSearchAndEvalApplyUntilReset()
    {
        var images = Path.Combine(Set, "images");
        var ingest = await CliRunner.RunAsync("ingest", images, Path.Combine(Set, "docs"), "--descriptions", Path.Combine(images, "description.json"),
            "--kb", _kb, "--model", ShapesClip);
        Assert.True(ingest.ExitCode == 0, ingest.Error + ingest.Output);
        var queries = Path.Combine(Set, "queries.jsonl");

        // The split of the Hosting test that shows the gain (docs/adapter.md).
        var tune = await CliRunner.RunAsync("tune", "--kb", _kb, "--pairs", queries, "--seed", "4", "--holdout", "0.3", "--format", "json");
        var adapted = await CliRunner.RunAsync("search", "--kb", _kb, "--text", "a picture showing a red circle", "--target", "images", "--format", "json");
        var plain = await CliRunner.RunAsync("search", "--kb", _kb, "--text", "a picture showing a red circle", "--target", "images", "--format", "json", "--no-adapter");
        var eval = await CliRunner.RunAsync("eval", "--kb", _kb, "--queries", queries);
        var table = await CliRunner.RunAsync("tune", "--kb", _kb, "--pairs", queries, "--seed", "4", "--holdout", "0.3");
        var reset = await CliRunner.RunAsync("tune", "--kb", _kb, "--reset");
        var afterReset = await CliRunner.RunAsync("search", "--kb", _kb, "--text", "a picture showing a red circle", "--target", "images", "--format", "json");
        var resetAgain = await CliRunner.RunAsync("tune", "--kb", _kb, "--reset", "--format", "json");

        Assert.True(tune.ExitCode == 0, tune.Error + tune.Output);
        using (var document = JsonDocument.Parse(tune.Output))
        {
            var root = document.RootElement;
            Assert.True(root.GetProperty("stored").GetBoolean());
            Assert.Equal(1, root.GetProperty("revision").GetInt32());
            Assert.Equal(root.GetProperty("judgements").GetInt32(), root.GetProperty("used").GetInt32());
            Assert.Contains(root.GetProperty("modalities").EnumerateArray(),
                m => m.GetProperty("kept").GetBoolean() && m.GetProperty("recall5_after").GetDouble() > m.GetProperty("recall5_before").GetDouble());
        }

        Assert.True(adapted.ExitCode == 0, adapted.Error);
        Assert.True(plain.ExitCode == 0, plain.Error);
        using (var withAdapter = JsonDocument.Parse(adapted.Output))
        using (var without = JsonDocument.Parse(plain.Output))
        {
            Assert.True(withAdapter.RootElement.GetProperty("adapter_applied").GetBoolean());
            Assert.False(without.RootElement.GetProperty("adapter_applied").GetBoolean());
            Assert.NotEqual(RawScores(withAdapter), RawScores(without));
        }

        Assert.True(eval.ExitCode == 0, eval.Error);
        Assert.Contains("without the query adapter (--no-adapter):", eval.Output, StringComparison.Ordinal);
        Assert.Contains("with the query adapter (revision 1,", eval.Output, StringComparison.Ordinal);

        Assert.True(table.ExitCode == 0, table.Error);
        Assert.Contains("adapter revision 2 stored", table.Output, StringComparison.Ordinal);
        Assert.Contains("recall@5 before → after", table.Output, StringComparison.Ordinal);

        Assert.True(reset.ExitCode == 0, reset.Error);
        Assert.Contains("query adapter removed", reset.Output, StringComparison.Ordinal);
        Assert.True(resetAgain.ExitCode == 0, resetAgain.Error);
        using (var document = JsonDocument.Parse(resetAgain.Output))
        {
            Assert.False(document.RootElement.GetProperty("removed").GetBoolean());
        }

        using (var document = JsonDocument.Parse(afterReset.Output))
        {
            Assert.False(document.RootElement.GetProperty("adapter_applied").GetBoolean());
        }
    }

    [Fact]
    public async Task Tune_WithoutPairsFeedbackOrReset_IsAUsageError()
    {
        var result = await CliRunner.RunAsync("tune", "--kb", _kb);

        Assert.NotEqual(0, result.ExitCode);
        Assert.Contains("--pairs FILE and/or --from-feedback", result.Error + result.Output, StringComparison.Ordinal);
    }

    private static List<double> RawScores(JsonDocument search) =>
        [.. search.RootElement.GetProperty("hits").EnumerateArray().Select(h => h.GetProperty("raw_score").GetDouble())];

    public void Dispose()
    {
        if (Directory.Exists(_kb))
        {
            Directory.Delete(_kb, recursive: true);
        }
    }
}
