using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;
using Mmrag.Hosting;
using Mmrag.Hosting.Wire;
using Mmrag.Ingestion.Pipeline;
using Mmrag.Knowledge;
using Mmrag.Server.Security;

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
internal sealed class IngestionJob(string id, IReadOnlyList<string> paths, DateTimeOffset createdAt, string? uploadFolder)
{
    public string Id { get; } = id;

    public IReadOnlyList<string> Paths { get; } = paths;

    /// <summary>The folder under <c>uploads/</c> the job's files were saved to; null for server-side paths.</summary>
    public string? UploadFolder { get; } = uploadFolder;

    /// <summary>The OCR languages images are read with (<c>eng+deu</c>); null: no OCR.</summary>
    public string? OcrLanguages { get; init; }

    /// <summary>How the job's URLs are crawled (depth, pages, site, linked PDFs); null: the pages alone.</summary>
    public WebIngestionRequest? Web { get; init; }

    /// <summary>Cancelled by <c>DELETE /api/jobs/{id}</c> or when the server stops; disposed when the job ends.</summary>
    internal CancellationTokenSource? Cancellation { get; set; }

    public bool IsActive => State is JobState.Queued or JobState.Running;

    public DateTimeOffset CreatedAt { get; } = createdAt;

    public volatile JobState State = JobState.Queued;

    public volatile IngestionProgress? Progress;

    public volatile IngestionSummary? Summary;

    public volatile string? Error;

    public DateTimeOffset? FinishedAt { get; set; }
}

/// <summary>What <see cref="IngestionJobs.Cancel"/> did.</summary>
internal enum CancelOutcome
{
    NotFound,
    AlreadyFinished,
    Requested,
}

/// <summary>
/// Runs ingestion jobs in the background, one at a time (runs must not ingest the same files concurrently), and keeps
/// them in memory for <c>GET /api/jobs/{id}</c>. The job keeps running when the request that started it ends; it stops
/// when it is cancelled (<see cref="Cancel"/>) or the server stops, keeping the documents stored so far (each is stored
/// whole or not at all). When a job ends, its upload folder keeps only what its stored documents need
/// (<see cref="UploadRetention"/>).
/// </summary>
internal sealed partial class IngestionJobs(KnowledgeBase knowledgeBase, PathConfinement confinement, ILogger<IngestionJobs> logger) : IDisposable
{
    private readonly JobJournal _journal = new(Path.Combine(knowledgeBase.Folder, JobJournal.FolderName));
    private readonly ConcurrentDictionary<string, IngestionJob> _jobs = new(StringComparer.Ordinal);
    private readonly SemaphoreSlim _gate = new(1, 1);
    private readonly CancellationTokenSource _stopping = new();

    public int Count => _jobs.Count;

    public IngestionJob? Find(string id) => _jobs.GetValueOrDefault(id);

    /// <summary>
    /// Starts a job over <paramref name="paths"/>; <paramref name="uploadFolder"/> is the folder its uploaded files were
    /// saved to; <paramref name="ocrLanguages"/> (e.g. <c>eng</c>) reads the text in images with Tesseract.
    /// </summary>
    public IngestionJob Start(IReadOnlyList<string> paths, string? id = null, string? uploadFolder = null, string? ocrLanguages = null,
        WebIngestionRequest? web = null) =>
        Start(new JournaledJob(id ?? NewId(), paths, uploadFolder, DateTimeOffset.UtcNow) { OcrLanguages = ocrLanguages, Web = web }, record: true);

    /// <summary>Queues again the jobs a stopped or killed server left unfinished (see <see cref="JobJournal"/>), under their ids.</summary>
    public int ResumeInterrupted()
    {
        var resumed = 0;
        foreach (var entry in _journal.Unfinished((path, exception) => LogJournalUnreadable(logger, path, exception)))
        {
            // The journal is a file on disk: its paths get the same confinement as a request's before anything is read.
            if (StillAllowed(entry) is { } refusal)
            {
                LogJournalUnreadable(logger, _journal.PathOf(entry.Id), new InvalidDataException(refusal));
                _journal.SetAside(_journal.PathOf(entry.Id), (path, exception) => LogJournalUnreadable(logger, path, exception));
                continue;
            }

            if (!_jobs.ContainsKey(entry.Id))
            {
                LogJobResumed(logger, entry.Id);
                Start(entry, record: false);
                resumed++;
            }
        }

        return resumed;
    }

