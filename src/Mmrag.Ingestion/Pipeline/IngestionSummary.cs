using Mmrag.Knowledge;

namespace Mmrag.Ingestion.Pipeline;

/// <summary>What an ingestion run did.</summary>
public sealed record IngestionSummary
{
    /// <summary>Files found that a loader reads.</summary>
    public int Files { get; init; }

    /// <summary>Documents stored for the first time.</summary>
    public int Added { get; init; }

    /// <summary>Files whose stored version was current: nothing was loaded or embedded.</summary>
    public int Unchanged { get; init; }

    /// <summary>Documents whose earlier version was replaced because the file (or its description) changed.</summary>
    public int Replaced { get; init; }

    /// <summary>
    /// Files left to another ingester sharing the knowledge base (<see cref="Mmrag.Storage.IIngestionWorkClaims"/>): it was
    /// ingesting them, or had just stored them.
    /// </summary>
    public int ClaimedElsewhere { get; init; }

    /// <summary>Documents deleted because their files are gone (with <see cref="IngestionOptions.Prune"/>).</summary>
    public int Pruned { get; init; }

    /// <summary>Files that could not be ingested at all.</summary>
    public int Failed { get; init; }

    /// <summary>Files no loader reads (unknown extensions).</summary>
    public IReadOnlyList<string> Skipped { get; init; } = [];

    /// <summary>Every failure of the run: whole files, parts of files (an image in a PDF), sidecar entries.</summary>
    public IReadOnlyList<IngestionFailure> Failures { get; init; } = [];

    /// <summary>Items stored by this run.</summary>
    public int Items { get; init; }

    /// <summary>Items whose vectors were computed by this run (the others were reused by content hash).</summary>
    public int Embedded { get; init; }

    /// <summary>How long the run took.</summary>
    public TimeSpan Elapsed { get; init; }
}
