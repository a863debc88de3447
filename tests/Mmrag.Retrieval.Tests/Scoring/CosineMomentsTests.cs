using Mmrag.Knowledge;
using Mmrag.Retrieval.Scoring;

namespace Mmrag.Retrieval.Tests.Scoring;

public sealed class CosineMomentsTests
{
    [Fact]
    public void StandardDeviation_ConstantCosines_IsTheFloorNotZero()
    {
        var moments = default(CosineMoments);
        for (var i = 0; i < 50; i++)
        {
            moments.Add(0.42);
        }

        Assert.Equal(0.42, moments.Mean, 12);
        Assert.Equal(0.005, moments.StandardDeviation(0.005));
    }

    [Fact]
    public void StandardDeviation_SpreadCosines_IsThePopulationDeviation()
    {
        var moments = default(CosineMoments);
        foreach (var cosine in new[] { 0.1, 0.3, 0.5, 0.7 })
        {
            moments.Add(cosine);
        }

        Assert.Equal(4, moments.Count);
        Assert.Equal(0.4, moments.Mean, 12);
        Assert.Equal(Math.Sqrt(0.05), moments.StandardDeviation(0.005), 12);
    }

    [Fact]
    public void IsBackgroundPair_SameItemSameIdOrSameContent_IsNot()
    {
        var item = Item("a", "h1");

        Assert.False(CosineMoments.IsBackgroundPair(item, item));
        Assert.False(CosineMoments.IsBackgroundPair(item, Item("a", "h2")));
        Assert.False(CosineMoments.IsBackgroundPair(item, Item("b", "h1")));
        Assert.True(CosineMoments.IsBackgroundPair(item, Item("b", "h2")));
    }

    private static KnowledgeItem Item(string id, string hash) => new()
    {
        Id = id,
        DocumentId = "doc",
        Kind = ItemKind.TextChunk,
        ContentHash = hash,
        Text = id,
        Provenance = new Provenance("/kb/doc.txt"),
        Vector = new float[] { 1, 0 },
    };
}
