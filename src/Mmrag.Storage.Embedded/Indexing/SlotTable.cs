using Mmrag.Knowledge;

namespace Mmrag.Storage.Embedded.Indexing;

/// <summary>What the store keeps in memory about the item in a slot, so that filters never need SQLite.</summary>
/// <param name="RowId">The item's rowid in the database.</param>
/// <param name="Kind">Text chunk or image.</param>
/// <param name="DocumentId">The item's document.</param>
/// <param name="SourcePath">The item's provenance source path.</param>
/// <param name="Tags">The item's tags.</param>
/// <param name="ContentHash">The item's content hash, as <see cref="ContentHashKey"/> keys it.</param>
internal readonly record struct SlotMetadata(long RowId, ItemKind Kind, string DocumentId, string SourcePath, string[] Tags, UInt128 ContentHash);

/// <summary>
/// Per-slot metadata in columns. Append-only: entries below the count a snapshot covers are never written again,
/// so readers of any snapshot read their prefix without locks; growing copies into a new table that later
/// snapshots use, while older snapshots keep the old one.
/// </summary>
internal sealed class SlotTable
{
    public SlotTable(int capacity)
    {
        capacity = Math.Max(capacity, 16);
        RowIds = new long[capacity];
        Kinds = new ItemKind[capacity];
        DocumentIds = new string[capacity];
        SourcePaths = new string[capacity];
        Tags = new string[capacity][];
        ContentHashes = new UInt128[capacity];
    }

    public int Capacity => RowIds.Length;

    public long[] RowIds { get; }

    public ItemKind[] Kinds { get; }

    public string[] DocumentIds { get; }

    public string[] SourcePaths { get; }

    public string[][] Tags { get; }

    public UInt128[] ContentHashes { get; }

    public void Set(int slot, in SlotMetadata metadata)
    {
        RowIds[slot] = metadata.RowId;
        Kinds[slot] = metadata.Kind;
        DocumentIds[slot] = metadata.DocumentId;
        SourcePaths[slot] = metadata.SourcePath;
        Tags[slot] = metadata.Tags;
        ContentHashes[slot] = metadata.ContentHash;
    }

    public SlotMetadata Get(int slot) => new(RowIds[slot], Kinds[slot], DocumentIds[slot], SourcePaths[slot], Tags[slot], ContentHashes[slot]);

    /// <summary>This table if it holds <paramref name="needed"/> slots, else a larger copy of its first <paramref name="used"/> entries.</summary>
    public SlotTable EnsureCapacity(int needed, int used)
    {
        if (needed <= Capacity)
        {
            return this;
        }

        var grown = new SlotTable((int)Math.Min(Array.MaxLength, Math.Max(needed, (long)Capacity * 2)));
        Array.Copy(RowIds, grown.RowIds, used);
        Array.Copy(Kinds, grown.Kinds, used);
        Array.Copy(DocumentIds, grown.DocumentIds, used);
        Array.Copy(SourcePaths, grown.SourcePaths, used);
        Array.Copy(Tags, grown.Tags, used);
        Array.Copy(ContentHashes, grown.ContentHashes, used);
        return grown;
    }
}
