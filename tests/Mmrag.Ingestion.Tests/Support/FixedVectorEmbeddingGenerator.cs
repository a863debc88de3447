using System.Collections.Concurrent;
using Microsoft.Extensions.AI;
using Mmrag.Ingestion.Pipeline;
using Mmrag.Storage.ContractTests;

namespace Mmrag.Ingestion.Tests.Support;

/// <summary>
/// An embedding generator that returns seeded random vectors of length <paramref name="norm"/> (1: unit vectors, as a
/// generator that normalises returns them), and keeps each one by the content hash the pipeline gives its input (SHA-256
/// of a text or of an image's bytes), so a test can compare what reached the store with what was generated.
/// </summary>
internal sealed class FixedVectorEmbeddingGenerator<TInput>(int dimension, float norm) : IEmbeddingGenerator<TInput, Embedding<float>>
{
    private int _seed;

    /// <summary>Every vector returned, by the content hash of its input.</summary>
    public ConcurrentDictionary<string, float[]> ByContentHash { get; } = new(StringComparer.Ordinal);

    public Task<GeneratedEmbeddings<Embedding<float>>> GenerateAsync(IEnumerable<TInput> values, EmbeddingGenerationOptions? options = null,
        CancellationToken cancellationToken = default)
    {
        var embeddings = new GeneratedEmbeddings<Embedding<float>>();
        foreach (var value in values)
        {
            var vector = ContractData.UnitVector(new Random(Interlocked.Increment(ref _seed)), dimension);
            for (var i = 0; i < vector.Length; i++)
            {
                vector[i] *= norm;
            }

            ByContentHash[HashOf(value)] = vector;
            embeddings.Add(new Embedding<float>(vector));
        }

        return Task.FromResult(embeddings);
    }

    public object? GetService(Type serviceType, object? serviceKey = null) => null;

    public void Dispose()
    {
    }

    private static string HashOf(TInput value) => value switch
    {
        string text => DocumentIds.Sha256Hex(text),
        DataContent image => DocumentIds.Sha256Hex(image.Data.Span),
        _ => throw new NotSupportedException(typeof(TInput).Name),
    };
}
