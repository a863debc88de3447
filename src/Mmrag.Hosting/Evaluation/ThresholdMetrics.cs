namespace Mmrag.Hosting.Evaluation;

/// <summary>
/// How well a score cut separates answerable from unanswerable queries. A matched query is "kept" at a cut when at
/// least one relevant hit scores at or above it; a no-match query is "declined" when no hit does. Pure functions over
/// each query's best score (negative infinity for a query with no such hit); thread-safe.
/// </summary>
public static class ThresholdMetrics
{
    /// <summary>The share of matched queries whose best relevant hit scores at least <paramref name="threshold"/> (0 for none).</summary>
    public static double Kept(IReadOnlyList<double> bestRelevantScores, double threshold)
    {
        ArgumentNullException.ThrowIfNull(bestRelevantScores);
        return bestRelevantScores.Count == 0 ? 0 : (double)bestRelevantScores.Count(s => s >= threshold) / bestRelevantScores.Count;
    }

    /// <summary>The share of no-match queries whose best hit scores under <paramref name="threshold"/> (0 for none).</summary>
    public static double Declined(IReadOnlyList<double> noMatchTopScores, double threshold)
    {
        ArgumentNullException.ThrowIfNull(noMatchTopScores);
        return noMatchTopScores.Count == 0 ? 0 : (double)noMatchTopScores.Count(s => s < threshold) / noMatchTopScores.Count;
    }

    /// <summary>The point with the highest balanced accuracy ((kept + declined) / 2); the lowest threshold among ties; null for none.</summary>
    public static SweepPoint? BestBalanced(IEnumerable<SweepPoint> sweep)
    {
        ArgumentNullException.ThrowIfNull(sweep);
        SweepPoint? best = null;
        foreach (var point in sweep)
        {
            if (best is null || point.BalancedAccuracy > best.BalancedAccuracy + 1e-12)
            {
                best = point;
            }
        }

        return best;
    }

    /// <summary>
    /// The share of no-match queries declined by the one cut that keeps at least <paramref name="kept"/> of the matched
    /// queries and is otherwise as high as possible: the best a single global score cut can decline at that kept share.
    /// </summary>
    public static double DeclinedAtEqualKept(IReadOnlyList<double> bestRelevantScores, IReadOnlyList<double> noMatchTopScores, double kept)
    {
        var cut = CutForKept(bestRelevantScores, kept);
        return double.IsNegativeInfinity(cut) ? 0 : Declined(noMatchTopScores, cut);
    }

    /// <summary>
    /// The highest cut that keeps at least <paramref name="kept"/> of the matched queries: positive infinity when none
    /// need be kept, negative infinity when that many never have a relevant hit.
    /// </summary>
    public static double CutForKept(IReadOnlyList<double> bestRelevantScores, double kept)
    {
        ArgumentNullException.ThrowIfNull(bestRelevantScores);
        var needed = (int)Math.Ceiling((kept * bestRelevantScores.Count) - 1e-9);
        if (needed <= 0)
        {
            return double.PositiveInfinity;
        }

        return bestRelevantScores.OrderDescending().ElementAt(Math.Min(needed, bestRelevantScores.Count) - 1);
    }
}

/// <summary>Kept and declined at one threshold.</summary>
/// <param name="Threshold">The score cut.</param>
/// <param name="Kept">The share of matched queries keeping a relevant hit.</param>
/// <param name="Declined">The share of no-match queries returning no hit.</param>
public sealed record SweepPoint(double Threshold, double Kept, double Declined)
{
    /// <summary>(kept + declined) / 2.</summary>
    public double BalancedAccuracy => (Kept + Declined) / 2;
}
