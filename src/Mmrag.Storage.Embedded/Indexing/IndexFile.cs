using System.Buffers.Binary;
using System.IO.Hashing;
using System.Runtime.InteropServices;
using System.Text;

namespace Mmrag.Storage.Embedded.Indexing;

/// <summary>
/// What <see cref="IndexFile.Load"/> read: the graph (with its vectors), the rowid of every slot (-1: dead), and the
/// database generation it was saved at (at most the database's: the store catches up on what came after).
/// </summary>
/// <param name="Hnsw">The graph with its vectors.</param>
/// <param name="SlotRowIds">The rowid of each slot, -1 for a dead one.</param>
/// <param name="LiveCount">Slots with an item.</param>
/// <param name="Generation">The database generation the file was saved at.</param>
/// <param name="PayloadCheck">
/// Completes when the graph's checksum has been verified (already, unless the file was mapped: then it runs beside the
/// rest of the open); faults with <see cref="VectorIndexFormatException"/> when it fails. Wait for it before use.
/// </param>
/// <param name="OlderFormat">Saved by an earlier version of the format: worth saving again.</param>
/// <param name="Mapping">The mapped file the graph reads in place, with the range worth mapping ahead (null: read into memory).</param>
internal sealed record LoadedIndexFile(HnswIndex Hnsw, long[] SlotRowIds, long LiveCount, long Generation, Task PayloadCheck, bool OlderFormat,
    (MappedFile File, long Offset, long Length)? Mapping);

/// <summary>
/// <c>vectors.hnsw</c>: the HNSW graph with its vectors (dead slots included, since the graph routes through them),
/// preceded by a header that ties it to one database state and the rowid of every slot.
/// </summary>
/// <remarks>
/// Layout (little endian): 64-byte header ("MMRAGKBI", version, header size, database generation, live count, slot
/// count, dimension, knowledge base uid, XxHash3 of bytes 0..55 at 56); slot map (slot count × int64 rowid, -1 for a
/// dead slot) and its XxHash3; from version 2, zero bytes up to a multiple of 64; then <see cref="HnswIndex.Save"/>'s
/// format with the vectors (aligned so that it can be mapped and searched in place). Written to a temporary
/// file, flushed, then renamed over the old one, so a crash leaves the old file or the new one, never a mix; the
/// store still checks everything on load and rebuilds from the database when anything disagrees.
/// </remarks>
internal static class IndexFile
{
    public const string FileName = "vectors.hnsw";
    private const int Version = 2;
    private const int HeaderSize = 64;
    private static readonly byte[] s_magic = Encoding.ASCII.GetBytes("MMRAGKBI");

    /// <summary>Writes the snapshot's graph (writer only: nothing may add slots meanwhile).</summary>
    public static void Save(string path, IndexSnapshot snapshot, Guid uid)
    {
        HnswIndex hnsw = snapshot.Hnsw ?? throw new InvalidOperationException("There is no graph to save.");
        int slots = snapshot.Vectors.Count;
        var map = new long[slots];
        for (int s = 0; s < slots; s++)
        {
            map[s] = snapshot.IsLive(s) ? snapshot.Table.RowIds[s] : -1;
        }

        var header = new byte[HeaderSize];
        s_magic.CopyTo(header, 0);
        BinaryPrimitives.WriteInt32LittleEndian(header.AsSpan(8), Version);
        BinaryPrimitives.WriteInt32LittleEndian(header.AsSpan(12), HeaderSize);
        BinaryPrimitives.WriteInt64LittleEndian(header.AsSpan(16), snapshot.Generation);
        BinaryPrimitives.WriteInt64LittleEndian(header.AsSpan(24), snapshot.LiveCount);
        BinaryPrimitives.WriteInt32LittleEndian(header.AsSpan(32), slots);
        BinaryPrimitives.WriteInt32LittleEndian(header.AsSpan(36), snapshot.Vectors.Dimension);
        uid.TryWriteBytes(header.AsSpan(40, 16));
        BinaryPrimitives.WriteUInt64LittleEndian(header.AsSpan(56), XxHash3.HashToUInt64(header.AsSpan(0, 56)));

        string temp = $"{path}.{Guid.NewGuid():N}.tmp";
        try
        {
            using (var stream = new FileStream(temp, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 16))
            {
                stream.Write(header);
                ReadOnlySpan<byte> mapBytes = MapBytes(map);
                stream.Write(mapBytes);
                Span<byte> hash = stackalloc byte[8];
                BinaryPrimitives.WriteUInt64LittleEndian(hash, XxHash3.HashToUInt64(mapBytes));
                stream.Write(hash);
                stream.Write(new byte[GraphOffset(slots) - stream.Position]);
                hnsw.ContentStamp = (ulong)snapshot.Generation;
                hnsw.Save(stream, includeVectors: true);
                stream.Flush(flushToDisk: true);
            }

            File.Move(temp, path, overwrite: true);
        }
        catch
        {
            TryDelete(temp);
            throw;
        }
    }

