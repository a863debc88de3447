using System.Text.Json;
using Mmrag.Answering.Tests.Fakes;
using SkiaSharp;

namespace Mmrag.Cli.Tests;

/// <summary>
/// <c>mmrag ask</c> end to end: the sample knowledge base with the tiny CLIP model, answered by a real loopback server
/// that speaks the OpenAI chat-completions protocol. Each test sets MMRAG_LLM_* for its own flow (<see cref="SetLlm"/>).
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

    [Fact]
    public async Task Search_RerankLlm_JsonHasTheGradedOrderEachHitsGradeAndTheStatus()
    {
        await using var server = new FakeOpenAiServer
        {
            DefaultReply = Reply.Text("""[{"id": 3, "grade": 3, "reason": "about oiling decks"}, {"id": 1, "grade": 1, "reason": "wood, not decks"}, {"id": 2, "grade": 0, "reason": "unrelated"}]"""),
        };
        SetLlm(server.BaseUrl);
        string[] query = ["search", "--kb", _kb, "--text", "How do I oil a deck?", "--threshold", "0", "--k", "3", "--format", "json"];
        var plain = await CliRunner.RunAsync(query);
        Assert.True(plain.ExitCode == 0, plain.Error);
        Assert.Empty(server.Requests);

        var (exitCode, output, error) = await CliRunner.RunAsync([.. query, "--rerank", "llm:3"]);

        Assert.True(exitCode == 0, error);
        var request = Assert.Single(server.Requests);
        Assert.Equal("llama3.2-vision", request.Json["model"]!.GetValue<string>());
        Assert.StartsWith(Mmrag.Answering.Reranking.LlmReranker.SystemPrompt, Wire.AllText(request.Messages()[0]!), StringComparison.Ordinal);
        Assert.StartsWith("Search query: How do I oil a deck?", Wire.AllText(request.Messages()[1]!), StringComparison.Ordinal);
        using var before = JsonDocument.Parse(plain.Output);
        using var after = JsonDocument.Parse(output);
        Assert.False(before.RootElement.TryGetProperty("rerank", out _));
        Assert.False(before.RootElement.GetProperty("hits")[0].TryGetProperty("rerank_grade", out _));
        var ids = before.RootElement.GetProperty("hits").EnumerateArray().Select(static h => h.GetProperty("id").GetString()).ToList();
        var hits = after.RootElement.GetProperty("hits").EnumerateArray().ToList();
        Assert.Equal([ids[2], ids[0], ids[1]], hits.Select(static h => h.GetProperty("id").GetString()));
        Assert.Equal([3, 1, 0], hits.Select(static h => h.GetProperty("rerank_grade").GetInt32()));
        Assert.Equal("about oiling decks", hits[0].GetProperty("rerank_reason").GetString());
        var rerank = after.RootElement.GetProperty("rerank");
        Assert.Equal("applied", rerank.GetProperty("status").GetString());
        Assert.Equal(3, rerank.GetProperty("candidates").GetInt32());
        Assert.Equal(3, rerank.GetProperty("graded").GetInt32());
    }

    [Fact]
    public async Task Search_RerankLlmServerFails_TableKeepsTheOrderAndSaysWhy()
    {
        await using var server = new FakeOpenAiServer { DefaultReply = Reply.Text("The second one, I think.") };
        SetLlm(server.BaseUrl);

        var (exitCode, output, error) = await CliRunner.RunAsync("search", "--kb", _kb, "--text", "deck", "--threshold", "0", "--rerank", "llm");

        Assert.True(exitCode == 0, error);
        Assert.Contains("LLM rerank failed, search order kept: the LLM's reply was not usable: it holds no JSON array", output, StringComparison.Ordinal);
        Assert.DoesNotContain("LLM grade", output, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("llm:0")]
    [InlineData("llm:51")]
    [InlineData("gpt")]
    public async Task Search_RerankWordNotUnderstood_IsAUsageError(string word)
    {
        var (exitCode, _, error) = await CliRunner.RunAsync("search", "--kb", _kb, "--text", "deck", "--rerank", word);

        Assert.NotEqual(0, exitCode);
        Assert.Contains("--rerank must be llm or llm:N", error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Ask_RerankLlm_GradesTheSourcesBeforeAnsweringAndPrintsTheGrades()
    {
        await using var server = new FakeOpenAiServer();
        server.Enqueue(Reply.Text("""[{"id": 2, "grade": 3, "reason": "the deck page"}]"""), Reply.Text("Oil it twice a year [1]."));
        SetLlm(server.BaseUrl);

        var (exitCode, output, error) = await CliRunner.RunAsync("ask", "--kb", _kb, "How do I oil a deck?", "--threshold", "0", "--k", "2",
            "--rerank", "llm:4", "--format", "json");

        Assert.True(exitCode == 0, error);
        Assert.Equal(2, server.Requests.Count);
        using var json = JsonDocument.Parse(output);
        Assert.Equal("applied", json.RootElement.GetProperty("rerank").GetProperty("status").GetString());
        var first = json.RootElement.GetProperty("sources")[0];
        Assert.Equal((3, "the deck page"), (first.GetProperty("rerank_grade").GetInt32(), first.GetProperty("rerank_reason").GetString()));
        Assert.Equal(2, json.RootElement.GetProperty("sources").GetArrayLength());
    }

    [Fact]
    public async Task Eval_RerankLlm_CountsTheRerankedQueriesAndAFailedRerankScoresTheSearchOrder()
    {
        var queries = Path.Combine(_temp.Path, "queries.jsonl");
        await File.WriteAllLinesAsync(queries,
        [
            """{"text": "How do I oil a deck?", "target": "all", "relevant": ["samples/docs/woodwork.html"]}""",
            """{"text": "marigolds and tomatoes", "target": "text", "relevant": ["samples/docs/garden-guide.md"]}""",
        ]);
        await using var server = new FakeOpenAiServer { DefaultReply = Reply.Text("""[{"id": 2, "grade": 3, "reason": "x"}]""") };
        SetLlm(server.BaseUrl);
        string[] eval = ["eval", "--kb", _kb, "--queries", queries, "--format", "json"];

        var plain = await CliRunner.RunAsync(eval);
        var applied = await CliRunner.RunAsync([.. eval, "--rerank", "llm"]);
        server.DefaultReply = Reply.Error(400, "model does not take images"); // not retried
        var failed = await CliRunner.RunAsync([.. eval, "--rerank", "llm:5"]);

        Assert.True(plain.ExitCode == 0 && applied.ExitCode == 0 && failed.ExitCode == 0, plain.Error + applied.Error + failed.Error);
        Assert.Equal(4, server.Requests.Count); // one per query and run with --rerank
        using var plainJson = JsonDocument.Parse(plain.Output);
        using var appliedJson = JsonDocument.Parse(applied.Output);
        using var failedJson = JsonDocument.Parse(failed.Output);
        Assert.False(plainJson.RootElement.TryGetProperty("rerank", out _));
        Assert.Equal((2, 0, 0), Counts(appliedJson.RootElement.GetProperty("rerank")));
        Assert.Equal((0, 2, 0), Counts(failedJson.RootElement.GetProperty("rerank")));
        Assert.Contains("HTTP 400", failedJson.RootElement.GetProperty("rerank").GetProperty("first_problem").GetString(), StringComparison.Ordinal);
        Assert.Equal(plainJson.RootElement.GetProperty("overall").GetRawText(), failedJson.RootElement.GetProperty("overall").GetRawText());

        static (int, int, int) Counts(JsonElement rerank) =>
            (rerank.GetProperty("applied").GetInt32(), rerank.GetProperty("failed").GetInt32(), rerank.GetProperty("skipped").GetInt32());
    }

    /// <summary>
    /// Points this test's commands at <paramref name="baseUrl"/> (null: no LLM). The setting holds for the calling test's
    /// flow only (<see cref="CliEnvironment"/>), so a test in another class running at the same time never reads it.
    /// </summary>
    internal static void SetLlm(string? baseUrl) => CliEnvironment.Override(new Dictionary<string, string?>
    {
        ["MMRAG_LLM_BASE_URL"] = baseUrl,
        ["MMRAG_LLM_MODEL"] = baseUrl is null ? null : "llama3.2-vision",
        ["MMRAG_LLM_API_KEY"] = null,
        ["MMRAG_LLM_CAPTION_MODEL"] = null,
    });

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
