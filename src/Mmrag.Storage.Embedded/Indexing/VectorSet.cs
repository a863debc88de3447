using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace Mmrag.Storage.Embedded.Indexing;

/// <summary>
/// Growable, contiguous float32 storage for fixed-dimension vectors addressed by dense int32 slots, with
/// deletion by tombstone. Vectors are expected to be L2-normalized already (the store normalizes at write time);
/// the set stores them as given.
/// </summary>
/// <remarks>
/// <para>Storage is a list of fixed-capacity chunks (about 4 MiB each) allocated on the pinned object heap and
/// never moved or freed while the set lives, so growing never copies and readers may hold row pointers. Each row
/// is padded with zeros to a multiple of 16 floats and starts on a 64-byte boundary.</para>
/// <para>Thread safety: any number of readers may run concurrently with writers. Writers (<see cref="Add"/>,
/// <see cref="AddRange"/>, <see cref="Remove"/>) are serialized by an internal lock. A slot becomes visible to
/// readers (through <see cref="Count"/>) only after its vector is fully written.</para>
/// </remarks>
public sealed unsafe class VectorSet
{
    private const int TargetChunkBytes = 4 << 20;

    private readonly Lock _writeLock = new();
    private Chunk[] _chunks = [];
    private nint[] _rowPointers = [];
    private int _count;
    private int _deletedCount;

    /// <summary>Creates an empty set of vectors with <paramref name="dimension"/> components.</summary>
    public VectorSet(int dimension)
        : this(dimension, 0)
    {
    }

    /// <summary>Creates an empty set; <paramref name="chunkRows"/> (a power of two, at least 64) overrides the chunk size, 0 picks it.</summary>
    internal VectorSet(int dimension, int chunkRows)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(dimension, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(dimension, 1 << 16);
        Dimension = dimension;
        Stride = VectorMath.StrideFor(dimension);
        if (chunkRows == 0)
        {
            chunkRows = (int)BitOperations.RoundUpToPowerOf2((uint)Math.Max(64, TargetChunkBytes / (Stride * sizeof(float))));
            if (chunkRows * (long)Stride * sizeof(float) > TargetChunkBytes * 2L)
            {
                chunkRows >>= 1;
            }

            chunkRows = Math.Max(64, chunkRows);
        }

        if (chunkRows < 64 || !BitOperations.IsPow2(chunkRows))
        {
            throw new ArgumentOutOfRangeException(nameof(chunkRows), chunkRows, "Chunk rows must be a power of two and at least 64.");
        }

        ChunkRows = chunkRows;
        ChunkShift = BitOperations.Log2((uint)chunkRows);
    }

    /// <summary>Number of components of every vector.</summary>
    public int Dimension { get; }

    /// <summary>Number of slots ever added (deleted ones included); slots are 0 … Count-1.</summary>
    public int Count => Volatile.Read(ref _count);

    /// <summary>Number of slots marked deleted.</summary>
    public int DeletedCount => Volatile.Read(ref _deletedCount);

    /// <summary>Number of slots not deleted.</summary>
    public int LiveCount => Count - DeletedCount;

    /// <summary>Bytes held by the vector chunks and tombstones.</summary>
    public long MemoryBytes
    {
        get
        {
            Chunk[] chunks = Volatile.Read(ref _chunks);
            return chunks.Length * (((long)ChunkRows * Stride * sizeof(float)) + 64 + (ChunkRows / 8));
        }
    }

    /// <summary>Whether rows are read in place from a mapped file (<see cref="AdoptMappedRows"/>).</summary>
    internal bool IsMapped { get; private set; }

    /// <summary>Floats per stored row (dimension rounded up to a multiple of 16).</summary>
    internal int Stride { get; }

    internal int ChunkRows { get; }

    internal int ChunkShift { get; }

    internal int ChunkMask => ChunkRows - 1;

    /// <summary>Row pointers per chunk. Read <see cref="Count"/> first: the array then covers every counted slot.</summary>
    internal nint[] RowPointers => Volatile.Read(ref _rowPointers);

    internal Chunk[] Chunks => Volatile.Read(ref _chunks);

    /// <summary>Appends a vector and returns its slot.</summary>
    /// <exception cref="ArgumentException">The vector's length is not <see cref="Dimension"/>.</exception>
    public int Add(ReadOnlySpan<float> vector)
    {
        if (vector.Length != Dimension)
        {
            throw new ArgumentException($"Expected a vector of {Dimension} floats, got {vector.Length}.", nameof(vector));
        }

        lock (_writeLock)
        {
            int slot = _count;
            WriteRow(slot, vector);
            Volatile.Write(ref _count, slot + 1);
            return slot;
        }
    }

