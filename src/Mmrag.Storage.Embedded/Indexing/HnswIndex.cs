using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace Mmrag.Storage.Embedded.Indexing;

/// <summary>
/// Hierarchical navigable small world graph (Malkov &amp; Yashunin) over the slots of a <see cref="VectorSet"/>,
/// scored by inner product, laid out like hnswlib: layer-0 links in flat, count-prefixed blocks of 2·M + 1 ints,
/// neighbours chosen by the same heuristic as hnswlib's <c>getNeighborsByHeuristic2</c>, and levels drawn as
/// <c>floor(-ln(U) · 1/ln(M))</c> from a seeded hash of the slot.
/// </summary>
/// <remarks>
/// <para>Thread safety: searches never lock and may run concurrently with each other and with one writer.
/// Writers (<see cref="Add"/>, <see cref="AddRange"/>, <see cref="Insert"/>, <see cref="InsertRange"/>,
/// <see cref="Remove"/>, <see cref="Save"/>) are serialized by an internal lock; <see cref="InsertRange"/> itself
/// may insert on several threads (<see cref="MaxDegreeOfParallelism"/>) with per-node locks, as hnswlib does.
/// A search running during an insertion may miss the nodes being inserted; it never sees an invalid link.</para>
/// <para>Deletion is by tombstone in the shared <see cref="VectorSet"/>: deleted slots still route searches but never
/// appear in results. The index shares, and does not own, its vector set.</para>
/// </remarks>
public sealed unsafe partial class HnswIndex
{
    private const int MaxLevelCap = 30;

    // Prefetch the vector of the neighbour scored PrefetchAhead positions later, up to PrefetchMaxLines cache lines
    // of it. Measured on 20k x 512 (noisy shared machine): anything from 2 to 32 lines and 1 to 3 ahead was within
    // noise of the others; half a 512-d vector, two ahead, was at the top of most runs.
    private const int PrefetchAhead = 2;
    private const int PrefetchMaxLines = 16;

    private readonly Lock _writeLock = new();
    private readonly Lock _topLock = new();
    private readonly int _m0Stride;
    private readonly int _upperStride;
    private readonly double _levelMultiplier;
    private GraphChunk[] _graph = [];
    private nint[] _links0 = [];
    private long _entry = Pack(-1, -1);
    private int _indexedCount;
    private long _upperInts;
    private int _efSearch;
    private int _maxDegreeOfParallelism;

    /// <summary>Creates an empty index with its own vector set of <paramref name="dimension"/> components.</summary>
    public HnswIndex(int dimension, HnswOptions? options = null)
        : this(new VectorSet(dimension), options)
    {
    }

    /// <summary>Creates an empty graph over <paramref name="vectors"/> (shared, not copied); existing slots are indexed by <see cref="InsertRange"/>.</summary>
    public HnswIndex(VectorSet vectors, HnswOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(vectors);
        options ??= new HnswOptions();
        options.Validate();
        Vectors = vectors;
        M = options.M;
        M0 = 2 * options.M;
        EfConstruction = options.EfConstruction;
        _efSearch = options.EfSearch;
        Seed = options.Seed;
        _maxDegreeOfParallelism = options.MaxDegreeOfParallelism;
        _m0Stride = M0 + 1;
        _upperStride = M + 1;
        _levelMultiplier = 1.0 / Math.Log(M);
    }

    /// <summary>The vectors indexed.</summary>
    public VectorSet Vectors { get; }

    /// <summary>Number of components of every vector.</summary>
    public int Dimension => Vectors.Dimension;

    /// <summary>Links per node on the upper layers.</summary>
    public int M { get; }

    /// <summary>Links per node on layer 0 (2·M).</summary>
    public int M0 { get; }

    /// <summary>Candidate list size while inserting.</summary>
    public int EfConstruction { get; }

    /// <summary>Seed of the level draws.</summary>
    public long Seed { get; }

    /// <summary>Default candidate list size of a search.</summary>
    public int EfSearch
    {
        get => Volatile.Read(ref _efSearch);
        set
        {
            ArgumentOutOfRangeException.ThrowIfLessThan(value, 1);
            Volatile.Write(ref _efSearch, value);
        }
    }

