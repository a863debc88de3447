using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;

namespace Mmrag.Ingestion.Loaders;

/// <summary>
/// Opens only regular files. A FIFO blocks <c>open(2)</c> until a writer appears and a device such as
/// <c>/dev/zero</c> never reaches end of file, so a file named <c>*.txt</c> that is one of them would hang a run.
/// On Linux the file is opened with <c>O_NONBLOCK</c> (which opening a FIFO cannot block on and which changes nothing
/// for a regular file) and its type is checked on the open handle, so a file swapped after an earlier check is caught
/// too; elsewhere .NET opens it as usual after a type check by path.
/// </summary>
public static partial class RegularFiles
{
    private const int AtFdCwd = -100;
    private const int AtEmptyPath = 0x1000;
    private const uint StatxType = 0x1;
    private const int StatxModeOffset = 28;
    private const int StatxSize = 256;
    private const int OpenReadOnlyNonBlockingCloseOnExec = 0x0 | 0x800 | 0x80000;
    private const int FileTypeMask = 0xF000;
    private const int RegularType = 0x8000;

    /// <summary>
    /// What <paramref name="path"/> is when it is not a regular file (links followed): "a folder", "a FIFO (named pipe)",
    /// "a character device" …; null for a regular file.
    /// </summary>
    /// <exception cref="IOException">The file does not exist or cannot be examined.</exception>
    public static string? NonRegularKind(string path)
    {
        if (OperatingSystem.IsLinux())
        {
            var buffer = new byte[StatxSize];
            if (Statx(AtFdCwd, path, 0, StatxType, buffer) != 0)
            {
                throw ErrorFor(path);
            }

            return Describe(Mode(buffer));
        }

        if (Directory.Exists(path))
        {
            return "a folder";
        }

        return File.Exists(path) ? null : throw new FileNotFoundException($"'{path}' does not exist.", path);
    }

    /// <summary>Opens <paramref name="path"/> for reading, or fails without blocking when it is not a regular file.</summary>
    /// <exception cref="NotARegularFileException">The path is a FIFO, device, socket or folder.</exception>
    /// <exception cref="IOException">It cannot be opened.</exception>
    /// <exception cref="UnauthorizedAccessException">It may not be read.</exception>
    public static FileStream OpenRead(string path, int bufferSize = 1 << 16)
    {
        if (!OperatingSystem.IsLinux())
        {
            if (NonRegularKind(path) is { } kind)
            {
                throw new NotARegularFileException(path, kind);
            }

            return new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, bufferSize, FileOptions.SequentialScan);
        }

        var fd = Open(path, OpenReadOnlyNonBlockingCloseOnExec);
        if (fd < 0)
        {
            var error = Marshal.GetLastPInvokeError();
            throw error is 13 or 1 ? new UnauthorizedAccessException($"Access to '{path}' is denied.") : ErrorFor(path, error);
        }

        var handle = new SafeFileHandle(fd, ownsHandle: true);
        try
        {
            var buffer = new byte[StatxSize];
            if (Statx(fd, string.Empty, AtEmptyPath, StatxType, buffer) != 0)
            {
                throw ErrorFor(path);
            }

            if (Describe(Mode(buffer)) is { } kind)
            {
                throw new NotARegularFileException(path, kind);
            }

            return new FileStream(handle, FileAccess.Read, bufferSize);
        }
        catch
        {
            handle.Dispose();
            throw;
        }
    }

    /// <summary>Reads a whole regular file, refusing one longer than <paramref name="maxBytes"/> (measured while reading, so a file that grows is caught).</summary>
    /// <exception cref="FileTooLargeException">The file has more than <paramref name="maxBytes"/> bytes.</exception>
    public static async Task<byte[]> ReadAllBytesAsync(string path, long maxBytes, CancellationToken cancellationToken)
    {
        var stream = OpenRead(path);
        await using (stream.ConfigureAwait(false))
        {
            var length = stream.Length;
            if (length > maxBytes)
            {
                throw new FileTooLargeException(path, length, maxBytes);
            }

            using var memory = new MemoryStream(checked((int)Math.Min(length, int.MaxValue)));
            var buffer = new byte[1 << 16];
            int read;
            while ((read = await stream.ReadAsync(buffer, cancellationToken).ConfigureAwait(false)) > 0)
            {
                if (memory.Length + read > maxBytes)
                {
                    throw new FileTooLargeException(path, null, maxBytes);
                }

                memory.Write(buffer, 0, read);
            }

            return memory.ToArray();
        }
    }

    private static int Mode(byte[] statx) => BitConverter.ToUInt16(statx, StatxModeOffset);

    private static string? Describe(int mode) => (mode & FileTypeMask) switch
    {
        RegularType => null,
        0x4000 => "a folder",
        0x1000 => "a FIFO (named pipe)",
        0x2000 => "a character device",
        0x6000 => "a block device",
        0xC000 => "a socket",
        _ => "not a regular file",
    };

    private static IOException ErrorFor(string path, int? error = null)
    {
        var code = error ?? Marshal.GetLastPInvokeError();
        var message = Marshal.GetPInvokeErrorMessage(code);
        return code == 2 ? new FileNotFoundException($"'{path}' does not exist ({message}).", path) : new IOException($"'{path}': {message}.");
    }

    // statx(2) has the same layout on every Linux architecture (unlike struct stat); glibc has exported it since 2.28.
    [LibraryImport("libc", EntryPoint = "statx", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int Statx(int directory, string path, int flags, uint mask, [Out] byte[] buffer);

    // open(2) is variadic; without O_CREAT the mode argument is not read, so the two-argument form is safe.
    [LibraryImport("libc", EntryPoint = "open", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int Open(string path, int flags);
}

/// <summary>A path that is a FIFO, device, socket or folder where a regular file was expected.</summary>
public sealed class NotARegularFileException(string path, string kind)
    : IOException($"{path}: not a regular file but {kind}; it was not read.")
{
    public string Kind { get; } = kind;
}

/// <summary>A file larger than the limit it was read under.</summary>
public sealed class FileTooLargeException(string path, long? length, long maxBytes)
    : IOException(length is { } l
        ? $"{path}: the file is {l:N0} bytes, larger than the {maxBytes:N0}-byte limit (MaxFileBytes)."
        : $"{path}: the file is larger than the {maxBytes:N0}-byte limit (MaxFileBytes).");
