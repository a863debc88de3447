using System.Buffers.Binary;
using System.IO.Hashing;
using System.Runtime.InteropServices;
using System.Text;

namespace Mmrag.Storage.Embedded.Indexing;

/// <summary>What the fixed-size header of a saved <see cref="HnswIndex"/> says; read it with <see cref="HnswIndex.ReadHeader"/> to check staleness without loading.</summary>
/// <param name="Version">File format version.</param>
/// <param name="Dimension">Vector dimension.</param>
/// <param name="SlotCount">Slots of the vector set when saved.</param>
/// <param name="IndexedCount">Slots linked into the graph.</param>
/// <param name="DeletedCount">Slots marked deleted (known when the vectors are embedded, else 0).</param>
/// <param name="M">Links per node on the upper layers.</param>
/// <param name="EfConstruction">Candidate list size used while inserting.</param>
/// <param name="EfSearch">Default search candidate list size.</param>
/// <param name="Seed">Seed of the level draws.</param>
/// <param name="ContentStamp">The caller's <see cref="HnswIndex.ContentStamp"/> when saved.</param>
/// <param name="EntryPoint">Entry slot (-1 when empty).</param>
/// <param name="MaxLevel">Top layer (-1 when empty).</param>
/// <param name="HasVectors">Whether the file embeds the vectors and tombstones.</param>
public sealed record HnswIndexHeader(
    int Version,
    int Dimension,
    int SlotCount,
    int IndexedCount,
    int DeletedCount,
    int M,
    int EfConstruction,
    int EfSearch,
    long Seed,
    ulong ContentStamp,
    int EntryPoint,
    int MaxLevel,
    bool HasVectors);

/// <content>Binary persistence.</content>
public sealed unsafe partial class HnswIndex
{
    // Layout (little endian):
    //   header, 128 bytes: "MMRAGHNS", version, header size, dimension, slot count, indexed count, deleted count,
    //     M, M0, efConstruction, efSearch, seed, content stamp, entry point, max level, flags, zero padding,
    //     XxHash3 of bytes 0..119 at offset 120.
    //   payload: levels (sbyte per slot); if flags & 1: tombstone words (ulong per 64 slots) and vectors
    //     (slot count x dimension float32); layer-0 lists (slot count x (M0 + 1) int32, count-prefixed);
    //     upper lists (level x (M + 1) int32 for each slot with level > 0, in slot order).
    //     From version 2, zero bytes before the vectors and before the layer-0 lists bring each to a multiple of 64
    //     bytes from the header's start, so that a file mapped into memory can be searched in place.
    //   trailer, 24 bytes: "MMRAGEND", payload length, XxHash3 of the payload.
    private const int FormatVersion = 2;
    private const int FirstPaddedVersion = 2;
    private const int SectionAlignment = 64;
    private const int HeaderSize = 128;
    private const int TrailerSize = 24;
    private const uint FlagVectors = 1;
    private const int CopyBlockBytes = 1 << 20;
    private static readonly byte[] s_magic = Encoding.ASCII.GetBytes("MMRAGHNS");
    private static readonly byte[] s_endMagic = Encoding.ASCII.GetBytes("MMRAGEND");
    private static readonly byte[] s_zeros = new byte[SectionAlignment];