    /// <summary>Threads used by <see cref="InsertRange"/>; 1 gives a deterministic graph.</summary>
    public int MaxDegreeOfParallelism
    {
        get => Volatile.Read(ref _maxDegreeOfParallelism);
        set
        {
            ArgumentOutOfRangeException.ThrowIfLessThan(value, 1);
            Volatile.Write(ref _maxDegreeOfParallelism, value);
        }
    }

    /// <summary>
    /// An opaque value saved in the file header (for example the database generation the index was built from),
    /// so the store can tell from <see cref="ReadHeader"/> alone whether a persisted index is stale.
    /// </summary>
    public ulong ContentStamp { get; set; }

    /// <summary>Number of slots linked into the graph.</summary>
    public int IndexedCount => Volatile.Read(ref _indexedCount);

    /// <summary>The top layer of the graph (-1 when empty).</summary>
    public int MaxLevel => (int)(Volatile.Read(ref _entry) >> 32);

    /// <summary>Bytes held by the vectors and the graph.</summary>
    public long MemoryBytes
    {
        get
        {
            GraphChunk[] graph = Volatile.Read(ref _graph);
            long perChunk = (((long)Vectors.ChunkRows * _m0Stride * sizeof(int)) + 64) + Vectors.ChunkRows * (1L + sizeof(int) + (2 * IntPtr.Size));
            return Vectors.MemoryBytes + (graph.Length * perChunk) + (Interlocked.Read(ref _upperInts) * sizeof(int));
        }
    }

    /// <summary>Appends a vector to the vector set and links it into the graph; returns its slot.</summary>
    /// <exception cref="ArgumentException">The vector's length is not <see cref="Dimension"/>.</exception>
    public int Add(ReadOnlySpan<float> vector)
    {
        lock (_writeLock)
        {
            int slot = Vectors.Add(vector);
            EnsureGraphCapacity(slot + 1);
            HnswScratch scratch = HnswScratch.Rent();
            try
            {
                InsertCore(slot, scratch);
            }
            finally
            {
                scratch.Return();
            }

            return slot;
        }
    }

    /// <summary>Appends vectors stored one after another and links them (on <see cref="MaxDegreeOfParallelism"/> threads); returns the first slot.</summary>
    public int AddRange(ReadOnlySpan<float> vectors, CancellationToken cancellationToken = default)
    {
        lock (_writeLock)
        {
            int first = Vectors.AddRange(vectors);
            InsertRangeCore(first, Vectors.Count - first, cancellationToken);
            return first;
        }
    }

    /// <summary>Links an existing slot of the vector set into the graph (no-op if it is already linked or deleted).</summary>
    /// <exception cref="ArgumentOutOfRangeException">The slot does not exist in the vector set.</exception>
    public void Insert(int slot)
    {
        lock (_writeLock)
        {
            CheckSlot(slot);
            EnsureGraphCapacity(slot + 1);
            HnswScratch scratch = HnswScratch.Rent();
            try
            {
                InsertCore(slot, scratch);
            }
            finally
            {
                scratch.Return();
            }
        }
    }

    /// <summary>
    /// Links slots <paramref name="fromSlot"/> … <paramref name="fromSlot"/> + <paramref name="count"/> - 1 (skipping
    /// linked and deleted ones), on <see cref="MaxDegreeOfParallelism"/> threads. Cancellation stops between
    /// insertions and leaves a valid graph of the slots linked so far.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">The range is outside the vector set.</exception>
    /// <exception cref="OperationCanceledException">The token was cancelled.</exception>
    public void InsertRange(int fromSlot, int count, CancellationToken cancellationToken = default)
    {
        lock (_writeLock)
        {
            InsertRangeCore(fromSlot, count, cancellationToken);
        }
    }

    /// <summary>Marks a slot deleted (in the shared vector set); returns false if it already was.</summary>
    public bool Remove(int slot)
    {
        lock (_writeLock)
        {
            return Vectors.Remove(slot);
        }
    }

