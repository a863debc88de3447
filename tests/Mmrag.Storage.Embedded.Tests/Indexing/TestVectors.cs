using System.Numerics.Tensors;
using Mmrag.Storage.Embedded.Indexing;

namespace Mmrag.Storage.Embedded.Tests.Indexing;

/// <summary>Seeded test data: clustered unit vectors (like embeddings) and a naive reference search.</summary>
internal static class TestVectors
{
    /// <summary><paramref name="n"/> unit vectors around <paramref name="clusters"/> random centres, one after another.</summary>
    public static float[] Clustered(int n, int dim, int clusters, int seed, float spread = 0.6f)
    {
        var rng = new Random(seed);
        var centres = new float[clusters * dim];
        for (int c = 0; c < clusters; c++)
        {
            Span<float> v = centres.AsSpan(c * dim, dim);
            Gaussian(rng, v, 1f);
            Normalize(v);
        }

        var x = new float[n * dim];
        for (int i = 0; i < n; i++)
        {
            Span<float> v = x.AsSpan(i * dim, dim);
            Gaussian(rng, v, spread / MathF.Sqrt(dim));
            TensorPrimitives.Add(v, centres.AsSpan(rng.Next(clusters) * dim, dim), v);
            Normalize(v);
        }

        return x;
    }

    public static VectorSet Set(float[] data, int dim, int chunkRows = 0)
    {
        var set = new VectorSet(dim, chunkRows);
        set.AddRange(data);
        return set;
    }

    /// <summary>Top k by float64 inner product over the slots passing <paramref name="allowed"/>; ties by smaller slot.</summary>
    public static (int Slot, double Score)[] NaiveTopK(float[] data, int dim, ReadOnlySpan<float> query, int k, Func<int, bool>? allowed = null)
    {
        int n = data.Length / dim;
        var all = new List<(int Slot, double Score)>(n);
        for (int i = 0; i < n; i++)
        {
            if (allowed is not null && !allowed(i))
            {
                continue;
            }

            double s = 0;
            for (int j = 0; j < dim; j++)
            {
                s += (double)data[(i * dim) + j] * query[j];
            }

            all.Add((i, s));
        }

        return all.OrderByDescending(h => h.Score).ThenBy(h => h.Slot).Take(k).ToArray();
    }

    /// <summary>|found ∩ truth| / |truth| averaged over queries.</summary>
    public static double Recall(IEnumerable<(VectorHit[] Found, VectorHit[] Truth)> pairs)
    {
        int hits = 0, total = 0;
        foreach ((VectorHit[] found, VectorHit[] truth) in pairs)
        {
            var t = truth.Select(h => h.Slot).ToHashSet();
            hits += found.Count(h => t.Contains(h.Slot));
            total += truth.Length;
        }

        return total == 0 ? 1 : hits / (double)total;
    }

    private static void Gaussian(Random rng, Span<float> v, float sigma)
    {
        for (int i = 0; i < v.Length; i++)
        {
            double u1 = 1.0 - rng.NextDouble();
            double u2 = rng.NextDouble();
            v[i] = sigma * (float)(Math.Sqrt(-2.0 * Math.Log(u1)) * Math.Cos(2 * Math.PI * u2));
        }
    }

    private static void Normalize(Span<float> v) => TensorPrimitives.Divide(v, TensorPrimitives.Norm(v), v);
}