    /// <summary>
    /// Writes the graph, its parameters and <see cref="ContentStamp"/> to <paramref name="stream"/>, with the vectors
    /// and tombstones unless <paramref name="includeVectors"/> is false (then <see cref="Load(Stream, VectorSet?)"/>
    /// needs the vector set). Waits for running writers; searches may go on meanwhile.
    /// </summary>
    public void Save(Stream stream, bool includeVectors = true)
    {
        ArgumentNullException.ThrowIfNull(stream);
        lock (_writeLock)
        {
            int slots = Vectors.Count;
            EnsureGraphCapacity(slots);
            long entry = Volatile.Read(ref _entry);
            var header = new HnswIndexHeader(FormatVersion, Dimension, slots, IndexedCount, includeVectors ? Vectors.DeletedCount : 0,
                M, EfConstruction, EfSearch, Seed, ContentStamp, EntrySlot(entry), EntryLevel(entry), includeVectors);
            stream.Write(EncodeHeader(header, M0));

            var writer = new ChecksumWriter(stream);
            var snap = new Snapshot(this);
            var levels = new sbyte[slots];
            for (int i = 0; i < slots; i++)
            {
                levels[i] = (sbyte)LevelOf(i);
            }

            writer.Write(MemoryMarshal.AsBytes(levels.AsSpan()));
            if (includeVectors)
            {
                writer.Write(MemoryMarshal.AsBytes(Vectors.CopyTombstones(slots).AsSpan()));
                writer.Write(s_zeros.AsSpan(0, Padding(writer.Length)));
                for (int i = 0; i < slots; i++)
                {
                    writer.Write(MemoryMarshal.AsBytes(new ReadOnlySpan<float>(snap.Row(i), Dimension)));
                }
            }

            writer.Write(s_zeros.AsSpan(0, Padding(writer.Length)));
            for (int i = 0; i < slots; i++)
            {
                writer.Write(MemoryMarshal.AsBytes(new ReadOnlySpan<int>(snap.Links0(i), _m0Stride)));
            }

            for (int i = 0; i < slots; i++)
            {
                if (levels[i] > 0)
                {
                    writer.Write(MemoryMarshal.AsBytes(new ReadOnlySpan<int>(UpperList(i, 1), levels[i] * _upperStride)));
                }
            }

            writer.Flush();
            Span<byte> trailer = stackalloc byte[TrailerSize];
            s_endMagic.CopyTo(trailer);
            BinaryPrimitives.WriteInt64LittleEndian(trailer[8..], writer.Length);
            BinaryPrimitives.WriteUInt64LittleEndian(trailer[16..], writer.Checksum);
            stream.Write(trailer);
        }
    }

    /// <summary>Reads only the header of a saved index (the stream is left after it).</summary>
    /// <exception cref="VectorIndexFormatException">Not an index file, an unsupported version, or a damaged header.</exception>
    public static HnswIndexHeader ReadHeader(Stream stream)
    {
        ArgumentNullException.ThrowIfNull(stream);
        return DecodeHeader(stream, out _);
    }

    /// <summary>
    /// Loads a saved index. A file saved with its vectors is self-contained (pass no vector set, or one to receive
    /// nothing: the embedded vectors then are checked and dropped); a file saved without them needs the vector set it
    /// was built over, with at least as many slots and the same dimension.
    /// </summary>
    /// <exception cref="VectorIndexFormatException">The file is not an index, is truncated, fails its checksum, or is inconsistent.</exception>
    /// <exception cref="ArgumentException">The given vector set does not match the file.</exception>
    public static HnswIndex Load(Stream stream, VectorSet? vectors = null)
    {
        ArgumentNullException.ThrowIfNull(stream);
        HnswIndexHeader h = DecodeHeader(stream, out int m0);
        if (vectors is null && !h.HasVectors)
        {
            throw new ArgumentException("The index file was saved without its vectors: pass the vector set it was built over.", nameof(vectors));
        }

        if (vectors is not null && (vectors.Dimension != h.Dimension || vectors.Count < h.SlotCount))
        {
            throw new ArgumentException($"The vector set ({vectors.Count} slots of dimension {vectors.Dimension}) does not match the index file ({h.SlotCount} slots of dimension {h.Dimension}).", nameof(vectors));
        }

        bool ownVectors = vectors is null;
        vectors ??= new VectorSet(h.Dimension);
        var index = new HnswIndex(vectors, new HnswOptions { M = h.M, EfConstruction = h.EfConstruction, EfSearch = h.EfSearch, Seed = h.Seed })
        {
            ContentStamp = h.ContentStamp,
        };
        if (m0 != index.M0)
        {
            throw new VectorIndexFormatException($"Index header is inconsistent: M0 = {m0} but M = {h.M}.");
        }

        var reader = new ChecksumReader(stream);
        int slots = h.SlotCount;
        var levels = new sbyte[slots];
        reader.Read(MemoryMarshal.AsBytes(levels.AsSpan()));
        CheckLevels(levels, h);
        bool padded = h.Version >= FirstPaddedVersion;
        if (h.HasVectors)
        {
            var tombstones = new ulong[(slots + 63) / 64];
            reader.Read(MemoryMarshal.AsBytes(tombstones.AsSpan()));
            reader.SkipPadding(padded);
            if (ownVectors)
            {
                vectors.LoadRows(slots, row => reader.Read(MemoryMarshal.AsBytes(row)));
                LoadTombstones(vectors, tombstones, h);
            }
            else
            {
                var discard = new float[h.Dimension];
                for (int i = 0; i < slots; i++)
                {
                    reader.Read(MemoryMarshal.AsBytes(discard.AsSpan()));
                }
            }
        }

        reader.SkipPadding(padded);
        index.EnsureGraphCapacity(slots);
        var snap = new Snapshot(index);
        for (int i = 0; i < slots; i++)
        {
            reader.Read(MemoryMarshal.AsBytes(new Span<int>(snap.Links0(i), index._m0Stride)));
        }

        index.LoadUpperLists(levels, upper => reader.Read(MemoryMarshal.AsBytes(upper)));
        long payloadLength = reader.Length;
        ulong checksum = reader.Checksum;
        Span<byte> trailer = stackalloc byte[TrailerSize];
        reader.ReadRaw(trailer);
        if (ReadTrailer(trailer, payloadLength) != checksum)
        {
            throw new VectorIndexFormatException("Index file is corrupt: payload checksum mismatch.");
        }

        index.Complete(levels, h);
        return index;
    }

