using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;
using Mmrag.Ingestion.Pipeline;
using Mmrag.Knowledge;

namespace Mmrag.Server.Jobs;

/// <summary>The state of an ingestion job.</summary>
internal enum JobState
{
    Queued,
    Running,
    Succeeded,
    Failed,
    Cancelled,
}

/// <summary>One ingestion job: its paths, live progress, and the summary or error at the end. Thread-safe snapshot reads.</summary>
internal sealed class IngestionJob(string id, IReadOnlyList<string> paths, DateTimeOffset createdAt)
{
    public string Id { get; } = id;

    public IReadOnlyList<string> Paths { get; } = paths;

    public DateTimeOffset CreatedAt { get; } = createdAt;

    public volatile JobState State = JobState.Queued;

    public volatile IngestionProgress? Progress;

    public volatile IngestionSummary? Summary;

    public volatile string? Error;

    public DateTimeOffset? FinishedAt { get; set; }
}

/// <summary>
/// Runs ingestion jobs in the background, one at a time (runs must not ingest the same files concurrently), and keeps
/// them in memory for <c>GET /api/jobs/{id}</c>. The job keeps running when the request that started it ends; it stops
/// when the server stops.
/// </summary>
internal sealed partial class IngestionJobs(KnowledgeBase knowledgeBase, ILogger<IngestionJobs> logger) : IDisposable
{
    private readonly ConcurrentDictionary<string, IngestionJob> _jobs = new(StringComparer.Ordinal);
    private readonly SemaphoreSlim _gate = new(1, 1);
    private readonly CancellationTokenSource _stopping = new();

    public int Count => _jobs.Count;

    public IngestionJob? Find(string id) => _jobs.GetValueOrDefault(id);

    public IngestionJob Start(IReadOnlyList<string> paths, string? id = null)
    {
        var job = new IngestionJob(id ?? NewId(), paths, DateTimeOffset.UtcNow);
        _jobs[job.Id] = job;
        _ = Task.Run(() => RunAsync(job));
        return job;
    }

    public static string NewId() => Guid.NewGuid().ToString("N")[..16];

    private async Task RunAsync(IngestionJob job)
    {
        var token = _stopping.Token;
        try
        {
            await _gate.WaitAsync(token).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            job.State = JobState.Cancelled;
            return;
        }

        try
        {
            job.State = JobState.Running;
            var progress = new SynchronousProgress(p => job.Progress = p);
            job.Summary = await knowledgeBase.CreatePipeline().IngestAsync(job.Paths, knowledgeBase.IngestionOptions, progress, token).ConfigureAwait(false);
            job.State = JobState.Succeeded;
        }
        catch (OperationCanceledException)
        {
            job.State = JobState.Cancelled;
        }
        catch (Exception exception) when (exception is not OutOfMemoryException)
        {
            // A background job has no caller to throw to: the failure is the job's result.
            job.Error = exception.Message;
            job.State = JobState.Failed;
            LogJobFailed(logger, job.Id, exception);
        }
        finally
        {
            job.FinishedAt = DateTimeOffset.UtcNow;
            _gate.Release();
        }
    }

    public void Dispose()
    {
        _stopping.Cancel();
        _stopping.Dispose();
    }

    [LoggerMessage(EventId = 1, Level = LogLevel.Error, Message = "Ingestion job {JobId} failed.")]
    private static partial void LogJobFailed(ILogger logger, string jobId, Exception exception);

    /// <summary>Progress&lt;T&gt; posts to the thread pool and may report after the job ended; this reports in order, inline.</summary>
    private sealed class SynchronousProgress(Action<IngestionProgress> report) : IProgress<IngestionProgress>
    {
        public void Report(IngestionProgress value) => report(value);
    }
}

/// <summary>Failures a job reports, as JSON-friendly records.</summary>
internal static class JobJson
{
    public static object ToDto(IngestionJob job)
    {
        var progress = job.Progress;
        var summary = job.Summary;
        return new
        {
            id = job.Id,
            state = job.State.ToString().ToLowerInvariant(),
            paths = job.Paths,
            created_at = job.CreatedAt,
            finished_at = job.FinishedAt,
            progress = progress is null ? null : new
            {
                files_done = progress.FilesDone,
                files_total = progress.FilesTotal,
                items_stored = progress.ItemsStored,
                failures = progress.Failures,
                current_file = progress.CurrentFile,
                elapsed_ms = Math.Round(progress.Elapsed.TotalMilliseconds),
            },
            summary = summary is null ? null : new
            {
                files = summary.Files,
                added = summary.Added,
                unchanged = summary.Unchanged,
                claimed_elsewhere = summary.ClaimedElsewhere,
                replaced = summary.Replaced,
                pruned = summary.Pruned,
                failed = summary.Failed,
                items = summary.Items,
                embedded = summary.Embedded,
                skipped = summary.Skipped,
                elapsed_ms = Math.Round(summary.Elapsed.TotalMilliseconds),
            },
            failures = (summary?.Failures ?? []).Select(static (IngestionFailure f) => new { source = f.SourcePath, reason = f.Reason, detail = f.Detail }),
            error = job.Error,
        };
    }
}
