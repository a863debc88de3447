using System.Collections.Concurrent;
using System.Globalization;
using System.Text;

namespace Mmrag.Server.Observability;

/// <summary>
/// Request counts and latency histograms per route, and embedding / search timings, written in the Prometheus text
/// exposition format. Thread-safe (lock-free counters).
/// </summary>
internal sealed class ServerMetrics
{
    private static readonly double[] Buckets = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

    private readonly ConcurrentDictionary<(string Method, string Route, int Status), long[]> _requests = new();
    private readonly ConcurrentDictionary<(string Method, string Route), Histogram> _latency = new();
    private readonly Histogram _embed = new();
    private readonly Histogram _search = new();

    public void RecordRequest(string method, string route, int status, TimeSpan elapsed)
    {
        var counter = _requests.GetOrAdd((method, route, status), static _ => new long[1]);
        Interlocked.Increment(ref counter[0]);
        _latency.GetOrAdd((method, route), static _ => new Histogram()).Observe(elapsed.TotalSeconds);
    }

    public void RecordSearch(TimeSpan embed, TimeSpan search)
    {
        _embed.Observe(embed.TotalSeconds);
        _search.Observe(search.TotalSeconds);
    }

    public string Render()
    {
        var text = new StringBuilder();
        text.Append("# HELP mmrag_http_requests_total HTTP requests by method, route and status.\n# TYPE mmrag_http_requests_total counter\n");
        foreach (var ((method, route, status), counter) in _requests.OrderBy(static p => p.Key.Route, StringComparer.Ordinal))
        {
            text.Append(CultureInfo.InvariantCulture, $"mmrag_http_requests_total{{method=\"{method}\",route=\"{Escape(route)}\",status=\"{status}\"}} {Interlocked.Read(ref counter[0])}\n");
        }

        text.Append("# HELP mmrag_http_request_duration_seconds HTTP request latency by method and route.\n# TYPE mmrag_http_request_duration_seconds histogram\n");
        foreach (var ((method, route), histogram) in _latency.OrderBy(static p => p.Key.Route, StringComparer.Ordinal))
        {
            histogram.Render(text, "mmrag_http_request_duration_seconds", $"method=\"{method}\",route=\"{Escape(route)}\"");
        }

        text.Append("# HELP mmrag_embed_duration_seconds Query embedding time per search.\n# TYPE mmrag_embed_duration_seconds histogram\n");
        _embed.Render(text, "mmrag_embed_duration_seconds", null);
        text.Append("# HELP mmrag_search_duration_seconds Index search time per search.\n# TYPE mmrag_search_duration_seconds histogram\n");
        _search.Render(text, "mmrag_search_duration_seconds", null);
        return text.ToString();
    }

    private static string Escape(string value) => value.Replace("\\", "\\\\", StringComparison.Ordinal).Replace("\"", "\\\"", StringComparison.Ordinal);

    private sealed class Histogram
    {
        private readonly long[] _counts = new long[Buckets.Length + 1];
        private long _sumMicros;

        public void Observe(double seconds)
        {
            var i = 0;
            while (i < Buckets.Length && seconds > Buckets[i])
            {
                i++;
            }

            Interlocked.Increment(ref _counts[i]);
            Interlocked.Add(ref _sumMicros, (long)(seconds * 1e6));
        }

        public void Render(StringBuilder text, string name, string? labels)
        {
            var prefix = labels is null ? "" : labels + ",";
            long cumulative = 0;
            for (var i = 0; i < Buckets.Length; i++)
            {
                cumulative += Interlocked.Read(ref _counts[i]);
                text.Append(CultureInfo.InvariantCulture, $"{name}_bucket{{{prefix}le=\"{Buckets[i]}\"}} {cumulative}\n");
            }

            cumulative += Interlocked.Read(ref _counts[^1]);
            text.Append(CultureInfo.InvariantCulture, $"{name}_bucket{{{prefix}le=\"+Inf\"}} {cumulative}\n");
            var braces = labels is null ? "" : "{" + labels + "}";
            text.Append(CultureInfo.InvariantCulture, $"{name}_sum{braces} {Interlocked.Read(ref _sumMicros) / 1e6}\n");
            text.Append(CultureInfo.InvariantCulture, $"{name}_count{braces} {cumulative}\n");
        }
    }
}
