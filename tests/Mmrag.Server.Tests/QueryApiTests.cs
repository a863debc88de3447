using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using Mmrag.Answering.Tests.Fakes;

namespace Mmrag.Server.Tests;

/// <summary><c>/api/search</c> and <c>/api/ask</c> (JSON and SSE) against the real server on loopback.</summary>
[Collection("server")]
public sealed class QueryApiTests(ServerFixture fixture) : ApiTestBase(fixture)
{
    [Fact]
    public async Task Search_JsonText_ReturnsHitsInTheCliShape()
    {
        var result = await SearchAsync(new { text = "tomato plants and marigolds", k = 5, threshold = 0 });

        var hits = result.GetProperty("hits");
        Assert.InRange(hits.GetArrayLength(), 1, 5);
        foreach (var field in new[] { "id", "kind", "score", "raw_score", "source", "page", "section", "image_path", "matched_by" })
        {
            Assert.True(hits[0].TryGetProperty(field, out _), field);
        }

        Assert.True(result.TryGetProperty("embed_ms", out _));
        Assert.True(result.TryGetProperty("search_ms", out _));
    }

    [Fact]
    public async Task Search_ExactRecall_ReturnsTheSameHitsAsTheDefault()
    {
        // The sample knowledge base is small enough that the default search is exact too: the answer must not change.
        var byDefault = await SearchAsync(new { text = "tomato plants and marigolds", k = 5, threshold = 0 });
        var exact = await SearchAsync(new { text = "tomato plants and marigolds", k = 5, threshold = 0, recall = 1 });

        static string[] Ids(System.Text.Json.JsonElement result) =>
            [.. result.GetProperty("hits").EnumerateArray().Select(static h => h.GetProperty("id").GetString()!)];
        Assert.NotEmpty(Ids(exact));
        Assert.Equal(Ids(byDefault), Ids(exact));
    }

    [Fact]
    public async Task Search_RerankLlm_ReturnsTheGradedOrderWithGradesReasonsAndStatus()
    {
        var plain = await SearchAsync(new { text = "tomato plants and marigolds", k = 3, threshold = 0 });
        var asked = Fixture.Llm.Requests.Count;
        Fixture.Llm.Enqueue(Reply.Text("""[{"id": 2, "grade": 3, "reason": "marigolds among tomatoes"}, {"id": 1, "grade": 2, "reason": "tomatoes"}]"""));

        var reranked = await SearchAsync(new { text = "tomato plants and marigolds", k = 3, threshold = 0, rerank = "llm:3" });

        Assert.Equal(asked + 1, Fixture.Llm.Requests.Count);
        Assert.Equal("applied", reranked.GetProperty("rerank").GetProperty("status").GetString());
        static string[] Ids(JsonElement result) => [.. result.GetProperty("hits").EnumerateArray().Select(static h => h.GetProperty("id").GetString()!)];
        var before = Ids(plain);
        Assert.Equal([before[1], before[0], before[2]], Ids(reranked));
        var first = reranked.GetProperty("hits")[0];
        Assert.Equal((3, "marigolds among tomatoes"), (first.GetProperty("rerank_grade").GetInt32(), first.GetProperty("rerank_reason").GetString()));
        Assert.False(reranked.GetProperty("hits")[2].TryGetProperty("rerank_grade", out _)); // left out by the reply
    }

