using System.Numerics.Tensors;

namespace Mmrag.Retrieval.Diversity;

/// <summary>Near-duplicate removal over unit vectors ranked best first. Stateless and thread-safe.</summary>
public static class NearDuplicates
{
    /// <summary>
    /// Walks <paramref name="vectors"/> in order and keeps each one whose cosine to every vector kept so far is below
    /// <paramref name="similarityCut"/>, until <paramref name="maxCount"/> are kept. Vectors must be L2-normalized (the
    /// cosine is their dot product); an empty vector, or one of another length, is never a duplicate.
    /// </summary>
    /// <returns>Indexes of the kept vectors, in their original order.</returns>
    public static int[] Select(IReadOnlyList<ReadOnlyMemory<float>> vectors, double similarityCut, int maxCount)
    {
        ArgumentNullException.ThrowIfNull(vectors);
        ArgumentOutOfRangeException.ThrowIfNegative(maxCount);
        var kept = new List<int>(Math.Min(maxCount, vectors.Count));
        for (var i = 0; i < vectors.Count && kept.Count < maxCount; i++)
        {
            var duplicate = false;
            foreach (var j in kept)
            {
                if (Similarity(vectors[i], vectors[j]) >= similarityCut)
                {
                    duplicate = true;
                    break;
                }
            }

            if (!duplicate)
            {
                kept.Add(i);
            }
        }

        return [.. kept];
    }

    /// <summary>Cosine of two unit vectors; 0 when either is empty or their lengths differ.</summary>
    internal static double Similarity(ReadOnlyMemory<float> a, ReadOnlyMemory<float> b) =>
        a.Length == 0 || a.Length != b.Length ? 0 : TensorPrimitives.Dot(a.Span, b.Span);
}
