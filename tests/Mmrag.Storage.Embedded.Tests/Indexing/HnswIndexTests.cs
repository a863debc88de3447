using Mmrag.Storage.Embedded.Indexing;

namespace Mmrag.Storage.Embedded.Tests.Indexing;

/// <summary>One seeded 5,000 x 64 clustered index shared read-only by the tests that only search it.</summary>
public sealed class HnswFixture
{
    public const int Dim = 64;
    public const int Count = 5000;

    public HnswFixture()
    {
        // 200 tight clusters: HNSW's recall at a given ef falls with the data's intrinsic dimension (50 wide clusters
        // in 64-d give 0.94 at ef = 64 here and in hnswlib alike), and the test asserts the brief's 0.95 with a margin.
        Data = TestVectors.Clustered(Count, Dim, 200, seed: 42, spread: 0.3f);
        Queries = TestVectors.Clustered(200, Dim, 200, seed: 43, spread: 0.3f);
        Index = new HnswIndex(TestVectors.Set(Data, Dim), new HnswOptions { M = 16, EfConstruction = 200, Seed = 7 });
        Index.InsertRange(0, Count);
        Exact = new ExactVectorIndex(Index.Vectors);
    }

    public float[] Data { get; }

    public float[] Queries { get; }

    public HnswIndex Index { get; }

    public ExactVectorIndex Exact { get; }

    public ReadOnlySpan<float> Query(int i) => Queries.AsSpan(i * Dim, Dim);

    public double Recall(HnswIndex index, int k, int ef, SlotFilter? filter = null)
    {
        var pairs = new List<(VectorHit[], VectorHit[])>();
        for (int q = 0; q < Queries.Length / Dim; q++)
        {
            pairs.Add((index.Search(Query(q), k, ef, filter), new ExactVectorIndex(index.Vectors).Search(Query(q), k, filter)));
        }

        return TestVectors.Recall(pairs);
    }
}

public class HnswIndexTests(HnswFixture fixture) : IClassFixture<HnswFixture>
{
    private const int Dim = HnswFixture.Dim;

    [Fact]
    public void Search_SeededBuild_ReachesRecallAt10AboveNinetyFivePercentAtEf64()
    {
        double recall = fixture.Recall(fixture.Index, k: 10, ef: 64);

        Assert.True(recall >= 0.95, $"recall@10 = {recall:F4}");
        Assert.Equal(HnswFixture.Count, fixture.Index.IndexedCount);
    }

    [Fact]
    public void Search_ScoresAreExactInnerProducts_SortedBestFirst()
    {
        VectorHit[] hits = fixture.Index.Search(fixture.Query(0), 10);
        VectorHit[] exact = fixture.Exact.Search(fixture.Query(0), 10);

        Assert.Equal(exact[0], hits[0]); // the same kernel scores both, bit for bit
        Assert.True(hits.Zip(hits.Skip(1)).All(p => VectorHit.RanksBefore(p.First.Score, p.First.Slot, p.Second.Score, p.Second.Slot)));
    }

    [Fact]
    public void InsertRange_SameSeedOneThread_BuildsIdenticalGraph()
    {
        float[] data = fixture.Data.AsSpan(0, 1500 * Dim).ToArray();
        byte[] a = Serialize(Build(data, seed: 11, threads: 1));
        byte[] b = Serialize(Build(data, seed: 11, threads: 1));
        byte[] c = Serialize(Build(data, seed: 12, threads: 1));

        Assert.Equal(a, b);
        Assert.NotEqual(a, c);
    }

    [Fact]
    public void InsertRange_TwoThreads_ReachesRecall()
    {
        HnswIndex index = Build(fixture.Data, seed: 7, threads: 2, efConstruction: 200);

        Assert.Equal(HnswFixture.Count, index.IndexedCount);
        double recall = fixture.Recall(index, k: 10, ef: 64);
        Assert.True(recall >= 0.95, $"recall@10 = {recall:F4}");
    }

