using Microsoft.Extensions.Logging;

namespace Mmrag.Clip;

// The assembly's one Log class is partial: each capability adds its messages in its own folder.
// Models owns event ids 1000-1099.
internal static partial class Log
{
    [LoggerMessage(1000, LogLevel.Information, "Downloading model {Model} from {Repository}@{Revision}: {FileCount} file(s)")]
    public static partial void ModelDownloadStarting(ILogger logger, string model, string repository, string revision, int fileCount);

    [LoggerMessage(1001, LogLevel.Information, "Model {Model} is complete")]
    public static partial void ModelDownloadCompleted(ILogger logger, string model);

    [LoggerMessage(1002, LogLevel.Debug, "Model {Model}: revision {Revision} is commit {Commit}; fetching every file from that commit")]
    public static partial void RevisionPinned(ILogger logger, string model, string revision, string commit);

    [LoggerMessage(1003, LogLevel.Debug, "Model {Model}: resuming {File} at byte {Offset}")]
    public static partial void Resuming(ILogger logger, string model, string file, long offset);

    [LoggerMessage(1004, LogLevel.Debug, "Model {Model}: the server ignored the range request for {File}; starting it again from byte 0")]
    public static partial void RangeIgnored(ILogger logger, string model, string file);

    [LoggerMessage(1005, LogLevel.Warning, "Model {Model}: {File} failed (attempt {Attempt}); retrying in {Delay}")]
    public static partial void Retrying(ILogger logger, string model, string file, int attempt, TimeSpan delay, Exception exception);

    [LoggerMessage(1006, LogLevel.Warning, "Model {Model}: the hub published no SHA-256 for {File}; only its size is checked")]
    public static partial void NoChecksum(ILogger logger, string model, string file);

    [LoggerMessage(1007, LogLevel.Warning, "Model {Model}: resumed {File} does not match its checksum; downloading it again from byte 0")]
    public static partial void ResumedFileMismatch(ILogger logger, string model, string file);

    [LoggerMessage(1008, LogLevel.Debug, "Model {Model}: {File} verified ({Bytes} bytes)")]
    public static partial void FileVerified(ILogger logger, string model, string file, long bytes);

    [LoggerMessage(1009, LogLevel.Trace, "Model {Model}: folder {Directory}")]
    public static partial void ModelDirectory(ILogger logger, string model, string directory);

    [LoggerMessage(1010, LogLevel.Debug, "Model {Model}: discarding a stale partial download of {File} ({Bytes} bytes)")]
    public static partial void StalePartial(ILogger logger, string model, string file, long bytes);
}
