using System.Collections.Concurrent;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Mmrag.Answering.Tests.Fakes;

/// <summary>A request the fake server received.</summary>
internal sealed record RecordedRequest(string Method, string Path, IReadOnlyDictionary<string, string> Headers, string Body)
{
    public JsonNode Json => JsonNode.Parse(Body)!;

    public bool IsStreaming => Json["stream"]?.GetValue<bool>() == true;
}

/// <summary>What the fake server answers to one request.</summary>
internal abstract record Reply
{
    /// <summary>A chat completion with these text pieces: JSON, or SSE chunks (one per piece) when the request streams.</summary>
    public static Reply Text(params string[] pieces) => new TextReply(pieces, TimeSpan.Zero);

    public static Reply Raw(int status, string body = "", params (string Name, string Value)[] headers) => new RawReply(status, body, headers);

    public static Reply Error(int status, string message, params (string Name, string Value)[] headers) =>
        new RawReply(status, JsonSerializer.Serialize(new { error = new { message, type = "invalid_request_error", code = (string?)null } }), headers);

    public static Reply Garbage() => new RawReply(200, "<html>this is not a chat completion", []);

    public static Reply Slow(TimeSpan delay, Reply then) => new SlowReply(delay, then);
}

internal sealed record TextReply(string[] Pieces, TimeSpan Gap) : Reply;

internal sealed record RawReply(int Status, string Body, (string Name, string Value)[] Headers) : Reply;

internal sealed record SlowReply(TimeSpan Delay, Reply Then) : Reply;

/// <summary>
/// A real HTTP/1.1 server on 127.0.0.1 speaking the OpenAI chat completions protocol (POST /v1/chat/completions,
/// JSON or SSE with usage in the last chunk). Replies come from <see cref="Enqueue"/> in order, then the default
/// ("OK"). Every request is recorded. One connection per request (Connection: close).
/// </summary>
internal sealed class FakeOpenAiServer : IAsyncDisposable
{
    public const int PromptTokens = 11;
    public const int CompletionTokens = 7;

    private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
    private readonly CancellationTokenSource _stop = new();
    private readonly ConcurrentQueue<Reply> _script = new();
    private readonly List<RecordedRequest> _requests = [];
    private readonly Task _acceptLoop;

    public FakeOpenAiServer()
    {
        _listener.Start();
        _acceptLoop = Task.Run(AcceptLoopAsync);
    }

    public int Port => ((IPEndPoint)_listener.LocalEndpoint).Port;

    public string BaseUrl => $"http://127.0.0.1:{Port}/v1";

    public Reply DefaultReply { get; set; } = Reply.Text("OK");

    public IReadOnlyList<RecordedRequest> Requests
    {
        get
        {
            lock (_requests)
            {
                return [.. _requests];
            }
        }
    }

    public FakeOpenAiServer Enqueue(params Reply[] replies)
    {
        foreach (var reply in replies)
        {
            _script.Enqueue(reply);
        }

        return this;
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        _listener.Stop();
        try
        {
            await _acceptLoop;
        }
        catch (Exception ex) when (ex is OperationCanceledException or SocketException or ObjectDisposedException)
        {
        }

        _stop.Dispose();
    }

    private async Task AcceptLoopAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            TcpClient client;
            try
            {
                client = await _listener.AcceptTcpClientAsync(_stop.Token);
            }
            catch (Exception ex) when (ex is OperationCanceledException or SocketException or ObjectDisposedException)
            {
                return;
            }

