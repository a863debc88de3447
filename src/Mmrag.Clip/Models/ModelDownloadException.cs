namespace Mmrag.Clip.Models;

/// <summary>Why a model download failed (see <see cref="ModelDownloadException"/>).</summary>
public enum ModelDownloadFailure
{
    /// <summary>The hub could not be reached or the transfer kept failing (after retries).</summary>
    Network,

    /// <summary>Offline mode is on and files are missing; nothing was sent.</summary>
    Offline,

    /// <summary>The hub has no such repository, revision or file (HTTP 404).</summary>
    NotFound,

    /// <summary>The hub refused access (HTTP 401/403): gated, private or renamed repository.</summary>
    AccessDenied,

    /// <summary>Another unexpected HTTP answer.</summary>
    Http,

    /// <summary>The received bytes do not match the published size or SHA-256; they were deleted.</summary>
    Verification,

    /// <summary>Another download of the same file is running (its <c>.partial</c> file is locked).</summary>
    FileInUse,

    /// <summary>The model folder could not be written (disk full, permissions).</summary>
    Storage,
}

/// <summary>
/// A model could not be downloaded. The message says what happened and how to fix it; when files are missing it
/// lists them with their download addresses and the folder to put them in.
/// </summary>
public sealed class ModelDownloadException : Exception
{
    /// <summary>Creates the exception.</summary>
    public ModelDownloadException() { }

    /// <summary>Creates the exception.</summary>
    public ModelDownloadException(string message) : base(message) { }

    /// <summary>Creates the exception with an inner cause.</summary>
    public ModelDownloadException(string message, Exception innerException) : base(message, innerException) { }

    internal ModelDownloadException(
        string message,
        ModelDownloadFailure failure,
        string modelName,
        string modelDirectory,
        IReadOnlyList<string> missingFiles,
        string? file = null,
        Exception? innerException = null)
        : base(message, innerException)
    {
        Failure = failure;
        ModelName = modelName;
        ModelDirectory = modelDirectory;
        MissingFiles = missingFiles;
        File = file;
    }

    /// <summary>Why it failed.</summary>
    public ModelDownloadFailure Failure { get; }

    /// <summary>The model's name.</summary>
    public string? ModelName { get; }

    /// <summary>The folder the model's files belong in.</summary>
    public string? ModelDirectory { get; }

    /// <summary>Files (relative hub paths) still missing from <see cref="ModelDirectory"/> when it failed.</summary>
    public IReadOnlyList<string> MissingFiles { get; } = [];

    /// <summary>The file being fetched when it failed, if one was.</summary>
    public string? File { get; }
}