    /// <summary>
    /// Reads the file (mapped where <paramref name="mapIfPossible"/> allows it and <see cref="HnswIndex.CanMap"/> says the file
    /// can be) if it belongs to knowledge base <paramref name="uid"/> and was saved at database generation
    /// <paramref name="generation"/> or earlier (items are only ever inserted under new rowids or deleted, so an older
    /// graph plus the rows added and removed since is the current index); otherwise throws
    /// <see cref="VectorIndexFormatException"/> saying why.
    /// </summary>
    public static LoadedIndexFile Load(string path, Guid uid, long generation, int dimension, bool mapIfPossible = true)
    {
        using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16);
        Span<byte> header = stackalloc byte[HeaderSize];
        if (stream.ReadAtLeast(header, HeaderSize, throwOnEndOfStream: false) < HeaderSize || !header[..8].SequenceEqual(s_magic))
        {
            throw new VectorIndexFormatException("not an index file of this store, or truncated in its header");
        }

        if (BinaryPrimitives.ReadUInt64LittleEndian(header[56..]) != XxHash3.HashToUInt64(header[..56]))
        {
            throw new VectorIndexFormatException("header checksum mismatch");
        }

        int version = BinaryPrimitives.ReadInt32LittleEndian(header[8..]);
        if (version is < 1 or > Version || BinaryPrimitives.ReadInt32LittleEndian(header[12..]) != HeaderSize)
        {
            throw new VectorIndexFormatException($"format version {version}, this build reads 1 to {Version}");
        }

        var fileUid = new Guid(header.Slice(40, 16));
        if (fileUid != uid)
        {
            throw new VectorIndexFormatException($"it belongs to another knowledge base ({fileUid:D}, this one is {uid:D})");
        }

        long fileGeneration = BinaryPrimitives.ReadInt64LittleEndian(header[16..]);
        if (fileGeneration > generation)
        {
            // A database restored from an older copy: the file describes items the database no longer has.
            throw new VectorIndexFormatException($"it was saved at database generation {fileGeneration}, after the database's {generation}");
        }

        long liveCount = BinaryPrimitives.ReadInt64LittleEndian(header[24..]);
        int slots = BinaryPrimitives.ReadInt32LittleEndian(header[32..]);
        int fileDimension = BinaryPrimitives.ReadInt32LittleEndian(header[36..]);
        if (fileDimension != dimension)
        {
            throw new VectorIndexFormatException($"dimension {fileDimension}, the knowledge base has {dimension}");
        }

        if (slots < 0 || liveCount < 0 || liveCount > slots || HeaderSize + (slots * 8L) + 8 > stream.Length)
        {
            throw new VectorIndexFormatException("slot counts out of range or file truncated");
        }

        var map = new long[slots];
        Span<byte> mapBytes = MemoryMarshal.AsBytes(map.AsSpan());
        stream.ReadExactly(mapBytes);
        Span<byte> hash = stackalloc byte[8];
        stream.ReadExactly(hash);
        if (BinaryPrimitives.ReadUInt64LittleEndian(hash) != XxHash3.HashToUInt64(mapBytes))
        {
            throw new VectorIndexFormatException("slot map checksum mismatch");
        }

        if (!BitConverter.IsLittleEndian)
        {
            for (int i = 0; i < map.Length; i++)
            {
                map[i] = BinaryPrimitives.ReverseEndianness(map[i]);
            }
        }

        HnswIndex hnsw;
        MappedFile? mapping = null;
        (long Offset, long Length, ulong Checksum)? mapped = null;
        if (version >= 2)
        {
            stream.Position = GraphOffset(slots);
        }

        long graphOffset = stream.Position;
        if (mapIfPossible && version >= 2 && MappedFile.IsSupported && HnswIndex.CanMap(HnswIndex.ReadHeader(stream)))
        {
            mapping = MappedFile.Open(path);
            hnsw = HnswIndex.LoadMapped(mapping, graphOffset, out var payload);
            mapped = payload;
        }
        else
        {
            stream.Position = graphOffset;
            hnsw = HnswIndex.Load(stream);
        }

        if (hnsw.ContentStamp != (ulong)fileGeneration || hnsw.Vectors.Count != slots || hnsw.Dimension != dimension)
        {
            throw new VectorIndexFormatException("the graph does not match the file's header");
        }

        // Reading the file beside the rest of the open costs a fraction of a second; hashing it through the mapping
        // would fault in every page of it.
        Task payloadCheck = mapped is { } range
            ? Task.Run(() =>
            {
                if (HnswIndex.HashFileRange(path, range.Offset, range.Length) != range.Checksum)
                {
                    throw new VectorIndexFormatException("Index file is corrupt: payload checksum mismatch.");
                }
            })
            : Task.CompletedTask;
        return new LoadedIndexFile(hnsw, map, liveCount, fileGeneration, payloadCheck, version < Version,
            mapped is { } m ? (mapping!, m.Offset, m.Length) : null);
    }

    /// <summary>Where the graph starts (from version 2): after the header, the slot map and its hash, on a 64-byte boundary.</summary>
    private static long GraphOffset(int slots) => (HeaderSize + (slots * 8L) + 8 + 63) & ~63L;

    public static void TryDelete(string path)
    {
        try
        {
            File.Delete(path);
        }
        catch (IOException)
        {
        }
        catch (UnauthorizedAccessException)
        {
        }
    }

    private static ReadOnlySpan<byte> MapBytes(long[] map)
    {
        if (!BitConverter.IsLittleEndian)
        {
            for (int i = 0; i < map.Length; i++)
            {
                map[i] = BinaryPrimitives.ReverseEndianness(map[i]);
            }
        }

        return MemoryMarshal.AsBytes(map.AsSpan());
    }
}
