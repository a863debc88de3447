using System.Numerics.Tensors;

namespace Mmrag.Clip.Inference;

internal static class VectorMath
{
    /// <summary>Scales <paramref name="vector"/> to unit length; a zero vector stays zero.</summary>
    public static void NormalizeInPlace(Span<float> vector)
    {
        var norm = TensorPrimitives.Norm((ReadOnlySpan<float>)vector);
        if (norm > 0f)
        {
            TensorPrimitives.Divide(vector, norm, vector);
        }
    }
}

internal static class EmbeddingChecks
{
    public static void ThrowIfDimensionsUnsupported(Microsoft.Extensions.AI.EmbeddingGenerationOptions? options, int dimension)
    {
        if (options?.Dimensions is { } requested && requested != dimension)
        {
            throw new NotSupportedException($"This CLIP model produces {dimension}-dimensional embeddings; {requested} were requested.");
        }
    }
}
