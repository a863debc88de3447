using Mmrag.Knowledge;

namespace Mmrag.Retrieval.Scoring;

/// <summary>
/// Running mean and standard deviation of background cosines: what the calibration measures for the plain vectors and
/// the query adapter's trainer for the adapted ones, by the same rules, so the two scales always agree.
/// </summary>
internal struct CosineMoments
{
    private double _sum;
    private double _squares;

    /// <summary>How many cosines were added.</summary>
    public long Count { get; private set; }

    /// <summary>Their mean (0 when none).</summary>
    public readonly double Mean => Count == 0 ? 0 : _sum / Count;

    /// <summary>An item against itself or an exact copy of itself is no background pair.</summary>
    public static bool IsBackgroundPair(KnowledgeItem query, KnowledgeItem target) =>
        !ReferenceEquals(query, target) && query.Id != target.Id && query.ContentHash != target.ContentHash;

    /// <summary>
    /// Their standard deviation, never below <paramref name="floor"/>: z-scores divide by it, and a near-constant
    /// background (a handful of near-identical items) must not make every small difference look significant.
    /// </summary>
    public readonly double StandardDeviation(double floor) =>
        Math.Max(Count == 0 ? 0 : Math.Sqrt(Math.Max(0, (_squares / Count) - (Mean * Mean))), floor);

    /// <summary>Adds one cosine.</summary>
    public void Add(double cosine)
    {
        _sum += cosine;
        _squares += cosine * cosine;
        Count++;
    }
}