    [Fact]
    public void SaveLoad_WithAndWithoutVectors_GivesIdenticalResults()
    {
        fixture.Index.ContentStamp = 0xC0FFEE;
        byte[] withVectors = Serialize(fixture.Index);
        using var ms = new MemoryStream();
        fixture.Index.Save(ms, includeVectors: false);
        byte[] graphOnly = ms.ToArray();

        HnswIndex a = HnswIndex.Load(new MemoryStream(withVectors));
        HnswIndex b = HnswIndex.Load(new MemoryStream(graphOnly), fixture.Index.Vectors);

        Assert.True(graphOnly.Length < withVectors.Length);
        Assert.Equal(0xC0FFEEUL, a.ContentStamp);
        Assert.Equal(fixture.Index.IndexedCount, a.IndexedCount);
        Assert.Equal(fixture.Index.MaxLevel, b.MaxLevel);
        for (int q = 0; q < 50; q++)
        {
            VectorHit[] expected = fixture.Index.Search(fixture.Query(q), 10, 64);
            Assert.Equal(expected, a.Search(fixture.Query(q), 10, 64));
            Assert.Equal(expected, b.Search(fixture.Query(q), 10, 64));
        }

        Assert.Equal(withVectors, Serialize(a));
    }

    [Fact]
    public void ReadHeader_SavedIndex_ReportsParametersAndContentStamp()
    {
        HnswIndex index = Build(fixture.Data.AsSpan(0, 300 * Dim).ToArray(), seed: 5, threads: 1);
        index.ContentStamp = 123456789;
        index.Remove(7);

        HnswIndexHeader h = HnswIndex.ReadHeader(new MemoryStream(Serialize(index)));

        Assert.Equal(new HnswIndexHeader(2, Dim, 300, 300, 1, 16, 100, 64, 5, 123456789, h.EntryPoint, index.MaxLevel, true), h);
    }

    [Fact]
    public void Load_TruncatedFile_ThrowsVectorIndexFormatException()
    {
        byte[] bytes = Serialize(Build(fixture.Data.AsSpan(0, 300 * Dim).ToArray(), seed: 5, threads: 1));

        foreach (int length in new[] { 0, 5, 100, 128, 500, bytes.Length / 2, bytes.Length - 30, bytes.Length - 1 })
        {
            var e = Assert.Throws<VectorIndexFormatException>(() => HnswIndex.Load(new MemoryStream(bytes[..length])));
            Assert.False(string.IsNullOrEmpty(e.Message));
        }
    }

    [Fact]
    public void Load_CorruptBytes_ThrowsVectorIndexFormatExceptionNamingTheProblem()
    {
        byte[] bytes = Serialize(Build(fixture.Data.AsSpan(0, 300 * Dim).ToArray(), seed: 5, threads: 1));

        Assert.Contains("magic", LoadError(Flip(bytes, 0)).Message, StringComparison.Ordinal);
        Assert.Contains("header checksum", LoadError(Flip(bytes, 20)).Message, StringComparison.Ordinal);
        Assert.Contains("payload checksum", LoadError(Flip(bytes, 128 + 300 + 100)).Message, StringComparison.Ordinal);
        Assert.Contains("payload checksum", LoadError(Flip(bytes, bytes.Length - 40)).Message, StringComparison.Ordinal);
        Assert.Contains("trailer", LoadError(Flip(bytes, bytes.Length - 20)).Message, StringComparison.Ordinal);
        byte[] version = (byte[])bytes.Clone();
        version[8] = 9;
        Assert.Contains("version 9", LoadError(version).Message, StringComparison.Ordinal);
        Assert.Throws<VectorIndexFormatException>(() => HnswIndex.ReadHeader(new MemoryStream(Flip(bytes, 0))));
    }

    [Fact]
    public void LoadMapped_SavedIndex_SearchesInPlaceLikeTheOriginalAndItsChecksumHolds()
    {
        using var folder = new TemporaryFolder();
        string path = System.IO.Path.Combine(folder.Path, "graph.hnsw");
        fixture.Index.ContentStamp = 0xBEEF;
        byte[] saved = Serialize(fixture.Index);
        File.WriteAllBytes(path, saved);

        // Chunks of 1,024 rows: four are read in place from the mapping, the last (904 rows) is copied.
        HnswIndex mapped = HnswIndex.LoadMapped(MappedFile.Open(path), 0, out var payload, chunkRows: 1024);

        Assert.Equal(payload.Checksum, HnswIndex.HashFileRange(path, payload.Offset, payload.Length));
        Assert.Equal(0xBEEFUL, mapped.ContentStamp);
        Assert.Equal(fixture.Index.IndexedCount, mapped.IndexedCount);
        for (int q = 0; q < 50; q++)
        {
            Assert.Equal(fixture.Index.Search(fixture.Query(q), 10, 64), mapped.Search(fixture.Query(q), 10, 64));
        }

        Assert.Equal(saved, Serialize(mapped));
    }

