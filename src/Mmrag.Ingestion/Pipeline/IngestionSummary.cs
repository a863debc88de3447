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

    /// <summary>
    /// Paths that could not be ingested at all: files that fail to read or embed, and paths refused before reading
    /// (missing, a folder that cannot be listed, a symbolic link leading outside the folder given, a FIFO or device).
    /// Each has one entry in <see cref="Failures"/>, so <c>Failed + Warnings.Count == Failures.Count</c>.
    /// </summary>
    public int Failed { get; init; }

    /// <summary>
    /// Documents stored with no items (an empty file, a PDF of blank pages); each also has a warning in <see cref="Warnings"/>.
    /// </summary>
    public int Empty { get; init; }

    /// <summary>Files no loader reads (unknown extensions).</summary>
    public IReadOnlyList<string> Skipped { get; init; } = [];

    /// <summary>
    /// Hidden files and folders (names starting with a dot) inside the folders given, which are not read; a hidden folder
    /// is listed once, not walked. A hidden file named explicitly is read.
    /// </summary>
    public IReadOnlyList<string> Hidden { get; init; } = [];

    /// <summary>
    /// Every failure of the run: whole paths (<see cref="Failed"/>) and <see cref="Warnings"/>. Each is also stored
    /// (<see cref="Mmrag.Storage.IKnowledgeStore.ListFailuresAsync"/>) until the path is read again or pruned.
    /// </summary>
    public IReadOnlyList<IngestionFailure> Failures { get; init; } = [];

    /// <summary>
    /// The entries of <see cref="Failures"/> that did not stop a file from being stored: parts of files (an image in a
    /// PDF, invalid UTF-8), items left out past <see cref="IngestionOptions.MaxItemsPerFile"/>, empty documents, and
    /// sidecar problems (bad lines, entries naming missing images, descriptions cut to
    /// <see cref="IngestionOptions.MaxDescriptionLength"/>).
    /// </summary>
    public IReadOnlyList<IngestionFailure> Warnings { get; init; } = [];

    /// <summary>Items stored by this run.</summary>
    public int Items { get; init; }

    /// <summary>Items whose vectors were computed by this run (the others were reused by content hash).</summary>
    public int Embedded { get; init; }

    /// <summary>How long the run took.</summary>
    public TimeSpan Elapsed { get; init; }
}
