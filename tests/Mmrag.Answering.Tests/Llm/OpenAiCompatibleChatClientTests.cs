using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.AI;
using Mmrag.Answering.Llm;
using Mmrag.Answering.Tests.Fakes;

namespace Mmrag.Answering.Tests.Llm;

public sealed class OpenAiCompatibleChatClientTests
{
    private static LlmOptions Options(string baseUrl, int maxRetries = 3) => new()
    {
        BaseUrl = baseUrl,
        Model = "test-vision",
        ApiKey = "sk-test",
        MaxRetries = maxRetries,
        RetryBaseDelay = TimeSpan.FromMilliseconds(20),
        Timeout = TimeSpan.FromSeconds(10),
    };

    private static readonly ChatMessage[] Hello = [new(ChatRole.System, "be brief"), new(ChatRole.User, "hello")];

    [Fact]
    public async Task GetResponse_PlainRequest_SendsModelRolesAndTokenLimitAndReturnsTextAndUsage()
    {
        await using var server = new FakeOpenAiServer();
        server.Enqueue(Reply.Text("Hi ", "there"));
        var client = OpenAiCompatibleChatClientFactory.Create(Options(server.BaseUrl));

        var response = await client.GetResponseAsync(Hello, new ChatOptions { MaxOutputTokens = 33 });

        Assert.Equal("Hi there", response.Text);
        Assert.Equal(FakeOpenAiServer.PromptTokens + FakeOpenAiServer.CompletionTokens, response.Usage?.TotalTokenCount);
        var request = Assert.Single(server.Requests);
        Assert.Equal("POST", request.Method);
        Assert.Equal("/v1/chat/completions", request.Path);
        Assert.Equal("Bearer sk-test", request.Headers["Authorization"]);
        Assert.Equal("test-vision", request.Json["model"]!.GetValue<string>());
        Assert.Equal(33, request.Json["max_completion_tokens"]!.GetValue<int>());
        Assert.Equal(["system", "user"], request.Roles());
        Assert.Equal("hello", Wire.AllText(request.Messages()[1]!));
    }

    [Fact]
    public async Task GetResponse_NoApiKey_StillSendsRequest()
    {
        await using var server = new FakeOpenAiServer();
        var options = Options(server.BaseUrl);
        options.ApiKey = null;

        var response = await OpenAiCompatibleChatClientFactory.Create(options).GetResponseAsync(Hello);

        Assert.Equal("OK", response.Text);
    }

    [Fact]
    public async Task GetResponse_429WithRetryAfter_WaitsAndRetries()
    {
        await using var server = new FakeOpenAiServer();
        server.Enqueue(Reply.Error(429, "slow down", ("Retry-After", "1")), Reply.Text("done"));
        var client = OpenAiCompatibleChatClientFactory.Create(Options(server.BaseUrl));

        var watch = Stopwatch.StartNew();
        var response = await client.GetResponseAsync(Hello);

        Assert.Equal("done", response.Text);
        Assert.Equal(2, server.Requests.Count);
        Assert.True(watch.Elapsed >= TimeSpan.FromMilliseconds(900), $"retried after {watch.Elapsed}, before the server's Retry-After of 1 s");
    }

    [Fact]
    public async Task GetResponse_Two503s_RetriesWithBackoffUntilSuccess()
    {
        await using var server = new FakeOpenAiServer();
        server.Enqueue(Reply.Error(503, "overloaded"), Reply.Error(503, "overloaded"), Reply.Text("finally"));

        var response = await OpenAiCompatibleChatClientFactory.Create(Options(server.BaseUrl)).GetResponseAsync(Hello);

        Assert.Equal("finally", response.Text);
        Assert.Equal(3, server.Requests.Count);
    }

    [Fact]
    public async Task GetResponse_500BeyondRetries_ThrowsLlmExceptionWithStatusAndUrl()
    {
        await using var server = new FakeOpenAiServer { DefaultReply = Reply.Error(500, "boom") };

        var ex = await Assert.ThrowsAsync<LlmException>(() => OpenAiCompatibleChatClientFactory.Create(Options(server.BaseUrl, maxRetries: 2)).GetResponseAsync(Hello));

        Assert.Equal(500, ex.StatusCode);
        Assert.Contains(server.BaseUrl, ex.Message, StringComparison.Ordinal);
        Assert.Equal(3, server.Requests.Count);
    }

    [Fact]
    public async Task GetResponse_400_ThrowsWithoutRetryAndCarriesServerMessage()
    {
        await using var server = new FakeOpenAiServer { DefaultReply = Reply.Error(400, "image_url is not supported by this model") };

        var ex = await Assert.ThrowsAsync<LlmException>(() => OpenAiCompatibleChatClientFactory.Create(Options(server.BaseUrl)).GetResponseAsync(Hello));

        Assert.Equal(400, ex.StatusCode);
        Assert.False(ex.IsTransient);
        Assert.Contains("image_url is not supported", ex.Message, StringComparison.Ordinal);
        Assert.Single(server.Requests);
    }