    /// <summary>Appends <c>vectors.Length / Dimension</c> vectors stored one after another; returns the first new slot.</summary>
    /// <exception cref="ArgumentException">The length is not a multiple of <see cref="Dimension"/>.</exception>
    public int AddRange(ReadOnlySpan<float> vectors)
    {
        if (vectors.Length % Dimension != 0)
        {
            throw new ArgumentException($"Expected a multiple of {Dimension} floats, got {vectors.Length}.", nameof(vectors));
        }

        lock (_writeLock)
        {
            int first = _count;
            int n = vectors.Length / Dimension;
            for (int i = 0; i < n; i++)
            {
                WriteRow(first + i, vectors.Slice(i * Dimension, Dimension));
            }

            Volatile.Write(ref _count, first + n);
            return first;
        }
    }

    /// <summary>Marks a slot deleted; returns false if it was already deleted.</summary>
    /// <exception cref="ArgumentOutOfRangeException">The slot does not exist.</exception>
    public bool Remove(int slot)
    {
        CheckSlot(slot);
        lock (_writeLock)
        {
            ulong[] words = _chunks[slot >> ChunkShift].Deleted;
            ulong bit = 1UL << (slot & 63);
            ulong old = Interlocked.Or(ref words[(slot & ChunkMask) >> 6], bit);
            if ((old & bit) != 0)
            {
                return false;
            }

            Volatile.Write(ref _deletedCount, _deletedCount + 1);
            return true;
        }
    }

    /// <summary>Whether the slot is marked deleted.</summary>
    /// <exception cref="ArgumentOutOfRangeException">The slot does not exist.</exception>
    public bool IsDeleted(int slot)
    {
        CheckSlot(slot);
        return IsDeletedUnchecked(slot);
    }

