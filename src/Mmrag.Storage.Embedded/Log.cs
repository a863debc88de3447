using Microsoft.Extensions.Logging;

namespace Mmrag.Storage.Embedded;

// The assembly's one Log class. The store owns event ids 2000-2099. Paths appear only at Trace (STYLE.md).
internal static partial class Log
{
    [LoggerMessage(2000, LogLevel.Information, "Embedded store opened: {Items} items, model {Model}, dimension {Dimension}")]
    public static partial void Opened(ILogger logger, int items, string model, int dimension);

    [LoggerMessage(2001, LogLevel.Debug, "Embedded store: loaded the HNSW graph from its file ({Slots} slots)")]
    public static partial void IndexLoaded(ILogger logger, int slots);

    [LoggerMessage(2002, LogLevel.Warning, "Embedded store: not using the saved HNSW graph ({Problem}); it will be rebuilt from the database")]
    public static partial void IndexFileRejected(ILogger logger, string problem);

    [LoggerMessage(2003, LogLevel.Information, "Embedded store: rebuilding the vector index ({LiveVectors} live vectors, graph {Graph}, compact {Compact})")]
    public static partial void RebuildStarted(ILogger logger, int liveVectors, bool graph, bool compact);

    [LoggerMessage(2004, LogLevel.Information, "Embedded store: vector index rebuilt in {Elapsed}")]
    public static partial void RebuildCompleted(ILogger logger, TimeSpan elapsed);

    [LoggerMessage(2005, LogLevel.Warning, "Embedded store: rebuilding the vector index failed; searches stay exact")]
    public static partial void RebuildFailed(ILogger logger, Exception exception);

    [LoggerMessage(2006, LogLevel.Debug, "Embedded store: saved the HNSW graph ({Slots} slots, generation {Generation})")]
    public static partial void IndexSaved(ILogger logger, int slots, long generation);

    [LoggerMessage(2007, LogLevel.Warning, "Embedded store: saving the HNSW graph failed; it will be rebuilt on the next open")]
    public static partial void IndexSaveFailed(ILogger logger, Exception exception);

    [LoggerMessage(2008, LogLevel.Information, "Embedded store: the database changed outside this process (generation {From} → {To}); {Added} items added, {Removed} removed in memory")]
    public static partial void Synced(ILogger logger, long from, long to, int added, int removed);

    [LoggerMessage(2009, LogLevel.Error, "Embedded store: updating the in-memory index after a committed write failed; it will be reloaded from the database")]
    public static partial void ApplyFailed(ILogger logger, Exception exception);

    [LoggerMessage(2010, LogLevel.Trace, "Embedded store: folder {Folder}")]
    public static partial void StoreFolder(ILogger logger, string folder);
}
