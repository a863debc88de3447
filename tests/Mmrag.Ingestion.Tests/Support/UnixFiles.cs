using System.Runtime.InteropServices;

namespace Mmrag.Ingestion.Tests.Support;

/// <summary>What the hostile-input tests need from Unix that .NET does not offer: FIFOs and the effective user.</summary>
internal static partial class UnixFiles
{
    /// <summary>Whether the tests run as root, for whom permission bits do not stop reading.</summary>
    public static bool IsRoot => !OperatingSystem.IsWindows() && GetEffectiveUserId() == 0;

    /// <summary>Creates a FIFO (named pipe) at <paramref name="path"/>; nothing ever writes to it.</summary>
    public static string MakeFifo(string path)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        if (MakeFifo(path, 0b110_100_100) != 0)
        {
            throw new IOException($"mkfifo '{path}' failed: {Marshal.GetPInvokeErrorMessage(Marshal.GetLastPInvokeError())}");
        }

        return path;
    }

    [LibraryImport("libc", EntryPoint = "mkfifo", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int MakeFifo(string path, uint mode);

    [LibraryImport("libc", EntryPoint = "geteuid")]
    private static partial uint GetEffectiveUserId();
}

/// <summary>A fact that needs permission bits to bite: skipped when the tests run as root (as in the container), run elsewhere.</summary>
internal sealed class NotRootFactAttribute : FactAttribute
{
    public NotRootFactAttribute()
    {
        if (UnixFiles.IsRoot)
        {
            Skip = "Runs as root, who can read a folder whatever its permissions.";
        }
    }
}
