using System.Collections.Concurrent;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text;

namespace Mmrag.Clip.Tests.Models;

/// <summary>
/// A loopback HTTP/1.1 server that answers like the HuggingFace hub's <c>resolve</c> endpoint:
/// <c>/{repo}/resolve/{revision}/{file}</c> with HEAD and GET; LFS files (<c>*.onnx</c>) answer with a 302 to
/// <c>/lfs/{sha256}</c> carrying <c>X-Linked-Etag</c> / <c>X-Linked-Size</c>, small files with 200 + ETag +
/// Content-Length; every response has <c>X-Repo-Commit</c>. GETs honour <c>Range: bytes=N-</c>.
/// Raw sockets so a test can cut a transfer after an exact byte count. One request per connection.
/// </summary>
internal sealed class FakeHub : IAsyncDisposable
{
    public const string Commit = "0123456789abcdef0123456789abcdef01234567";

    private readonly TcpListener _listener;
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _acceptLoop;
    private readonly ConcurrentBag<Task> _connections = [];
    private readonly Dictionary<string, byte[]> _files;
    private readonly Dictionary<string, string> _sha256;

    public FakeHub(string repository, IReadOnlyDictionary<string, byte[]> files)
    {
        Repository = repository;
        _files = new Dictionary<string, byte[]>(files);
        _sha256 = _files.ToDictionary(f => f.Key, f => Convert.ToHexStringLower(SHA256.HashData(f.Value)));
        _listener = new TcpListener(IPAddress.Loopback, 0);
        _listener.Start();
        Endpoint = new Uri($"http://127.0.0.1:{((IPEndPoint)_listener.LocalEndpoint).Port}/");
        _acceptLoop = AcceptLoopAsync();
    }

    public string Repository { get; }

    public Uri Endpoint { get; }

    public ConcurrentQueue<HubRequest> Requests { get; } = new();

    /// <summary>Next GET of the file sends this many body bytes, then closes the connection (once per entry).</summary>
    public ConcurrentDictionary<string, int> CutAfter { get; } = new();

    /// <summary>Next GET of the file sends this many body bytes, then stalls until the hub is disposed (once per entry).</summary>
    public ConcurrentDictionary<string, int> StallAfter { get; } = new();

    /// <summary>Completed when a stalled transfer has sent its bytes.</summary>
    public TaskCompletionSource StallReached { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>Files whose served bytes have one byte flipped (HEAD still publishes the true checksum).</summary>
    public ConcurrentDictionary<string, bool> Corrupt { get; } = new();

    /// <summary>Requests for the file answer 503 this many times first.</summary>
    public ConcurrentDictionary<string, int> Unavailable { get; } = new();

    /// <summary>Answer GETs with 200 and the whole file even when a range is asked for.</summary>
    public bool IgnoreRange { get; set; }

    /// <summary>Publish no sizes (no X-Linked-Size, no Content-Length on HEAD).</summary>
    public bool OmitSizes { get; set; }

    public string Sha256Of(string file) => _sha256[file];

    public IEnumerable<HubRequest> RequestsFor(string file) => Requests.Where(r => r.File == file);

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        _listener.Stop();
        try
        {
            await _acceptLoop;
        }
        catch (Exception e) when (e is OperationCanceledException or SocketException or ObjectDisposedException)
        {
        }

        await Task.WhenAll(_connections);
        _stop.Dispose();
    }

