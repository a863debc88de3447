using System.Text.Json;

namespace Mmrag.Cli.Tests;

public class KnowledgeBaseCommandTests
{
    [Fact]
    public async Task Ingest_SampleKnowledgeBase_AddsEverythingThenReportsUnchanged()
    {
        using var temp = new TemporaryDirectory();
        var kb = Path.Combine(temp.Path, "kb");
        var samples = SampleKnowledgeBase.CopyTo(Path.Combine(temp.Path, "samples"));

        var first = await CliRunner.RunAsync("ingest", samples, "--kb", kb, "--model", Fixtures.TinyModel);
        Assert.True(first.ExitCode == 0, first.Error + first.Output);
        Assert.Contains("16 added", first.Output, StringComparison.Ordinal);

        var second = await CliRunner.RunAsync("ingest", samples, "--kb", kb);
        Assert.True(second.ExitCode == 0, second.Error + second.Output);
        Assert.Contains("0 added, 16 unchanged", second.Output, StringComparison.Ordinal);
        Assert.Contains("(0 embedded)", second.Output, StringComparison.Ordinal);

        var stats = await CliRunner.RunAsync("kb", "stats", "--kb", kb);
        Assert.Contains("tiny-clip (32-d)", stats.Output, StringComparison.Ordinal);
        Assert.Contains("images:         16", stats.Output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Search_EveryDirection_ReturnsJsonHitsWithProvenance()
    {
        using var temp = new TemporaryDirectory();
        var kb = Path.Combine(temp.Path, "kb");
        var samples = SampleKnowledgeBase.CopyTo(Path.Combine(temp.Path, "samples"));
        var ingest = await CliRunner.RunAsync("ingest", samples, "--kb", kb, "--model", Fixtures.TinyModel);
        Assert.True(ingest.ExitCode == 0, ingest.Error);
        var photo = Path.Combine(samples, "photos", "storm.jpg");

        // image → image: the query photo itself is skipped unless asked for.
        var withSelf = await SearchJson("--kb", kb, "--image", photo, "--target", "images", "--include-self", "--threshold", "0");
        Assert.Equal(photo, withSelf[0].GetProperty("image_path").GetString());
        var withoutSelf = await SearchJson("--kb", kb, "--image", photo, "--target", "images", "--threshold", "0");
        Assert.DoesNotContain(withoutSelf, h => h.GetProperty("image_path").GetString() == photo);

        // text → text: a sentence of a document finds its chunk (hybrid keyword + vector).
        var text = await SearchJson("--kb", kb, "--text", "Ladybirds eat aphids", "--target", "text", "--threshold", "0");
        Assert.Contains("garden-guide.md", text[0].GetProperty("source").GetString(), StringComparison.Ordinal);
        Assert.Equal("text", text[0].GetProperty("kind").GetString());

        // text → image: the tiny model's weights are random, so the vector half ranks arbitrarily; the keyword half of
        // hybrid search must still bring in the photo whose description has these words.
        var image = await SearchJson("--kb", kb, "--text", "dandelion seeds with white feathery parachutes", "--target", "images", "--threshold", "0");
        var dandelion = Assert.Single(image, h => h.GetProperty("image_path").GetString()!.EndsWith("two-wings.jpg", StringComparison.Ordinal));
        Assert.Equal("both", dandelion.GetProperty("matched_by").GetString());
        Assert.Equal(JsonValueKind.Number, dandelion.GetProperty("raw_score").ValueKind);

        // image → text.
        var imageToText = await SearchJson("--kb", kb, "--image", photo, "--target", "text", "--threshold", "0");
        Assert.NotEmpty(imageToText);
        Assert.All(imageToText, h => Assert.Equal("text", h.GetProperty("kind").GetString()));
    }

    [Fact]
    public async Task Search_HighThreshold_ReturnsEmptyHitsNotAnError()
    {
        using var temp = new TemporaryDirectory();
        var kb = Path.Combine(temp.Path, "kb");
        var samples = SampleKnowledgeBase.CopyTo(Path.Combine(temp.Path, "samples"));
        Assert.Equal(0, (await CliRunner.RunAsync("ingest", samples, "--kb", kb, "--model", Fixtures.TinyModel)).ExitCode);

        var hits = await SearchJson("--kb", kb, "--text", "quantum chromodynamics lecture", "--threshold", "0.9999");
        Assert.Empty(hits);

        // The table says so plainly, and says what a score is.
        var (exitCode, table, _) = await CliRunner.RunAsync("search", "--kb", kb, "--text", "quantum chromodynamics lecture", "--threshold", "0.9999");
        Assert.Equal(0, exitCode);
        Assert.Contains("nothing scored above the threshold (1.00): no good match", table, StringComparison.Ordinal);
        Assert.Contains("score: calibrated relevance in [0, 1]", table, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Ingest_ChangedDeletedAndCorruptFiles_ReplacesPrunesAndRecordsFailure()
    {
        using var temp = new TemporaryDirectory();
        var kb = Path.Combine(temp.Path, "kb");
        var samples = SampleKnowledgeBase.CopyTo(Path.Combine(temp.Path, "samples"));
        Assert.Equal(0, (await CliRunner.RunAsync("ingest", samples, "--kb", kb, "--model", Fixtures.TinyModel)).ExitCode);

        await File.AppendAllTextAsync(Path.Combine(samples, "docs", "weather-notes.txt"), "\nFog is common in autumn mornings.\n");
        File.Delete(Path.Combine(samples, "photos", "wood.jpg"));
        await File.WriteAllBytesAsync(Path.Combine(samples, "photos", "broken.jpg"), [0xFF, 0xD8, 0xFF, 0xE0, 1, 2, 3]);

        var run = await CliRunner.RunAsync("ingest", samples, "--kb", kb, "--prune");

        Assert.Contains("1 replaced", run.Output, StringComparison.Ordinal);
        Assert.Contains("1 pruned", run.Output, StringComparison.Ordinal);
        Assert.Contains("1 failed", run.Output, StringComparison.Ordinal);
        Assert.Contains("broken.jpg", run.Output, StringComparison.Ordinal);
        var failures = await CliRunner.RunAsync("kb", "failures", "--kb", kb);
        Assert.Contains("broken.jpg", failures.Output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Ingest_KnowledgeBaseKilledWhileBeingCreated_FinishesCreatingIt()
    {
        // What SIGKILL leaves between recording the model and the store writing its own information: an empty database.
        using var temp = new TemporaryDirectory();
        var kb = Path.Combine(temp.Path, "kb");
        Directory.CreateDirectory(kb);
        await File.WriteAllTextAsync(Path.Combine(kb, "mmrag.json"), JsonSerializer.Serialize(new { model = Fixtures.TinyModel }));
        await File.WriteAllBytesAsync(Path.Combine(kb, "knowledge.db"), []);
        var samples = SampleKnowledgeBase.CopyTo(Path.Combine(temp.Path, "samples"));

        var search = await CliRunner.RunAsync("search", "--kb", kb, "--text", "x");
        Assert.NotEqual(0, search.ExitCode); // reading commands do not create anything
        var ingest = await CliRunner.RunAsync("ingest", samples, "--kb", kb);
        Assert.True(ingest.ExitCode == 0, ingest.Error + ingest.Output);
        Assert.Contains("16 added", ingest.Output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Ingest_ImageEmbeddedInADocument_IsKeptInTheImageCache_AndSurvivesReembed()
    {
        using var temp = new TemporaryDirectory();
        var kb = Path.Combine(temp.Path, "kb");
        var docs = Path.Combine(temp.Path, "docs");
        Directory.CreateDirectory(docs);
        var png = Convert.ToBase64String(await File.ReadAllBytesAsync(Fixtures.Image("checker_225x224.png")));
        await File.WriteAllTextAsync(Path.Combine(docs, "page.html"),
            $"<html><body><h1>Chess</h1><p>A checkerboard pattern.</p><img alt=\"checkers\" src=\"data:image/png;base64,{png}\"></body></html>");

        var ingest = await CliRunner.RunAsync("ingest", docs, "--kb", kb, "--model", Fixtures.TinyModel);
        Assert.True(ingest.ExitCode == 0, ingest.Error + ingest.Output);

        var hits = await SearchJson("--kb", kb, "--text", "checkerboard", "--target", "images", "--threshold", "0");
        var imagePath = Assert.Single(hits).GetProperty("image_path").GetString();
        Assert.NotNull(imagePath);
        Assert.StartsWith(Path.Combine(kb, "images") + Path.DirectorySeparatorChar, imagePath, StringComparison.Ordinal);
        Assert.Equal(await File.ReadAllBytesAsync(Fixtures.Image("checker_225x224.png")), await File.ReadAllBytesAsync(imagePath));

        // Re-embedding rebuilds the knowledge base beside the old one and swaps them: the cached image must survive.
        var reembed = await CliRunner.RunAsync("kb", "reembed", "--kb", kb, "--model", Fixtures.TinyModel);
        Assert.True(reembed.ExitCode == 0, reembed.Error + reembed.Output);
        var after = await SearchJson("--kb", kb, "--text", "checkerboard", "--target", "images", "--threshold", "0");
        Assert.Equal(imagePath, Assert.Single(after).GetProperty("image_path").GetString());
        Assert.True(File.Exists(imagePath));
    }

    [Theory]
    [InlineData("search", "--k", "0")]
    [InlineData("search", "--threshold", "5")]
    [InlineData("search", "--recall", "0")]
    [InlineData("search", "--recall", "1.5")]
    [InlineData("search", "--threads", "-2")]
    [InlineData("ask", "--k", "0")]
    [InlineData("ask", "--max-images", "-1")]
    [InlineData("ask", "--threshold", "-0.1")]
    public async Task OutOfRangeNumericOption_IsAUsageErrorNamingIt_NotACrash(string command, string option, string value)
    {
        using var temp = new TemporaryDirectory();
        string[] query = command == "ask" ? ["what is x?"] : ["--text", "x"];
        var (exitCode, _, error) = await CliRunner.RunAsync([command, .. query, "--kb", Path.Combine(temp.Path, "kb"), option, value]);

        Assert.Equal(1, exitCode);
        Assert.Contains($"{option} must be", error, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("Host=127.0.0.1;Password=hunter2;garbage=;;", null, "connection string is not valid")]
    [InlineData("postgres://user:hunter2@127.0.0.1/db?bogus=1", null, "connection string is not valid")]
    [InlineData("Host=127.0.0.1;Port=1;Password=hunter2", " ", "--schema")]
    public async Task Search_BadPostgresSettings_FailsWithOneLineNamingThemAndNoPassword(string connection, string? schema, string expected)
    {
        string[] schemaArgs = schema is null ? [] : ["--schema", schema];
        var (exitCode, _, error) = await CliRunner.RunAsync(["search", "--text", "x", "--store", "postgres", "--connection", connection, .. schemaArgs]);

        Assert.Equal(1, exitCode);
        Assert.StartsWith("error: ", error, StringComparison.Ordinal);
        Assert.Contains(expected, error, StringComparison.Ordinal);
        Assert.DoesNotContain("hunter2", error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Search_NoKnowledgeBase_FailsWithHowToCreateOne()
    {
        using var temp = new TemporaryDirectory();
        var (exitCode, _, error) = await CliRunner.RunAsync("search", "--kb", Path.Combine(temp.Path, "none"), "--text", "x");
        Assert.NotEqual(0, exitCode);
        Assert.Contains("mmrag ingest", error, StringComparison.Ordinal);
    }

    private static async Task<JsonElement[]> SearchJson(params string[] args)
    {
        var (exitCode, output, error) = await CliRunner.RunAsync(["search", .. args, "--format", "json"]);
        Assert.True(exitCode == 0, error);
        using var document = JsonDocument.Parse(output);
        return [.. document.RootElement.GetProperty("hits").EnumerateArray().Select(static h => h.Clone())];
    }
}
