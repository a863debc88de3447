using Mmrag.Ingestion.Loaders;

namespace Mmrag.Cli.Commands;

/// <summary>
/// Reads the image files named on the command line (<c>--image</c>) as ingestion reads files: regular files only (a
/// FIFO or <c>/dev/zero</c> named as an image is an error, not a hang) and at most <see cref="MaxBytes"/>.
/// </summary>
internal static class QueryImages
{
    /// <summary>The largest image file read (the server's default upload limit).</summary>
    public const long MaxBytes = 64L * 1024 * 1024;

    public static Task<byte[]> ReadAsync(string path, CancellationToken cancellationToken) => RegularFiles.ReadAllBytesAsync(path, MaxBytes, cancellationToken);
}
