using System.Diagnostics;
using System.Globalization;
using Mmrag.Benchmarks.VectorIndex;
using Mmrag.Knowledge;
using Mmrag.Storage;
using Mmrag.Storage.Embedded;
using Mmrag.Storage.Embedded.Indexing;

namespace Mmrag.Benchmarks.EndToEnd;

/// <summary>
/// The embedded knowledge base at scale (issue 14 §5): the store's insert path filled with <c>gen_data.py</c>'s vectors
/// (items with a short text, 1,000 per document, as ingestion writes them), the insert rate per window once the HNSW
/// graph covers everything, the time and resident memory to open the built knowledge base again, and vector-search
/// recall and latency through the store. No model: the vectors are the data set's.
/// Usage: <c>scale [--items 1000000] [--base 1m] [--threads 2] [--opens 3] [--queries 1000] [--keep] [--open-only]</c>;
/// <c>--open-only</c> reuses a knowledge base kept by <c>--keep</c> and times the parts of an open alone afterwards.
/// </summary>
public static class ScaleBenchmark
{
    private const int PerDocument = 1000;
    private const int K = 10;

    public static async Task<int> RunAsync(string[] args)
    {
        var options = BenchOptions.Parse(args);
        var benchDir = Environment.GetEnvironmentVariable("MMRAG_BENCH_DIR") ?? "/tmp/mmrag-bench";
        var itemCount = int.Parse(options.Get("--items") ?? "1000000", CultureInfo.InvariantCulture);
        var baseName = options.Get("--base") ?? (itemCount > 100_000 ? "1m" : "100k");
        var threads = int.Parse(options.Get("--threads") ?? "2", CultureInfo.InvariantCulture);
        var opens = int.Parse(options.Get("--opens") ?? "3", CultureInfo.InvariantCulture);
        var queryCount = int.Parse(options.Get("--queries") ?? "1000", CultureInfo.InvariantCulture);
        var dataDir = Path.Combine(benchDir, "data");
        var vectors = VectorIndexBenchmark.Texmex.ReadFloats(Path.Combine(dataDir, $"base_{baseName}.fvecs"), out var n, out var d);
        var queries = VectorIndexBenchmark.Texmex.ReadFloats(Path.Combine(dataDir, "query_1k.fvecs"), out var nq, out _);
        var truth = VectorIndexBenchmark.Texmex.ReadInts(Path.Combine(dataDir, $"gt_{baseName}_top100.ivecs"), out _, out var kgt);
        itemCount = Math.Min(itemCount, n);
        queryCount = Math.Min(queryCount, nq);
        if (itemCount != n)
        {
            Console.WriteLine($"note: {itemCount:N0} of the {n:N0} vectors in base_{baseName}: recall is against the full set's ground truth only when they match");
        }

        Console.WriteLine($"# embedded knowledge base at scale: {itemCount:N0} items × {d}, HNSW M 16 efConstruction 200, {threads} build threads");
        Console.WriteLine($"# CPU: {MachineLimits.Cpu()}, {Environment.ProcessorCount} cores visible");
        var storeOptions = new EmbeddedStoreOptions { Hnsw = new HnswOptions { M = 16, EfConstruction = 200, MaxDegreeOfParallelism = threads } };
        var folder = Path.Combine(benchDir, "e2e", $"kb-scale-{itemCount}");
        var openOnly = options.Has("--open-only") && File.Exists(Path.Combine(folder, EmbeddedKnowledgeStore.DatabaseFileName));
        if (!openOnly)
        {
            if (Directory.Exists(folder))
            {
                Directory.Delete(folder, recursive: true);
            }

            await FillAsync(folder, new EmbeddingSpace("gen_data", d), storeOptions, vectors, itemCount).ConfigureAwait(false);
        }

        Console.WriteLine($"knowledge base on disk: {DirectoryBytes(folder) / 1048576.0:F0} MiB");
        Console.WriteLine();
        Console.WriteLine($"{"open",5} {"seconds",8} {"graph from file",16} {"RSS MiB after",14} {"first query ms",15}");
        for (var o = 0; o < opens; o++)
        {
            GC.Collect();
            GC.WaitForPendingFinalizers();
            GC.Collect();
            var rssBefore = Environment.WorkingSet;
            var clock = Stopwatch.StartNew();
            await using var store = await EmbeddedKnowledgeStore.OpenExistingAsync(folder, storeOptions).ConfigureAwait(false);
            var opened = clock.Elapsed.TotalSeconds;
            clock.Restart();
            _ = await store.SearchVectorsAsync(queries.AsMemory(0, d), K).ConfigureAwait(false);
            var first = clock.Elapsed.TotalMilliseconds;
            Console.WriteLine($"{o + 1,5} {opened,8:F2} {(store.IndexStatus.GraphLoadedFromFile ? "yes" : "no: " + store.IndexStatus.IndexFileProblem),16} "
                + $"{Environment.WorkingSet / 1048576.0,14:F0} {first,15:F1}   (RSS before {rssBefore / 1048576.0:F0})");
            if (o == opens - 1)
            {
                await QueriesAsync(store, queries, queryCount, d, truth, kgt, itemCount == n).ConfigureAwait(false);
            }
        }

        if (openOnly)
        {
            ProfileOpenParts(folder, d, queries, Math.Min(queryCount, queries.Length / d));
        }

        if (!options.Has("--keep"))
        {
            Directory.Delete(folder, recursive: true);
        }

        return 0;
    }

