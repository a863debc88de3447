namespace Mmrag.Storage.Embedded.Indexing;

/// <summary>
/// One published state of the store's in-memory index: which slots hold the live items of database generation
/// <see cref="Generation"/>, their metadata, and the indexes over their vectors. Immutable once published: a search
/// that took a snapshot sees exactly one version of every document, whatever the writer does meanwhile.
/// </summary>
/// <remarks>
/// Deletion is by this snapshot's <see cref="Live"/> bitset, not by tombstones in the shared <see cref="VectorSet"/>:
/// a tombstone would change what a search holding an older snapshot sees (half of a replaced document gone, the
/// new half not yet visible). Dead slots keep their vectors so the HNSW graph still routes through them, until a
/// compaction rebuilds the set from the live slots.
/// </remarks>
internal sealed class IndexSnapshot
{
    public IndexSnapshot(VectorSet vectors, ExactVectorIndex exact, HnswIndex? hnsw, SlotTable table, int slotCount, ulong[] live, int liveCount, long generation)
    {
        Vectors = vectors;
        Exact = exact;
        Hnsw = hnsw;
        Table = table;
        SlotCount = slotCount;
        Live = live;
        LiveCount = liveCount;
        Generation = generation;
    }

    /// <summary>The vectors (shared with later snapshots; slots at or past <see cref="SlotCount"/> are not this snapshot's).</summary>
    public VectorSet Vectors { get; }

    /// <summary>Exact search over <see cref="Vectors"/>.</summary>
    public ExactVectorIndex Exact { get; }

    /// <summary>The HNSW graph over <see cref="Vectors"/>, or null while the collection is small or the graph is being built.</summary>
    public HnswIndex? Hnsw { get; }

    /// <summary>Metadata of slots 0 … <see cref="SlotCount"/> - 1.</summary>
    public SlotTable Table { get; }

    /// <summary>Slots this snapshot covers.</summary>
    public int SlotCount { get; }

    /// <summary>Bit s set ⇔ slot s holds a live item. Never modified after publication.</summary>
    public ulong[] Live { get; }

    /// <summary>Number of bits set in <see cref="Live"/>.</summary>
    public int LiveCount { get; }

    /// <summary>The database generation (kb_info.generation) this snapshot reflects.</summary>
    public long Generation { get; }

    /// <summary>Slots that hold no live item (replaced or deleted), counting hidden slots past <see cref="SlotCount"/>.</summary>
    public int DeadCount => Vectors.Count - LiveCount;

    public bool IsLive(int slot) => (uint)slot < (uint)SlotCount && (Live[slot >> 6] & (1UL << (slot & 63))) != 0;

    public IndexSnapshot WithHnsw(HnswIndex hnsw) => new(Vectors, Exact, hnsw, Table, SlotCount, Live, LiveCount, Generation);
}
