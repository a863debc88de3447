namespace Mmrag.Hosting.Evaluation;

/// <summary>
/// Ranking metrics of one query, as the shapes sets' <c>reference.json</c> defines them, so mmrag's figures and the
/// model's brute-force ceiling compare directly. Pure functions; thread-safe.
/// </summary>
/// <remarks>
/// A ranking is a list of distinct keys, best first (a document found through several chunks appears once, where its
/// first chunk was); relevance is binary.
/// </remarks>
public static class RankingMetrics
{
    /// <summary>The share of <paramref name="relevant"/> found in the top <paramref name="k"/> (0 when nothing is relevant).</summary>
    public static double Recall(IReadOnlyList<string> ranking, IReadOnlySet<string> relevant, int k)
    {
        ArgumentNullException.ThrowIfNull(ranking);
        ArgumentNullException.ThrowIfNull(relevant);
        return relevant.Count == 0 ? 0 : (double)CountRelevant(ranking, relevant, k) / relevant.Count;
    }

    /// <summary>1 when a relevant key is in the top <paramref name="k"/>, else 0.</summary>
    public static double Hit(IReadOnlyList<string> ranking, IReadOnlySet<string> relevant, int k) => FirstRelevantRank(ranking, relevant) is { } rank && rank <= k ? 1 : 0;

    /// <summary>1 / the rank of the first relevant key, 0 when it is past <paramref name="k"/> or absent.</summary>
    public static double ReciprocalRank(IReadOnlyList<string> ranking, IReadOnlySet<string> relevant, int k) =>
        FirstRelevantRank(ranking, relevant) is { } rank && rank <= k ? 1.0 / rank : 0;

    /// <summary>
    /// Normalized discounted cumulative gain at <paramref name="k"/> with binary gains: Σ 1/log2(rank + 1) over relevant
    /// keys in the top k, divided by the same sum for an ideal ranking (min(|relevant|, k) relevant keys first).
    /// </summary>
    public static double Ndcg(IReadOnlyList<string> ranking, IReadOnlySet<string> relevant, int k)
    {
        ArgumentNullException.ThrowIfNull(ranking);
        ArgumentNullException.ThrowIfNull(relevant);
        if (relevant.Count == 0)
        {
            return 0;
        }

        var dcg = 0.0;
        for (var i = 0; i < Math.Min(k, ranking.Count); i++)
        {
            if (relevant.Contains(ranking[i]))
            {
                dcg += 1 / Math.Log2(i + 2);
            }
        }

        var ideal = 0.0;
        for (var i = 0; i < Math.Min(k, relevant.Count); i++)
        {
            ideal += 1 / Math.Log2(i + 2);
        }

        return dcg / ideal;
    }

    /// <summary>The 1-based rank of the first relevant key, or null.</summary>
    public static int? FirstRelevantRank(IReadOnlyList<string> ranking, IReadOnlySet<string> relevant)
    {
        ArgumentNullException.ThrowIfNull(ranking);
        ArgumentNullException.ThrowIfNull(relevant);
        for (var i = 0; i < ranking.Count; i++)
        {
            if (relevant.Contains(ranking[i]))
            {
                return i + 1;
            }
        }

        return null;
    }

    /// <summary>
    /// The averages over <paramref name="queries"/> (each a ranking and its relevant keys; queries with nothing relevant
    /// are not counted) of recall, hit at 1, 5 and 10, MRR@10 and nDCG@10.
    /// </summary>
    public static RankingSummary Summarize(IEnumerable<(IReadOnlyList<string> Ranking, IReadOnlySet<string> Relevant)> queries)
    {
        ArgumentNullException.ThrowIfNull(queries);
        var sums = new double[8];
        var count = 0;
        foreach (var (ranking, relevant) in queries)
        {
            if (relevant.Count == 0)
            {
                continue;
            }

            count++;
            sums[0] += Recall(ranking, relevant, 1);
            sums[1] += Recall(ranking, relevant, 5);
            sums[2] += Recall(ranking, relevant, 10);
            sums[3] += Hit(ranking, relevant, 1);
            sums[4] += Hit(ranking, relevant, 5);
            sums[5] += Hit(ranking, relevant, 10);
            sums[6] += ReciprocalRank(ranking, relevant, 10);
            sums[7] += Ndcg(ranking, relevant, 10);
        }

        double Mean(int i) => count == 0 ? 0 : sums[i] / count;
        return new RankingSummary(count, Mean(0), Mean(1), Mean(2), Mean(3), Mean(4), Mean(5), Mean(6), Mean(7));
    }

    /// <summary>The <paramref name="percentile"/> (0..100) of <paramref name="values"/> by linear interpolation; 0 for none.</summary>
    public static double Percentile(IReadOnlyList<double> values, double percentile)
    {
        ArgumentNullException.ThrowIfNull(values);
        if (values.Count == 0)
        {
            return 0;
        }

        var sorted = values.Order().ToArray();
        var position = Math.Clamp(percentile, 0, 100) / 100 * (sorted.Length - 1);
        var low = (int)Math.Floor(position);
        var high = Math.Min(low + 1, sorted.Length - 1);
        return sorted[low] + ((position - low) * (sorted[high] - sorted[low]));
    }

    private static int CountRelevant(IReadOnlyList<string> ranking, IReadOnlySet<string> relevant, int k)
    {
        var found = 0;
        for (var i = 0; i < Math.Min(k, ranking.Count); i++)
        {
            if (relevant.Contains(ranking[i]))
            {
                found++;
            }
        }

        return found;
    }
}

/// <summary>Ranking metrics averaged over the queries that have relevant items (<see cref="RankingMetrics.Summarize"/>).</summary>
/// <param name="Queries">How many queries were averaged.</param>
/// <param name="Recall1">Recall@1.</param>
/// <param name="Recall5">Recall@5.</param>
/// <param name="Recall10">Recall@10.</param>
/// <param name="Hit1">Hit@1.</param>
/// <param name="Hit5">Hit@5.</param>
/// <param name="Hit10">Hit@10.</param>
/// <param name="Mrr10">MRR@10.</param>
/// <param name="Ndcg10">nDCG@10.</param>
public sealed record RankingSummary(int Queries, double Recall1, double Recall5, double Recall10, double Hit1, double Hit5, double Hit10, double Mrr10, double Ndcg10);
