namespace Mmrag.Knowledge;

/// <summary>
/// How much of the exact top k a vector search must find (recall@k), which approximate indexes (HNSW) trade for speed
/// through their search breadth <c>ef</c>. A search given no recall uses its store's default breadth.
/// </summary>
public static class SearchRecall
{
    /// <summary>Recall 1: the exact top k, by scanning every candidate instead of walking the graph.</summary>
    public const double Exact = 1.0;

    /// <summary>Above this, only an exact search is sure to deliver; the graph's recall flattens out near 0.99.</summary>
    private const double ExactAbove = 0.99;

    /// <summary>Throws when <paramref name="recall"/> is not null and outside (0, 1].</summary>
    public static void Validate(double? recall)
    {
        if (recall is { } value && !(value is > 0 and <= 1))
        {
            throw new ArgumentOutOfRangeException(nameof(recall), recall, "The requested recall must be in (0, 1].");
        }
    }

    /// <summary>Whether <paramref name="recall"/> asks for more than a graph walk reliably gives, so the search must be exact.</summary>
    public static bool NeedsExactSearch(double recall) => recall > ExactAbove;

    /// <summary>The collection size the breadth multiples were measured at; larger graphs need a wider walk for the same recall.</summary>
    private const long MeasuredCount = 100_000;

    /// <summary>
    /// The HNSW breadth that reaches <paramref name="recall"/> for the top <paramref name="k"/> in a graph of
    /// <paramref name="count"/> vectors (0: unknown, taken as 100k): a multiple of k read off the recall/ef curve measured
    /// on 100k clustered 512-d vectors with M = 16 (benchmarks/run-all.sh vector; ours and hnswlib alike: ef = 16 → 0.89,
    /// 32 → 0.93, 64 → 0.97, 128 → 0.985, 256 → 0.991 for k = 10), with a margin; widened by 80 % per tenfold growth
    /// past 100k, as the same curve measured at 1M requires (ef = 16 → 0.79, 32 → 0.89, 64 → 0.946, 128 → 0.980,
    /// 256 → 0.990: recall 0.95 needs about 1.8 times the breadth it needs at 100k).
    /// </summary>
    public static int EfSearchFor(double recall, int k, long count = 0)
    {
        Validate(recall);
        k = Math.Max(1, k);
        int multiple = recall switch
        {
            <= 0.90 => 2,
            <= 0.95 => 5,
            <= 0.98 => 12,
            _ => 25,
        };
        double growth = count > MeasuredCount ? 1 + (0.8 * Math.Log10((double)count / MeasuredCount)) : 1;
        return (int)Math.Min(int.MaxValue / 2, Math.Ceiling((double)k * multiple * growth));
    }
}
