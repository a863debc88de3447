using System.Numerics;

namespace Mmrag.Storage.Embedded.Indexing;

/// <summary>A slot to add: its metadata and its (normalized) vector.</summary>
internal readonly record struct PendingSlot(SlotMetadata Metadata, ReadOnlyMemory<float> Vector);

/// <summary>
/// The store's in-memory vector index: one <see cref="VectorSet"/>, the metadata of each slot, an exact index and
/// (for large collections) an HNSW graph, published as immutable <see cref="IndexSnapshot"/>s.
/// </summary>
/// <remarks>
/// Thread safety: <see cref="Current"/> may be read from any thread at any time. Every other member is for the
/// writer: the store calls them while holding its write lock, one at a time. <see cref="RunBuild"/> is the exception
/// (no lock, on a background thread); its result is published by <see cref="CompleteBuild"/> under the lock.
/// </remarks>
internal sealed class StoreIndex
{
    private readonly HnswOptions _hnswOptions;
    private IndexSnapshot _current;
    private Dictionary<long, int> _slotOfRow;

    /// <summary>An index over <paramref name="vectors"/> whose live slots are those of <paramref name="table"/> flagged in <paramref name="live"/>.</summary>
    public StoreIndex(VectorSet vectors, HnswIndex? hnsw, SlotTable table, int slotCount, ulong[] live, long generation, HnswOptions hnswOptions)
    {
        _hnswOptions = hnswOptions;
        int liveCount = 0;
        _slotOfRow = new Dictionary<long, int>(Math.Max(16, slotCount));
        for (int w = 0; w < live.Length; w++)
        {
            ulong word = live[w];
            liveCount += BitOperations.PopCount(word);
            while (word != 0)
            {
                int slot = (w << 6) + BitOperations.TrailingZeroCount(word);
                word &= word - 1;
                long rowId = table.RowIds[slot];
                _slotOfRow[rowId] = slot;
                MaxRowId = Math.Max(MaxRowId, rowId);
            }
        }

        _current = new IndexSnapshot(vectors, new ExactVectorIndex(vectors), hnsw, table, slotCount, live, liveCount, generation);
    }

    /// <summary>The published snapshot.</summary>
    public IndexSnapshot Current => Volatile.Read(ref _current);

    /// <summary>The largest rowid ever added (rows added by anyone later have larger ones).</summary>
    public long MaxRowId { get; private set; }

    /// <summary>Rowids of the live items.</summary>
    public IReadOnlyCollection<long> LiveRowIds => _slotOfRow.Keys;

    /// <summary>Whether the item with this rowid is live.</summary>
    public bool IsLiveRow(long rowId) => _slotOfRow.ContainsKey(rowId);

    /// <summary>An empty index for vectors of <paramref name="dimension"/>.</summary>
    public static StoreIndex CreateEmpty(int dimension, long generation, HnswOptions hnswOptions) =>
        new(new VectorSet(dimension), null, new SlotTable(16), 0, [], generation, hnswOptions);

    /// <summary>
    /// Applies one committed write: the rows in <paramref name="removedRowIds"/> stop being live and
    /// <paramref name="added"/> become live, all in one new snapshot of <paramref name="generation"/>. New vectors are
    /// linked into the HNSW graph before the snapshot is published, so searches never wait for the graph.
    /// </summary>
    public void Apply(long generation, IReadOnlyCollection<long> removedRowIds, IReadOnlyList<PendingSlot> added)
    {
        IndexSnapshot cur = _current;
        VectorSet set = cur.Vectors;
        int first = set.Count;
        foreach (PendingSlot p in added)
        {
            set.Add(p.Vector.Span);
        }

        int newCount = set.Count;
        SlotTable table = cur.Table.EnsureCapacity(newCount, cur.SlotCount);
        for (int i = 0; i < added.Count; i++)
        {
            table.Set(first + i, added[i].Metadata);
        }

        if (cur.Hnsw is not null && added.Count > 0)
        {
            cur.Hnsw.InsertRange(first, added.Count);
        }

        var live = new ulong[(newCount + 63) >> 6];
        cur.Live.CopyTo(live, 0);
        int liveCount = cur.LiveCount;
        foreach (long rowId in removedRowIds)
        {
            if (_slotOfRow.Remove(rowId, out int slot))
            {
                live[slot >> 6] &= ~(1UL << (slot & 63));
                liveCount--;
            }
        }

        for (int i = 0; i < added.Count; i++)
        {
            int slot = first + i;
            long rowId = added[i].Metadata.RowId;
            live[slot >> 6] |= 1UL << (slot & 63);
            _slotOfRow[rowId] = slot;
            MaxRowId = Math.Max(MaxRowId, rowId);
            liveCount++;
        }

        Volatile.Write(ref _current, new IndexSnapshot(set, cur.Exact, cur.Hnsw, table, newCount, live, liveCount, generation));
    }