    /// <summary>The parts of an open, each alone: reading every item's metadata from SQLite, and reading and checking <c>vectors.hnsw</c>.</summary>
    private static void ProfileOpenParts(string folder, int dimension, float[] queries, int queryCount)
    {
        long generation;
        var clock = Stopwatch.StartNew();
        using (var connection = new Microsoft.Data.Sqlite.SqliteConnection($"Data Source={Path.Combine(folder, EmbeddedKnowledgeStore.DatabaseFileName)};Mode=ReadOnly"))
        {
            connection.Open();
            using var read = connection.CreateCommand();
            read.CommandText = "SELECT generation FROM kb_info WHERE id = 1";
            generation = Convert.ToInt64(read.ExecuteScalar(), CultureInfo.InvariantCulture);
            foreach (var (what, sql) in new[]
            {
                ("from the items table (schema 3)", "SELECT rowid, kind, document_id, source_path, content_hash, tags FROM items NOT INDEXED"),
                ("from the covering index (schema 4)", "SELECT rowid, kind, document_id, source_path, content_hash, tags FROM items INDEXED BY ix_items_metadata"),
            })
            {
                clock.Restart();
                read.CommandText = sql;
                var rows = 0L;
                using var reader = read.ExecuteReader();
                while (reader.Read())
                {
                    rows++;
                }

                Console.WriteLine($"open part: SELECT the metadata of {rows:N0} items {what}, unparsed: {clock.Elapsed.TotalSeconds:F2} s");
            }
        }

        var path = Path.Combine(folder, IndexFile.FileName);
        clock.Restart();
        var header = new byte[64];
        long bytes;
        using (var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 20))
        {
            stream.ReadExactly(header);
            var buffer = new byte[1 << 20];
            bytes = header.Length;
            int got;
            while ((got = stream.Read(buffer)) > 0)
            {
                bytes += got;
            }
        }

