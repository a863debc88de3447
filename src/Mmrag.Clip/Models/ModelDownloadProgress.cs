namespace Mmrag.Clip.Models;

/// <summary>What a download is doing (see <see cref="ModelDownloadProgress"/>).</summary>
public enum ModelDownloadStage
{
    /// <summary>Asking the hub for a file's size and checksum.</summary>
    Checking,

    /// <summary>Receiving bytes (a resumed file starts above zero).</summary>
    Downloading,

    /// <summary>Checking the size and SHA-256 of the received file.</summary>
    Verifying,

    /// <summary>A transient failure; the request is about to be retried (and resumed).</summary>
    Retrying,

    /// <summary>The file was verified and moved to its final name.</summary>
    Completed,
}

/// <summary>A progress report from <see cref="ModelDownloader"/>. Reports are throttled to about ten a second per file.</summary>
/// <param name="ModelName">Model being fetched.</param>
/// <param name="File">Relative hub path of the current file.</param>
/// <param name="Stage">What is happening to <paramref name="File"/>.</param>
/// <param name="FileBytes">Bytes of the current file on disk so far.</param>
/// <param name="FileTotalBytes">Size of the current file, when the hub published it.</param>
/// <param name="OverallBytes">Bytes of all files of this download so far.</param>
/// <param name="OverallTotalBytes">Size of all files of this download, when the hub published every size.</param>
/// <param name="FileIndex">Zero-based index of the current file among the files being downloaded.</param>
/// <param name="FileCount">Number of files being downloaded (files already present are not counted).</param>
public sealed record ModelDownloadProgress(
    string ModelName,
    string File,
    ModelDownloadStage Stage,
    long FileBytes,
    long? FileTotalBytes,
    long OverallBytes,
    long? OverallTotalBytes,
    int FileIndex,
    int FileCount);
