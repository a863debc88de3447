namespace Mmrag.Ingestion.Pipeline;

/// <summary>Where a run stands, reported when a file starts and when it is done (for a progress bar).</summary>
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
    TimeSpan Elapsed);
