using Mmrag.Hosting.Evaluation;

namespace Mmrag.Hosting.Tests.Evaluation;

public sealed class ThresholdMetricsTests
{
    private static readonly double[] Matched = [0.9, 0.8, 0.6, 0.4, double.NegativeInfinity];
    private static readonly double[] NoMatch = [0.7, 0.5, 0.3, double.NegativeInfinity];

    [Fact]
    public void KeptAndDeclined_AtACut_CountAtOrAboveAndBelow()
    {
        Assert.Equal(0.6, ThresholdMetrics.Kept(Matched, 0.6), 12);
        Assert.Equal(0.75, ThresholdMetrics.Declined(NoMatch, 0.6), 12);
        Assert.Equal(0.5, ThresholdMetrics.Declined(NoMatch, 0.5), 12);
    }

    [Fact]
    public void BestBalanced_Sweep_PicksHighestMeanOfKeptAndDeclined()
    {
        var sweep = new[] { 0.0, 0.55, 0.75, 0.95 }.Select(t => new SweepPoint(t, ThresholdMetrics.Kept(Matched, t), ThresholdMetrics.Declined(NoMatch, t)));

        var best = ThresholdMetrics.BestBalanced(sweep);

        // 0.55: kept 3/5, declined 3/4 → 0.675; 0.75: 2/5, 1 → 0.7; 0.95: 0, 1 → 0.5.
        Assert.Equal(0.75, best!.Threshold);
        Assert.Equal(0.7, best.BalancedAccuracy, 12);
    }

    [Fact]
    public void DeclinedAtEqualKept_KeepingThreeOfFive_UsesTheThirdBestRelevantScoreAsCut()
    {
        Assert.Equal(0.6, ThresholdMetrics.CutForKept(Matched, 0.6));
        Assert.Equal(0.75, ThresholdMetrics.DeclinedAtEqualKept(Matched, NoMatch, 0.6), 12);
        Assert.Equal(1, ThresholdMetrics.DeclinedAtEqualKept(Matched, NoMatch, 0));
        Assert.Equal(0, ThresholdMetrics.DeclinedAtEqualKept(Matched, NoMatch, 1));
    }
}
