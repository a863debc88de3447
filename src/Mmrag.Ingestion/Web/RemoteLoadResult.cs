namespace Mmrag.Ingestion.Web;

/// <summary>What a <see cref="RemoteSource"/> found.</summary>
public enum RemoteLoadOutcome
{
    /// <summary>A new or changed version: <see cref="RemoteLoadResult.Document"/> and <see cref="RemoteLoadResult.State"/> are set.</summary>
    Loaded,

    /// <summary>The stored version is current (e.g. a 304 answer): nothing is loaded or embedded.</summary>
    Unchanged,

    /// <summary>The document no longer exists (404, 410): with pruning its stored version is deleted, else it is a failure.</summary>
    Gone,

    /// <summary>Not read on purpose (e.g. robots.txt disallows it): listed as skipped with the reason, not a failure.</summary>
    Skipped,
}

/// <summary>The result of <see cref="RemoteSource.LoadAsync"/>; build it with the static factory methods.</summary>
public sealed record RemoteLoadResult
{
    private RemoteLoadResult(RemoteLoadOutcome outcome) => Outcome = outcome;

    /// <summary>What happened.</summary>
    public RemoteLoadOutcome Outcome { get; }

    /// <summary>The document read (<see cref="RemoteLoadOutcome.Loaded"/>), its source path the source's URL.</summary>
    public LoadedDocument? Document { get; private init; }

    /// <summary>The state to store with the document (version, validators, metadata); for an unchanged one, refreshed validators (or null to keep the stored ones).</summary>
    public RemoteDocumentState? State { get; private init; }

    /// <summary>Why it is gone or skipped.</summary>
    public string? Reason { get; private init; }

    /// <summary>
    /// More sources the run should ingest after this one (crawled pages, linked PDFs). The run ingests each URL once
    /// and counts them like files.
    /// </summary>
    public IReadOnlyList<RemoteSource> FollowUps { get; init; } = [];

    /// <summary>
    /// A new or changed document. The run compares <paramref name="state"/>'s <see cref="RemoteDocumentState.Version"/>
    /// with the stored one, so a document whose version did not change is still not re-embedded.
    /// </summary>
    public static RemoteLoadResult Loaded(LoadedDocument document, RemoteDocumentState state)
    {
        ArgumentNullException.ThrowIfNull(document);
        ArgumentNullException.ThrowIfNull(state);
        return new RemoteLoadResult(RemoteLoadOutcome.Loaded) { Document = document, State = state };
    }

    /// <summary>The stored version is current; <paramref name="refreshed"/> replaces the stored state (e.g. a new <c>ETag</c>) when given.</summary>
    public static RemoteLoadResult Unchanged(RemoteDocumentState? refreshed = null) => new(RemoteLoadOutcome.Unchanged) { State = refreshed };

    /// <summary>The document no longer exists (<paramref name="reason"/> names the URL and the answer).</summary>
    public static RemoteLoadResult Gone(string reason)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(reason);
        return new RemoteLoadResult(RemoteLoadOutcome.Gone) { Reason = reason };
    }

    /// <summary>Not read on purpose (<paramref name="reason"/> says why, e.g. <c>robots.txt disallows it</c>).</summary>
    public static RemoteLoadResult Skipped(string reason)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(reason);
        return new RemoteLoadResult(RemoteLoadOutcome.Skipped) { Reason = reason };
    }
}