    [Fact]
    public async Task GetResponse_SlowServer_ThrowsLlmExceptionAfterTimeout()
    {
        await using var server = new FakeOpenAiServer { DefaultReply = Reply.Slow(TimeSpan.FromSeconds(5), Reply.Text("late")) };
        var options = Options(server.BaseUrl, maxRetries: 0);
        options.Timeout = TimeSpan.FromMilliseconds(300);

        var watch = Stopwatch.StartNew();
        var ex = await Assert.ThrowsAsync<LlmException>(() => OpenAiCompatibleChatClientFactory.Create(options).GetResponseAsync(Hello));

        Assert.Contains("timeout", ex.Message, StringComparison.OrdinalIgnoreCase);
        Assert.Contains(server.BaseUrl, ex.Message, StringComparison.Ordinal);
        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(4), $"took {watch.Elapsed}");
    }

    [Fact]
    public async Task GetResponse_CallerCancels_ThrowsOperationCanceled()
    {
        await using var server = new FakeOpenAiServer { DefaultReply = Reply.Slow(TimeSpan.FromSeconds(5), Reply.Text("late")) };
        using var cts = new CancellationTokenSource(TimeSpan.FromMilliseconds(200));

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => OpenAiCompatibleChatClientFactory.Create(Options(server.BaseUrl)).GetResponseAsync(Hello, cancellationToken: cts.Token));
    }

    [Fact]
    public async Task GetResponse_ClosedPort_ThrowsLlmExceptionNamingTheUrl()
    {
        var probe = new TcpListener(IPAddress.Loopback, 0);
        probe.Start();
        var port = ((IPEndPoint)probe.LocalEndpoint).Port;
        probe.Stop();
        var url = $"http://127.0.0.1:{port}/v1";

        var ex = await Assert.ThrowsAsync<LlmException>(() => OpenAiCompatibleChatClientFactory.Create(Options(url, maxRetries: 0)).GetResponseAsync(Hello));

        Assert.Contains(url, ex.Message, StringComparison.Ordinal);
        Assert.Contains("Could not reach", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task GetResponse_GarbageBody_ThrowsLlmException()
    {
        await using var server = new FakeOpenAiServer { DefaultReply = Reply.Garbage() };

        var ex = await Assert.ThrowsAsync<LlmException>(() => OpenAiCompatibleChatClientFactory.Create(Options(server.BaseUrl)).GetResponseAsync(Hello));

        Assert.Contains(server.BaseUrl, ex.Message, StringComparison.Ordinal);
        Assert.Single(server.Requests);
    }

    [Theory]
    [InlineData("{}")]
    [InlineData("{\"choices\":5}")]
    [InlineData("{\"id\":\"a\",\"created\":1,\"model\":\"m\",\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":\"x\"},\"finish_reason\":\"weird\"}]}")]
    public async Task GetResponse_JsonThatIsNotACompletion_ThrowsLlmException(string body)
    {
        await using var server = new FakeOpenAiServer { DefaultReply = Reply.Raw(200, body) };

        var ex = await Assert.ThrowsAsync<LlmException>(() => OpenAiCompatibleChatClientFactory.Create(Options(server.BaseUrl)).GetResponseAsync(Hello));

        Assert.Contains("not an OpenAI chat completion", ex.Message, StringComparison.Ordinal);
        Assert.False(ex.IsTransient);
    }

    [Fact]
    public async Task GetStreamingResponse_503ThenStream_RetriesAndStreamsTokensInOrderWithUsage()
    {
        await using var server = new FakeOpenAiServer();
        server.Enqueue(Reply.Error(503, "warming up"), Reply.Text("a", "b", "c"));
        var client = OpenAiCompatibleChatClientFactory.Create(Options(server.BaseUrl));

        var texts = new List<string>();
        UsageDetails? usage = null;
        await foreach (var update in client.GetStreamingResponseAsync(Hello))
        {
            if (update.Text.Length > 0)
            {
                texts.Add(update.Text);
            }

            usage = update.Contents.OfType<UsageContent>().FirstOrDefault()?.Details ?? usage;
        }

        Assert.Equal(["a", "b", "c"], texts);
        Assert.Equal(FakeOpenAiServer.CompletionTokens, usage?.OutputTokenCount);
        Assert.Equal(2, server.Requests.Count);
        Assert.All(server.Requests, r => Assert.True(r.IsStreaming));
        Assert.True(server.Requests[1].Json["stream_options"]!["include_usage"]!.GetValue<bool>());
    }

    [Fact]
    public async Task GetStreamingResponse_GarbageBody_ThrowsLlmException()
    {
        await using var server = new FakeOpenAiServer { DefaultReply = Reply.Raw(200, "data: {not json\n\n") };
        var client = OpenAiCompatibleChatClientFactory.Create(Options(server.BaseUrl));

        await Assert.ThrowsAsync<LlmException>(async () =>
        {
            await foreach (var _ in client.GetStreamingResponseAsync(Hello))
            {
            }
        });
    }
}
