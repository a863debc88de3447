using Mmrag.Storage.Embedded.Indexing;

namespace Mmrag.Storage.Embedded.Tests.Indexing;

public class ExactVectorIndexTests
{
    private const float Tolerance = 1e-5f;

    [Theory]
    [InlineData(64, 1)]
    [InlineData(100, 10)]
    [InlineData(512, 25)]
    [InlineData(7, 5)]
    public void Search_ClusteredVectors_ReturnsTrueTopK(int dim, int k)
    {
        float[] data = TestVectors.Clustered(1000, dim, 20, seed: dim);
        var index = new ExactVectorIndex(TestVectors.Set(data, dim, chunkRows: 128));
        float[] queries = TestVectors.Clustered(20, dim, 20, seed: dim + 1);

        for (int q = 0; q < 20; q++)
        {
            ReadOnlySpan<float> query = queries.AsSpan(q * dim, dim);
            AssertTopK(TestVectors.NaiveTopK(data, dim, query, k), index.Search(query, k));
        }
    }

    [Fact]
    public void Search_WithBitsetAndPredicateFilters_ReturnsTrueTopKOfAllowedSlots()
    {
        const int dim = 48;
        float[] data = TestVectors.Clustered(700, dim, 10, seed: 3);
        var index = new ExactVectorIndex(TestVectors.Set(data, dim, chunkRows: 64));
        var allowed = new HashSet<int>(Enumerable.Range(0, 700).Where(i => i % 7 == 3 || (i > 400 && i < 420)));
        SlotFilter bitset = SlotFilter.FromSlots(allowed);
        SlotFilter predicate = SlotFilter.FromPredicate(allowed.Contains);
        float[] queries = TestVectors.Clustered(10, dim, 10, seed: 4);

        Assert.Equal(allowed.Count, bitset.AllowedCount);
        Assert.Null(predicate.AllowedCount);
        for (int q = 0; q < 10; q++)
        {
            ReadOnlySpan<float> query = queries.AsSpan(q * dim, dim);
            var expected = TestVectors.NaiveTopK(data, dim, query, 15, allowed.Contains);
            AssertTopK(expected, index.Search(query, 15, bitset));
            AssertTopK(expected, index.Search(query, 15, predicate));
        }
    }

    [Fact]
    public void Search_WithTombstones_NeverReturnsDeletedSlots()
    {
        const int dim = 32;
        float[] data = TestVectors.Clustered(500, dim, 5, seed: 5);
        VectorSet set = TestVectors.Set(data, dim, chunkRows: 64);
        var index = new ExactVectorIndex(set);
        float[] query = data.AsSpan(10 * dim, dim).ToArray();
        int[] firstTop = index.Search(query, 20).Select(h => h.Slot).ToArray();
        foreach (int s in firstTop.Take(10))
        {
            set.Remove(s);
        }

        VectorHit[] hits = index.Search(query, 20);

        Assert.DoesNotContain(hits, h => set.IsDeleted(h.Slot));
        AssertTopK(TestVectors.NaiveTopK(data, dim, query, 20, s => !set.IsDeleted(s)), hits);
    }

    [Fact]
    public void Search_IdenticalVectors_BreaksTiesBySmallerSlot()
    {
        const int dim = 16;
        float[] data = TestVectors.Clustered(200, dim, 4, seed: 6);
        float[] dup = data.AsSpan(50 * dim, dim).ToArray();
        VectorSet set = TestVectors.Set(data, dim, chunkRows: 64);
        set.Add(dup); // slot 200
        set.Add(dup); // slot 201
        var index = new ExactVectorIndex(set, new ExactVectorIndexOptions { MaxDegreeOfParallelism = 2, MinSlotsPerThread = 64 });

        VectorHit[] hits = index.Search(dup, 3);

        Assert.Equal([50, 200, 201], hits.Select(h => h.Slot));
        Assert.Equal(hits[0].Score, hits[1].Score);
        Assert.Equal(hits[1].Score, hits[2].Score);
    }

