using System.Text.Json;

namespace Mmrag.Cli.Tests;

/// <summary>
/// Issue 10: "a random-weight model (tiny-clip) yields no confident hits". The sample knowledge base ingested with the
/// tiny CLIP model, whose text and image towers have random weights, searched with questions about the photos and
/// with the photos themselves at the default threshold.
/// </summary>
public sealed class RandomWeightModelTests : IAsyncLifetime
{
    private static readonly string[] Questions =
    [
        "a drop of water splashing", "a green leaf backlit by the sun", "dune grass on a sand dune by the sea", "watercolour painting of elephants",
        "an orange gerbera daisy", "a red and yellow marigold flower", "green grass in a meadow", "a red ladybird with black spots",
        "rain drops on leaves", "dark storm clouds over a road", "dandelion seeds", "weathered wooden planks", "a yellow flower with an orange centre",
        "a dog playing fetch", "a red sports car", "a snowy mountain peak", "a plate of spaghetti",
    ];

    private readonly TemporaryDirectory _temp = new();

    private string KnowledgeBase => Path.Combine(_temp.Path, "kb");

    // The sample is only read, so it is ingested where it is.
    public async Task InitializeAsync()
    {
        var ingest = await CliRunner.RunAsync("ingest", SampleKnowledgeBase.Folder, "--kb", KnowledgeBase, "--model", Fixtures.TinyModel);
        Assert.True(ingest.ExitCode == 0, ingest.Error + ingest.Output);
    }

    public Task DisposeAsync()
    {
        _temp.Dispose();
        return Task.CompletedTask;
    }

    [Fact]
    public async Task Search_RandomWeightModelOnTheSampleKnowledgeBase_ReturnsNoHitAtTheDefaultThreshold()
    {
        var confident = await SearchAsync(threshold: null);

        Assert.True(confident.All(q => q.Hits.Count == 0),
            "confident hits of a model with random weights: " + string.Join("; ", confident.Where(q => q.Hits.Count > 0).Select(q => $"{q.Query} → {string.Join(", ", q.Hits)}")));
    }

    [Fact]
    public async Task Search_RandomWeightModelWithNoThreshold_StillRanksByKeywordsAndVectors()
    {
        // The same searches without a threshold: the results are there, only their scores say "no confident match";
        // a description's words still put its photo first.
        var all = await SearchAsync(threshold: 0);

        Assert.All(all, q => Assert.NotEmpty(q.Hits));
        var dune = Assert.Single(all, q => q.Query == "dune grass on a sand dune by the sea");
        Assert.Contains("dune.jpg (", dune.Hits[0], StringComparison.Ordinal);
    }

    private async Task<List<(string Query, List<string> Hits)>> SearchAsync(double? threshold)
    {
        List<string> args = ["search", "--kb", KnowledgeBase, "--model", Fixtures.TinyModel, "--offline", "--k", "5", "--format", "json"];
        if (threshold is { } t)
        {
            args.AddRange(["--threshold", t.ToString(System.Globalization.CultureInfo.InvariantCulture)]);
        }

        List<string> queries = [];
        foreach (var question in Questions)
        {
            args.AddRange(["--text", question]);
            queries.Add(question);
        }

        foreach (var photo in Directory.EnumerateFiles(Path.Combine(SampleKnowledgeBase.Folder, "photos"), "*.jpg").Order(StringComparer.Ordinal))
        {
            args.AddRange(["--image", photo]);
            queries.Add(photo);
        }

        var (exitCode, output, error) = await CliRunner.RunAsync([.. args]);
        Assert.True(exitCode == 0, error + output);
        var results = output.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            .Where(line => line.StartsWith('{'))
            .Select(line => JsonDocument.Parse(line).RootElement.GetProperty("hits").EnumerateArray()
                .Select(hit => $"{hit.GetProperty("source").GetString()} ({hit.GetProperty("score").GetDouble():F2})").ToList())
            .ToList();
        Assert.Equal(queries.Count, results.Count);
        return [.. queries.Zip(results)];
    }
}