    [Fact]
    public async Task Search_RerankNotUnderstood_Returns400NamingTheField()
    {
        using var response = await Client.PostAsync("api/search", Json(new { text = "marigolds", rerank = "llm:500" }));

        var problem = await AssertProblemAsync(response, 400);
        Assert.Contains("'rerank' must be llm or llm:N", problem.GetProperty("detail").GetString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Search_TargetImages_ReturnsOnlyImages()
    {
        var result = await SearchAsync(new { text = "a flower", target = "images", threshold = 0 });

        Assert.NotEqual(0, result.GetProperty("hits").GetArrayLength());
        Assert.All(result.GetProperty("hits").EnumerateArray(), hit => Assert.Equal("image", hit.GetProperty("kind").GetString()));
    }

    [Fact]
    public async Task Search_Base64ImageInJson_FindsImages()
    {
        var photo = Directory.GetFiles(Path.Combine(Fixture.Samples, "photos"), "*.jpg")[0];
        var result = await SearchAsync(new { image = Convert.ToBase64String(await File.ReadAllBytesAsync(photo)), target = "images", threshold = 0, include_self = true });

        var first = result.GetProperty("hits")[0];
        Assert.Equal(Path.GetFileName(photo), Path.GetFileName(first.GetProperty("source").GetString()));
    }

    [Fact]
    public async Task Search_MultipartWithImageFile_FindsImages()
    {
        var photo = Directory.GetFiles(Path.Combine(Fixture.Samples, "photos"), "*.jpg")[1];
        using var form = new MultipartFormDataContent
        {
            { new StringContent("images"), "target" },
            { new StringContent("0"), "threshold" },
            { new StringContent("true"), "include_self" },
            { new ByteArrayContent(await File.ReadAllBytesAsync(photo)), "image", Path.GetFileName(photo) },
        };

        using var response = await PostFormAsync("api/search", form);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var first = (await ReadJsonAsync(response)).GetProperty("hits")[0];
        Assert.Equal(Path.GetFileName(photo), Path.GetFileName(first.GetProperty("source").GetString()));
    }

    [Theory]
    [InlineData("{}", "text")]
    [InlineData("{\"text\": \"x\", \"target\": \"videos\"}", "target")]
    [InlineData("{\"text\": \"x\", \"k\": \"ten\"}", "k")]
    [InlineData("{\"image\": \"%%%not-base64\"}", "base64")]
    [InlineData("not json at all", "JSON")]
    [InlineData("{\"text\": \"x\", \"recall\": 1.5}", "recall")]
    [InlineData("{\"text\": \"x\", \"k\": 1e12}", "k")]
    [InlineData("{\"text\": \"x\", \"k\": 2.5}", "integer")]
    [InlineData("{\"text\": \"x\", \"k\": 5000}", "at most 1000")]
    public async Task Search_InvalidRequest_Returns400Problem(string body, string mentioned)
    {
        using var response = await Client.PostAsync("api/search", new StringContent(body, Encoding.UTF8, "application/json"));

        var problem = await AssertProblemAsync(response, 400);
        Assert.Contains(mentioned, problem.GetProperty("detail").GetString(), StringComparison.OrdinalIgnoreCase);
    }

    [Fact]
    public async Task Search_UndecodableImage_Returns400Problem()
    {
        using var response = await Client.PostAsync("api/search", Json(new { image = Convert.ToBase64String("this is not an image"u8.ToArray()) }));

        await AssertProblemAsync(response, 400);
    }

    [Fact]
    public async Task Search_ImageOverThePixelLimit_Returns413WithoutDecoding()
    {
        // A PNG header claiming 100000 × 100000 pixels; the server must refuse it from the header alone.
        var png = new byte[33];
        new byte[] { 0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A, 0, 0, 0, 13, (byte)'I', (byte)'H', (byte)'D', (byte)'R' }.CopyTo(png, 0);
        System.Buffers.Binary.BinaryPrimitives.WriteUInt32BigEndian(png.AsSpan(16), 100_000);
        System.Buffers.Binary.BinaryPrimitives.WriteUInt32BigEndian(png.AsSpan(20), 100_000);
        png[24] = 8; // bit depth
        png[25] = 2; // colour type: RGB

        using var response = await Client.PostAsync("api/search", Json(new { image = Convert.ToBase64String(png) }));

        await AssertProblemAsync(response, 413);
    }

    [Fact]
    public async Task Search_ForgedJpegWithStrayByteBeforeDqt_Returns413WithoutDecoding()
    {
        // 950 KB-class trick: a stray byte before the quantization table hid the 9000 x 9000 frame header from a header walk.
        var jpeg = Mmrag.Clip.Tests.Preprocessing.TestJpeg.WithStrayByteBeforeDqt(Mmrag.Clip.Tests.Preprocessing.TestJpeg.ClaimingSize(9000, 9000));

        using var response = await Client.PostAsync("api/search", Json(new { image = Convert.ToBase64String(jpeg) }));

        await AssertProblemAsync(response, 413);
    }

    [Fact]
    public async Task Ask_Json_ReturnsTheAnswerWithCitationsAsTheCli()
    {
        Fixture.Llm.Enqueue(Reply.Text("Marigolds keep pests away [1]; ", "see also [2] and [42]."));

        using var response = await Client.PostAsync("api/ask", Json(new { question = "Why plant marigolds between tomatoes?", threshold = 0 }));

        Assert.True(response.IsSuccessStatusCode, await response.Content.ReadAsStringAsync());
        var answer = await ReadJsonAsync(response);
        Assert.Equal("Marigolds keep pests away [1]; see also [2] and [42].", answer.GetProperty("answer").GetString());
        Assert.Equal([1, 2], answer.GetProperty("citations").EnumerateArray().Select(static c => c.GetProperty("n").GetInt32()));
        Assert.Equal([42], answer.GetProperty("unresolved_citations").EnumerateArray().Select(static n => n.GetInt32()));
        Assert.Equal("Multimodal", answer.GetProperty("strategy").GetString());
        Assert.True(answer.GetProperty("sources").GetArrayLength() >= 2);
        Assert.Equal(FakeOpenAiServer.PromptTokens, answer.GetProperty("usage").GetProperty("input_tokens").GetInt32());
    }

    [Fact]
    public async Task Ask_Multipart_WithPhotoAndStrategy_SendsTheQuestion()
    {
        Fixture.Llm.Enqueue(Reply.Text("It is a flower [1]."));
        var photo = Directory.GetFiles(Path.Combine(Fixture.Samples, "photos"), "*.jpg")[0];
        using var form = new MultipartFormDataContent
        {
            { new StringContent("What is in this photo?"), "question" },
            { new StringContent("text+images"), "strategy" },
            { new StringContent("0"), "threshold" },
            { new ByteArrayContent(await File.ReadAllBytesAsync(photo)), "image", "photo.jpg" },
        };

        using var response = await PostFormAsync("api/ask", form);

        Assert.True(response.IsSuccessStatusCode, await response.Content.ReadAsStringAsync());
        var answer = await ReadJsonAsync(response);
        Assert.Equal("TextWithImages", answer.GetProperty("strategy").GetString());
        Assert.Equal("It is a flower [1].", answer.GetProperty("answer").GetString());
    }

    [Fact]
    public async Task Ask_EventStream_SendsSourcesTokensCitationsDoneInOrder()
    {
        Fixture.Llm.Enqueue(Reply.Text("Oil ", "the deck ", "in dry weather [1]."));

        var events = await AskStreamAsync(new { question = "How do I oil a deck?", threshold = 0 });

        Assert.Equal("sources", events[0].Name);
        Assert.True(events.Count(static e => e.Name == "token") >= 3, string.Join(",", events.Select(static e => e.Name)));
        Assert.Equal(["citations", "done"], events.TakeLast(2).Select(static e => e.Name));
        Assert.All(events.Skip(1).SkipLast(2), static e => Assert.Equal("token", e.Name));
        var sources = JsonDocument.Parse(events[0].Data).RootElement;
        Assert.True(sources.GetProperty("sources")[0].TryGetProperty("id", out _));
        var text = string.Concat(events.Where(static e => e.Name == "token").Select(static e => JsonDocument.Parse(e.Data).RootElement.GetProperty("text").GetString()));
        Assert.Equal("Oil the deck in dry weather [1].", text);
        Assert.Equal(1, JsonDocument.Parse(events[^2].Data).RootElement.GetProperty("citations")[0].GetProperty("n").GetInt32());
        Assert.Equal(text, JsonDocument.Parse(events[^1].Data).RootElement.GetProperty("answer").GetString());
    }

    [Fact]
    public async Task Ask_EventStream_LlmFails_EndsWithAnErrorEvent()
    {
        Fixture.Llm.Enqueue(Reply.Error(400, "model exploded"));

        var events = await AskStreamAsync(new { question = "How do I oil a deck?", threshold = 0 });

        Assert.Equal("sources", events[0].Name);
        Assert.Equal("error", events[^1].Name);
        Assert.DoesNotContain(events, static e => e.Name == "done");
        var problem = JsonDocument.Parse(events[^1].Data).RootElement;
        Assert.Equal(502, problem.GetProperty("status").GetInt32());
    }

    [Fact]
    public async Task Ask_EventStream_InvalidRequest_IsAProblemNotAStream()
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, "api/ask") { Content = Json(new { strategy = "telepathy", question = "x" }) };
        request.Headers.Accept.Clear();
        request.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue("text/event-stream"));