    private async Task AcceptLoopAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            var client = await _listener.AcceptTcpClientAsync(_stop.Token);
            _connections.Add(Task.Run(() => ServeConnectionAsync(client)));
        }
    }

    private async Task ServeConnectionAsync(TcpClient client)
    {
        using (client)
        {
            try
            {
                var stream = client.GetStream();
                var request = await ReadRequestAsync(stream);
                if (request is not null)
                {
                    Requests.Enqueue(request);
                    await RespondAsync(stream, request);
                }

                client.Client.Shutdown(SocketShutdown.Both);
            }
            catch (Exception e) when (e is IOException or SocketException or OperationCanceledException or ObjectDisposedException)
            {
                // The client went away (cancellation, cut transfer) or the hub is stopping.
            }
        }
    }

    private static async Task<HubRequest?> ReadRequestAsync(NetworkStream stream)
    {
        var buffer = new byte[16 * 1024];
        var length = 0;
        while (true)
        {
            var read = await stream.ReadAsync(buffer.AsMemory(length));
            if (read == 0)
            {
                return null;
            }

            length += read;
            var text = Encoding.ASCII.GetString(buffer, 0, length);
            var end = text.IndexOf("\r\n\r\n", StringComparison.Ordinal);
            if (end >= 0)
            {
                var lines = text[..end].Split("\r\n");
                var parts = lines[0].Split(' ');
                var headers = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
                foreach (var line in lines.Skip(1))
                {
                    var colon = line.IndexOf(':', StringComparison.Ordinal);
                    headers[line[..colon].Trim()] = line[(colon + 1)..].Trim();
                }

                return new HubRequest(parts[0], Uri.UnescapeDataString(parts[1]), headers);
            }

            if (length == buffer.Length)
            {
                return null;
            }
        }
    }

    private async Task RespondAsync(NetworkStream stream, HubRequest request)
    {
        var path = request.Path.Split('?')[0];
        if (path.StartsWith("/lfs/", StringComparison.Ordinal))
        {
            var sha = path["/lfs/".Length..];
            var file = _sha256.FirstOrDefault(f => f.Value == sha).Key;
            request.File = file;
            if (file is null)
            {
                await WriteAsync(stream, request, 404, "Not Found", [], Encoding.ASCII.GetBytes("no such object"));
                return;
            }

            await ServeContentAsync(stream, request, file);
            return;
        }

        var prefix = $"/{Repository}/resolve/";
        if (!path.StartsWith(prefix, StringComparison.Ordinal))
        {
            await WriteAsync(stream, request, 404, "Not Found", [("X-Error-Code", "RepoNotFound")], Encoding.ASCII.GetBytes("Repository not found"));
            return;
        }

        var rest = path[prefix.Length..];
        var slash = rest.IndexOf('/', StringComparison.Ordinal);
        var revision = rest[..slash];
        var name = rest[(slash + 1)..];
        request.File = name;
        request.Revision = revision;
        if (revision is not ("main" or Commit))
        {
            await WriteAsync(stream, request, 404, "Not Found", [("X-Error-Code", "RevisionNotFound")], Encoding.ASCII.GetBytes("Revision not found"));
            return;
        }

        if (!_files.TryGetValue(name, out var content))
        {
            await WriteAsync(stream, request, 404, "Not Found", [("X-Error-Code", "EntryNotFound"), ("X-Repo-Commit", Commit)], Encoding.ASCII.GetBytes("Entry not found"));
            return;
        }

        if (TakeUnavailable(name))
        {
            await WriteAsync(stream, request, 503, "Service Unavailable", [], Encoding.ASCII.GetBytes("try later"));
            return;
        }

        if (name.EndsWith(".onnx", StringComparison.Ordinal))
        {
            // LFS: the hub redirects to the storage; the checksum and size are on the redirect.
            var location = new Uri(Endpoint, $"lfs/{_sha256[name]}").AbsoluteUri;
            List<(string, string)> headers =
            [
                ("Location", location),
                ("ETag", $"\"{_sha256[name]}\""),
                ("X-Linked-Etag", $"\"{_sha256[name]}\""),
                ("X-Repo-Commit", Commit),
            ];
            if (!OmitSizes)
            {
                headers.Add(("X-Linked-Size", content.Length.ToString(CultureInfo.InvariantCulture)));
            }

            await WriteAsync(stream, request, 302, "Found", headers, Encoding.ASCII.GetBytes($"Found. Redirecting to {location}"));
            return;
        }

        if (request.Method == "HEAD")
        {
            // HF sends the git blob SHA-1 here; any 40-hex value will do for a client that must not treat it as SHA-256.
            List<(string, string)> headers = [("ETag", $"\"{_sha256[name][..40]}\""), ("X-Repo-Commit", Commit)];
            await WriteAsync(stream, request, 200, "OK", headers, OmitSizes ? null : (ReadOnlyMemory<byte>?)content, headOnly: true);
            return;
        }

        await ServeContentAsync(stream, request, name);
    }

    private bool TakeUnavailable(string file)
    {
        while (Unavailable.TryGetValue(file, out var left) && left > 0)
        {
            if (Unavailable.TryUpdate(file, left - 1, left))
            {
                return true;
            }
        }

        return false;
    }

    private async Task ServeContentAsync(NetworkStream stream, HubRequest request, string file)
    {
        var content = _files[file];
        if (Corrupt.ContainsKey(file))
        {
            content = (byte[])content.Clone();
            content[content.Length / 2] ^= 0xFF;
        }

        List<(string, string)> headers = [("ETag", $"\"{_sha256[file]}\""), ("Accept-Ranges", "bytes")];
        var status = 200;
        var reason = "OK";
        var body = content.AsMemory();
        if (!IgnoreRange && request.Range is { } range && range.StartsWith("bytes=", StringComparison.Ordinal) && range.EndsWith('-'))
        {
            var from = long.Parse(range["bytes=".Length..^1], CultureInfo.InvariantCulture);
            if (from >= content.Length)
            {
                headers.Add(("Content-Range", $"bytes */{content.Length}"));
                await WriteAsync(stream, request, 416, "Range Not Satisfiable", headers, ReadOnlyMemory<byte>.Empty);
                return;
            }

            status = 206;
            reason = "Partial Content";
            headers.Add(("Content-Range", $"bytes {from}-{content.Length - 1}/{content.Length}"));
            body = content.AsMemory((int)from);
        }

        if (request.Method == "HEAD")
        {
            await WriteAsync(stream, request, status, reason, headers, body, headOnly: true);
            return;
        }

        if (CutAfter.TryRemove(file, out var cut))
        {
            await WriteAsync(stream, request, status, reason, headers, body, sendOnly: cut);
            return;
        }

        if (StallAfter.TryRemove(file, out var stall))
        {
            await WriteAsync(stream, request, status, reason, headers, body, sendOnly: stall);
            StallReached.TrySetResult();
            await Task.Delay(TimeSpan.FromSeconds(30), _stop.Token);
            return;
        }

        await WriteAsync(stream, request, status, reason, headers, body);
    }

    private static async Task WriteAsync(
        NetworkStream stream,
        HubRequest request,
        int status,
        string reason,
        List<(string Name, string Value)> headers,
        ReadOnlyMemory<byte>? body,
        bool headOnly = false,
        int? sendOnly = null)
    {
        var head = new StringBuilder();
        head.Append(CultureInfo.InvariantCulture, $"HTTP/1.1 {status} {reason}\r\n");
        foreach (var (name, value) in headers)
        {
            head.Append(CultureInfo.InvariantCulture, $"{name}: {value}\r\n");
        }

        if (body is { } length)
        {
            head.Append(CultureInfo.InvariantCulture, $"Content-Length: {length.Length}\r\n");
        }

        head.Append("Connection: close\r\n\r\n");
        await stream.WriteAsync(Encoding.ASCII.GetBytes(head.ToString()));
        if (body is { } bytes && !headOnly && request.Method != "HEAD")
        {
            await stream.WriteAsync(sendOnly is int n ? bytes[..Math.Min(n, bytes.Length)] : bytes);
        }

        await stream.FlushAsync();
    }
}

internal sealed record HubRequest(string Method, string Path, IReadOnlyDictionary<string, string> Headers)
{
    public string? File { get; set; }

    public string? Revision { get; set; }

    public string? Range => Headers.TryGetValue("Range", out var range) ? range : null;
}