    /// <summary>Why a journaled job may not run now (a path outside the ingest roots or the uploads folder, a crawl above the limits), or null.</summary>
    private string? StillAllowed(JournaledJob entry)
    {
        if (entry.UploadFolder is { } folder)
        {
            var uploads = PathConfinement.RealPath(Path.GetFullPath(knowledgeBase.UploadsFolder));
            var real = PathConfinement.RealPath(Path.GetFullPath(folder));
            return entry.Paths.Count == 1 && entry.Paths[0] == folder && string.Equals(Path.GetDirectoryName(real), uploads, StringComparison.Ordinal)
                ? null
                : $"job {entry.Id}: its upload folder '{folder}' is not a folder of {uploads}.";
        }

        // The operator's crawl limits may have been lowered since the job was queued (or the entry written by hand): its
        // start pages and articles are held to the page limit, and its URLs to the length, that a request is held to.
        if (entry.Web is { } web && knowledgeBase.Options.CrawlRefusal(web) is { } tooFar)
        {
            return $"job {entry.Id}: {tooFar}";
        }

        if (knowledgeBase.Options.PageCountRefusal(entry.Paths.Count(knowledgeBase.IngestionOptions.IsRemote)) is { } tooMany)
        {
            return $"job {entry.Id}: {tooMany}";
        }

        // A journaled URL is kept percent-encoded already.
        if (entry.Paths.Where(Mmrag.Ingestion.Web.RemoteSources.IsUrl).Select(static url => MmragServerOptions.UrlLengthRefusal(url, url)).FirstOrDefault(static r => r is not null)
            is { } tooLong)
        {
            return $"job {entry.Id}: {tooLong}";
        }

        // Web pages and articles (wikipedia:LANG:Title) are not under the ingest roots; the run resolves them itself.
        foreach (var path in entry.Paths.Where(p => !knowledgeBase.IngestionOptions.IsRemote(p)))
        {
            if (confinement.Resolve(path).Error is { } error)
            {
                return $"job {entry.Id}: '{path}': {error}";
            }
        }

        return entry.Paths.Count > 0 ? null : $"job {entry.Id} names no path.";
    }

    private IngestionJob Start(JournaledJob entry, bool record)
    {
        if (record)
        {
            // Before it runs, so a server killed at any point after this finds it.
            _journal.Record(entry);
        }

        var job = new IngestionJob(entry.Id, entry.Paths, entry.CreatedAt, entry.UploadFolder)
        {
            OcrLanguages = entry.OcrLanguages,
            Web = entry.Web,
            Cancellation = CancellationTokenSource.CreateLinkedTokenSource(_stopping.Token),
        };
        _jobs[job.Id] = job;
        _ = Task.Run(() => RunAsync(job));
        return job;
    }

    /// <summary>Asks a queued or running job to stop; it ends as cancelled once the pipeline has stopped (queued: at once).</summary>
    public CancelOutcome Cancel(string id)
    {
        if (Find(id) is not { } job)
        {
            return CancelOutcome.NotFound;
        }

        CancellationTokenSource? cancellation;
        lock (job)
        {
            cancellation = job.IsActive ? job.Cancellation : null;
        }

        try
        {
            // Outside the lock: cancelling runs the job's continuations, which finish it under that lock.
            cancellation?.Cancel();
        }
        catch (ObjectDisposedException)
        {
            // The job ended meanwhile.
            cancellation = null;
        }

        return cancellation is null ? CancelOutcome.AlreadyFinished : CancelOutcome.Requested;
    }

    /// <summary>Whether a queued or running job owns <paramref name="uploadFolder"/> (its files are still needed).</summary>
    public bool IsInUse(string uploadFolder) =>
        _jobs.Values.Any(job => job.IsActive && job.UploadFolder is { } folder && string.Equals(folder, uploadFolder, StringComparison.Ordinal));

    public static string NewId() => Guid.NewGuid().ToString("N")[..16];

    private async Task RunAsync(IngestionJob job)
    {
        var token = job.Cancellation!.Token;
        try
        {
            await _gate.WaitAsync(token).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            await FinishAsync(job, JobState.Cancelled).ConfigureAwait(false);
            return;
        }

        var state = JobState.Failed;
        try
        {
            job.State = JobState.Running;
            var progress = new SynchronousProgress(p => job.Progress = p);
            var options = knowledgeBase.IngestionOptionsFor(new IngestionRequest { Web = job.Web ?? new(), OcrLanguages = job.OcrLanguages });
            var summary = await knowledgeBase.CreatePipeline().IngestAsync(job.Paths, options, progress, token).ConfigureAwait(false);
            job.Summary = summary;
            if (summary.Files == 0)
            {
                // "Succeeded" with nothing ingested hid uploads of unsupported or hidden files.
                job.Error = NothingToIngest(summary);
            }
            else
            {
                state = JobState.Succeeded;
            }
        }
        catch (OperationCanceledException)
        {
            state = JobState.Cancelled;
        }
        catch (Exception exception) when (exception is not OutOfMemoryException)
        {
            // A background job has no caller to throw to: the failure is the job's result.
            job.Error = exception.Message;
            LogJobFailed(logger, job.Id, exception);
        }
        finally
        {
            _gate.Release();
        }

        await FinishAsync(job, state).ConfigureAwait(false);
    }

