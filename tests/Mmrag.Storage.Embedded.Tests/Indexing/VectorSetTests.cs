using Mmrag.Storage.Embedded.Indexing;

namespace Mmrag.Storage.Embedded.Tests.Indexing;

public class VectorSetTests
{
    [Fact]
    public void Add_ManyVectorsAcrossChunks_ReadsBackEachVectorExactly()
    {
        const int dim = 37; // not a multiple of 16: rows are padded
        float[] data = TestVectors.Clustered(300, dim, 5, seed: 1);
        var set = new VectorSet(dim, chunkRows: 64);
        for (int i = 0; i < 300; i++)
        {
            Assert.Equal(i, set.Add(data.AsSpan(i * dim, dim)));
        }

        Assert.Equal(300, set.Count);
        for (int i = 0; i < 300; i++)
        {
            Assert.True(set.GetVector(i).SequenceEqual(data.AsSpan(i * dim, dim)));
        }
    }

    [Fact]
    public void Remove_MarksTombstoneOnce_AndCountsIt()
    {
        VectorSet set = TestVectors.Set(TestVectors.Clustered(10, 16, 2, seed: 2), 16);

        Assert.True(set.Remove(3));
        Assert.False(set.Remove(3));
        Assert.True(set.IsDeleted(3));
        Assert.False(set.IsDeleted(4));
        Assert.Equal(1, set.DeletedCount);
        Assert.Equal(9, set.LiveCount);
    }

    [Fact]
    public void Add_WrongLength_ThrowsArgumentException()
    {
        var set = new VectorSet(8);
        Assert.Throws<ArgumentException>(() => set.Add(new float[7]));
        Assert.Throws<ArgumentException>(() => set.AddRange(new float[9]));
        Assert.Throws<ArgumentOutOfRangeException>(() => set.GetVector(0));
    }
}