    [Fact]
    public void Search_KGreaterThanLiveCount_ReturnsAllLiveSlotsSorted()
    {
        const int dim = 24;
        float[] data = TestVectors.Clustered(30, dim, 3, seed: 7);
        VectorSet set = TestVectors.Set(data, dim);
        set.Remove(4);
        var index = new ExactVectorIndex(set);

        VectorHit[] hits = index.Search(data.AsSpan(0, dim), 100);

        Assert.Equal(29, hits.Length);
        Assert.DoesNotContain(hits, h => h.Slot == 4);
        Assert.True(hits.Zip(hits.Skip(1)).All(p => p.First.Score >= p.Second.Score));
        Assert.Empty(index.Search(data.AsSpan(0, dim), 0));
        Assert.Empty(new ExactVectorIndex(new VectorSet(dim)).Search(data.AsSpan(0, dim), 5));
    }

    [Fact]
    public void Search_OnSeveralThreads_GivesSameResultsAsOneThread()
    {
        const int dim = 64;
        float[] data = TestVectors.Clustered(3000, dim, 30, seed: 8);
        VectorSet set = TestVectors.Set(data, dim, chunkRows: 256);
        set.Remove(17);
        var one = new ExactVectorIndex(set);
        var many = new ExactVectorIndex(set, new ExactVectorIndexOptions { MaxDegreeOfParallelism = 3, MinSlotsPerThread = 64 });
        float[] queries = TestVectors.Clustered(10, dim, 30, seed: 9);

        for (int q = 0; q < 10; q++)
        {
            ReadOnlySpan<float> query = queries.AsSpan(q * dim, dim);
            Assert.Equal(one.Search(query, 10), many.Search(query, 10));
        }
    }

    [Fact]
    public void SearchBatch_ManyQueries_MatchesSingleQuerySearch()
    {
        const int dim = 40;
        float[] data = TestVectors.Clustered(1500, dim, 15, seed: 10);
        VectorSet set = TestVectors.Set(data, dim, chunkRows: 128);
        set.Remove(3);
        var index = new ExactVectorIndex(set, new ExactVectorIndexOptions { MaxDegreeOfParallelism = 2 });
        float[] queries = TestVectors.Clustered(37, dim, 15, seed: 11);
        SlotFilter filter = SlotFilter.FromPredicate(s => s % 3 != 0);

        VectorHit[][] batch = index.SearchBatch(queries, 7, filter);

        Assert.Equal(37, batch.Length);
        for (int q = 0; q < 37; q++)
        {
            Assert.Equal(index.Search(queries.AsSpan(q * dim, dim), 7, filter), batch[q]);
        }
    }

    [Fact]
    public void Search_QueryOfWrongLength_ThrowsArgumentException()
    {
        var index = new ExactVectorIndex(TestVectors.Set(TestVectors.Clustered(10, 8, 2, seed: 12), 8));

        Assert.Throws<ArgumentException>(() => index.Search(new float[9], 3));
        Assert.Throws<ArgumentException>(() => index.Search(new float[8], 3, new VectorHit[2]));
        Assert.Throws<ArgumentOutOfRangeException>(() => new ExactVectorIndex(new VectorSet(8), new ExactVectorIndexOptions { MaxDegreeOfParallelism = 0 }));
    }

    private static void AssertTopK((int Slot, double Score)[] expected, VectorHit[] actual)
    {
        Assert.Equal(expected.Length, actual.Length);
        Assert.Equal(actual.Length, actual.Select(h => h.Slot).Distinct().Count());
        for (int i = 0; i < expected.Length; i++)
        {
            // Positional scores must agree; slots may differ only between near-equal scores (float32 vs float64 rounding).
            Assert.InRange(actual[i].Score, expected[i].Score - Tolerance, expected[i].Score + Tolerance);
            if (actual[i].Slot != expected[i].Slot)
            {
                Assert.Contains(expected, e => e.Slot == actual[i].Slot && Math.Abs(e.Score - actual[i].Score) < Tolerance);
            }
        }
    }
}
