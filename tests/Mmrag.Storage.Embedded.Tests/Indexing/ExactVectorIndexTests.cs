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

    [Theory]
    [InlineData(1, 1000, 5, 10)]      // dimension 1: one 16-float block, mostly padding
    [InlineData(7, 130, 1, 3)]        // one query: the kernel's group of three is mostly padding
    [InlineData(33, 64, 2, 64)]       // k equal to n, n exactly one word
    [InlineData(100, 1013, 37, 7)]    // n and the query count not multiples of the tiles, dimension not of the vector width
    [InlineData(512, 777, 40, 25)]    // the CLIP width: the main loop, no tails
    [InlineData(80, 300, 11, 500)]    // k beyond n: every live slot, sorted
    public void SearchBatch_RandomData_ReturnsSameSlotsAndBitIdenticalScoresAsSingleSearch(int dim, int n, int nq, int k)
    {
        float[] data = TestVectors.Clustered(n, dim, 9, seed: dim + n);
        VectorSet set = TestVectors.Set(data, dim, chunkRows: 128);
        var index = new ExactVectorIndex(set);
        float[] queries = TestVectors.Clustered(nq, dim, 9, seed: dim + n + 1);

        VectorHit[][] batch = index.SearchBatch(queries, k);

        Assert.Equal(nq, batch.Length);
        for (int q = 0; q < nq; q++)
        {
            VectorHit[] single = index.Search(queries.AsSpan(q * dim, dim), k);
            Assert.Equal(Math.Min(k, n), single.Length);
            Assert.Equal(single.Select(h => h.Slot), batch[q].Select(h => h.Slot));
            Assert.Equal(single.Select(h => BitConverter.SingleToInt32Bits(h.Score)), batch[q].Select(h => BitConverter.SingleToInt32Bits(h.Score)));
        }
    }

    [Fact]
    public void SearchBatch_TiedScores_BreaksTiesBySmallerSlotLikeSingleSearch()
    {
        const int dim = 24;
        float[] data = TestVectors.Clustered(150, dim, 3, seed: 13);
        VectorSet set = TestVectors.Set(data, dim, chunkRows: 64);
        float[] dup = data.AsSpan(70 * dim, dim).ToArray();
        for (int i = 0; i < 5; i++)
        {
            set.Add(dup); // slots 150..154 tie with slot 70, across a word and a chunk boundary
        }

        set.Remove(152);
        float[] queries = [.. dup, .. dup, .. data.AsSpan(3 * dim, dim), .. dup];
        var index = new ExactVectorIndex(set);

        VectorHit[][] batch = index.SearchBatch(queries, 4);

        Assert.Equal([70, 150, 151, 153], batch[0].Select(h => h.Slot));
        Assert.Single(batch[0].Select(h => h.Score).Distinct());
        Assert.Equal(batch[0], batch[1]);
        Assert.Equal(batch[0], batch[3]);
        Assert.Equal(index.Search(data.AsSpan(3 * dim, dim), 4), batch[2]);
    }

    [Fact]
    public void SearchBatch_TombstonesFilterAndThreads_MatchSingleSearch()
    {
        const int dim = 96;
        float[] data = TestVectors.Clustered(2100, dim, 12, seed: 14);
        VectorSet set = TestVectors.Set(data, dim, chunkRows: 256);
        for (int s = 0; s < 2100; s += 11)
        {
            set.Remove(s);
        }

        var one = new ExactVectorIndex(set);
        var two = new ExactVectorIndex(set, new ExactVectorIndexOptions { MaxDegreeOfParallelism = 2 });
        float[] queries = TestVectors.Clustered(50, dim, 12, seed: 15);
        SlotFilter predicate = SlotFilter.FromPredicate(s => s % 5 != 1);
        SlotFilter bitset = SlotFilter.FromSlots(Enumerable.Range(0, 2100).Where(s => s % 5 != 1));

        VectorHit[][] batch = two.SearchBatch(queries, 12, predicate);

        for (int q = 0; q < 50; q++)
        {
            VectorHit[] single = one.Search(queries.AsSpan(q * dim, dim), 12, bitset);
            Assert.Equal(single, batch[q]);
            Assert.DoesNotContain(batch[q], h => set.IsDeleted(h.Slot) || h.Slot % 5 == 1);
        }

        Assert.Equal(batch, one.SearchBatch(queries, 12, bitset));
    }

    [Fact]
    public void SearchBatch_EmptyInputsAndZeroK_ReturnEmptyLists()
    {
        const int dim = 20;
        float[] queries = TestVectors.Clustered(4, dim, 2, seed: 16);
        var empty = new ExactVectorIndex(new VectorSet(dim));
        var index = new ExactVectorIndex(TestVectors.Set(TestVectors.Clustered(50, dim, 2, seed: 17), dim));

        Assert.All(empty.SearchBatch(queries, 5), Assert.Empty);
        Assert.All(index.SearchBatch(queries, 0), Assert.Empty);
        Assert.Empty(index.SearchBatch(ReadOnlySpan<float>.Empty, 5));
        Assert.Throws<ArgumentException>(() => index.SearchBatch(new float[dim + 1], 5));
    }

    [Fact]
    public void SearchBatch_CancelledBeforeOrDuring_ThrowsOperationCanceled()
    {
        const int dim = 64;
        VectorSet set = TestVectors.Set(TestVectors.Clustered(5000, dim, 10, seed: 18), dim);
        float[] queries = TestVectors.Clustered(30, dim, 10, seed: 19);
        var index = new ExactVectorIndex(set, new ExactVectorIndexOptions { MaxDegreeOfParallelism = 2 });
        using var before = new CancellationTokenSource();
        before.Cancel();
        using var during = new CancellationTokenSource();
        // The filter is read once before scoring starts; cancelling from it stops the scoring that follows.
        SlotFilter cancelling = SlotFilter.FromPredicate(s =>
        {
            if (s == 4000)
            {
                during.Cancel();
            }

            return true;
        });

        Assert.Throws<OperationCanceledException>(() => index.SearchBatch(queries, 5, cancellationToken: before.Token));
        Assert.ThrowsAny<OperationCanceledException>(() => index.SearchBatch(queries, 5, cancelling, during.Token));
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
