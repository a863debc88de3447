using System.Text.Json;
using Mmrag.Answering.Tests.Fakes;
using SkiaSharp;

namespace Mmrag.Cli.Tests;

/// <summary>
/// <c>mmrag ask</c> end to end: the sample knowledge base with the tiny CLIP model, answered by a real loopback server
/// that speaks the OpenAI chat-completions protocol. The tests set MMRAG_LLM_* for their duration, so they run in
/// one class (xUnit runs a class's tests one after another).
/// </summary>
public sealed class AskCommandTests : IAsyncLifetime
{
    private readonly TemporaryDirectory _temp = new();
    private string _kb = "";
    private string _samples = "";

    public async Task InitializeAsync()
    {
        _kb = Path.Combine(_temp.Path, "kb");
        _samples = SampleKnowledgeBase.CopyTo(Path.Combine(_temp.Path, "samples"));
        var catalogue = WriteCatalogue(Path.Combine(_samples, "catalogue"));
        var ingest = await CliRunner.RunAsync("ingest", _samples, "--kb", _kb, "--model", Fixtures.TinyModel);
        Assert.True(ingest.ExitCode == 0, ingest.Error + ingest.Output);
        Assert.True(Directory.Exists(catalogue));
    }

    public Task DisposeAsync()
    {
        SetLlm(null);
        _temp.Dispose();
        return Task.CompletedTask;
    }

