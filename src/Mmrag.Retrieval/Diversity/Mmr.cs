namespace Mmrag.Retrieval.Diversity;

/// <summary>
/// Maximal marginal relevance (Carbonell &amp; Goldstein, 1998): picks items one at a time by
/// λ·relevance − (1 − λ)·(max cosine to the items already picked), trading relevance for diversity. Stateless and thread-safe.
/// </summary>
public static class Mmr
{
    /// <summary>
    /// Chooses up to <paramref name="count"/> of the candidates in MMR order. Vectors must be L2-normalized; an empty one
    /// counts as dissimilar to everything. Candidates whose cosine to an already chosen one is at or above
    /// <paramref name="similarityCut"/> are never chosen. Ties go to the earlier candidate, so λ = 1 keeps relevance order.
    /// </summary>
    /// <param name="relevance">Relevance of each candidate (e.g. its calibrated score).</param>
    /// <param name="vectors">Each candidate's unit vector.</param>
    /// <param name="lambda">Weight of relevance, in [0, 1].</param>
    /// <param name="count">Most candidates to choose.</param>
    /// <param name="similarityCut">Cosine at which a candidate is a duplicate of a chosen one; above 1 disables the cut.</param>
    /// <returns>Indexes of the chosen candidates, in the order they were chosen.</returns>
    public static int[] Select(ReadOnlySpan<double> relevance, IReadOnlyList<ReadOnlyMemory<float>> vectors, double lambda, int count,
        double similarityCut = double.PositiveInfinity)
    {
        ArgumentNullException.ThrowIfNull(vectors);
        if (relevance.Length != vectors.Count)
        {
            throw new ArgumentException($"{relevance.Length} relevance values were given for {vectors.Count} vectors.", nameof(relevance));
        }

        ArgumentOutOfRangeException.ThrowIfNegative(count);
        if (!(lambda is >= 0 and <= 1))
        {
            throw new ArgumentOutOfRangeException(nameof(lambda), lambda, "MMR lambda must be between 0 and 1.");
        }

        var n = vectors.Count;
        var maxSimilarity = new double[n]; // to the chosen ones
        Array.Fill(maxSimilarity, double.NegativeInfinity);
        var available = new bool[n];
        Array.Fill(available, true);
        var chosen = new List<int>(Math.Min(count, n));
        while (chosen.Count < count)
        {
            var best = -1;
            var bestValue = double.NegativeInfinity;
            for (var i = 0; i < n; i++)
            {
                if (!available[i])
                {
                    continue;
                }

                var penalty = chosen.Count == 0 ? 0 : maxSimilarity[i];
                var value = (lambda * relevance[i]) - ((1 - lambda) * penalty);
                if (value > bestValue)
                {
                    best = i;
                    bestValue = value;
                }
            }

            if (best < 0)
            {
                break;
            }

            chosen.Add(best);
            available[best] = false;
            for (var i = 0; i < n; i++)
            {
                if (!available[i])
                {
                    continue;
                }

                var similarity = NearDuplicates.Similarity(vectors[i], vectors[best]);
                if (similarity >= similarityCut)
                {
                    available[i] = false;
                }
                else
                {
                    maxSimilarity[i] = Math.Max(maxSimilarity[i], similarity);
                }
            }
        }

        return [.. chosen];
    }
}
