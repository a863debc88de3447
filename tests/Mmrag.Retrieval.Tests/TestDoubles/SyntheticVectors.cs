using System.Numerics.Tensors;
using System.Security.Cryptography;
using System.Text;

namespace Mmrag.Retrieval.Tests.TestDoubles;

/// <summary>Seeded random unit vectors and simple constructions on them.</summary>
public sealed class SyntheticVectors(int dimension, int seed)
{
    private readonly Random _random = new(seed);

    public int Dimension { get; } = dimension;

    /// <summary>A random direction, uniform on the sphere.</summary>
    public float[] Unit() => Normalize(Gaussian());

    /// <summary><paramref name="vector"/> plus Gaussian noise of the given scale per unit length, renormalized.</summary>
    public float[] Near(float[] vector, double noise)
    {
        var g = Unit();
        var result = new float[vector.Length];
        for (var i = 0; i < result.Length; i++)
        {
            result[i] = vector[i] + (float)(noise * g[i]);
        }

        return Normalize(result);
    }

    /// <summary>A random unit vector orthogonal to every one of <paramref name="vectors"/> (needs fewer of them than dimensions).</summary>
    public float[] OrthogonalTo(IEnumerable<float[]> vectors)
    {
        // Gram–Schmidt: an orthonormal basis of their span, then remove a random vector's components along it.
        var basis = new List<float[]>();
        foreach (var v in vectors)
        {
            var r = (float[])v.Clone();
            foreach (var b in basis)
            {
                Subtract(r, b, TensorPrimitives.Dot(r, b));
            }

            var norm = TensorPrimitives.Norm(r);
            if (norm > 1e-4f)
            {
                TensorPrimitives.Divide(r, norm, r);
                basis.Add(r);
            }
        }

        var x = Gaussian();
        foreach (var b in basis)
        {
            Subtract(x, b, TensorPrimitives.Dot(x, b));
        }

        foreach (var b in basis)
        {
            Subtract(x, b, TensorPrimitives.Dot(x, b));
        }

        return Normalize(x);
    }

    /// <summary>Σ wᵢ·vᵢ, renormalized.</summary>
    public static float[] Combine(params (float[] Vector, double Weight)[] parts)
    {
        var result = new float[parts[0].Vector.Length];
        foreach (var (vector, weight) in parts)
        {
            for (var i = 0; i < result.Length; i++)
            {
                result[i] += (float)(weight * vector[i]);
            }
        }

        return Normalize(result);
    }

    /// <summary>A random unit vector determined by <paramref name="key"/>.</summary>
    public static float[] ForKey(string key, int dimension) =>
        new SyntheticVectors(dimension, BitConverter.ToInt32(SHA256.HashData(Encoding.UTF8.GetBytes(key)))).Unit();

    public static float[] Normalize(float[] vector)
    {
        TensorPrimitives.Divide(vector, TensorPrimitives.Norm(vector), vector);
        return vector;
    }

    public static double Cosine(float[] a, float[] b) => TensorPrimitives.CosineSimilarity(a, b);

    private float[] Gaussian()
    {
        var v = new float[Dimension];
        for (var i = 0; i < v.Length; i++)
        {
            // Box–Muller.
            var u1 = 1.0 - _random.NextDouble();
            var u2 = _random.NextDouble();
            v[i] = (float)(Math.Sqrt(-2.0 * Math.Log(u1)) * Math.Cos(2 * Math.PI * u2));
        }

        return v;
    }

    private static void Subtract(float[] target, float[] direction, float amount)
    {
        for (var i = 0; i < target.Length; i++)
        {
            target[i] -= amount * direction[i];
        }
    }
}
