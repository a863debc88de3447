using System.Collections.Concurrent;
using Microsoft.Extensions.AI;
using Mmrag.Retrieval.Search;

namespace Mmrag.Retrieval.Tests.TestDoubles;

/// <summary>A text "model" that returns the vector registered for a text, or a random vector seeded by the text.</summary>
public sealed class FakeTextEmbeddingGenerator(int dimension) : IEmbeddingGenerator<string, Embedding<float>>
{
    private readonly ConcurrentDictionary<string, float[]> _vectors = new(StringComparer.Ordinal);

    /// <summary>Awaited before each embedding (e.g. to block until cancelled).</summary>
    public Func<CancellationToken, Task>? BeforeEmbed { get; set; }

    public void Set(string text, float[] vector) => _vectors[text] = vector;

    /// <summary>The vector <paramref name="text"/> embeds to.</summary>
    public float[] Vector(string text) => _vectors.GetValueOrDefault(text) ?? SyntheticVectors.ForKey("text:" + text, dimension);

    public async Task<GeneratedEmbeddings<Embedding<float>>> GenerateAsync(IEnumerable<string> values, EmbeddingGenerationOptions? options = null,
        CancellationToken cancellationToken = default)
    {
        var embeddings = new GeneratedEmbeddings<Embedding<float>>();
        foreach (var value in values)
        {
            if (BeforeEmbed is { } hook)
            {
                await hook(cancellationToken);
            }

            cancellationToken.ThrowIfCancellationRequested();
            embeddings.Add(new Embedding<float>(_vectors.GetValueOrDefault(value) ?? SyntheticVectors.ForKey("text:" + value, dimension)));
        }

        return embeddings;
    }

    public object? GetService(Type serviceType, object? serviceKey = null) => null;

    public void Dispose()
    {
    }
}

/// <summary>An image "model" that returns the vector registered for an image's bytes, or a random vector seeded by them.</summary>
public sealed class FakeImageEmbeddingGenerator(int dimension) : IEmbeddingGenerator<DataContent, Embedding<float>>
{
    private readonly ConcurrentDictionary<string, float[]> _vectors = new(StringComparer.Ordinal);

    public Func<CancellationToken, Task>? BeforeEmbed { get; set; }

    public void Set(ReadOnlySpan<byte> image, float[] vector) => _vectors[SearchRequest.ComputeContentHash(image)] = vector;

    public async Task<GeneratedEmbeddings<Embedding<float>>> GenerateAsync(IEnumerable<DataContent> values, EmbeddingGenerationOptions? options = null,
        CancellationToken cancellationToken = default)
    {
        var embeddings = new GeneratedEmbeddings<Embedding<float>>();
        foreach (var value in values)
        {
            if (BeforeEmbed is { } hook)
            {
                await hook(cancellationToken);
            }

            cancellationToken.ThrowIfCancellationRequested();
            var hash = SearchRequest.ComputeContentHash(value.Data.Span);
            embeddings.Add(new Embedding<float>(_vectors.GetValueOrDefault(hash) ?? SyntheticVectors.ForKey("image:" + hash, dimension)));
        }

        return embeddings;
    }

    public object? GetService(Type serviceType, object? serviceKey = null) => null;

    public void Dispose()
    {
    }
}