    /// <summary>
    /// Whether <see cref="LoadMapped"/> can read a saved index with this header in place: a version that aligns its
    /// sections, with the vectors, whose rows need no padding in memory.
    /// </summary>
    internal static bool CanMap(HnswIndexHeader header) =>
        header.Version >= FirstPaddedVersion && header.HasVectors && VectorMath.StrideFor(header.Dimension) == header.Dimension;

    /// <summary>
    /// Loads the saved index (with its vectors, see <see cref="CanMap"/>) that starts at <paramref name="offset"/> of
    /// <paramref name="file"/>, a multiple of 64: the vectors and layer-0 lists are read in place, the rest is copied,
    /// and every link is checked. The payload's checksum is not: it covers gigabytes that the load never touches, so
    /// the caller checks <paramref name="payload"/> (file offset, length, expected XxHash3) with
    /// <see cref="HashFileRange"/> before trusting the vectors.
    /// </summary>
    /// <exception cref="VectorIndexFormatException">The file is truncated or inconsistent.</exception>
    /// <param name="file">The mapped file.</param>
    /// <param name="offset">Where the saved index starts in it.</param>
    /// <param name="payload">The payload's place in the file and its expected checksum.</param>
    /// <param name="chunkRows">Rows per chunk of the vector set (0: its default; tests use small chunks to map several).</param>
    internal static HnswIndex LoadMapped(MappedFile file, long offset, out (long Offset, long Length, ulong Checksum) payload, int chunkRows = 0)
    {
        HnswIndexHeader h = DecodeHeader(file.Bytes(offset, HeaderSize), HeaderSize, out int m0);
        if (!CanMap(h) || ((nint)file.At(offset, HeaderSize) & (SectionAlignment - 1)) != 0)
        {
            throw new ArgumentException("This index cannot be read in place (see CanMap), or does not start on a 64-byte boundary.", nameof(offset));
        }

        var vectors = new VectorSet(h.Dimension, chunkRows);
        var index = new HnswIndex(vectors, new HnswOptions { M = h.M, EfConstruction = h.EfConstruction, EfSearch = h.EfSearch, Seed = h.Seed })
        {
            ContentStamp = h.ContentStamp,
        };
        if (m0 != index.M0)
        {
            throw new VectorIndexFormatException($"Index header is inconsistent: M0 = {m0} but M = {h.M}.");
        }

        int slots = h.SlotCount;
        long start = offset + HeaderSize;
        long position = start;
        sbyte[] levels = MemoryMarshal.Cast<byte, sbyte>(file.Bytes(position, slots)).ToArray();
        position += slots;
        CheckLevels(levels, h);
        ulong[] tombstones = MemoryMarshal.Cast<byte, ulong>(file.Bytes(position, ((slots + 63) / 64) * sizeof(ulong))).ToArray();
        position += tombstones.Length * (long)sizeof(ulong);
        position += Padding(position - start);
        long vectorBytes = (long)slots * h.Dimension * sizeof(float);
        vectors.AdoptMappedRows(slots, (float*)file.At(position, vectorBytes), file);
        LoadTombstones(vectors, tombstones, h);
        position += vectorBytes;
        position += Padding(position - start);
        long linkBytes = (long)slots * index._m0Stride * sizeof(int);
        index.AdoptMappedLinks0(slots, (int*)file.At(position, linkBytes), file);
        position += linkBytes;
        index.LoadUpperLists(levels, upper =>
        {
            int bytes = upper.Length * sizeof(int);
            MemoryMarshal.Cast<byte, int>(file.Bytes(position, bytes)).CopyTo(upper);
            position += bytes;
        });
        payload = (start, position - start, ReadTrailer(file.Bytes(position, TrailerSize), position - start));
        index.Complete(levels, h);
        return index;
    }