    [Fact]
    public void LoadMapped_InsertsAndDeletesAfterLoading_MatchACopiedLoadAndNeverChangeTheFile()
    {
        using var folder = new TemporaryFolder();
        string path = System.IO.Path.Combine(folder.Path, "graph.hnsw");
        const int Loaded = 3000;
        File.WriteAllBytes(path, Serialize(Build(fixture.Data.AsSpan(0, Loaded * Dim).ToArray(), seed: 3, threads: 1)));
        byte[] onDisk = File.ReadAllBytes(path);

        HnswIndex mapped = HnswIndex.LoadMapped(MappedFile.Open(path), 0, out _, chunkRows: 512);
        HnswIndex copied = HnswIndex.Load(new MemoryStream(onDisk));
        foreach (HnswIndex index in (HnswIndex[])[mapped, copied])
        {
            index.MaxDegreeOfParallelism = 1;
            index.AddRange(fixture.Data.AsSpan(Loaded * Dim)); // links the new slots into lists that live in the mapping
            for (int slot = 0; slot < fixture.Data.Length / Dim; slot += 7)
            {
                index.Remove(slot);
            }
        }

        Assert.Equal(onDisk, File.ReadAllBytes(path));
        Assert.Equal(fixture.Data.Length / Dim, mapped.Vectors.Count);
        for (int q = 0; q < 100; q++)
        {
            VectorHit[] hits = mapped.Search(fixture.Query(q), 10, 64);
            Assert.Equal(copied.Search(fixture.Query(q), 10, 64), hits);
            Assert.DoesNotContain(hits, h => h.Slot % 7 == 0);
        }

        Assert.Equal(Serialize(copied), Serialize(mapped));
    }

    [Fact]
    public void Load_Version1File_ReadsTheSameGraphAndSavesItAsVersion2()
    {
        byte[] saved = Serialize(fixture.Index);
        byte[] version1 = LegacyIndexFormat.GraphToVersion1(saved);

        HnswIndex loaded = HnswIndex.Load(new MemoryStream(version1));

        Assert.Equal(1, HnswIndex.ReadHeader(new MemoryStream(version1)).Version);
        for (int q = 0; q < 50; q++)
        {
            Assert.Equal(fixture.Index.Search(fixture.Query(q), 10, 64), loaded.Search(fixture.Query(q), 10, 64));
        }

        Assert.Equal(saved, Serialize(loaded));
    }

    [Fact]
    public void Search_WithFilter_ReturnsOnlyAllowedSlotsWithGoodRecall()
    {
        SlotFilter filter = SlotFilter.FromPredicate(s => s % 3 == 0);

        foreach (int q in Enumerable.Range(0, 20))
        {
            Assert.All(fixture.Index.Search(fixture.Query(q), 10, 64, filter), h => Assert.Equal(0, h.Slot % 3));
        }

        double recall = fixture.Recall(fixture.Index, k: 10, ef: 64, filter);
        Assert.True(recall >= 0.9, $"filtered recall@10 = {recall:F4}");
    }

    [Fact]
    public void Search_AfterDeletes_NeverReturnsDeletedSlots()
    {
        HnswIndex index = Build(fixture.Data.AsSpan(0, 2000 * Dim).ToArray(), seed: 3, threads: 1);
        var deleted = new HashSet<int>();
        for (int q = 0; q < 20; q++)
        {
            foreach (VectorHit h in index.Search(fixture.Query(q), 5, 64))
            {
                index.Remove(h.Slot);
                deleted.Add(h.Slot);
            }
        }

        for (int q = 0; q < 20; q++)
        {
            VectorHit[] hits = index.Search(fixture.Query(q), 10, 64);
            Assert.Equal(10, hits.Length);
            Assert.DoesNotContain(hits, h => deleted.Contains(h.Slot));
        }

        Assert.True(fixture.Recall(index, k: 10, ef: 64) >= 0.9);
        index.Add(fixture.Data.AsSpan(2000 * Dim, Dim)); // inserting with tombstones present still links
        Assert.Equal(2001, index.IndexedCount);
    }