    /// <summary>Whether the slot is linked into the graph.</summary>
    public bool IsIndexed(int slot)
    {
        GraphChunk[] graph = Volatile.Read(ref _graph);
        int c = slot >> Vectors.ChunkShift;
        return slot >= 0 && c < graph.Length && Volatile.Read(ref graph[c].Levels[slot & Vectors.ChunkMask]) >= 0;
    }

    /// <summary>
    /// Writes the approximate top <paramref name="k"/> live slots allowed by <paramref name="filter"/>, best first,
    /// into <paramref name="destination"/>; returns how many. <paramref name="ef"/> (0 = <see cref="EfSearch"/>,
    /// raised to k) trades speed for recall. With a filter the search keeps walking through filtered-out nodes until
    /// it holds ef allowed ones, so very selective filters are better served by <see cref="ExactVectorIndex"/>.
    /// </summary>
    /// <exception cref="ArgumentException">The query length is not the dimension, or the destination is shorter than k.</exception>
    public int Search(ReadOnlySpan<float> query, int k, Span<VectorHit> destination, int ef = 0, SlotFilter? filter = null)
    {
        if (query.Length != Dimension)
        {
            throw new ArgumentException($"Expected a query of {Dimension} floats, got {query.Length}.", nameof(query));
        }

        ArgumentOutOfRangeException.ThrowIfNegative(k);
        ArgumentOutOfRangeException.ThrowIfNegative(ef);
        if (destination.Length < k)
        {
            throw new ArgumentException($"The destination holds {destination.Length} hits, fewer than k = {k}.", nameof(destination));
        }

        long entry = Volatile.Read(ref _entry);
        if (k == 0 || EntrySlot(entry) < 0)
        {
            return 0;
        }

        HnswScratch s = HnswScratch.Rent();
        try
        {
            var snap = new Snapshot(this);
            float* q = s.SetQuery(query, snap.Stride);
            int efSearch = Math.Max(ef == 0 ? EfSearch : ef, k);
            int cur = EntrySlot(entry);
            float curScore = VectorMath.Dot(q, snap.Row(cur), snap.Stride);
            cur = GreedyDescend(q, cur, ref curScore, EntryLevel(entry), 0, in snap);
            if (filter is null && Vectors.DeletedCount == 0)
            {
                var accept = default(AcceptAll);
                SearchLayer(s, q, cur, curScore, 0, efSearch, ref accept, in snap);
            }
            else
            {
                var accept = new AcceptLive(Vectors, filter);
                SearchLayer(s, q, cur, curScore, 0, efSearch, ref accept, in snap);
            }

            while (s.ResultCount > k)
            {
                s.PopWorstResult();
            }

            int n = s.ResultCount;
            for (int i = n - 1; i >= 0; i--)
            {
                ScoredNode worst = s.PopWorstResult();
                destination[i] = new VectorHit(worst.Id, worst.Score);
            }

            // The heap breaks score ties arbitrarily: order equal scores by slot (a nearly sorted run, so insertion sort).
            for (int i = 1; i < n; i++)
            {
                VectorHit h = destination[i];
                int j = i - 1;
                while (j >= 0 && VectorHit.RanksBefore(h.Score, h.Slot, destination[j].Score, destination[j].Slot))
                {
                    destination[j + 1] = destination[j];
                    j--;
                }

                destination[j + 1] = h;
            }

            return n;
        }
        finally
        {
            s.Return();
        }
    }

    /// <summary>The approximate top <paramref name="k"/> hits, best first.</summary>
    public VectorHit[] Search(ReadOnlySpan<float> query, int k, int ef = 0, SlotFilter? filter = null)
    {
        var hits = new VectorHit[k];
        int n = Search(query, k, hits, ef, filter);
        return n == k ? hits : hits[..n];
    }

    /// <summary>The neighbours of a slot on one layer (diagnostics and tests).</summary>
    internal int[] GetNeighbors(int slot, int level)
    {
        var snap = new Snapshot(this);
        int* list = level == 0 ? snap.Links0(slot) : UpperList(slot, level);
        if (list is null)
        {
            return [];
        }

        int n = Math.Min(Volatile.Read(ref *list), level == 0 ? M0 : M);
        return new ReadOnlySpan<int>(list + 1, n).ToArray();
    }

