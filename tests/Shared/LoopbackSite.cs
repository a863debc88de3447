using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace Mmrag.Testing;

/// <summary>
/// A web site on 127.0.0.1 that a test builds route by route (pages, images, robots.txt, redirects, slow or huge
/// answers), recording every request it is sent, so web ingestion is tested without the internet. Serves until disposed.
/// </summary>
internal sealed class LoopbackSite : IDisposable
{
    private readonly HttpListener _listener = new();
    private readonly ConcurrentDictionary<string, Func<HttpListenerContext, Task>> _routes = new(StringComparer.Ordinal);
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _serving;

    public LoopbackSite()
    {
        for (var attempt = 0; ; attempt++)
        {
            Port = FreePort();
            _listener.Prefixes.Clear();
            _listener.Prefixes.Add($"http://127.0.0.1:{Port}/");
            try
            {
                _listener.Start();
                break;
            }
            catch (HttpListenerException) when (attempt < 5)
            {
                // Another process took the port in between; try another.
            }
        }

        _serving = Task.Run(ServeAsync);
    }

    public int Port { get; }

    /// <summary>http://127.0.0.1:PORT</summary>
    public string BaseUrl => $"http://127.0.0.1:{Port}";

    public string Url(string path) => BaseUrl + path;

    /// <summary>Every request received: path and query, and its headers.</summary>
    public ConcurrentQueue<(string Path, System.Collections.Specialized.NameValueCollection Headers)> Requests { get; } = new();

    public int RequestsFor(string path) => Requests.Count(r => r.Path == path);

    /// <summary>Answers the requests no route matches (e.g. an API whose answer depends on the query); null answers 404.</summary>
    public Func<HttpListenerContext, Task>? Fallback { get; set; }

    public LoopbackSite Route(string path, Func<HttpListenerContext, Task> handler)
    {
        _routes[path] = handler;
        return this;
    }

    /// <summary>Serves <paramref name="body"/> with an ETag; answers 304 to a request whose If-None-Match matches it.</summary>
    public LoopbackSite Content(string path, string contentType, byte[] body, string? etag = null) => Route(path, async context =>
    {
        var tag = etag ?? $"\"{Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(body))[..16]}\"";
        context.Response.Headers["ETag"] = tag;
        if (context.Request.Headers["If-None-Match"] == tag)
        {
            context.Response.StatusCode = 304;
            context.Response.Close();
            return;
        }

        context.Response.ContentType = contentType;
        context.Response.ContentLength64 = body.Length;
        await context.Response.OutputStream.WriteAsync(body);
        context.Response.Close();
    });

    public LoopbackSite Html(string path, string html) => Content(path, "text/html; charset=utf-8", Encoding.UTF8.GetBytes(html));

    public LoopbackSite Status(string path, int status) => Route(path, context =>
    {
        context.Response.StatusCode = status;
        context.Response.Close();
        return Task.CompletedTask;
    });

    public LoopbackSite Redirect(string path, string location, int status = 302) => Route(path, context =>
    {
        context.Response.StatusCode = status;
        context.Response.RedirectLocation = location;
        context.Response.Close();
        return Task.CompletedTask;
    });

    private async Task ServeAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            HttpListenerContext context;
            try
            {
                context = await _listener.GetContextAsync();
            }
            catch (Exception) when (_stop.IsCancellationRequested || !_listener.IsListening)
            {
                return;
            }

            _ = Task.Run(async () =>
            {
                var path = context.Request.Url!.PathAndQuery;
                Requests.Enqueue((path, context.Request.Headers));
                try
                {
                    if (_routes.TryGetValue(path, out var handler))
                    {
                        await handler(context);
                    }
                    else if (Fallback is { } fallback)
                    {
                        await fallback(context);
                    }
                    else
                    {
                        context.Response.StatusCode = 404;
                        context.Response.Close();
                    }
                }
                catch (Exception)
                {
                    // The client went away (a size or time limit): nothing to answer.
                    try
                    {
                        context.Response.Abort();
                    }
                    catch (Exception)
                    {
                        // Already gone.
                    }
                }
            });
        }
    }

    private static int FreePort()
    {
        using var probe = new TcpListener(IPAddress.Loopback, 0);
        probe.Start();
        return ((IPEndPoint)probe.LocalEndpoint).Port;
    }

    public void Dispose()
    {
        _stop.Cancel();
        _listener.Close();
        try
        {
            _serving.Wait(TimeSpan.FromSeconds(5));
        }
        catch (AggregateException)
        {
            // Stopped.
        }

        _stop.Dispose();
    }
}