    [Fact]
    public async Task Search_ConcurrentReadersDuringWriter_NeverFailAndSeeValidSlots()
    {
        var index = new HnswIndex(Dim, new HnswOptions { EfConstruction = 64, Seed = 1 });
        index.AddRange(fixture.Data.AsSpan(0, 500 * Dim));
        using var stop = new CancellationTokenSource();
        var errors = new List<Exception>();
        int searches = 0;
        Task[] readers = Enumerable.Range(0, 2).Select(r => Task.Run(() =>
        {
            var hits = new VectorHit[10];
            int q = r;
            try
            {
                while (!stop.IsCancellationRequested)
                {
                    int n = index.Search(fixture.Query(q++ % 200), 10, hits, 32);
                    int count = index.Vectors.Count;
                    for (int i = 0; i < n; i++)
                    {
                        Assert.InRange(hits[i].Slot, 0, count - 1);
                    }

                    Interlocked.Increment(ref searches);
                }
            }
            catch (Exception e)
            {
                lock (errors)
                {
                    errors.Add(e);
                }
            }
        })).ToArray();

        // On a busy machine the reader tasks may not be scheduled before the writes end: start writing only once they run.
        Assert.True(SpinWait.SpinUntil(() => Volatile.Read(ref searches) > 0, TimeSpan.FromSeconds(30)), "the reader tasks never started");
        int searchesBeforeWrites = Volatile.Read(ref searches);
        for (int i = 500; i < 2500; i++)
        {
            index.Add(fixture.Data.AsSpan(i * Dim, Dim));
            if (i % 100 == 0)
            {
                index.Remove(i - 50);
            }
        }

        await stop.CancelAsync();
        await Task.WhenAll(readers);

        Assert.Empty(errors);
        Assert.True(searches > searchesBeforeWrites, "no search ran while the writer was adding");
        Assert.Equal(2500, index.Vectors.Count);
    }

    [Fact]
    public void Insert_ExistingOrDeletedSlot_IsANoOp_AndEmptyIndexReturnsNothing()
    {
        var index = new HnswIndex(Dim);
        Assert.Empty(index.Search(fixture.Query(0), 5));
        Assert.Equal(-1, index.MaxLevel);

        index.Vectors.AddRange(fixture.Data.AsSpan(0, 10 * Dim));
        index.Vectors.Remove(3);
        index.InsertRange(0, 10);
        index.Insert(5);

        Assert.Equal(9, index.IndexedCount);
        Assert.False(index.IsIndexed(3));
        Assert.Equal(9, index.Search(fixture.Query(0), 20).Length);
        Assert.Empty(index.Search(fixture.Query(0), 0));
        Assert.Throws<ArgumentOutOfRangeException>(() => index.Insert(10));
        Assert.Throws<ArgumentOutOfRangeException>(() => new HnswIndex(Dim, new HnswOptions { M = 1 }));
    }

    [Fact]
    public void InsertRange_Cancelled_StopsWithAValidPartialGraph()
    {
        var index = new HnswIndex(TestVectors.Set(fixture.Data, Dim), new HnswOptions { EfConstruction = 32 });
        using var cts = new CancellationTokenSource();
        cts.Cancel();

        Assert.ThrowsAny<OperationCanceledException>(() => index.InsertRange(0, HnswFixture.Count, cts.Token));
        index.InsertRange(0, 100);
        Assert.Equal(100, index.IndexedCount);
        Assert.Equal(10, index.Search(fixture.Query(0), 10).Length);
    }

    private static HnswIndex Build(float[] data, int seed, int threads, int efConstruction = 100)
    {
        var index = new HnswIndex(TestVectors.Set(data, Dim), new HnswOptions { EfConstruction = efConstruction, Seed = seed, MaxDegreeOfParallelism = threads });
        index.InsertRange(0, data.Length / Dim);
        return index;
    }

    private static byte[] Serialize(HnswIndex index)
    {
        using var ms = new MemoryStream();
        index.Save(ms);
        return ms.ToArray();
    }

    private static byte[] Flip(byte[] bytes, int at)
    {
        byte[] copy = (byte[])bytes.Clone();
        copy[at] ^= 0x5A;
        return copy;
    }

    private static VectorIndexFormatException LoadError(byte[] bytes) =>
        Assert.Throws<VectorIndexFormatException>(() => HnswIndex.Load(new MemoryStream(bytes)));
}