    private async Task FinishAsync(IngestionJob job, JobState state)
    {
        if (state != JobState.Succeeded && _stopping.IsCancellationRequested)
        {
            // Whatever stopped it (cancellation, or the store closing under it) is the server's stop.
            // The server is stopping, not a user cancelling: the job stays in the journal, with its uploaded files,
            // and runs again when the server starts.
            End(job, state);
            return;
        }

        if (job.UploadFolder is { } folder)
        {
            try
            {
                // Not cancellable: a cancelled job's leftovers are exactly what this removes.
                await UploadRetention.PruneAsync(folder, knowledgeBase.Store, CancellationToken.None).ConfigureAwait(false);
            }
            catch (Exception exception) when (exception is IOException or UnauthorizedAccessException or Mmrag.Storage.KnowledgeStoreException or ObjectDisposedException)
            {
                LogPruneFailed(logger, job.Id, folder, exception);
            }
        }

        try
        {
            _journal.Remove(job.Id);
        }
        catch (Exception exception) when (exception is IOException or UnauthorizedAccessException)
        {
            LogJournalUnreadable(logger, _journal.Folder, exception);
        }

        End(job, state);
    }

    private static void End(IngestionJob job, JobState state)
    {
        lock (job)
        {
            job.FinishedAt = DateTimeOffset.UtcNow;
            job.State = state;
            job.Cancellation?.Dispose();
            job.Cancellation = null;
        }
    }

    private static string NothingToIngest(IngestionSummary summary)
    {
        var skipped = summary.Skipped.Select(Path.GetFileName).Take(5).ToList();
        return "Nothing to ingest: no file that mmrag reads (text, Markdown, HTML, PDF, images) was found"
            + (skipped.Count > 0 ? $"; skipped {summary.Skipped.Count} file(s) of other types: {string.Join(", ", skipped)}{(summary.Skipped.Count > skipped.Count ? ", …" : "")}" : "")
            + ".";
    }

    public void Dispose()
    {
        _stopping.Cancel();
        _stopping.Dispose();
    }

    [LoggerMessage(EventId = 1, Level = LogLevel.Error, Message = "Ingestion job {JobId} failed.")]
    private static partial void LogJobFailed(ILogger logger, string jobId, Exception exception);

    [LoggerMessage(EventId = 2, Level = LogLevel.Warning, Message = "Ingestion job {JobId}: its upload folder {Folder} could not be cleaned up.")]
    private static partial void LogPruneFailed(ILogger logger, string jobId, string folder, Exception exception);

    [LoggerMessage(EventId = 3, Level = LogLevel.Information, Message = "Resuming ingestion job {JobId}, left unfinished when the server stopped.")]
    private static partial void LogJobResumed(ILogger logger, string jobId);

    [LoggerMessage(EventId = 4, Level = LogLevel.Warning, Message = "The job journal entry {Path} could not be read or written.")]
    private static partial void LogJournalUnreadable(ILogger logger, string path, Exception exception);

    /// <summary>Progress&lt;T&gt; posts to the thread pool and may report after the job ended; this reports in order, inline.</summary>
    private sealed class SynchronousProgress(Action<IngestionProgress> report) : IProgress<IngestionProgress>
    {
        public void Report(IngestionProgress value) => report(value);
    }
}

/// <summary>Failures a job reports, as JSON-friendly records.</summary>
internal static class JobJson
{
    public static JobResponse ToDto(IngestionJob job)
    {
        var progress = job.Progress;
        var summary = job.Summary;
        var warnings = summary?.Warnings.ToHashSet() ?? [];
        return new JobResponse(
            job.Id,
            job.State.ToString().ToLowerInvariant(),
            job.Paths,
            job.CreatedAt,
            job.FinishedAt,
            progress is null ? null : new JobProgressResponse(progress.FilesDone, progress.FilesTotal, progress.ItemsStored, progress.Failures,
                progress.CurrentFile, Math.Round(progress.Elapsed.TotalMilliseconds), progress.FileItemsDone, progress.FileItemsTotal),
            summary is null ? null : new JobSummaryResponse(summary.Files, summary.Added, summary.Unchanged, summary.ClaimedElsewhere, summary.Replaced,
                summary.Pruned, summary.Failed, summary.Empty, summary.Warnings.Count, summary.Items, summary.Embedded, summary.Skipped, summary.Hidden,
                Math.Round(summary.Elapsed.TotalMilliseconds)),
            [.. (summary?.Failures ?? []).Select(f => new JobFailureResponse(f.SourcePath, f.Reason, f.Detail, warnings.Contains(f)))],
            job.Error);
    }
}
