using Microsoft.Extensions.Logging;
using Mmrag.Storage.Embedded.Indexing;

namespace Mmrag.Storage.Embedded;

/// <summary>How an <see cref="EmbeddedKnowledgeStore"/> searches, indexes and persists. Validated when the store opens.</summary>
public sealed class EmbeddedStoreOptions
{
    /// <summary>
    /// A vector search over at most this many candidate vectors (all live items, or those a filter allows) is exact;
    /// above it the HNSW graph is used, and the graph exists only once the collection has grown past it. Default 20,000.
    /// </summary>
    public int ExactSearchThreshold { get; set; } = 20_000;

    /// <summary>
    /// A filtered search is also exact when the filter allows less than this fraction of the live items, because a
    /// graph walk would wade through mostly filtered-out nodes. Default 0.05.
    /// </summary>
    public double FilteredExactFraction { get; set; } = 0.05;

    /// <summary>
    /// About how many rows a keyword search ranks (at least its k). A query's words are taken rarest first while their
    /// matching rows fit in this budget; rarer words' rows are all ranked, the rest fill what is left, and the most
    /// frequent words only score the rows found through the others (see <see cref="Mmrag.Storage.Providers.KeywordCandidatePlan"/>).
    /// Ranking reads each ranked row, so this bounds a search's cost on a large knowledge base. Default 1,000.
    /// </summary>
    public int KeywordCandidateBudget { get; set; } = 1_000;

    /// <summary>HNSW parameters (M, efConstruction, default efSearch, seed, build threads). A search uses ef = max(EfSearch, 2k).</summary>
    public HnswOptions Hnsw { get; set; } = new() { MaxDegreeOfParallelism = Math.Max(1, Environment.ProcessorCount / 2) };

    /// <summary>
    /// Build graphs, compact and save on a background thread (searches stay exact until a new graph is ready); false
    /// does that work inline, so the open or write that calls for it returns only when it is done. Default true.
    /// </summary>
    public bool BuildIndexInBackground { get; set; } = true;

    /// <summary>
    /// Map <c>vectors.hnsw</c> into memory on open and search its vectors and links in place (Linux and macOS) instead
    /// of reading them into fresh memory. Mapping opens a million items in about 2 s instead of about 13 s and keeps
    /// the vectors in the page cache rather than in the process's own memory; searches then ran at 0.71–0.91× the
    /// QPS of a copied graph in the same process (1M × 512). A server that opens once and searches for days may turn
    /// it off. Default true.
    /// </summary>
    public bool MapIndexFile { get; set; } = true;

    /// <summary>
    /// Save the graph to <c>vectors.hnsw</c> (in the background) after this many item changes since the last save, or a
    /// tenth of the index when that is more (a save writes the whole graph); 0 saves only on dispose. After a crash the
    /// store opens from the last save and inserts only the items changed since. Default 10,000.
    /// </summary>
    public int SaveIndexAfterChanges { get; set; } = 10_000;

    /// <summary>Rebuild the in-memory index from the live items once this fraction of its slots hold replaced or deleted items. Default 0.3.</summary>
    public double CompactionDeadFraction { get; set; } = 0.3;

    /// <summary>
    /// How many bytes of the database file reads may memory-map (SQLite's <c>mmap_size</c>; 0 reads through system
    /// calls only). A search reads rows scattered over the file (a keyword match's item, a hit's vector), and a
    /// mapped page costs a memory access where a read costs a system call and a copy; the mapped pages are the
    /// operating system's file cache, shared by all connections, not extra memory. Default 1 GiB.
    /// </summary>
    public long MemoryMapSize { get; set; } = 1L << 30;

    /// <summary>How long a write waits for another process's write lock on the database. Default 30 s.</summary>
    public TimeSpan BusyTimeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>Vectors whose L2 norm is further than this from 1 are normalized on write (a zero or non-finite vector is rejected). Default 1e-4.</summary>
    public float NormTolerance { get; set; } = 1e-4f;

    /// <summary>Where the store logs (index loads, rebuilds, saves); none by default.</summary>
    public ILoggerFactory? LoggerFactory { get; set; }

    /// <summary>Throws <see cref="ArgumentOutOfRangeException"/> naming the first invalid setting.</summary>
    public void Validate()
    {
        if (ExactSearchThreshold < 0)
        {
            throw new ArgumentOutOfRangeException(nameof(ExactSearchThreshold), ExactSearchThreshold, "EmbeddedStoreOptions.ExactSearchThreshold must be 0 or more.");
        }

        if (!(FilteredExactFraction is >= 0 and <= 1))
        {
            throw new ArgumentOutOfRangeException(nameof(FilteredExactFraction), FilteredExactFraction, "EmbeddedStoreOptions.FilteredExactFraction must be in [0, 1].");
        }

        if (KeywordCandidateBudget < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(KeywordCandidateBudget), KeywordCandidateBudget, "EmbeddedStoreOptions.KeywordCandidateBudget must be at least 1.");
        }

        if (Hnsw is null)
        {
            throw new ArgumentOutOfRangeException(nameof(Hnsw), "EmbeddedStoreOptions.Hnsw must be set.");
        }

        Hnsw.Validate();
        if (SaveIndexAfterChanges < 0)
        {
            throw new ArgumentOutOfRangeException(nameof(SaveIndexAfterChanges), SaveIndexAfterChanges, "EmbeddedStoreOptions.SaveIndexAfterChanges must be 0 or more.");
        }

        if (!(CompactionDeadFraction is > 0 and <= 1))
        {
            throw new ArgumentOutOfRangeException(nameof(CompactionDeadFraction), CompactionDeadFraction, "EmbeddedStoreOptions.CompactionDeadFraction must be in (0, 1].");
        }

        if (MemoryMapSize < 0)
        {
            throw new ArgumentOutOfRangeException(nameof(MemoryMapSize), MemoryMapSize, "EmbeddedStoreOptions.MemoryMapSize must be 0 or more.");
        }

        if (BusyTimeout < TimeSpan.Zero || BusyTimeout.TotalMilliseconds > int.MaxValue)
        {
            throw new ArgumentOutOfRangeException(nameof(BusyTimeout), BusyTimeout, "EmbeddedStoreOptions.BusyTimeout must be between 0 and about 24 days.");
        }

        if (!(NormTolerance is >= 0 and < 1))
        {
            throw new ArgumentOutOfRangeException(nameof(NormTolerance), NormTolerance, "EmbeddedStoreOptions.NormTolerance must be in [0, 1).");
        }
    }
}
