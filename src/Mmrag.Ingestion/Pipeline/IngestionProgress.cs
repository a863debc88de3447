namespace Mmrag.Ingestion.Pipeline;

/// <summary>
/// Where a run stands, reported when a file starts, as its items are embedded (<see cref="FileItemsDone"/> of
/// <see cref="FileItemsTotal"/>), and when it is done (for a progress bar).
/// </summary>
/// <param name="FilesDone">Files finished (added, replaced, unchanged or failed).</param>
/// <param name="FilesTotal">Files found to ingest.</param>
/// <param name="ItemsStored">Items stored so far in this run.</param>
/// <param name="Failures">Failures so far (whole files and parts of files).</param>
/// <param name="ItemsPerSecond">Items stored per second of the run so far.</param>
/// <param name="CurrentFile">The file being worked on, or null between files.</param>
/// <param name="Elapsed">Time since the run started.</param>
public sealed record IngestionProgress(
    int FilesDone,
    int FilesTotal,
    int ItemsStored,
    int Failures,
    double ItemsPerSecond,
    string? CurrentFile,
    TimeSpan Elapsed)
{
    /// <summary>Items of <see cref="CurrentFile"/> embedded or reused so far; 0 between files.</summary>
    public int FileItemsDone { get; init; }

    /// <summary>Items read from <see cref="CurrentFile"/> (text chunks and images) once it is loaded; 0 before and between files.</summary>
    public int FileItemsTotal { get; init; }
}
