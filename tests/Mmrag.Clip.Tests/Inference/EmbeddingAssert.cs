using System.Numerics.Tensors;

namespace Mmrag.Clip.Tests.Inference;

internal static class EmbeddingAssert
{
    public static double Cosine(ReadOnlySpan<float> a, ReadOnlySpan<float> b) => TensorPrimitives.CosineSimilarity(a, b);

    public static void Close(ReadOnlySpan<float> expected, ReadOnlySpan<float> actual, double minCosine, double maxAbs = double.PositiveInfinity)
    {
        Assert.Equal(expected.Length, actual.Length);
        var cosine = Cosine(expected, actual);
        Assert.True(cosine >= minCosine, $"cosine {cosine:R} < {minCosine}");
        var worst = 0.0;
        for (var i = 0; i < expected.Length; i++)
        {
            worst = Math.Max(worst, Math.Abs(expected[i] - actual[i]));
        }

        Assert.True(worst <= maxAbs, $"max abs diff {worst:R} > {maxAbs}");
    }

    public static float[] Normalized(float[] vector)
    {
        var copy = (float[])vector.Clone();
        var norm = TensorPrimitives.Norm(copy);
        TensorPrimitives.Divide(copy, norm, copy);
        return copy;
    }
}