    /// <summary>The stored vector of a slot (deleted slots keep their vector). The span aliases the storage: do not keep it past the set's lifetime.</summary>
    /// <exception cref="ArgumentOutOfRangeException">The slot does not exist.</exception>
    public ReadOnlySpan<float> GetVector(int slot)
    {
        CheckSlot(slot);
        return new ReadOnlySpan<float>(RowPointer(slot), Dimension);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal float* RowPointer(int slot) =>
        (float*)Volatile.Read(ref _rowPointers)[slot >> ChunkShift] + ((nint)(slot & ChunkMask) * Stride);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal bool IsDeletedUnchecked(int slot) =>
        (Volatile.Read(ref _chunks)[slot >> ChunkShift].Deleted[(slot & ChunkMask) >> 6] & (1UL << (slot & 63))) != 0;

    /// <summary>
    /// Fills an empty set with <paramref name="count"/> rows read from a stream (index loading): <paramref name="readRows"/>
    /// fills each span it is given with consecutive rows of <see cref="Dimension"/> floats. Rows without padding come
    /// a chunk at a time, so a million rows cost a few hundred reads rather than a million.
    /// </summary>
    internal void LoadRows(int count, Action<Span<float>> readRows)
    {
        lock (_writeLock)
        {
            if (_count != 0)
            {
                throw new InvalidOperationException("Rows can only be loaded into an empty set.");
            }

            for (int slot = 0; slot < count;)
            {
                EnsureChunk(slot);
                if (Stride == Dimension)
                {
                    int rows = Math.Min(count - slot, ChunkRows - (slot & ChunkMask));
                    readRows(new Span<float>(RowPointer(slot), rows * Dimension));
                    slot += rows;
                    continue;
                }

                Span<float> row = new(RowPointer(slot), Stride);
                readRows(row[..Dimension]);
                row[Dimension..].Clear();
                slot++;
            }

            Volatile.Write(ref _count, count);
        }
    }

    /// <summary>
    /// Fills an empty set with <paramref name="count"/> rows that lie one after another at <paramref name="rows"/>
    /// inside <paramref name="mapping"/> (64-byte aligned, <see cref="Stride"/> floats each): every full chunk reads
    /// them in place; the last, partly filled chunk is copied, because the rows added later go after it.
    /// </summary>
    internal void AdoptMappedRows(int count, float* rows, MappedFile mapping)
    {
        if (Stride != Dimension || ((nint)rows & 63) != 0)
        {
            throw new InvalidOperationException("Only unpadded rows on a 64-byte boundary can be read in place.");
        }

        lock (_writeLock)
        {
            if (_count != 0)
            {
                throw new InvalidOperationException("Rows can only be loaded into an empty set.");
            }

            int full = count >> ChunkShift;
            var chunks = new Chunk[full];
            var pointers = new nint[full];
            for (int c = 0; c < full; c++)
            {
                chunks[c] = new Chunk(ChunkRows, rows + ((nint)c * ChunkRows * Stride), mapping);
                pointers[c] = (nint)chunks[c].Rows;
            }

            Volatile.Write(ref _chunks, chunks);
            Volatile.Write(ref _rowPointers, pointers);
            IsMapped = true;
            int rest = count - (full << ChunkShift);
            if (rest > 0)
            {
                EnsureChunk(full << ChunkShift);
                new ReadOnlySpan<float>(rows + ((nint)full * ChunkRows * Stride), rest * Stride).CopyTo(new Span<float>(_chunks[full].Rows, rest * Stride));
            }

            Volatile.Write(ref _count, count);
        }
    }

    /// <summary>Replaces the tombstones of the first <c>words.Length * 64</c> slots (index loading into a fresh set).</summary>
    internal void LoadTombstones(ReadOnlySpan<ulong> words)
    {
        lock (_writeLock)
        {
            int deleted = 0;
            int wordsPerChunk = ChunkRows / 64;
            for (int w = 0; w < words.Length; w++)
            {
                ulong word = words[w];
                int firstSlot = w * 64;
                if (firstSlot >= _count)
                {
                    break;
                }

                int valid = Math.Min(64, _count - firstSlot);
                if (valid < 64)
                {
                    word &= (1UL << valid) - 1;
                }

                _chunks[w / wordsPerChunk].Deleted[w % wordsPerChunk] = word;
                deleted += BitOperations.PopCount(word);
            }

            Volatile.Write(ref _deletedCount, deleted);
        }
    }

    /// <summary>Copies the tombstone words of the first <paramref name="count"/> slots.</summary>
    internal ulong[] CopyTombstones(int count)
    {
        var words = new ulong[(count + 63) / 64];
        Chunk[] chunks = Chunks;
        int wordsPerChunk = ChunkRows / 64;
        for (int w = 0; w < words.Length; w++)
        {
            words[w] = Volatile.Read(ref chunks[w / wordsPerChunk].Deleted[w % wordsPerChunk]);
        }

        if ((count & 63) != 0)
        {
            words[^1] &= (1UL << (count & 63)) - 1;
        }

        return words;
    }

    private void WriteRow(int slot, ReadOnlySpan<float> vector)
    {
        if (slot == int.MaxValue)
        {
            throw new InvalidOperationException("The vector set is full.");
        }

        EnsureChunk(slot);
        Span<float> row = new(RowPointer(slot), Stride);
        vector.CopyTo(row);
        row[Dimension..].Clear();
    }

    private void EnsureChunk(int slot)
    {
        int chunkIndex = slot >> ChunkShift;
        if (chunkIndex < _chunks.Length)
        {
            return;
        }

        var chunk = new Chunk(ChunkRows, Stride);
        // Copy-on-write: readers holding the old arrays keep a consistent view; the chunks themselves never move.
        var chunks = new Chunk[chunkIndex + 1];
        var pointers = new nint[chunkIndex + 1];
        _chunks.CopyTo(chunks, 0);
        _rowPointers.CopyTo(pointers, 0);
        chunks[chunkIndex] = chunk;
        pointers[chunkIndex] = (nint)chunk.Rows;
        Volatile.Write(ref _chunks, chunks);
        Volatile.Write(ref _rowPointers, pointers);
    }

    private void CheckSlot(int slot)
    {
        if ((uint)slot >= (uint)Count)
        {
            throw new ArgumentOutOfRangeException(nameof(slot), slot, $"Slot must be in [0, {Count}).");
        }
    }

    /// <summary>One fixed-capacity block of rows with its tombstone bits.</summary>
    internal sealed class Chunk
    {
        // What the rows live in: a pinned array of this chunk's own, or the mapped index file; held so it outlives the pointers.
        private readonly object _storage;

        public Chunk(int rows, int stride)
        {
            // Pinned so row pointers stay valid for the chunk's lifetime; 16 floats of slack for 64-byte alignment.
            float[] data = GC.AllocateUninitializedArray<float>((rows * stride) + 16, pinned: true);
            _storage = data;
            nint start = (nint)Unsafe.AsPointer(ref MemoryMarshal.GetArrayDataReference(data));
            Rows = (float*)((start + 63) & ~(nint)63);
            Deleted = new ulong[rows / 64];
        }

        public Chunk(int rows, float* mappedRows, MappedFile mapping)
        {
            _storage = mapping;
            Rows = mappedRows;
            Deleted = new ulong[rows / 64];
        }

        public float* Rows { get; }

        public ulong[] Deleted { get; }
    }
}
