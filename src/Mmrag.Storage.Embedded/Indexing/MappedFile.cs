using System.IO.MemoryMappedFiles;
using System.Runtime.InteropServices;

namespace Mmrag.Storage.Embedded.Indexing;

/// <summary>
/// A whole file mapped copy-on-write: the index's vectors and layer-0 links are read in place from the page cache
/// instead of being copied into fresh memory (at a million items, touching 2 GiB of new pages cost more than the rest
/// of an open). Writes to the mapping stay private to the process, so inserting into the loaded graph never changes
/// the file, and the store may replace the file (a save renames a new one over it) while it is mapped.
/// </summary>
/// <remarks>
/// The mapping is released by the finalizer once nothing refers to it: the vector and graph chunks that point into it
/// hold it, and readers keep their snapshot (hence its chunks) alive while they read. It is never unmapped explicitly,
/// because a search may still be reading through a raw pointer. Windows cannot rename over a mapped file, so the store
/// maps only where that is allowed (<see cref="IsSupported"/>).
/// </remarks>
internal sealed unsafe partial class MappedFile
{
    private const int MadvisePopulateRead = 22; // Linux 5.14 and later
    private const int MadviseWillNeed = 3;

    private readonly MemoryMappedFile _file;
    private readonly MemoryMappedViewAccessor _view;

    private MappedFile(MemoryMappedFile file, MemoryMappedViewAccessor view, byte* start, long length)
    {
        _file = file;
        _view = view;
        Start = start;
        Length = length;
    }

    // The view's and the file's safe handles unmap and close in their own (critical, hence later) finalizers once
    // the pointer taken in Open is given back here.
    ~MappedFile() => _view.SafeMemoryMappedViewHandle.ReleasePointer();

    /// <summary>Whether files are mapped on this platform (not on Windows, where the store's saves rename over the file).</summary>
    public static bool IsSupported => !OperatingSystem.IsWindows();

    /// <summary>The first byte of the file.</summary>
    public byte* Start { get; }

    /// <summary>The file's length when it was mapped.</summary>
    public long Length { get; }

    /// <summary>The bytes <c>[offset, offset + length)</c>, after checking that they lie inside the file.</summary>
    public ReadOnlySpan<byte> Bytes(long offset, int length) => new(At(offset, length), length);

    /// <summary>Where <c>[offset, offset + length)</c> starts, after checking that it lies inside the file (a section too long for a span).</summary>
    /// <exception cref="VectorIndexFormatException">It does not: the file is truncated or its header forged.</exception>
    public byte* At(long offset, long length)
    {
        if (offset < 0 || length < 0 || offset > Length - length)
        {
            throw new VectorIndexFormatException("Index file is truncated.");
        }

        return Start + offset;
    }

    /// <summary>
    /// Maps the pages of <c>[offset, offset + length)</c> ahead of use (Linux: <c>MADV_POPULATE_READ</c>, else
    /// <c>MADV_WILLNEED</c>), so that the first searches after an open do not stop on a page fault for every vector
    /// they read. Best effort: where the kernel refuses, pages are mapped as searches touch them.
    /// </summary>
    public void Prefault(long offset, long length, CancellationToken cancellationToken)
    {
        if (!OperatingSystem.IsLinux() || length <= 0 || offset < 0 || offset + length > Length)
        {
            return;
        }

        nint page = Environment.SystemPageSize;
        nint first = (nint)(Start + offset) & ~(page - 1);
        nint end = (nint)(Start + offset + length);
        // In pieces, so that a store closed meanwhile costs at most one piece of wasted work.
        const long Piece = 64L << 20;
        try
        {
            for (nint at = first; at < end && !cancellationToken.IsCancellationRequested; at += (nint)Piece)
            {
                nuint size = (nuint)Math.Min(Piece, end - at);
                if (Madvise(at, size, MadvisePopulateRead) != 0 && Madvise(at, size, MadviseWillNeed) != 0)
                {
                    return;
                }
            }
        }
        finally
        {
            GC.KeepAlive(this); // mapped until the last call returns
        }
    }

    /// <summary>Maps <paramref name="path"/> (read-only on disk, copy-on-write in memory).</summary>
    public static MappedFile Open(string path)
    {
        var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read | FileShare.Delete, 1);
        MemoryMappedFile file;
        long length;
        try
        {
            length = stream.Length;
            if (length == 0)
            {
                throw new VectorIndexFormatException("not an index file of this store, or truncated in its header");
            }

            file = MemoryMappedFile.CreateFromFile(stream, null, 0, MemoryMappedFileAccess.CopyOnWrite, HandleInheritability.None, leaveOpen: false);
        }
        catch
        {
            stream.Dispose();
            throw;
        }

        MemoryMappedViewAccessor? view = null;
        try
        {
            view = file.CreateViewAccessor(0, length, MemoryMappedFileAccess.CopyOnWrite);
            byte* start = null;
            view.SafeMemoryMappedViewHandle.AcquirePointer(ref start);
            return new MappedFile(file, view, start + view.PointerOffset, length);
        }
        catch
        {
            view?.Dispose();
            file.Dispose();
            throw;
        }
    }

    [LibraryImport("libc", EntryPoint = "madvise", SetLastError = true)]
    private static partial int Madvise(nint address, nuint length, int advice);
}