    internal int LevelOf(int slot) => _graph[slot >> Vectors.ChunkShift].Levels[slot & Vectors.ChunkMask];

    // ---------------------------------------------------------------- insertion

    private void InsertRangeCore(int fromSlot, int count, CancellationToken cancellationToken)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(fromSlot);
        ArgumentOutOfRangeException.ThrowIfNegative(count);
        if ((long)fromSlot + count > Vectors.Count)
        {
            throw new ArgumentOutOfRangeException(nameof(count), count, $"Slots {fromSlot} + {count} go past the vector set's {Vectors.Count} slots.");
        }

        if (count == 0)
        {
            return;
        }

        int end = fromSlot + count;
        EnsureGraphCapacity(end);
        int threads = Math.Min(MaxDegreeOfParallelism, Math.Max(1, count / 64));
        if (threads == 1)
        {
            HnswScratch s = HnswScratch.Rent();
            try
            {
                for (int slot = fromSlot; slot < end; slot++)
                {
                    cancellationToken.ThrowIfCancellationRequested();
                    InsertCore(slot, s);
                }
            }
            finally
            {
                s.Return();
            }

            return;
        }

        // Dedicated threads pulling slots from a shared counter, like hnswlib's benchmark loop. (Parallel.For over
        // `threads` iterations was measured running both long iterations on the calling thread.)
        int next = fromSlot - 1;
        Exception? failure = null;
        void Work()
        {
            HnswScratch s = HnswScratch.Rent();
            try
            {
                int slot;
                while ((slot = Interlocked.Increment(ref next)) < end && !cancellationToken.IsCancellationRequested && Volatile.Read(ref failure) is null)
                {
                    InsertCore(slot, s);
                }
            }
            catch (Exception e)
            {
                Interlocked.CompareExchange(ref failure, e, null);
            }
            finally
            {
                s.Return();
            }
        }

        var workers = new Thread[threads - 1];
        for (int t = 0; t < workers.Length; t++)
        {
            workers[t] = new Thread(Work) { IsBackground = true, Name = "mmrag-hnsw-build" };
            workers[t].Start();
        }

        Work();
        foreach (Thread w in workers)
        {
            w.Join();
        }

        if (failure is not null)
        {
            System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw(failure);
        }