    /// <summary>Captures what a rebuild starts from (writer only). <paramref name="compact"/> copies the live vectors into a new set.</summary>
    public IndexBuild PrepareBuild(bool compact, bool buildGraph) => new(_current, compact, buildGraph);

    /// <summary>Builds the new set and graph of <paramref name="build"/> (no lock; cancellable).</summary>
    public void RunBuild(IndexBuild build, CancellationToken cancellationToken)
    {
        IndexSnapshot source = build.Source;
        if (build.Compact)
        {
            var set = new VectorSet(source.Vectors.Dimension);
            var oldToNew = new int[source.SlotCount];
            Array.Fill(oldToNew, -1);
            for (int slot = 0; slot < source.SlotCount; slot++)
            {
                if (source.IsLive(slot))
                {
                    oldToNew[slot] = set.Add(source.Vectors.GetVector(slot));
                }

                if ((slot & 4095) == 0)
                {
                    cancellationToken.ThrowIfCancellationRequested();
                }
            }

            build.Vectors = set;
            build.OldToNew = oldToNew;
        }
        else
        {
            build.Vectors = source.Vectors;
        }

        if (build.BuildGraph)
        {
            var hnsw = new HnswIndex(build.Vectors, CopyOptions(_hnswOptions));
            hnsw.InsertRange(0, build.Compact ? build.Vectors.Count : source.SlotCount, cancellationToken);
            build.Hnsw = hnsw;
        }
    }

    /// <summary>Publishes a finished build, catching it up with the writes made while it ran (writer only).</summary>
    public void CompleteBuild(IndexBuild build)
    {
        IndexSnapshot cur = _current;
        IndexSnapshot source = build.Source;
        VectorSet set = build.Vectors ?? throw new InvalidOperationException("The build has not run.");
        if (!build.Compact)
        {
            if (!ReferenceEquals(cur.Vectors, set))
            {
                throw new InvalidOperationException("The vector set changed while the graph was built.");
            }

            if (build.Hnsw is { } graph)
            {
                graph.InsertRange(source.SlotCount, set.Count - source.SlotCount);
                Volatile.Write(ref _current, cur.WithHnsw(graph));
            }

            return;
        }

        int[] oldToNew = build.OldToNew!;
        var slotOfRow = new Dictionary<long, int>(Math.Max(16, cur.LiveCount));
        int firstAppended = set.Count;
        var table = new SlotTable(Math.Max(16, firstAppended + (cur.LiveCount / 8)));
        var appended = new List<(int Old, int New)>();
        for (int w = 0; w < cur.Live.Length; w++)
        {
            ulong word = cur.Live[w];
            while (word != 0)
            {
                int slot = (w << 6) + BitOperations.TrailingZeroCount(word);
                word &= word - 1;
                int target;
                if (slot < oldToNew.Length)
                {
                    target = oldToNew[slot];
                    if (target < 0)
                    {
                        throw new InvalidOperationException($"Slot {slot} became live after the build started.");
                    }
                }
                else
                {
                    target = set.Add(cur.Vectors.GetVector(slot));
                }

                appended.Add((slot, target));
            }
        }

        table = table.EnsureCapacity(set.Count, 0);
        var live = new ulong[(set.Count + 63) >> 6];
        foreach ((int oldSlot, int newSlot) in appended)
        {
            SlotMetadata metadata = cur.Table.Get(oldSlot);
            table.Set(newSlot, metadata);
            live[newSlot >> 6] |= 1UL << (newSlot & 63);
            slotOfRow[metadata.RowId] = newSlot;
        }

        build.Hnsw?.InsertRange(firstAppended, set.Count - firstAppended);
        _slotOfRow = slotOfRow;
        Volatile.Write(ref _current, new IndexSnapshot(set, new ExactVectorIndex(set), build.Hnsw, table, set.Count, live, slotOfRow.Count, cur.Generation));
    }

    private static HnswOptions CopyOptions(HnswOptions o) => new()
    {
        M = o.M,
        EfConstruction = o.EfConstruction,
        EfSearch = o.EfSearch,
        Seed = o.Seed,
        MaxDegreeOfParallelism = o.MaxDegreeOfParallelism,
    };
}

/// <summary>A rebuild of the index: what it starts from, and what it made.</summary>
internal sealed class IndexBuild(IndexSnapshot source, bool compact, bool buildGraph)
{
    public IndexSnapshot Source { get; } = source;

    public bool Compact { get; } = compact;

    public bool BuildGraph { get; } = buildGraph;

    public VectorSet? Vectors { get; set; }

    public int[]? OldToNew { get; set; }

    public HnswIndex? Hnsw { get; set; }
}
