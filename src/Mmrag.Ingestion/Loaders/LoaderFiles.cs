using Mmrag.Knowledge;

namespace Mmrag.Ingestion.Loaders;

/// <summary>File reading shared by the loaders: size limit first, I/O errors as <see cref="DocumentLoadException"/> naming the file.</summary>
internal static class LoaderFiles
{
    public static async Task<byte[]> ReadAsync(string path, long maxBytes, CancellationToken cancellationToken)
    {
        try
        {
            var length = new FileInfo(path).Length;
            if (length > maxBytes)
            {
                throw new DocumentLoadException(
                    $"{path}: the file is {length:N0} bytes, larger than the {maxBytes:N0}-byte limit (MaxFileBytes).");
            }

            var bytes = await File.ReadAllBytesAsync(path, cancellationToken).ConfigureAwait(false);

            // The file may have grown since it was measured.
            return bytes.LongLength > maxBytes
                ? throw new DocumentLoadException($"{path}: the file is larger than the {maxBytes:N0}-byte limit (MaxFileBytes).")
                : bytes;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw new DocumentLoadException($"{path}: cannot be read ({ex.Message}).", ex);
        }
    }

    public static IngestionFailure Failure(string path, string reason, string? detail = null) =>
        new(path, reason, detail, DateTimeOffset.UtcNow);
}
