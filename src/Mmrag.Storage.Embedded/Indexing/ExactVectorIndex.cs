using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace Mmrag.Storage.Embedded.Indexing;

/// <summary>Options of <see cref="ExactVectorIndex"/>.</summary>
public sealed class ExactVectorIndexOptions
{
    /// <summary>Threads one search may use (1 = the calling thread only). Default 1.</summary>
    public int MaxDegreeOfParallelism { get; set; } = 1;

    /// <summary>A search uses another thread only for at least this many slots per thread. Default 32,768.</summary>
    public int MinSlotsPerThread { get; set; } = 32_768;

    internal void Validate()
    {
        if (MaxDegreeOfParallelism < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(MaxDegreeOfParallelism), MaxDegreeOfParallelism, "ExactVectorIndexOptions.MaxDegreeOfParallelism must be at least 1.");
        }

        if (MinSlotsPerThread < 64)
        {
            throw new ArgumentOutOfRangeException(nameof(MinSlotsPerThread), MinSlotsPerThread, "ExactVectorIndexOptions.MinSlotsPerThread must be at least 64.");
        }
    }
}

/// <summary>
/// Exact top-k by inner product over every live (and allowed) vector of a <see cref="VectorSet"/>: one streaming
/// pass over the rows with AVX-512/AVX2 FMA (four independent accumulators per row) and a bounded heap for the top k;
/// batches reuse each cached block of rows for a tile of queries.
/// </summary>
/// <remarks>Thread-safe: any number of searches may run concurrently with each other and with writers of the
/// vector set (a search sees the slots counted when it starts). The index does not own the set.</remarks>
public sealed unsafe class ExactVectorIndex
{
    private const int StackQueryFloats = 4096;
    private readonly int _maxDegreeOfParallelism;
    private readonly int _minSlotsPerThread;

    /// <summary>Creates an exact index over <paramref name="vectors"/> (shared, not copied).</summary>
    public ExactVectorIndex(VectorSet vectors, ExactVectorIndexOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(vectors);
        options ??= new ExactVectorIndexOptions();
        options.Validate();
        Vectors = vectors;
        _maxDegreeOfParallelism = options.MaxDegreeOfParallelism;
        _minSlotsPerThread = options.MinSlotsPerThread;
    }

    /// <summary>The vectors searched.</summary>
    public VectorSet Vectors { get; }

    /// <summary>
    /// Writes the top <paramref name="k"/> live slots allowed by <paramref name="filter"/>, best first (ties: smaller
    /// slot first), into <paramref name="destination"/>; returns how many were written (fewer when fewer exist).
    /// </summary>
    /// <exception cref="ArgumentException">The query length is not the dimension, or the destination is shorter than k.</exception>
    public int Search(ReadOnlySpan<float> query, int k, Span<VectorHit> destination, SlotFilter? filter = null)
    {
        CheckQuery(query, k);
        if (destination.Length < k)
        {
            throw new ArgumentException($"The destination holds {destination.Length} hits, fewer than k = {k}.", nameof(destination));
        }

        int count = Vectors.Count;
        if (k == 0 || count == 0)
        {
            return 0;
        }

        int stride = Vectors.Stride;
        // A 64-byte aligned, zero-padded copy: the kernels then need no tail and no split loads.
        Span<float> buffer = stride + 16 <= StackQueryFloats ? stackalloc float[stride + 16] : new float[stride + 16];
        fixed (float* unaligned = buffer)
        {
            float* q = (float*)(((nint)unaligned + 63) & ~(nint)63);
            Span<float> padded = new(q, stride);
            query.CopyTo(padded);
            padded[query.Length..].Clear();
            int threads = Math.Min(_maxDegreeOfParallelism, Math.Max(1, count / _minSlotsPerThread));
            if (threads <= 1)
            {
                var top = new TopK(Math.Min(k, count));
                Scan(q, 0, count, filter, top, blocked: false);
                return top.CopySorted(destination);
            }

            // Partitions are whole 64-slot words so tombstone and filter words are never shared between threads.
            int words = (count + 63) >> 6;
            var tops = new TopK[threads];
            nint qp = (nint)q;
            Parallel.For(0, threads, new ParallelOptions { MaxDegreeOfParallelism = threads }, t =>
            {
                int from = (int)Math.Min(count, (long)words * t / threads * 64);
                int to = (int)Math.Min(count, (long)words * (t + 1) / threads * 64);
                var local = new TopK(Math.Min(k, count));
                Scan((float*)qp, from, to, filter, local, blocked: false);
                tops[t] = local;
            });
            for (int t = 1; t < threads; t++)
            {
                tops[0].Merge(tops[t]);
            }

            return tops[0].CopySorted(destination);
        }
    }

    /// <summary>The top <paramref name="k"/> hits, best first.</summary>
    public VectorHit[] Search(ReadOnlySpan<float> query, int k, SlotFilter? filter = null)
    {
        var hits = new VectorHit[k];
        int n = Search(query, k, hits, filter);
        return n == k ? hits : hits[..n];
    }