    [Fact]
    public async Task Ask_TextOutput_StreamsTheAnswerThenNumberedSources()
    {
        await using var server = new FakeOpenAiServer { DefaultReply = Reply.Text("Marigolds keep ", "pests away [1].") };
        SetLlm(server.BaseUrl);

        var (exitCode, output, error) = await CliRunner.RunAsync("ask", "--kb", _kb, "Why plant marigolds between tomatoes?", "--threshold", "0");

        Assert.True(exitCode == 0, error);
        Assert.StartsWith("Marigolds keep pests away [1].", output, StringComparison.Ordinal);
        Assert.Contains("sources:", output, StringComparison.Ordinal);
        Assert.Contains("[1]*", output, StringComparison.Ordinal);
        var request = Assert.Single(server.Requests);
        Assert.True(request.IsStreaming);
        Assert.Equal(["system", "user"], request.Roles());
        Assert.Contains("Why plant marigolds between tomatoes?", Wire.AllText(request.Messages()[1]!), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Ask_JsonOutput_HasAnswerCitationsSourcesAndUsage()
    {
        await using var server = new FakeOpenAiServer { DefaultReply = Reply.Text("See [1] and [2]; also [42].") };
        SetLlm(server.BaseUrl);

        var (exitCode, output, error) = await CliRunner.RunAsync("ask", "--kb", _kb, "How do I oil a deck?", "--threshold", "0", "--format", "json");

        Assert.True(exitCode == 0, error);
        using var json = JsonDocument.Parse(output);
        var root = json.RootElement;
        Assert.Equal("See [1] and [2]; also [42].", root.GetProperty("answer").GetString());
        Assert.Equal([1, 2], root.GetProperty("citations").EnumerateArray().Select(static c => c.GetProperty("n").GetInt32()));
        Assert.Equal([42], root.GetProperty("unresolved_citations").EnumerateArray().Select(static n => n.GetInt32()));
        var first = root.GetProperty("citations")[0];
        foreach (var field in new[] { "kind", "source", "page", "image_path", "score" })
        {
            Assert.True(first.TryGetProperty(field, out _), field);
        }

        Assert.True(root.GetProperty("sources").GetArrayLength() >= 2);
        Assert.Equal(FakeOpenAiServer.PromptTokens, root.GetProperty("usage").GetProperty("input_tokens").GetInt32());
    }

    [Theory]
    [InlineData("multimodal", true)]
    [InlineData("text+images", true)]
    [InlineData("text", false)]
    public async Task Ask_WithQueryImage_EachStrategySendsImagesOnlyWhenItShould(string strategy, bool sendsImages)
    {
        await using var server = new FakeOpenAiServer();
        SetLlm(server.BaseUrl);

        var (exitCode, _, error) = await CliRunner.RunAsync("ask", "--kb", _kb, "What is in this picture?",
            "--image", Path.Combine(_samples, "photos", "lady-bird.jpg"), "--strategy", strategy, "--threshold", "0");

        Assert.True(exitCode == 0, error);
        var images = Wire.ImageUrls(Assert.Single(server.Requests).Messages()[1]!);
        Assert.Equal(sendsImages, images.Count > 0);
        Assert.All(images, static url => Assert.StartsWith("data:image/jpeg;base64,", url, StringComparison.Ordinal));
    }

    [Fact]
    public async Task Ask_ProductPhoto_FindsTheCatalogueImageAndSendsItsDescription()
    {
        await using var server = new FakeOpenAiServer { DefaultReply = Reply.Text("It holds 1.7 litres [1].") };
        SetLlm(server.BaseUrl);
        var photo = Path.Combine(_temp.Path, "my-kettle.jpg");
        await File.WriteAllBytesAsync(photo, Product(seed: 2, width: 480, height: 360));

        var (exitCode, output, error) = await CliRunner.RunAsync("ask", "--kb", _kb, "What is the capacity of this item?",
            "--image", photo, "--format", "json", "--threshold", "0");

        Assert.True(exitCode == 0, error);
        using var json = JsonDocument.Parse(output);
        var best = json.RootElement.GetProperty("sources").EnumerateArray()
            .Where(static s => s.GetProperty("kind").GetString() == "image")
            .MaxBy(static s => s.GetProperty("score").GetDouble());
        Assert.EndsWith("kettle.jpg", best.GetProperty("image_path").GetString(), StringComparison.Ordinal);
        Assert.Contains("1.7 litres", Wire.AllText(Assert.Single(server.Requests).Messages()[1]!), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Ask_NoLlmConfigured_PrintsSourcesAndHowToConfigureOne()
    {
        SetLlm(null);

        var (exitCode, output, error) = await CliRunner.RunAsync("ask", "--kb", _kb, "How do I oil a deck?", "--threshold", "0");

        Assert.Equal(0, exitCode);
        Assert.Contains("sources:", output, StringComparison.Ordinal);
        Assert.Contains("MMRAG_LLM_BASE_URL", error, StringComparison.Ordinal);
        // Said once, not once as the answer and again as a note.
        Assert.Single(System.Text.RegularExpressions.Regex.Matches(output + error, "No LLM configured"));
    }

    [Fact]
    public async Task Ask_NothingAboveThresholdWithDecline_AnswersWithoutCallingTheLlm()
    {
        await using var server = new FakeOpenAiServer();
        SetLlm(server.BaseUrl);

        var (exitCode, output, error) = await CliRunner.RunAsync("ask", "--kb", _kb, "What is the airspeed of a swallow?",
            "--threshold", "0.99999", "--decline-without-context");

        Assert.True(exitCode == 0, error);
        Assert.Empty(server.Requests);
        Assert.Contains("sources: none", output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Ask_UnreachableLlm_FailsWithMessageNamingTheUrl()
    {
        SetLlm("http://127.0.0.1:9/v1");

        var (exitCode, _, error) = await CliRunner.RunAsync("ask", "--kb", _kb, "How do I oil a deck?", "--threshold", "0");

        Assert.NotEqual(0, exitCode);
        Assert.Contains("127.0.0.1:9", error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Ask_UndecodableImageOrInvalidLlmUrl_IsAnErrorLineNotACrash()
    {
        var notAnImage = Path.Combine(_temp.Path, "not-an-image.png");
        await File.WriteAllTextAsync(notAnImage, "plain text");
        await using var server = new FakeOpenAiServer { DefaultReply = Reply.Text("unused") };
        SetLlm(server.BaseUrl);

        var image = await CliRunner.RunAsync("ask", "what is this?", "--kb", _kb, "--image", notAnImage);
        Assert.Equal(1, image.ExitCode);
        Assert.StartsWith("error: ", image.Error, StringComparison.Ordinal);
        Assert.Contains("could not be decoded", image.Error, StringComparison.Ordinal);
        Assert.Empty(server.Requests);

        SetLlm("not a url");
        var url = await CliRunner.RunAsync("ask", "what is this?", "--kb", _kb);
        Assert.Equal(1, url.ExitCode);
        Assert.Contains("MMRAG_LLM_BASE_URL", url.Error, StringComparison.Ordinal);
    }

    private static void SetLlm(string? baseUrl)
    {
        Environment.SetEnvironmentVariable("MMRAG_LLM_BASE_URL", baseUrl);
        Environment.SetEnvironmentVariable("MMRAG_LLM_MODEL", baseUrl is null ? null : "llama3.2-vision");
        Environment.SetEnvironmentVariable("MMRAG_LLM_API_KEY", null);
    }

    /// <summary>A small product catalogue: three distinct product shots with descriptions giving their capacity.</summary>
    private static string WriteCatalogue(string folder)
    {
        Directory.CreateDirectory(folder);
        var products = new[] { ("mug.jpg", 1, "Stoneware mug, capacity 350 ml."), ("kettle.jpg", 2, "Electric kettle, capacity 1.7 litres, 2200 W."), ("backpack.jpg", 3, "Hiking backpack, capacity 30 litres.") };
        var lines = new List<string>();
        foreach (var (file, seed, description) in products)
        {
            File.WriteAllBytes(Path.Combine(folder, file), Product(seed, 640, 480));
            lines.Add(JsonSerializer.Serialize(new { image_path = file, description }));
        }

        File.WriteAllLines(Path.Combine(folder, "description.json"), lines);
        return folder;
    }

    /// <summary>A synthetic product shot; the same seed at another size is the "user's photo" of that product.</summary>
    private static byte[] Product(int seed, int width, int height)
    {
        var random = new Random(seed);
        using var bitmap = new SKBitmap(width, height);
        using (var canvas = new SKCanvas(bitmap))
        {
            canvas.Clear(SKColors.White);
            using var paint = new SKPaint { IsAntialias = true };
            for (var i = 0; i < 12; i++)
            {
                paint.Color = new SKColor((byte)random.Next(256), (byte)random.Next(256), (byte)random.Next(256));
                canvas.DrawRect(random.Next(width) * 0.8f, random.Next(height) * 0.8f, width / 4f, height / 3f, paint);
            }
        }

        using var data = bitmap.Encode(SKEncodedImageFormat.Jpeg, 90);
        return data.ToArray();
    }
}