        using var response = await Client.SendAsync(request);

        await AssertProblemAsync(response, 400);
    }

    [Fact]
    public async Task Ask_ClientCancels_TheServerStopsWaitingForTheLlm()
    {
        // The fake LLM would answer after 20 s; the server only notices the client leaving if the request's token
        // reaches the LLM call, and then records the request as 499 long before that.
        Fixture.Llm.Enqueue(Reply.Slow(TimeSpan.FromSeconds(20), Reply.Text("too late")));
        var asked = Fixture.Llm.Requests.Count;
        using (var cancel = new CancellationTokenSource())
        {
            var post = Client.PostAsync("api/ask", Json(new { question = "How do I oil a deck?", threshold = 0 }), cancel.Token);
            // Leave once the question reached the LLM: a fixed delay may end before retrieval does on a loaded machine,
            // and then the slow reply would be left queued for the next test.
            var reached = DateTime.UtcNow.AddSeconds(30);
            while (Fixture.Llm.Requests.Count == asked && !post.IsCompleted && DateTime.UtcNow < reached)
            {
                await Task.Delay(20);
            }

            Assert.True(Fixture.Llm.Requests.Count > asked, "the question never reached the LLM");
            await cancel.CancelAsync();
            await Assert.ThrowsAnyAsync<OperationCanceledException>(() => post);
        }

        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (!(await Client.GetStringAsync("metrics")).Contains("route=\"/api/ask\",status=\"499\"", StringComparison.Ordinal))
        {
            Assert.True(DateTime.UtcNow < deadline, "the server kept waiting for the LLM after the client left");
            await Task.Delay(100);
        }
    }

    private async Task<List<(string Name, string Data)>> AskStreamAsync(object body)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, "api/ask") { Content = Json(body) };
        request.Headers.Accept.Clear();
        request.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue("text/event-stream"));
        using var response = await Client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("text/event-stream", response.Content.Headers.ContentType?.MediaType);
        var raw = await response.Content.ReadAsStringAsync();

        // Framing: every event is "event: NAME\ndata: JSON\n\n".
        Assert.EndsWith("\n\n", raw, StringComparison.Ordinal);
        var events = new List<(string, string)>();
        foreach (var frame in raw.Split("\n\n", StringSplitOptions.RemoveEmptyEntries))
        {
            var lines = frame.Split('\n');
            Assert.Equal(2, lines.Length);
            Assert.StartsWith("event: ", lines[0], StringComparison.Ordinal);
            Assert.StartsWith("data: ", lines[1], StringComparison.Ordinal);
            events.Add((lines[0]["event: ".Length..], lines[1]["data: ".Length..]));
        }

        return events;
    }
}