        cancellationToken.ThrowIfCancellationRequested();
    }

    private void InsertCore(int slot, HnswScratch s)
    {
        GraphChunk chunk = _graph[slot >> Vectors.ChunkShift];
        int local = slot & Vectors.ChunkMask;
        if (chunk.Levels[local] >= 0 || Vectors.IsDeletedUnchecked(slot))
        {
            return;
        }

        int level = DrawLevel(slot);
        if (level > 0)
        {
            int[] upper = GC.AllocateArray<int>(level * _upperStride, pinned: true);
            chunk.Upper[local] = upper;
            Volatile.Write(ref chunk.UpperPointers[local], (nint)Unsafe.AsPointer(ref MemoryMarshal.GetArrayDataReference(upper)));
            Interlocked.Add(ref _upperInts, upper.Length);
        }

        Volatile.Write(ref chunk.Levels[local], (sbyte)level);
        bool raisesTop = false;
        long entry = Volatile.Read(ref _entry);
        if (EntrySlot(entry) < 0 || level > EntryLevel(entry))
        {
            // Like hnswlib: an insertion that may become the new top holds the global lock throughout.
            _topLock.Enter();
            entry = Volatile.Read(ref _entry);
            raisesTop = EntrySlot(entry) < 0 || level > EntryLevel(entry);
            if (!raisesTop)
            {
                _topLock.Exit();
            }
        }

        try
        {
            int entrySlot = EntrySlot(entry);
            if (entrySlot >= 0)
            {
                var snap = new Snapshot(this);
                s.EnsureSelectionCapacity(EfConstruction, M0);
                float* q = snap.Row(slot);
                int maxLevel = EntryLevel(entry);
                float curScore = VectorMath.Dot(q, snap.Row(entrySlot), snap.Stride);
                int cur = GreedyDescend(q, entrySlot, ref curScore, maxLevel, level, in snap);
                bool anyDeleted = Vectors.DeletedCount > 0;
                for (int l = Math.Min(level, maxLevel); l >= 0; l--)
                {
                    if (anyDeleted)
                    {
                        var accept = new AcceptLive(Vectors, null);
                        SearchLayer(s, q, cur, curScore, l, EfConstruction, ref accept, in snap);
                    }
                    else
                    {
                        var accept = default(AcceptAll);
                        SearchLayer(s, q, cur, curScore, l, EfConstruction, ref accept, in snap);
                    }

                    if (s.ResultCount > 0)
                    {
                        ScoredNode best = ConnectNew(slot, l, s, in snap);
                        cur = best.Id;
                        curScore = best.Score;
                    }
                }
            }

            Interlocked.Increment(ref _indexedCount);
            if (raisesTop)
            {
                Volatile.Write(ref _entry, Pack(slot, level));
            }
        }
        finally
        {
            if (raisesTop)
            {
                _topLock.Exit();
            }
        }
    }

    /// <summary>Links a new node to its selected neighbours on one layer and back; returns the closest neighbour.</summary>
    private ScoredNode ConnectNew(int slot, int level, HnswScratch s, in Snapshot snap)
    {
        // The result heap pops worst first: fill the sorted buffer from the end.
        ScoredNode[] sorted = s.Sorted;
        int n = s.ResultCount;
        for (int i = n - 1; i >= 0; i--)
        {
            sorted[i] = s.PopWorstResult();
        }

        int selected = SelectNeighbors(sorted, n, M, s.Selected, in snap);
        ScoredNode[] chosen = s.Selected;
        int* own = ListOf(slot, level, in snap);
        LockNode(slot);
        for (int i = 0; i < selected; i++)
        {
            own[1 + i] = chosen[i].Id;
        }

        Volatile.Write(ref *own, selected);
        UnlockNode(slot);

        int maxLinks = level == 0 ? M0 : M;
        float* newRow = snap.Row(slot);
        for (int i = 0; i < selected; i++)
        {
            int neighbor = chosen[i].Id;
            int* list = ListOf(neighbor, level, in snap);
            LockNode(neighbor);
            int count = Math.Min(*list, maxLinks);
            if (count < maxLinks)
            {
                list[1 + count] = slot;
                Volatile.Write(ref *list, count + 1);
            }
            else
            {
                // Full: keep the heuristic's choice among the old links and the new node, as hnswlib does.
                float* nRow = snap.Row(neighbor);
                ScoredNode[] input = s.PruneInput;
                input[0] = new ScoredNode(VectorMath.Dot(nRow, newRow, snap.Stride), slot);
                for (int j = 0; j < count; j++)
                {
                    int id = list[1 + j];
                    input[j + 1] = new ScoredNode(VectorMath.Dot(nRow, snap.Row(id), snap.Stride), id);
                }

                SortDescending(input, count + 1);
                int kept = SelectNeighbors(input, count + 1, maxLinks, s.PruneOutput, in snap);
                for (int j = 0; j < kept; j++)
                {
                    list[1 + j] = s.PruneOutput[j].Id;
                }

                Volatile.Write(ref *list, kept);
            }

            UnlockNode(neighbor);
        }

        return chosen[0];
    }

    /// <summary>
    /// hnswlib's getNeighborsByHeuristic2: walking candidates from the closest, keep one unless an already kept
    /// neighbour is closer to it than the query is. Fewer than <paramref name="m"/> candidates are all kept.
    /// </summary>
    private static int SelectNeighbors(ScoredNode[] sortedDescending, int n, int m, ScoredNode[] output, in Snapshot snap)
    {
        if (n < m)
        {
            Array.Copy(sortedDescending, output, n);
            return n;
        }

        int kept = 0;
        for (int i = 0; i < n && kept < m; i++)
        {
            ScoredNode c = sortedDescending[i];
            float* row = snap.Row(c.Id);
            bool good = true;
            for (int j = 0; j < kept; j++)
            {
                if (VectorMath.Dot(snap.Row(output[j].Id), row, snap.Stride) > c.Score)
                {
                    good = false;
                    break;
                }
            }

            if (good)
            {
                output[kept++] = c;
            }
        }

        return kept;
    }

    private static void SortDescending(ScoredNode[] items, int n)
    {
        for (int i = 1; i < n; i++)
        {
            ScoredNode x = items[i];
            int j = i - 1;
            while (j >= 0 && (items[j].Score < x.Score || (items[j].Score == x.Score && items[j].Id > x.Id)))
            {
                items[j + 1] = items[j];
                j--;
            }

            items[j + 1] = x;
        }
    }

    private int DrawLevel(int slot)
    {
        // SplitMix64 of (seed, slot): the level of a slot does not depend on insertion order or threads.
        ulong z = unchecked((ulong)Seed + (0x9E3779B97F4A7C15UL * ((ulong)slot + 1)));
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        z ^= z >> 31;
        double u = ((z >> 11) + 1) * (1.0 / (1UL << 53)); // (0, 1]
        return (int)Math.Min(MaxLevelCap, Math.Floor(-Math.Log(u) * _levelMultiplier));
    }

    // ---------------------------------------------------------------- search

    /// <summary>Greedy walk on layers <paramref name="fromLevel"/> down to <paramref name="toLevel"/> + 1.</summary>
    private int GreedyDescend(float* q, int cur, ref float curScore, int fromLevel, int toLevel, in Snapshot snap)
    {
        for (int level = fromLevel; level > toLevel; level--)
        {
            bool changed = true;
            while (changed)
            {
                changed = false;
                int* list = UpperList(cur, level);
                if (list is null)
                {
                    break;
                }

                int n = Math.Min(Volatile.Read(ref *list), M);
                for (int i = 1; i <= n; i++)
                {
                    int id = list[i];
                    if ((uint)id >= (uint)snap.Capacity)
                    {
                        continue;
                    }

                    float score = VectorMath.Dot(q, snap.Row(id), snap.Stride);
                    if (score > curScore)
                    {
                        curScore = score;
                        cur = id;
                        changed = true;
                    }
                }
            }
        }

        return cur;
    }

    /// <summary>Best-first search of one layer from one entry; leaves up to <paramref name="ef"/> accepted nodes in the result heap.</summary>
    private void SearchLayer<TAccept>(HnswScratch s, float* q, int entry, float entryScore, int level, int ef, ref TAccept accept, in Snapshot snap)
        where TAccept : struct, IAccept
    {
        ushort tag = s.NewEpoch(snap.Capacity);
        s.EnsureLinkCapacity(M0);
        ushort* visited = s.Visited;
        int stride = snap.Stride;
        int maxLinks = level == 0 ? M0 : M;
        int prefetchLines = Math.Min(PrefetchMaxLines, stride / 16);
        visited[entry] = tag;
        s.ClearCandidates();
        s.ClearResults(ef);
        s.PushCandidate(entryScore, entry);
        float lower = float.NegativeInfinity;
        if (accept.Accepts(entry))
        {
            s.PushResult(entryScore, entry);
            lower = entryScore;
        }

        while (s.CandidateCount > 0)
        {
            ScoredNode c = s.CandidateTop;
            if (c.Score < lower && (s.ResultCount == ef || !accept.Filters))
            {
                break;
            }

            s.PopCandidate();
            int* list = level == 0 ? snap.Links0(c.Id) : UpperList(c.Id, level);
            if (list is null)
            {
                continue;
            }

            int n = Math.Min(Volatile.Read(ref *list), maxLinks);

            // Two passes: first keep the unvisited neighbours (marking them), then score them while prefetching
            // the vectors a few neighbours ahead, so that a vector is in cache by the time it is scored; it
            // prefetches only vectors that will be scored (typically half the links are already visited).
            int* fresh = s.Fresh;
            int m = 0;
            for (int i = 1; i <= n; i++)
            {
                int id = list[i];
                if ((uint)id < (uint)snap.Capacity && visited[id] != tag)
                {
                    visited[id] = tag;
                    fresh[m++] = id;
                }
            }

            int ahead = Math.Min(PrefetchAhead, m);
            for (int j = 0; j < ahead; j++)
            {
                VectorMath.Prefetch(snap.Row(fresh[j]), prefetchLines);
            }

            for (int j = 0; j < m; j++)
            {
                if (j + ahead < m)
                {
                    VectorMath.Prefetch(snap.Row(fresh[j + ahead]), prefetchLines);
                }

                int id = fresh[j];
                float score = VectorMath.Dot(q, snap.Row(id), stride);
                if (s.ResultCount < ef || score > lower)
                {
                    s.PushCandidate(score, id);

                    if (accept.Accepts(id))
                    {
                        if (s.ResultCount < ef)
                        {
                            s.PushResult(score, id);
                        }
                        else
                        {
                            s.ReplaceWorstResult(score, id);
                        }
                    }

                    if (s.ResultCount > 0)
                    {
                        lower = s.ResultTop.Score;
                    }
                }
            }
        }
    }

    // ---------------------------------------------------------------- storage

    private int* ListOf(int slot, int level, in Snapshot snap) => level == 0 ? snap.Links0(slot) : UpperList(slot, level);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private int* UpperList(int slot, int level)
    {
        nint p = Volatile.Read(ref _graph[slot >> Vectors.ChunkShift].UpperPointers[slot & Vectors.ChunkMask]);
        return p == 0 ? null : (int*)p + ((level - 1) * _upperStride);
    }

    private void EnsureGraphCapacity(int slots)
    {
        int needed = (int)(((long)slots + Vectors.ChunkRows - 1) >> Vectors.ChunkShift);
        if (needed <= _graph.Length)
        {
            return;
        }

        var graph = new GraphChunk[needed];
        var links = new nint[needed];
        _graph.CopyTo(graph, 0);
        _links0.CopyTo(links, 0);
        for (int i = _graph.Length; i < needed; i++)
        {
            graph[i] = new GraphChunk(Vectors.ChunkRows, _m0Stride);
            links[i] = (nint)graph[i].Links0;
        }

        // Copy-on-write, as in VectorSet: readers keep a consistent snapshot, chunks never move.
        Volatile.Write(ref _graph, graph);
        Volatile.Write(ref _links0, links);
    }

    /// <summary>
    /// Gives an empty graph the layer-0 lists of <paramref name="slots"/> slots that lie one after another at
    /// <paramref name="links"/> inside <paramref name="mapping"/>: full chunks read them in place, the last partly
    /// filled one is copied (the slots added later are linked after it).
    /// </summary>
    private void AdoptMappedLinks0(int slots, int* links, MappedFile mapping)
    {
        int full = slots >> Vectors.ChunkShift;
        var graph = new GraphChunk[full];
        var pointers = new nint[full];
        for (int c = 0; c < full; c++)
        {
            graph[c] = new GraphChunk(Vectors.ChunkRows, links + ((nint)c * Vectors.ChunkRows * _m0Stride), mapping);
            pointers[c] = (nint)graph[c].Links0;
        }

        Volatile.Write(ref _graph, graph);
        Volatile.Write(ref _links0, pointers);
        int rest = slots - (full << Vectors.ChunkShift);
        if (rest > 0)
        {
            EnsureGraphCapacity(slots);
            new ReadOnlySpan<int>(links + ((nint)full * Vectors.ChunkRows * _m0Stride), rest * _m0Stride)
                .CopyTo(new Span<int>(_graph[full].Links0, rest * _m0Stride));
        }
    }

    private void LockNode(int slot)
    {
        ref int word = ref _graph[slot >> Vectors.ChunkShift].Locks[slot & Vectors.ChunkMask];
        if (Interlocked.CompareExchange(ref word, 1, 0) != 0)
        {
            SpinWait spin = default;
            while (Interlocked.CompareExchange(ref word, 1, 0) != 0)
            {
                spin.SpinOnce();
            }
        }
    }

    private void UnlockNode(int slot) => Volatile.Write(ref _graph[slot >> Vectors.ChunkShift].Locks[slot & Vectors.ChunkMask], 0);

    private void CheckSlot(int slot)
    {
        if ((uint)slot >= (uint)Vectors.Count)
        {
            throw new ArgumentOutOfRangeException(nameof(slot), slot, $"Slot must be in [0, {Vectors.Count}).");
        }
    }

    private static long Pack(int slot, int level) => ((long)level << 32) | (uint)slot;

    private static int EntrySlot(long entry) => (int)entry;

    private static int EntryLevel(long entry) => (int)(entry >> 32);

    /// <summary>What a search needs, read once: the entry's vector and link tables cover every id below <see cref="Capacity"/>.</summary>
    private readonly struct Snapshot
    {
        private readonly nint[] _rows;
        private readonly nint[] _links0;
        private readonly int _shift;
        private readonly int _mask;
        private readonly int _m0Stride;

        public Snapshot(HnswIndex index)
        {
            VectorSet v = index.Vectors;
            // Count first: the pointer tables read after it cover every counted slot.
            int count = v.Count;
            _rows = v.RowPointers;
            _links0 = Volatile.Read(ref index._links0);
            _shift = v.ChunkShift;
            _mask = v.ChunkMask;
            _m0Stride = index._m0Stride;
            Stride = v.Stride;
            Capacity = Math.Min(count, _links0.Length << _shift);
        }

        public int Stride { get; }

        public int Capacity { get; }

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public float* Row(int id) => (float*)_rows[id >> _shift] + ((nint)(id & _mask) * Stride);

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public int* Links0(int id) => (int*)_links0[id >> _shift] + ((nint)(id & _mask) * _m0Stride);
    }

    /// <summary>Which visited nodes may enter the results (the others still route the search).</summary>
    private interface IAccept
    {
        bool Filters { get; }

        bool Accepts(int id);
    }

    private readonly struct AcceptAll : IAccept
    {
        public bool Filters => false;

        public bool Accepts(int id) => true;
    }

    private readonly struct AcceptLive : IAccept
    {
        private readonly VectorSet _vectors;
        private readonly SlotFilter? _filter;

        public AcceptLive(VectorSet vectors, SlotFilter? filter)
        {
            _vectors = vectors;
            _filter = filter;
        }

        public bool Filters => true;

        public bool Accepts(int id) => !_vectors.IsDeletedUnchecked(id) && (_filter is null || _filter.Allows(id));
    }

    /// <summary>Graph storage for one chunk of slots (same chunking as the vector set).</summary>
    private sealed class GraphChunk
    {
        // What the layer-0 lists live in: a pinned array of this chunk's own, or the mapped index file; held so it outlives the pointers.
        private readonly object _storage;

        public GraphChunk(int rows, int m0Stride)
        {
            int[] links0 = GC.AllocateArray<int>((rows * m0Stride) + 16, pinned: true);
            _storage = links0;
            nint start = (nint)Unsafe.AsPointer(ref MemoryMarshal.GetArrayDataReference(links0));
            Links0 = (int*)((start + 63) & ~(nint)63);
            Levels = new sbyte[rows];
            Levels.AsSpan().Fill(-1);
            Upper = new int[rows][];
            UpperPointers = new nint[rows];
            Locks = new int[rows];
        }

        public GraphChunk(int rows, int* mappedLinks0, MappedFile mapping)
        {
            _storage = mapping;
            Links0 = mappedLinks0;
            Levels = new sbyte[rows];
            Levels.AsSpan().Fill(-1);
            Upper = new int[rows][];
            UpperPointers = new nint[rows];
            Locks = new int[rows];
        }

        public int* Links0 { get; }

        /// <summary>Top layer of each slot; -1 while not linked.</summary>
        public sbyte[] Levels { get; }

        /// <summary>Layers 1…level of each slot, count-prefixed blocks of M + 1 ints (pinned; pointers below).</summary>
        public int[]?[] Upper { get; }

        public nint[] UpperPointers { get; }

        public int[] Locks { get; }
    }
}