            _ = Task.Run(() => ServeAsync(client));
        }
    }

    private async Task ServeAsync(TcpClient client)
    {
        using var _ = client;
        try
        {
            var stream = client.GetStream();
            var request = await ReadRequestAsync(stream, _stop.Token);
            lock (_requests)
            {
                _requests.Add(request);
            }

            var reply = _script.TryDequeue(out var next) ? next : DefaultReply;
            await WriteReplyAsync(stream, request, reply, _stop.Token);
        }
        catch (Exception ex) when (ex is IOException or OperationCanceledException or SocketException or ObjectDisposedException)
        {
            // the client gave up (timeout tests) or the server is stopping
        }
    }

    private static async Task<RecordedRequest> ReadRequestAsync(NetworkStream stream, CancellationToken cancellationToken)
    {
        var head = new List<byte>();
        var one = new byte[1];
        while (head.Count < 4 || head[^4] != '\r' || head[^3] != '\n' || head[^2] != '\r' || head[^1] != '\n')
        {
            if (await stream.ReadAsync(one, cancellationToken) == 0)
            {
                throw new IOException("connection closed in headers");
            }

            head.Add(one[0]);
        }

        var lines = Encoding.ASCII.GetString([.. head]).Split("\r\n", StringSplitOptions.RemoveEmptyEntries);
        var requestLine = lines[0].Split(' ');
        var headers = lines.Skip(1).Select(l => l.Split(':', 2)).ToDictionary(p => p[0].Trim(), p => p[1].Trim(), StringComparer.OrdinalIgnoreCase);
        byte[] body;
        if (headers.TryGetValue("Content-Length", out var length))
        {
            body = new byte[int.Parse(length, CultureInfo.InvariantCulture)];
            await stream.ReadExactlyAsync(body, cancellationToken);
        }
        else if (headers.TryGetValue("Transfer-Encoding", out var te) && te.Contains("chunked", StringComparison.OrdinalIgnoreCase))
        {
            using var buffer = new MemoryStream();
            while (true)
            {
                var sizeLine = await ReadLineAsync(stream, cancellationToken);
                var size = int.Parse(sizeLine.Split(';')[0], NumberStyles.HexNumber, CultureInfo.InvariantCulture);
                if (size == 0)
                {
                    await ReadLineAsync(stream, cancellationToken);
                    break;
                }

                var chunk = new byte[size];
                await stream.ReadExactlyAsync(chunk, cancellationToken);
                buffer.Write(chunk);
                await ReadLineAsync(stream, cancellationToken);
            }

            body = buffer.ToArray();
        }
        else
        {
            body = [];
        }

        return new RecordedRequest(requestLine[0], requestLine[1], headers, Encoding.UTF8.GetString(body));
    }

    private static async Task<string> ReadLineAsync(NetworkStream stream, CancellationToken cancellationToken)
    {
        var line = new StringBuilder();
        var one = new byte[1];
        while (await stream.ReadAsync(one, cancellationToken) == 1)
        {
            if (one[0] == '\n')
            {
                break;
            }

            if (one[0] != '\r')
            {
                line.Append((char)one[0]);
            }
        }

        return line.ToString();
    }

    private static async Task WriteReplyAsync(NetworkStream stream, RecordedRequest request, Reply reply, CancellationToken cancellationToken)
    {
        switch (reply)
        {
            case SlowReply slow:
                await Task.Delay(slow.Delay, cancellationToken);
                await WriteReplyAsync(stream, request, slow.Then, cancellationToken);
                return;
            case RawReply raw:
                await WriteRawAsync(stream, raw.Status, "application/json", raw.Body, raw.Headers, cancellationToken);
                return;
            case TextReply text when request.Path != "/v1/chat/completions" || request.Method != "POST":
                await WriteRawAsync(stream, 404, "application/json", "{\"error\":{\"message\":\"unknown path " + request.Path + "\"}}", [], cancellationToken);
                return;
            case TextReply text when request.IsStreaming:
                await WriteStreamAsync(stream, text, cancellationToken);
                return;
            case TextReply text:
                var completion = new JsonObject
                {
                    ["id"] = "chatcmpl-test",
                    ["object"] = "chat.completion",
                    ["created"] = 1_700_000_000,
                    ["model"] = request.Json["model"]?.GetValue<string>(),
                    ["choices"] = new JsonArray(new JsonObject
                    {
                        ["index"] = 0,
                        ["message"] = new JsonObject { ["role"] = "assistant", ["content"] = string.Concat(text.Pieces) },
                        ["finish_reason"] = "stop",
                    }),
                    ["usage"] = Usage(),
                };
                await WriteRawAsync(stream, 200, "application/json", completion.ToJsonString(), [], cancellationToken);
                return;
            default:
                throw new InvalidOperationException("unknown reply");
        }
    }

    private static JsonObject Usage() => new()
    {
        ["prompt_tokens"] = PromptTokens,
        ["completion_tokens"] = CompletionTokens,
        ["total_tokens"] = PromptTokens + CompletionTokens,
    };

    private static async Task WriteStreamAsync(NetworkStream stream, TextReply text, CancellationToken cancellationToken)
    {
        var head = "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\nConnection: close\r\n\r\n";
        await stream.WriteAsync(Encoding.ASCII.GetBytes(head), cancellationToken);
        JsonObject Chunk(JsonNode? delta, string? finish, bool withUsage) => new()
        {
            ["id"] = "chatcmpl-test",
            ["object"] = "chat.completion.chunk",
            ["created"] = 1_700_000_000,
            ["model"] = "test-model",
            ["choices"] = delta is null ? new JsonArray() : new JsonArray(new JsonObject { ["index"] = 0, ["delta"] = delta, ["finish_reason"] = finish }),
            ["usage"] = withUsage ? Usage() : null,
        };

        var chunks = new List<JsonObject>();
        for (var i = 0; i < text.Pieces.Length; i++)
        {
            var delta = new JsonObject { ["content"] = text.Pieces[i] };
            if (i == 0)
            {
                delta["role"] = "assistant";
            }

            chunks.Add(Chunk(delta, null, false));
        }

        chunks.Add(Chunk(new JsonObject(), "stop", false));
        chunks.Add(Chunk(null, null, true));
        foreach (var chunk in chunks)
        {
            await stream.WriteAsync(Encoding.UTF8.GetBytes($"data: {chunk.ToJsonString()}\n\n"), cancellationToken);
            await stream.FlushAsync(cancellationToken);
            if (text.Gap > TimeSpan.Zero)
            {
                await Task.Delay(text.Gap, cancellationToken);
            }
        }

        await stream.WriteAsync("data: [DONE]\n\n"u8.ToArray(), cancellationToken);
        await stream.FlushAsync(cancellationToken);
    }

    private static async Task WriteRawAsync(NetworkStream stream, int status, string contentType, string body,
        (string Name, string Value)[] headers, CancellationToken cancellationToken)
    {
        var bytes = Encoding.UTF8.GetBytes(body);
        var head = new StringBuilder()
            .Append(CultureInfo.InvariantCulture, $"HTTP/1.1 {status} {ReasonPhrase(status)}\r\n")
            .Append(CultureInfo.InvariantCulture, $"Content-Type: {contentType}\r\n")
            .Append(CultureInfo.InvariantCulture, $"Content-Length: {bytes.Length}\r\n")
            .Append("Connection: close\r\n");
        foreach (var (name, value) in headers)
        {
            head.Append(CultureInfo.InvariantCulture, $"{name}: {value}\r\n");
        }

        head.Append("\r\n");
        await stream.WriteAsync(Encoding.ASCII.GetBytes(head.ToString()), cancellationToken);
        await stream.WriteAsync(bytes, cancellationToken);
        await stream.FlushAsync(cancellationToken);
    }

    private static string ReasonPhrase(int status) => status switch
    {
        200 => "OK",
        400 => "Bad Request",
        404 => "Not Found",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        _ => "Status",
    };
}

/// <summary>Reads the OpenAI wire format of recorded requests.</summary>
internal static class Wire
{
    public static JsonArray Messages(this RecordedRequest request) => request.Json["messages"]!.AsArray();

    public static IReadOnlyList<string> Roles(this RecordedRequest request) => [.. request.Messages().Select(m => m!["role"]!.GetValue<string>())];

    /// <summary>The content parts of a message ("text" parts and "image_url" parts); a string content is one text part.</summary>
    public static IReadOnlyList<JsonNode> Parts(JsonNode message)
    {
        var content = message["content"]!;
        return content is JsonValue
            ? [new JsonObject { ["type"] = "text", ["text"] = content.GetValue<string>() }]
            : [.. content.AsArray().Select(p => p!)];
    }

    public static string AllText(JsonNode message) =>
        string.Join("\n", Parts(message).Where(p => p["type"]!.GetValue<string>() == "text").Select(p => p["text"]!.GetValue<string>()));

    public static IReadOnlyList<string> ImageUrls(JsonNode message) =>
        [.. Parts(message).Where(p => p["type"]!.GetValue<string>() == "image_url").Select(p => p["image_url"]!["url"]!.GetValue<string>())];
}
