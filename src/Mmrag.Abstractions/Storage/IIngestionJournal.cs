namespace Mmrag.Storage;

/// <summary>Where an ingestion run stands.</summary>
public enum IngestionJobState
{
    /// <summary>Started and not finished: still running, or stopped by a crash or Ctrl+C (then the next run resumes).</summary>
    Running,

    /// <summary>Went through every file (some may have failed; see the failures).</summary>
    Completed,

    /// <summary>Stopped by an error that ended the run.</summary>
    Failed,

    /// <summary>Stopped on request.</summary>
    Cancelled,
}

/// <summary>One ingestion run as recorded by the store.</summary>
/// <param name="Id">Id assigned by the store (increasing).</param>
/// <param name="StartedAt">When it started.</param>
/// <param name="FinishedAt">When it finished; null while <see cref="IngestionJobState.Running"/>.</param>
/// <param name="State">Where it stands.</param>
/// <param name="Summary">What the run reported when it finished (a JSON object chosen by the ingestion pipeline: counts, rates), or null.</param>
public sealed record IngestionJob(long Id, DateTimeOffset StartedAt, DateTimeOffset? FinishedAt, IngestionJobState State, string? Summary);

/// <summary>
/// Optional store capability: a journal of ingestion runs kept with the knowledge base. Stores that keep one
/// implement it beside <see cref="IKnowledgeStore"/> (test with <c>store is IIngestionJournal</c>). Thread-safe.
/// </summary>
public interface IIngestionJournal
{
    /// <summary>Records a new run as <see cref="IngestionJobState.Running"/> and returns it.</summary>
    Task<IngestionJob> StartJobAsync(CancellationToken cancellationToken = default);

    /// <summary>Records the end of a run; <paramref name="summary"/> is a JSON object (or null).</summary>
    /// <exception cref="ArgumentException"><paramref name="state"/> is <see cref="IngestionJobState.Running"/>.</exception>
    /// <exception cref="KeyNotFoundException">No run has this id.</exception>
    Task<IngestionJob> FinishJobAsync(long jobId, IngestionJobState state, string? summary, CancellationToken cancellationToken = default);

    /// <summary>The most recent runs, newest first (at most <paramref name="limit"/>).</summary>
    Task<IReadOnlyList<IngestionJob>> ListJobsAsync(int limit = 100, CancellationToken cancellationToken = default);
}
