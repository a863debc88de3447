using Microsoft.Extensions.AI;
using Mmrag.Clip.Tokenization;

namespace Mmrag.Clip.Inference;

/// <summary>
/// The CLIP text tower as an <see cref="IEmbeddingGenerator{TInput,TEmbedding}"/>. Texts are tokenized, grouped by
/// length into batches of at most <see cref="ClipModel.MaxBatchSize"/> (so short queries never pay for 77 tokens),
/// embedded and returned in input order. Thread-safe. Disposing it disposes the model only if it owns it.
/// </summary>
public sealed class ClipTextEmbeddingGenerator : IEmbeddingGenerator<string, Embedding<float>>
{
    private readonly ClipModel _model;
    private readonly bool _ownsModel;
    private readonly ClipEmbeddingOptions _options;
    private readonly EmbeddingGeneratorMetadata _metadata;

    /// <summary>Creates a generator over <paramref name="model"/>.</summary>
    public ClipTextEmbeddingGenerator(ClipModel model, ClipEmbeddingOptions? options = null, bool ownsModel = false)
    {
        ArgumentNullException.ThrowIfNull(model);
        _model = model;
        _ownsModel = ownsModel;
        _options = options ?? new ClipEmbeddingOptions();
        _metadata = new EmbeddingGeneratorMetadata("mmrag-clip", providerUri: null, model.ModelId, model.Dimension);
    }

    /// <inheritdoc />
    public Task<GeneratedEmbeddings<Embedding<float>>> GenerateAsync(IEnumerable<string> values,
        EmbeddingGenerationOptions? options = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(values);
        EmbeddingChecks.ThrowIfDimensionsUnsupported(options, _model.Dimension);
        var texts = values as IReadOnlyList<string> ?? [.. values];
        var tokens = new ClipTokens[texts.Count];
        for (var i = 0; i < texts.Count; i++)
        {
            tokens[i] = _model.Tokenizer.Encode(texts[i] ?? throw new ArgumentException($"Text {i} is null.", nameof(values)));
        }

        // Sort by length so each batch is padded only to its own longest text.
        var order = Enumerable.Range(0, tokens.Length).OrderBy(i => tokens[i].Length).ToArray();
        var dimension = _model.Dimension;
        var results = new Embedding<float>[tokens.Length];
        var batch = new List<ClipTokens>(_model.MaxBatchSize);
        var created = DateTimeOffset.UtcNow;
        for (var start = 0; start < order.Length; start += _model.MaxBatchSize)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var count = Math.Min(_model.MaxBatchSize, order.Length - start);
            batch.Clear();
            for (var j = 0; j < count; j++)
            {
                batch.Add(tokens[order[start + j]]);
            }

            var vectors = new float[count * dimension];
            _model.EmbedTokens(batch, vectors, cancellationToken);
            for (var j = 0; j < count; j++)
            {
                var vector = vectors.AsMemory(j * dimension, dimension);
                if (_options.Normalize)
                {
                    VectorMath.NormalizeInPlace(vector.Span);
                }

                results[order[start + j]] = new Embedding<float>(vector) { ModelId = _model.ModelId, CreatedAt = created };
            }
        }

        var embeddings = new GeneratedEmbeddings<Embedding<float>>(results);
        return Task.FromResult(embeddings);
    }

    /// <inheritdoc />
    public object? GetService(Type serviceType, object? serviceKey = null)
    {
        ArgumentNullException.ThrowIfNull(serviceType);
        return serviceKey is not null ? null
            : serviceType == typeof(EmbeddingGeneratorMetadata) ? _metadata
            : serviceType.IsInstanceOfType(_model) ? _model
            : serviceType.IsInstanceOfType(this) ? this
            : null;
    }

    /// <inheritdoc />
    public void Dispose()
    {
        if (_ownsModel)
        {
            _model.Dispose();
        }
    }
}
