using Mmrag.Hosting.Evaluation;

namespace Mmrag.Hosting.Tests.Evaluation;

public sealed class RankingMetricsTests
{
    private static readonly string[] Ranking = ["x1", "a", "x2", "b", "x3", "x4", "x5", "x6", "x7", "x8", "c"];
    private static readonly HashSet<string> Relevant = ["a", "b", "c", "d"];

    [Fact]
    public void Recall_RelevantAtRanksTwoAndFour_CountsShareOfAllRelevantInTopK()
    {
        Assert.Equal(0, RankingMetrics.Recall(Ranking, Relevant, 1));
        Assert.Equal(0.5, RankingMetrics.Recall(Ranking, Relevant, 5));
        Assert.Equal(0.5, RankingMetrics.Recall(Ranking, Relevant, 10));
        Assert.Equal(0.75, RankingMetrics.Recall(Ranking, Relevant, 11));
    }

    [Fact]
    public void Hit_FirstRelevantAtRankTwo_MissesAtOneHitsAtFive()
    {
        Assert.Equal(0, RankingMetrics.Hit(Ranking, Relevant, 1));
        Assert.Equal(1, RankingMetrics.Hit(Ranking, Relevant, 5));
    }

    [Fact]
    public void ReciprocalRank_FirstRelevantAtRankTwo_IsOneHalf_AndZeroPastK()
    {
        Assert.Equal(0.5, RankingMetrics.ReciprocalRank(Ranking, Relevant, 10));
        Assert.Equal(0, RankingMetrics.ReciprocalRank(Ranking, Relevant, 1));
        Assert.Equal(0, RankingMetrics.ReciprocalRank(["x", "y"], Relevant, 10));
    }

    [Fact]
    public void Ndcg_HandComputedRanking_MatchesFormula()
    {
        // DCG = 1/log2(3) + 1/log2(5) (ranks 2 and 4); ideal = 1 + 1/log2(3) + 1/2 + 1/log2(5) (four relevant, all on top).
        var expected = ((1 / Math.Log2(3)) + (1 / Math.Log2(5))) / (1 + (1 / Math.Log2(3)) + 0.5 + (1 / Math.Log2(5)));
        Assert.Equal(expected, RankingMetrics.Ndcg(Ranking, Relevant, 10), 12);
        Assert.Equal(1, RankingMetrics.Ndcg(["a", "b", "x"], new HashSet<string> { "a", "b" }, 10), 12);
    }

    [Fact]
    public void Summarize_TwoQueriesAndANoMatch_AveragesOverMatchedOnly()
    {
        var summary = RankingMetrics.Summarize(
        [
            (["a", "x"], new HashSet<string> { "a" }),
            (["x", "y", "b", "c"], new HashSet<string> { "b", "c" }),
            (["x"], new HashSet<string>()),
        ]);

        Assert.Equal(2, summary.Queries);
        Assert.Equal(0.5, summary.Recall1, 12);
        Assert.Equal(1, summary.Recall5, 12);
        Assert.Equal(0.5, summary.Hit1, 12);
        Assert.Equal((1 + (1.0 / 3)) / 2, summary.Mrr10, 12);
    }

    [Fact]
    public void Percentile_Interpolates_Linearly()
    {
        Assert.Equal(2.5, RankingMetrics.Percentile([4, 1, 3, 2], 50), 12);
        Assert.Equal(3.85, RankingMetrics.Percentile([1, 2, 3, 4], 95), 12);
        Assert.Equal(0, RankingMetrics.Percentile([], 50));
    }
}
