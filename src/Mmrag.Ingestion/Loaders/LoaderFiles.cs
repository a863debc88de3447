using Mmrag.Knowledge;

namespace Mmrag.Ingestion.Loaders;

/// <summary>
/// File reading shared by the loaders: regular files only (a FIFO or device fails at once instead of blocking), size
/// limit checked, I/O errors as <see cref="DocumentLoadException"/> naming the file.
/// </summary>
internal static class LoaderFiles
{
    public static async Task<byte[]> ReadAsync(string path, long maxBytes, CancellationToken cancellationToken)
    {
        try
        {
            return await RegularFiles.ReadAllBytesAsync(path, maxBytes, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is NotARegularFileException or FileTooLargeException)
        {
            throw new DocumentLoadException(ex.Message, ex);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw new DocumentLoadException($"{path}: cannot be read ({ex.Message}).", ex);
        }
    }

    /// <summary>Opens a regular file for reading as a stream, refusing one over <paramref name="maxBytes"/>.</summary>
    public static FileStream Open(string path, long maxBytes)
    {
        FileStream stream;
        try
        {
            stream = RegularFiles.OpenRead(path);
        }
        catch (NotARegularFileException ex)
        {
            throw new DocumentLoadException(ex.Message, ex);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw new DocumentLoadException($"{path}: cannot be read ({ex.Message}).", ex);
        }

        if (stream.Length > maxBytes)
        {
            var length = stream.Length;
            stream.Dispose();
            throw new DocumentLoadException(new FileTooLargeException(path, length, maxBytes).Message);
        }

        return stream;
    }

    public static IngestionFailure Failure(string path, string reason, string? detail = null) =>
        new(path, reason, detail, DateTimeOffset.UtcNow);
}