    /// <summary>The XxHash3 of <paramref name="length"/> bytes of the file at <paramref name="offset"/>, read in large blocks.</summary>
    internal static ulong HashFileRange(string path, long offset, long length)
    {
        using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read | FileShare.Delete, 1, FileOptions.SequentialScan);
        stream.Position = offset;
        var hash = new XxHash3();
        var buffer = new byte[4 * CopyBlockBytes];
        while (length > 0)
        {
            int read = stream.Read(buffer, 0, (int)Math.Min(buffer.Length, length));
            if (read == 0)
            {
                throw new VectorIndexFormatException("Index file is truncated.");
            }

            hash.Append(buffer.AsSpan(0, read));
            length -= read;
        }

        return hash.GetCurrentHashAsUInt64();
    }

    /// <summary>Zero bytes that bring a section at <paramref name="position"/> bytes into the payload to a 64-byte boundary of the file.</summary>
    private static int Padding(long position) => (int)(-(HeaderSize + position) & (SectionAlignment - 1));

    /// <summary>Checks every slot's level and the header's count of linked slots.</summary>
    private static void CheckLevels(sbyte[] levels, HnswIndexHeader h)
    {
        int indexed = 0;
        for (int i = 0; i < levels.Length; i++)
        {
            if (levels[i] < -1 || levels[i] > MaxLevelCap)
            {
                throw new VectorIndexFormatException($"Index file is corrupt: slot {i} has level {levels[i]}.");
            }

            indexed += levels[i] >= 0 ? 1 : 0;
        }

        if (indexed != h.IndexedCount)
        {
            throw new VectorIndexFormatException($"Index file is corrupt: {indexed} linked slots, header says {h.IndexedCount}.");
        }
    }

    private static void LoadTombstones(VectorSet vectors, ulong[] tombstones, HnswIndexHeader h)
    {
        vectors.LoadTombstones(tombstones);
        if (vectors.DeletedCount != h.DeletedCount)
        {
            throw new VectorIndexFormatException($"Index file is corrupt: {vectors.DeletedCount} tombstones, header says {h.DeletedCount}.");
        }
    }

    /// <summary>The checksum a trailer records, after checking its magic and that it counts <paramref name="payloadLength"/> bytes.</summary>
    private static ulong ReadTrailer(ReadOnlySpan<byte> trailer, long payloadLength)
    {
        if (!trailer[..8].SequenceEqual(s_endMagic) || BinaryPrimitives.ReadInt64LittleEndian(trailer[8..]) != payloadLength)
        {
            throw new VectorIndexFormatException("Index file is corrupt: the trailer is missing or does not match the payload length.");
        }

        return BinaryPrimitives.ReadUInt64LittleEndian(trailer[16..]);
    }

    /// <summary>Sets the levels and reads the upper lists (each filled by <paramref name="read"/>, in slot order).</summary>
    private void LoadUpperLists(sbyte[] levels, Action<Span<int>> read)
    {
        EnsureGraphCapacity(levels.Length);
        for (int i = 0; i < levels.Length; i++)
        {
            GraphChunk chunk = _graph[i >> Vectors.ChunkShift];
            int local = i & Vectors.ChunkMask;
            chunk.Levels[local] = levels[i];
            if (levels[i] > 0)
            {
                int[] upper = GC.AllocateArray<int>(levels[i] * _upperStride, pinned: true);
                read(upper);
                chunk.Upper[local] = upper;
                chunk.UpperPointers[local] = (nint)System.Runtime.CompilerServices.Unsafe.AsPointer(ref MemoryMarshal.GetArrayDataReference(upper));
                _upperInts += upper.Length;
            }
        }
    }

    /// <summary>Checks every link and makes the loaded graph searchable (<see cref="CheckLevels"/> has checked the levels against the header's count).</summary>
    private void Complete(sbyte[] levels, HnswIndexHeader h)
    {
        // The checksum guards against damage; this guards against a well-formed file that would make searches read out of bounds.
        ValidateLinks(levels, h.EntryPoint, h.MaxLevel);
        _indexedCount = h.IndexedCount;
        _entry = Pack(h.EntryPoint, h.MaxLevel);
    }

    private void ValidateLinks(sbyte[] levels, int entryPoint, int maxLevel)
    {
        int slots = levels.Length;
        if (entryPoint < -1 || entryPoint >= slots || (entryPoint >= 0 && levels[entryPoint] != maxLevel) || (entryPoint < 0 && maxLevel != -1))
        {
            throw new VectorIndexFormatException($"Index file is corrupt: entry point {entryPoint} at level {maxLevel} is not a linked slot of that level.");
        }

        var snap = new Snapshot(this);
        for (int i = 0; i < slots; i++)
        {
            for (int level = 0; level <= levels[i]; level++)
            {
                int* list = ListOf(i, level, in snap);
                int maxLinks = level == 0 ? M0 : M;
                int n = list[0];
                if (n < 0 || n > maxLinks)
                {
                    throw new VectorIndexFormatException($"Index file is corrupt: slot {i} has {n} links on layer {level}.");
                }

                for (int j = 1; j <= n; j++)
                {
                    int id = list[j];
                    if ((uint)id >= (uint)slots || levels[id] < level)
                    {
                        throw new VectorIndexFormatException($"Index file is corrupt: slot {i} links to {id} on layer {level}.");
                    }
                }
            }

            if (levels[i] < 0 && snap.Links0(i)[0] != 0)
            {
                throw new VectorIndexFormatException($"Index file is corrupt: unlinked slot {i} has links.");
            }
        }
    }

    private static byte[] EncodeHeader(HnswIndexHeader h, int m0)
    {
        var b = new byte[HeaderSize];
        Span<byte> s = b;
        s_magic.CopyTo(s);
        BinaryPrimitives.WriteInt32LittleEndian(s[8..], h.Version);
        BinaryPrimitives.WriteInt32LittleEndian(s[12..], HeaderSize);
        BinaryPrimitives.WriteInt32LittleEndian(s[16..], h.Dimension);
        BinaryPrimitives.WriteInt32LittleEndian(s[20..], h.SlotCount);
        BinaryPrimitives.WriteInt32LittleEndian(s[24..], h.IndexedCount);
        BinaryPrimitives.WriteInt32LittleEndian(s[28..], h.DeletedCount);
        BinaryPrimitives.WriteInt32LittleEndian(s[32..], h.M);
        BinaryPrimitives.WriteInt32LittleEndian(s[36..], m0);
        BinaryPrimitives.WriteInt32LittleEndian(s[40..], h.EfConstruction);
        BinaryPrimitives.WriteInt32LittleEndian(s[44..], h.EfSearch);
        BinaryPrimitives.WriteInt64LittleEndian(s[48..], h.Seed);
        BinaryPrimitives.WriteUInt64LittleEndian(s[56..], h.ContentStamp);
        BinaryPrimitives.WriteInt32LittleEndian(s[64..], h.EntryPoint);
        BinaryPrimitives.WriteInt32LittleEndian(s[68..], h.MaxLevel);
        BinaryPrimitives.WriteUInt32LittleEndian(s[72..], h.HasVectors ? FlagVectors : 0);
        BinaryPrimitives.WriteUInt64LittleEndian(s[120..], XxHash3.HashToUInt64(s[..120]));
        return b;
    }

    private static HnswIndexHeader DecodeHeader(Stream stream, out int m0)
    {
        Span<byte> s = stackalloc byte[HeaderSize];
        int read = stream.ReadAtLeast(s, HeaderSize, throwOnEndOfStream: false);
        return DecodeHeader(s, read, out m0);
    }

    private static HnswIndexHeader DecodeHeader(ReadOnlySpan<byte> s, int read, out int m0)
    {
        if (read < 8 || !s[..8].SequenceEqual(s_magic))
        {
            throw new VectorIndexFormatException("Not an mmrag HNSW index file (bad magic).");
        }

        if (read < HeaderSize)
        {
            throw new VectorIndexFormatException($"Index file is truncated: header has {read} of {HeaderSize} bytes.");
        }

        int version = BinaryPrimitives.ReadInt32LittleEndian(s[8..]);
        if (version is < 1 or > FormatVersion)
        {
            throw new VectorIndexFormatException($"Unsupported HNSW index format version {version} (this build reads versions 1 to {FormatVersion}).");
        }

        if (BinaryPrimitives.ReadUInt64LittleEndian(s[120..]) != XxHash3.HashToUInt64(s[..120]))
        {
            throw new VectorIndexFormatException("Index file is corrupt: header checksum mismatch.");
        }

        int headerSize = BinaryPrimitives.ReadInt32LittleEndian(s[12..]);
        int dimension = BinaryPrimitives.ReadInt32LittleEndian(s[16..]);
        int slots = BinaryPrimitives.ReadInt32LittleEndian(s[20..]);
        int indexed = BinaryPrimitives.ReadInt32LittleEndian(s[24..]);
        int deleted = BinaryPrimitives.ReadInt32LittleEndian(s[28..]);
        int m = BinaryPrimitives.ReadInt32LittleEndian(s[32..]);
        m0 = BinaryPrimitives.ReadInt32LittleEndian(s[36..]);
        int efc = BinaryPrimitives.ReadInt32LittleEndian(s[40..]);
        int efs = BinaryPrimitives.ReadInt32LittleEndian(s[44..]);
        long seed = BinaryPrimitives.ReadInt64LittleEndian(s[48..]);
        ulong stamp = BinaryPrimitives.ReadUInt64LittleEndian(s[56..]);
        int entry = BinaryPrimitives.ReadInt32LittleEndian(s[64..]);
        int maxLevel = BinaryPrimitives.ReadInt32LittleEndian(s[68..]);
        uint flags = BinaryPrimitives.ReadUInt32LittleEndian(s[72..]);
        if (headerSize != HeaderSize || dimension is < 1 or > 1 << 16 || slots < 0 || indexed < 0 || indexed > slots
            || deleted < 0 || deleted > slots || m is < 2 or > 512 || efc < 1 || efs < 1 || (flags & ~FlagVectors) != 0
            || maxLevel < -1 || maxLevel > MaxLevelCap)
        {
            throw new VectorIndexFormatException("Index file is corrupt: header fields out of range.");
        }

        return new HnswIndexHeader(version, dimension, slots, indexed, deleted, m, efc, efs, seed, stamp, entry, maxLevel, (flags & FlagVectors) != 0);
    }

    /// <summary>Buffers writes and hashes them.</summary>
    private sealed class ChecksumWriter(Stream stream)
    {
        private readonly XxHash3 _hash = new();
        private readonly byte[] _buffer = new byte[CopyBlockBytes];
        private int _used;

        public long Length { get; private set; }

        public ulong Checksum => _hash.GetCurrentHashAsUInt64();

        public void Write(ReadOnlySpan<byte> data)
        {
            _hash.Append(data);
            Length += data.Length;
            while (!data.IsEmpty)
            {
                int n = Math.Min(data.Length, _buffer.Length - _used);
                data[..n].CopyTo(_buffer.AsSpan(_used));
                _used += n;
                data = data[n..];
                if (_used == _buffer.Length)
                {
                    Flush();
                }
            }
        }

        public void Flush()
        {
            stream.Write(_buffer, 0, _used);
            _used = 0;
        }
    }

    /// <summary>Buffers reads, hashes them, and turns a short read into a format error.</summary>
    private sealed class ChecksumReader(Stream stream)
    {
        private readonly XxHash3 _hash = new();
        private readonly byte[] _buffer = new byte[CopyBlockBytes];
        private int _start;
        private int _end;

        public long Length { get; private set; }

        public ulong Checksum => _hash.GetCurrentHashAsUInt64();

        public void Read(Span<byte> destination)
        {
            ReadRaw(destination);
            _hash.Append(destination);
            Length += destination.Length;
        }

        /// <summary>Reads (and hashes) the zero bytes that align the next section, in a file version that has them.</summary>
        public void SkipPadding(bool padded)
        {
            if (padded)
            {
                Span<byte> padding = stackalloc byte[SectionAlignment];
                Read(padding[..Padding(Length)]);
            }
        }

        public void ReadRaw(Span<byte> destination)
        {
            while (!destination.IsEmpty)
            {
                if (_start == _end && destination.Length >= _buffer.Length)
                {
                    // A large read (a chunk of vectors) goes straight into its destination, not through the buffer.
                    int direct = stream.ReadAtLeast(destination, destination.Length, throwOnEndOfStream: false);
                    if (direct < destination.Length)
                    {
                        throw new VectorIndexFormatException("Index file is truncated.");
                    }

                    return;
                }

                if (_start == _end)
                {
                    _start = 0;
                    _end = stream.Read(_buffer, 0, _buffer.Length);
                    if (_end == 0)
                    {
                        throw new VectorIndexFormatException("Index file is truncated.");
                    }
                }

                int n = Math.Min(destination.Length, _end - _start);
                _buffer.AsSpan(_start, n).CopyTo(destination);
                _start += n;
                destination = destination[n..];
            }
        }
    }
}