        Console.WriteLine($"open part: read vectors.hnsw ({bytes / 1048576.0:F0} MiB), unparsed: {clock.Elapsed.TotalSeconds:F2} s");
        clock.Restart();
        var uid = new Guid(header.AsSpan(40, 16));
        var loaded = IndexFile.Load(path, uid, generation, dimension);
        Console.WriteLine($"open part: IndexFile.Load ({loaded.SlotRowIds.Length:N0} slots, checksums, graph): {clock.Elapsed.TotalSeconds:F2} s");
        loaded.PayloadCheck.GetAwaiter().GetResult();
        CompareMappedSearch(loaded, IndexFile.Load(path, uid, generation, dimension, mapIfPossible: false), queries, queryCount, dimension);
    }

    /// <summary>
    /// Graph search over the same <c>vectors.hnsw</c> mapped (as an open maps it, before and after its pages are mapped
    /// ahead) and read into memory, alternated twice in one process: what mapping costs a search once the open is done.
    /// </summary>
    private static void CompareMappedSearch(LoadedIndexFile mappedFile, LoadedIndexFile copiedFile, float[] queries, int queryCount, int d)
    {
        if (mappedFile.Mapping is not { } mapping)
        {
            Console.WriteLine("graph search, mapped against copied: the file is not mapped on this system");
            return;
        }

        HnswIndex mapped = mappedFile.Hnsw, copied = copiedFile.Hnsw;
        var hits = new VectorHit[K];
        double Qps(HnswIndex index, int ef)
        {
            var clock = Stopwatch.StartNew();
            for (var i = 0; i < queryCount; i++)
            {
                index.Search(queries.AsSpan(i * d, d), K, hits, ef);
            }

            return queryCount / clock.Elapsed.TotalSeconds;
        }

        Console.WriteLine($"graph search, {queryCount} queries, 1 thread, QPS (in memory / mapped):");
        Console.WriteLine($"  mapped, pages not yet touched: ef 64 {Qps(mapped, 64):F0}");
        var prefault = Stopwatch.StartNew();
        mapping.File.Prefault(mapping.Offset, mapping.Length, CancellationToken.None);
        Console.WriteLine($"  pages mapped ahead in {prefault.Elapsed.TotalSeconds:F2} s");
        foreach (var ef in new[] { 64, 128, 64, 128 })
        {
            Console.WriteLine($"  ef {ef,3}: in memory {Qps(copied, ef):F0}, mapped {Qps(mapped, ef):F0}");
        }
    }

    private static async Task FillAsync(string folder, EmbeddingSpace space, EmbeddedStoreOptions storeOptions, float[] vectors, int itemCount)
    {
        var d = space.Dimension;
        var fill = Stopwatch.StartNew();
        await using (var store = await EmbeddedKnowledgeStore.OpenAsync(folder, space, storeOptions).ConfigureAwait(false))
        {
            Console.WriteLine($"{"items",10} {"window items/s",15} {"graph",6} {"saves",6} {"RSS MiB",8} {"elapsed s",10}");
            var window = Stopwatch.StartNew();
            var windowStart = 0;
            for (var start = 0; start < itemCount; start += PerDocument)
            {
                var end = Math.Min(start + PerDocument, itemCount);
                var documentId = $"doc{start / PerDocument:D5}";
                var items = new List<KnowledgeItem>(end - start);
                for (var i = start; i < end; i++)
                {
                    items.Add(new KnowledgeItem
                    {
                        Id = $"item{i:D7}",
                        DocumentId = documentId,
                        Kind = i % 2 == 0 ? ItemKind.Image : ItemKind.TextChunk,
                        ContentHash = $"{i:x64}",
                        Text = $"synthetic item {i} of {documentId}",
                        ImagePath = i % 2 == 0 ? $"/synthetic/{i}.jpg" : null,
                        Provenance = new Provenance($"/synthetic/{documentId}.txt", Position: i - start),
                        Vector = vectors.AsMemory(i * d, d),
                    });
                }

                await store.UpsertDocumentAsync(new DocumentRecord(documentId, $"/synthetic/{documentId}.txt", $"{start:x64}", "text/plain", null,
                    items.Count, DateTimeOffset.UtcNow), items).ConfigureAwait(false);
                if (end - windowStart >= itemCount / 10 || end == itemCount)
                {
                    var status = store.IndexStatus;
                    Console.WriteLine($"{end,10:N0} {(end - windowStart) / window.Elapsed.TotalSeconds,15:F0} {(status.GraphReady ? "yes" : "no"),6} {status.IndexSaves,6} "
                        + $"{Environment.WorkingSet / 1048576.0,8:F0} {fill.Elapsed.TotalSeconds,10:F1}");
                    windowStart = end;
                    window.Restart();
                }
            }

            var inserted = fill.Elapsed.TotalSeconds;
            await store.WaitForIndexAsync().ConfigureAwait(false);
            var covered = fill.Elapsed.TotalSeconds;
            await store.SaveIndexAsync().ConfigureAwait(false);
            Console.WriteLine($"inserts done in {inserted:F1} s ({itemCount / inserted:F0} items/s); graph covering every item at {covered:F1} s; "
                + $"saved at {fill.Elapsed.TotalSeconds:F1} s; graph builds {store.IndexStatus.GraphBuilds}, saves {store.IndexStatus.IndexSaves}");
        }
    }

    private static async Task QueriesAsync(EmbeddedKnowledgeStore store, float[] queries, int queryCount, int d, int[] truth, int kgt, bool scoreRecall)
    {
        foreach (var recall in new double?[] { null, 0.95, 0.99 })
        {
            var latencies = new List<double>();
            var found = 0;
            for (var i = 0; i < queryCount; i++)
            {
                var clock = Stopwatch.GetTimestamp();
                var hits = await store.SearchVectorsAsync(queries.AsMemory(i * d, d), K, recall: recall).ConfigureAwait(false);
                latencies.Add(Stopwatch.GetElapsedTime(clock).TotalMilliseconds);
                var relevant = truth.AsSpan(i * kgt, K).ToArray().Select(id => $"item{id:D7}").ToHashSet();
                found += hits.Count(h => relevant.Contains(h.Item.Id));
            }

            latencies.Sort();
            Console.WriteLine($"store vector search, k {K}, recall target {(recall is { } r ? r.ToString("F2", CultureInfo.InvariantCulture) : "default")}: "
                + $"recall@10 {(scoreRecall ? (found / (double)(queryCount * K)).ToString("F4", CultureInfo.InvariantCulture) : "n/a")}, "
                + $"p50 {latencies[latencies.Count / 2]:F2} ms, p99 {latencies[(int)(latencies.Count * 0.99)]:F2} ms, {queryCount / (latencies.Sum() / 1000):F0} QPS (1 thread, items read)");
        }
    }

    private static long DirectoryBytes(string folder) =>
        new DirectoryInfo(folder).EnumerateFiles("*", SearchOption.AllDirectories).Sum(f => f.Length);
}
