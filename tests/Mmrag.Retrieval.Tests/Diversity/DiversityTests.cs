using Mmrag.Retrieval.Diversity;
using Mmrag.Retrieval.Tests.TestDoubles;

namespace Mmrag.Retrieval.Tests.Diversity;

public sealed class NearDuplicatesTests
{
    [Fact]
    public void Select_ExactAndNearCopies_KeepsTheFirstOfEach()
    {
        var vectors = new SyntheticVectors(32, seed: 1);
        var a = vectors.Unit();
        var b = vectors.Unit();
        ReadOnlyMemory<float>[] ranked = [a, a, vectors.Near(a, 0.05), b, vectors.Near(b, 0.5), a];

        var kept = NearDuplicates.Select(ranked, 0.97, 10);

        Assert.Equal([0, 3, 4], kept);
    }

    [Fact]
    public void Select_MaxCount_StopsEarly()
    {
        var vectors = new SyntheticVectors(32, seed: 2);
        ReadOnlyMemory<float>[] ranked = [.. Enumerable.Range(0, 10).Select(_ => (ReadOnlyMemory<float>)vectors.Unit())];

        Assert.Equal([0, 1, 2], NearDuplicates.Select(ranked, 0.97, 3));
    }

    [Fact]
    public void Select_EmptyVectors_AreNeverDuplicates()
    {
        ReadOnlyMemory<float>[] ranked = [ReadOnlyMemory<float>.Empty, ReadOnlyMemory<float>.Empty];

        Assert.Equal([0, 1], NearDuplicates.Select(ranked, 0.97, 10));
    }
}

public sealed class MmrTests
{
    [Fact]
    public void Select_LambdaOne_KeepsRelevanceOrder()
    {
        var vectors = new SyntheticVectors(32, seed: 3);
        var a = vectors.Unit();
        ReadOnlyMemory<float>[] candidates = [a, vectors.Near(a, 0.1), vectors.Unit(), vectors.Unit()];

        Assert.Equal([0, 1, 2, 3], Mmr.Select([0.9, 0.8, 0.7, 0.6], candidates, 1.0, 4));
    }

    [Fact]
    public void Select_BalancedLambda_PicksDiverseBeforeRedundant()
    {
        var vectors = new SyntheticVectors(32, seed: 4);
        var a = vectors.Unit();
        ReadOnlyMemory<float>[] candidates = [a, vectors.Near(a, 0.1), vectors.Unit()];

        Assert.Equal([0, 2, 1], Mmr.Select([0.9, 0.85, 0.7], candidates, 0.5, 3));
    }

    [Fact]
    public void Select_SimilarityCut_NeverPicksCopies()
    {
        var vectors = new SyntheticVectors(32, seed: 5);
        var a = vectors.Unit();
        ReadOnlyMemory<float>[] candidates = [a, a, vectors.Unit()];

        Assert.Equal([0, 2], Mmr.Select([0.9, 0.9, 0.1], candidates, 0.9, 3, similarityCut: 0.97));
    }

    [Fact]
    public void Select_MismatchedLengths_Throws()
    {
        ReadOnlyMemory<float>[] candidates = [new float[] { 1, 0 }];

        Assert.Throws<ArgumentException>(() => Mmr.Select([0.5, 0.4], candidates, 0.5, 1));
    }
}
