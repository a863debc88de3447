using System.Numerics.Tensors;
using System.Text.Json;

namespace Mmrag.Cli.Tests;

public class EmbedCommandTests
{
    [Fact]
    public async Task Embed_TextsAndImages_PrintsOneUnitVectorPerInputInCommandLineOrder()
    {
        var image = Fixtures.Image("noise_224x224.png");
        var (exitCode, output, error) = await CliRunner.RunAsync(
            "embed", "--model", Fixtures.TinyModel, "--threads", "1", "--text", "a photo of a cat", "--image", image, "--text", "a dog");

        Assert.True(exitCode == 0, error);
        var lines = Parse(output);
        Assert.Equal(["text", "image", "text"], lines.Select(static l => l.GetProperty("modality").GetString()));
        Assert.Equal(["a photo of a cat", image, "a dog"], lines.Select(static l => l.GetProperty("input").GetString()));
        foreach (var line in lines)
        {
            var vector = Vector(line);
            Assert.Equal(32, vector.Length);
            Assert.Equal(1.0, TensorPrimitives.Norm(vector), 4);
        }
    }

    [Fact]
    public async Task Embed_NoNormalize_PrintsReferenceProjection()
    {
        using var cases = JsonDocument.Parse(await File.ReadAllBytesAsync(Path.Combine(Fixtures.Clip, "text_embeddings.json")));
        var first = cases.RootElement.GetProperty("cases")[0];
        var expected = first.GetProperty("text_embeds").EnumerateArray().Select(static e => (float)e.GetDouble()).ToArray();

        var (exitCode, output, error) = await CliRunner.RunAsync(
            "embed", "--model", Fixtures.TinyModel, "--no-normalize", "--text", first.GetProperty("text").GetString()!);

        Assert.True(exitCode == 0, error);
        var actual = Vector(Parse(output).Single());
        Assert.True(TensorPrimitives.CosineSimilarity(expected, actual) > 0.9999);
        Assert.Equal(TensorPrimitives.Norm(expected), TensorPrimitives.Norm(actual), 3);
    }

    [Fact]
    public async Task Embed_BadImageAmongGood_ReportsItByNameAndPrintsTheOthers()
    {
        var bad = Path.Combine(Path.GetTempPath(), $"mmrag-bad-{Guid.NewGuid():N}.jpg");
        await File.WriteAllTextAsync(bad, "not a jpeg");
        try
        {
            var (exitCode, output, error) = await CliRunner.RunAsync(
                "embed", "--model", Fixtures.TinyModel, "--image", Fixtures.Image("tiny_50x50.png"), "--image", bad, "--text", "still here");

            Assert.NotEqual(0, exitCode);
            Assert.Contains(bad, error, StringComparison.Ordinal);
            Assert.Equal(["image", "text"], Parse(output).Select(static l => l.GetProperty("modality").GetString()));
        }
        finally
        {
            File.Delete(bad);
        }
    }

    [Fact]
    public async Task Embed_NothingToEmbed_FailsWithHint()
    {
        var (exitCode, _, error) = await CliRunner.RunAsync("embed", "--model", Fixtures.TinyModel);
        Assert.NotEqual(0, exitCode);
        Assert.Contains("--text", error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Compare_TextsAndImages_PrintsSimilarityMatrix()
    {
        var (exitCode, output, error) = await CliRunner.RunAsync("compare", "--model", Fixtures.TinyModel,
            "--text", "a cat", "--text", "a page", "--image", Fixtures.Image("photo_800x600.jpg"), "--image", Fixtures.Image("document_612x792.png"));

        Assert.True(exitCode == 0, error);
        Assert.Contains("photo_800x600.jpg", output, StringComparison.Ordinal);
        var rows = output.Split('\n').Where(static l => l.StartsWith('"')).ToArray();
        Assert.Equal(2, rows.Length);
        Assert.All(rows, static row => Assert.Single(row, '*'));
    }

    private static JsonElement[] Parse(string output) =>
        [.. output.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(static l => JsonDocument.Parse(l).RootElement.Clone())];

    private static float[] Vector(JsonElement line) => [.. line.GetProperty("embedding").EnumerateArray().Select(static e => e.GetSingle())];
}
