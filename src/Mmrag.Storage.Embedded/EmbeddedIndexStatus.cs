namespace Mmrag.Storage.Embedded;

/// <summary>A moment's view of an <see cref="EmbeddedKnowledgeStore"/>'s in-memory vector index, for diagnostics and tests.</summary>
public sealed record EmbeddedIndexStatus
{
    /// <summary>Live (searchable) vectors.</summary>
    public required int LiveVectors { get; init; }

    /// <summary>Vectors held in memory, including those of replaced or deleted items not yet compacted away.</summary>
    public required int Slots { get; init; }

    /// <summary>The database generation the index reflects (it grows with every write that changes items).</summary>
    public required long Generation { get; init; }

    /// <summary>Whether an HNSW graph exists and large unfiltered searches use it.</summary>
    public required bool GraphReady { get; init; }

    /// <summary>Whether the graph was loaded from <c>vectors.hnsw</c> when the store opened (no rebuild).</summary>
    public required bool GraphLoadedFromFile { get; init; }

    /// <summary>Whether the loaded graph reads its vectors and links from <c>vectors.hnsw</c> mapped into memory (<see cref="EmbeddedStoreOptions.MapIndexFile"/>).</summary>
    public bool IndexFileMapped { get; init; }

    /// <summary>Why <c>vectors.hnsw</c> was not used when the store opened (missing, stale, corrupt …), or null.</summary>
    public required string? IndexFileProblem { get; init; }

    /// <summary>Graphs this instance built (after open, on growth past the exact threshold, on compaction).</summary>
    public required int GraphBuilds { get; init; }

    /// <summary>Times this instance wrote <c>vectors.hnsw</c>.</summary>
    public required int IndexSaves { get; init; }

    /// <summary>Vector searches answered by exact search.</summary>
    public required long ExactSearches { get; init; }

    /// <summary>Vector searches answered by the HNSW graph.</summary>
    public required long GraphSearches { get; init; }

    /// <summary>Whether a background build, compaction or save is running.</summary>
    public required bool MaintenanceRunning { get; init; }
}
