using Mmrag.Knowledge;

namespace Mmrag.Storage.Embedded.Tests;

public sealed class SearchRecallTests
{
    [Theory]
    [InlineData(0.95, 10, 0L, 50)]
    [InlineData(0.95, 10, 50_000L, 50)]
    [InlineData(0.95, 10, 100_000L, 50)]
    [InlineData(0.95, 10, 1_000_000L, 90)]
    [InlineData(0.99, 10, 1_000_000L, 450)]
    [InlineData(0.90, 10, 10_000_000L, 52)]
    [InlineData(0.99, int.MaxValue, 1_000_000L, int.MaxValue / 2)]
    public void EfSearchFor_LargerGraph_WalksWiderForTheSameRecall(double recall, int k, long count, int expected) =>
        Assert.Equal(expected, SearchRecall.EfSearchFor(recall, k, count));
}