    /// <summary>
    /// Searches many queries (stored one after another, <c>queries.Length / Dimension</c> of them) in one pass that
    /// reuses each block of rows for a tile of queries while it sits in cache; same results as <see cref="Search(ReadOnlySpan{float}, int, SlotFilter?)"/> per query.
    /// </summary>
    public VectorHit[][] SearchBatch(ReadOnlySpan<float> queries, int k, SlotFilter? filter = null)
    {
        int dim = Vectors.Dimension;
        if (queries.Length % dim != 0)
        {
            throw new ArgumentException($"Expected a multiple of {dim} floats, got {queries.Length}.", nameof(queries));
        }

        ArgumentOutOfRangeException.ThrowIfNegative(k);
        int nq = queries.Length / dim;
        int count = Vectors.Count;
        var results = new VectorHit[nq][];
        if (nq == 0)
        {
            return results;
        }

        int stride = Vectors.Stride;
        float[] padded = GC.AllocateArray<float>((nq * stride) + 16, pinned: true);
        nint start = (nint)Unsafe.AsPointer(ref MemoryMarshal.GetArrayDataReference(padded));
        float* qbase = (float*)((start + 63) & ~(nint)63);
        for (int i = 0; i < nq; i++)
        {
            Span<float> row = new(qbase + ((nint)i * stride), stride);
            queries.Slice(i * dim, dim).CopyTo(row);
        }

        var tops = new TopK[nq];
        for (int i = 0; i < nq; i++)
        {
            tops[i] = new TopK(Math.Max(1, Math.Min(k, count)));
        }

        if (k > 0 && count > 0)
        {
            // Tiles sized for L2: ~128 KiB of queries against ~128 KiB of rows.
            int rowBytes = stride * sizeof(float);
            int queryTile = Math.Clamp((128 << 10) / rowBytes, 4, 256);
            int rowBlock = Math.Clamp(((128 << 10) / rowBytes) & ~63, 64, 4096);
            int threads = Math.Min(_maxDegreeOfParallelism, (nq + queryTile - 1) / queryTile);
            nint qb = (nint)qbase;
            Parallel.For(0, (nq + queryTile - 1) / queryTile, new ParallelOptions { MaxDegreeOfParallelism = Math.Max(1, threads) }, tile =>
            {
                int q0 = tile * queryTile;
                int q1 = Math.Min(nq, q0 + queryTile);
                for (int from = 0; from < count; from += rowBlock)
                {
                    int to = Math.Min(count, from + rowBlock);
                    for (int qi = q0; qi < q1; qi++)
                    {
                        Scan((float*)qb + ((nint)qi * stride), from, to, filter, tops[qi], blocked: true);
                    }
                }
            });
        }

        for (int i = 0; i < nq; i++)
        {
            var hits = new VectorHit[k == 0 ? 0 : tops[i].Count];
            tops[i].CopySorted(hits);
            results[i] = hits;
        }

        GC.KeepAlive(padded);
        return results;
    }

    /// <summary>
    /// Offers every live, allowed slot in [from, to) to <paramref name="top"/>; <paramref name="from"/> is a multiple of 64.
    /// <paramref name="blocked"/> scores four adjacent rows per kernel call, which pays when the rows sit in cache
    /// (batches); a single query streaming from memory scores one row after another instead, because four
    /// interleaved row streams defeat the hardware prefetcher (measured: about 2x slower from DRAM).
    /// </summary>
    private void Scan(float* q, int from, int to, SlotFilter? filter, TopK top, bool blocked)
    {
        VectorSet set = Vectors;
        VectorSet.Chunk[] chunks = set.Chunks;
        int stride = set.Stride;
        int shift = set.ChunkShift;
        int mask = set.ChunkMask;
        float* scores = stackalloc float[4];
        for (int wordStart = from; wordStart < to; wordStart += 64)
        {
            int n = Math.Min(64, to - wordStart);
            VectorSet.Chunk chunk = chunks[wordStart >> shift];
            int rowInChunk = wordStart & mask;
            ulong live = ~Volatile.Read(ref chunk.Deleted[rowInChunk >> 6]);
            if (n < 64)
            {
                live &= (1UL << n) - 1;
            }

            if (filter is not null && live != 0)
            {
                live = filter.Restrict(wordStart >> 6, live);
            }

            float* rows = chunk.Rows + ((nint)rowInChunk * stride);
            if (!blocked)
            {
                while (live != 0)
                {
                    int i = BitOperations.TrailingZeroCount(live);
                    live &= live - 1;
                    top.Offer(VectorMath.Dot(q, rows + ((nint)i * stride), stride), wordStart + i);
                }

                continue;
            }

            for (int g = 0; g < 64 && (live >> g) != 0; g += 4)
            {
                ulong nibble = (live >> g) & 0xF;
                if (nibble == 0)
                {
                    continue;
                }

                float* r = rows + ((nint)g * stride);
                int slot = wordStart + g;
                if (nibble == 0xF)
                {
                    VectorMath.Dot4(q, r, r + stride, r + (2 * stride), r + (3 * stride), stride, scores);
                    top.Offer(scores[0], slot);
                    top.Offer(scores[1], slot + 1);
                    top.Offer(scores[2], slot + 2);
                    top.Offer(scores[3], slot + 3);
                }
                else
                {
                    while (nibble != 0)
                    {
                        int i = BitOperations.TrailingZeroCount(nibble);
                        nibble &= nibble - 1;
                        top.Offer(VectorMath.Dot(q, r + ((nint)i * stride), stride), slot + i);
                    }
                }
            }
        }
    }

    private void CheckQuery(ReadOnlySpan<float> query, int k)
    {
        if (query.Length != Vectors.Dimension)
        {
            throw new ArgumentException($"Expected a query of {Vectors.Dimension} floats, got {query.Length}.", nameof(query));
        }

        ArgumentOutOfRangeException.ThrowIfNegative(k);
    }
}
