using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

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

    /// <summary>Queries per register block of the AVX-512 batch kernel.</summary>
    private const int QueryGroup = 3;
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
                Scan(q, 0, count, filter, top);
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
                Scan((float*)qp, from, to, filter, local);
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
    /// Searches many queries (stored one after another, <c>queries.Length / Dimension</c> of them) as one blocked
    /// matrix product: a tile of queries stays in cache while each 64-row block of the set streams past it once, and a
    /// register-blocked kernel scores three queries against two rows at a time, each block loaded once for all of them.
    /// Every query gets the same hits with bit-identical scores as <see cref="Search(ReadOnlySpan{float}, int, SlotFilter?)"/>
    /// (each pair is accumulated in the single-query kernel's order); tombstones and the filter are read once for the batch.
    /// </summary>
    /// <exception cref="ArgumentException">The queries' length is not a multiple of the dimension.</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled (checked every 64 rows per tile).</exception>
    public VectorHit[][] SearchBatch(ReadOnlySpan<float> queries, int k, SlotFilter? filter = null, CancellationToken cancellationToken = default)
    {
        int dim = Vectors.Dimension;
        if (queries.Length % dim != 0)
        {
            throw new ArgumentException($"Expected a multiple of {dim} floats, got {queries.Length}.", nameof(queries));
        }

        ArgumentOutOfRangeException.ThrowIfNegative(k);
        cancellationToken.ThrowIfCancellationRequested();
        int nq = queries.Length / dim;
        int count = Vectors.Count;
        var results = new VectorHit[nq][];
        if (nq == 0)
        {
            return results;
        }

        // Zero queries fill the last group of three; their hits are dropped.
        int paddedNq = (nq + QueryGroup - 1) / QueryGroup * QueryGroup;
        int stride = Vectors.Stride;
        float[] padded = GC.AllocateArray<float>((paddedNq * stride) + 16, pinned: true);
        nint start = (nint)Unsafe.AsPointer(ref MemoryMarshal.GetArrayDataReference(padded));
        float* qbase = (float*)((start + 63) & ~(nint)63);
        for (int i = 0; i < nq; i++)
        {
            Span<float> row = new(qbase + ((nint)i * stride), stride);
            queries.Slice(i * dim, dim).CopyTo(row);
        }

        var tops = new TopK[paddedNq];
        for (int i = 0; i < paddedNq; i++)
        {
            tops[i] = new TopK(Math.Max(1, Math.Min(k, count)));
        }

        if (k > 0 && count > 0)
        {
            ulong[] live = LiveWords(count, filter);
            if (Vector512.IsHardwareAccelerated)
            {
                ScoreTiles(qbase, paddedNq, count, live, tops, cancellationToken);
            }
            else
            {
                ScorePerQuery(qbase, nq, count, live, tops, cancellationToken);
            }
        }

        GC.KeepAlive(padded);
        cancellationToken.ThrowIfCancellationRequested();
        for (int i = 0; i < nq; i++)
        {
            var hits = new VectorHit[k == 0 ? 0 : tops[i].Count];
            tops[i].CopySorted(hits);
            results[i] = hits;
        }

        return results;
    }

    /// <summary>The live, allowed slots of [0, count) as one 64-bit word per 64 slots, read once so every query of a batch sees the same set.</summary>
    private ulong[] LiveWords(int count, SlotFilter? filter)
    {
        VectorSet.Chunk[] chunks = Vectors.Chunks;
        int shift = Vectors.ChunkShift;
        int mask = Vectors.ChunkMask;
        var words = new ulong[(count + 63) >> 6];
        for (int w = 0; w < words.Length; w++)
        {
            int wordStart = w << 6;
            ulong live = ~Volatile.Read(ref chunks[wordStart >> shift].Deleted[(wordStart & mask) >> 6]);
            int n = Math.Min(64, count - wordStart);
            if (n < 64)
            {
                live &= (1UL << n) - 1;
            }

            words[w] = filter is not null && live != 0 ? filter.Restrict(w, live) : live;
        }

        return words;
    }

    /// <summary>
    /// The AVX-512 batch: tiles of queries (about 512 KiB, so they stay in L2) against each 64-row block in turn; within
    /// a block, each group of three queries (in L1) meets the rows two at a time through <see cref="VectorMath.Dot3x2x512"/>.
    /// Tiles are split between threads; each query's heap is touched by one thread only.
    /// </summary>
    private void ScoreTiles(float* qbase, int paddedNq, int count, ulong[] live, TopK[] tops, CancellationToken cancellationToken)
    {
        int stride = Vectors.Stride;
        int groups = paddedNq / QueryGroup;
        int groupsPerTile = Math.Clamp((512 << 10) / (stride * sizeof(float) * QueryGroup), 1, 96);
        int threads = Math.Max(1, Math.Min(_maxDegreeOfParallelism, groups));
        groupsPerTile = Math.Min(groupsPerTile, (groups + threads - 1) / threads);
        int tiles = (groups + groupsPerTile - 1) / groupsPerTile;
        nint qb = (nint)qbase;
        void Tile(int tile)
        {
            int g0 = tile * groupsPerTile;
            int g1 = Math.Min(groups, g0 + groupsPerTile);
            ScoreTile((float*)qb, g0 * QueryGroup, g1 * QueryGroup, count, live, tops, cancellationToken);
        }

        if (threads == 1)
        {
            for (int tile = 0; tile < tiles; tile++)
            {
                Tile(tile);
            }
        }
        else
        {
            Parallel.For(0, tiles, new ParallelOptions { MaxDegreeOfParallelism = threads }, Tile);
        }
    }

    private void ScoreTile(float* qbase, int from, int to, int count, ulong[] live, TopK[] tops, CancellationToken cancellationToken)
    {
        VectorSet set = Vectors;
        VectorSet.Chunk[] chunks = set.Chunks;
        int stride = set.Stride;
        int shift = set.ChunkShift;
        int mask = set.ChunkMask;
        float* scores = stackalloc float[QueryGroup * 2];
        for (int wordStart = 0; wordStart < count; wordStart += 64)
        {
            if (cancellationToken.IsCancellationRequested)
            {
                return; // SearchBatch throws once every tile has stopped
            }

            ulong word = live[wordStart >> 6];
            if (word == 0)
            {
                continue;
            }

            // A partial last word still reads whole pairs: the chunk holds 64-row multiples, and dead rows are never offered.
            float* rows = chunks[wordStart >> shift].Rows + ((nint)(wordStart & mask) * stride);
            for (int qi = from; qi < to; qi += QueryGroup)
            {
                float* q0 = qbase + ((nint)qi * stride);
                float* q1 = q0 + stride;
                float* q2 = q1 + stride;
                TopK t0 = tops[qi], t1 = tops[qi + 1], t2 = tops[qi + 2];
                for (int g = 0; g < 64 && (word >> g) != 0; g += 2)
                {
                    ulong pair = (word >> g) & 3;
                    if (pair == 0)
                    {
                        continue;
                    }

                    float* r = rows + ((nint)g * stride);
                    VectorMath.Dot3x2x512(q0, q1, q2, r, r + stride, stride, scores);
                    int slot = wordStart + g;
                    if (pair == 3)
                    {
                        t0.Offer(scores[0], slot);
                        t0.Offer(scores[1], slot + 1);
                        t1.Offer(scores[2], slot);
                        t1.Offer(scores[3], slot + 1);
                        t2.Offer(scores[4], slot);
                        t2.Offer(scores[5], slot + 1);
                    }
                    else
                    {
                        int i = (int)pair - 1; // 1: the first row only, 2: the second only
                        t0.Offer(scores[i], slot + i);
                        t1.Offer(scores[2 + i], slot + i);
                        t2.Offer(scores[4 + i], slot + i);
                    }
                }
            }
        }
    }

    /// <summary>Without AVX-512: each query scans each cached block of rows in turn (tiles of ~128 KiB of queries and of rows).</summary>
    private void ScorePerQuery(float* qbase, int nq, int count, ulong[] live, TopK[] tops, CancellationToken cancellationToken)
    {
        VectorSet.Chunk[] chunks = Vectors.Chunks;
        int stride = Vectors.Stride;
        int shift = Vectors.ChunkShift;
        int mask = Vectors.ChunkMask;
        int rowBytes = stride * sizeof(float);
        int queryTile = Math.Clamp((128 << 10) / rowBytes, 4, 256);
        int rowBlock = Math.Clamp(((128 << 10) / rowBytes) & ~63, 64, 4096);
        int threads = Math.Min(_maxDegreeOfParallelism, (nq + queryTile - 1) / queryTile);
        nint qb = (nint)qbase;
        Parallel.For(0, (nq + queryTile - 1) / queryTile, new ParallelOptions { MaxDegreeOfParallelism = Math.Max(1, threads) }, tile =>
        {
            int q0 = tile * queryTile;
            int q1 = Math.Min(nq, q0 + queryTile);
            for (int from = 0; from < count && !cancellationToken.IsCancellationRequested; from += rowBlock)
            {
                int to = Math.Min(count, from + rowBlock);
                for (int qi = q0; qi < q1; qi++)
                {
                    for (int wordStart = from; wordStart < to; wordStart += 64)
                    {
                        float* rows = chunks[wordStart >> shift].Rows + ((nint)(wordStart & mask) * stride);
                        OfferRows((float*)qb + ((nint)qi * stride), rows, wordStart, live[wordStart >> 6], tops[qi]);
                    }
                }
            }
        });
    }

    /// <summary>
    /// Offers every live, allowed slot in [from, to) to <paramref name="top"/>; <paramref name="from"/> is a multiple of 64.
    /// Rows are scored one after another: a single query streams from memory, and interleaved row streams defeat the
    /// hardware prefetcher (measured: about 2x slower from DRAM).
    /// </summary>
    private void Scan(float* q, int from, int to, SlotFilter? filter, TopK top)
    {
        VectorSet set = Vectors;
        VectorSet.Chunk[] chunks = set.Chunks;
        int stride = set.Stride;
        int shift = set.ChunkShift;
        int mask = set.ChunkMask;
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

            OfferRows(q, chunk.Rows + ((nint)rowInChunk * stride), wordStart, live, top);
        }
    }

    /// <summary>Scores the rows of one 64-slot word whose bits are set in <paramref name="live"/> and offers them.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void OfferRows(float* q, float* rows, int wordStart, ulong live, TopK top)
    {
        int stride = Vectors.Stride;
        while (live != 0)
        {
            int i = BitOperations.TrailingZeroCount(live);
            live &= live - 1;
            top.Offer(VectorMath.Dot(q, rows + ((nint)i * stride), stride), wordStart + i);
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
