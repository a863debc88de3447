using Microsoft.Extensions.AI;
using Mmrag.Clip.Tokenization;

namespace Mmrag.Clip.Inference;

/// <summary>
/// The CLIP text tower as an <see cref="IEmbeddingGenerator{TInput,TEmbedding}"/>. Texts are tokenized, grouped by
/// length into batches of at most <see cref="ClipModel.MaxBatchSize"/> (so short queries never pay for 77 tokens),
/// embedded and returned in input order. Thread-safe. Disposing it disposes the model only if it owns it.
/// </summary>
public sealed class ClipTextEmbeddingGenerator : ClipEmbeddingGeneratorCore, IEmbeddingGenerator<string, Embedding<float>>
{
    /// <summary>Creates a generator over <paramref name="model"/>.</summary>
    public ClipTextEmbeddingGenerator(ClipModel model, ClipEmbeddingOptions? options = null, bool ownsModel = false)
        : base(model, options, ownsModel)
    {
    }

    /// <inheritdoc />
    public Task<GeneratedEmbeddings<Embedding<float>>> GenerateAsync(IEnumerable<string> values,
        EmbeddingGenerationOptions? options = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(values);
        EmbeddingChecks.ThrowIfDimensionsUnsupported(options, Model.Dimension);
        var texts = values as IReadOnlyList<string> ?? [.. values];
        var tokens = new ClipTokens[texts.Count];
        for (var i = 0; i < texts.Count; i++)
        {
            tokens[i] = Model.Tokenizer.Encode(texts[i] ?? throw new ArgumentException($"Text {i} is null.", nameof(values)));
        }

        // Sort by length so each batch is padded only to its own longest text.
        var order = Enumerable.Range(0, tokens.Length).OrderBy(i => tokens[i].Length).ToArray();
        var dimension = Model.Dimension;
        var results = new Embedding<float>[tokens.Length];
        var batch = new List<ClipTokens>(Model.MaxBatchSize);
        var created = DateTimeOffset.UtcNow;
        for (var start = 0; start < order.Length; start += Model.MaxBatchSize)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var count = Math.Min(Model.MaxBatchSize, order.Length - start);
            batch.Clear();
            for (var j = 0; j < count; j++)
            {
                batch.Add(tokens[order[start + j]]);
            }

            var vectors = new float[count * dimension];
            Model.EmbedTokens(batch, vectors, cancellationToken);
            for (var j = 0; j < count; j++)
            {
                results[order[start + j]] = CreateEmbedding(vectors.AsMemory(j * dimension, dimension), created);
            }
        }

        var embeddings = new GeneratedEmbeddings<Embedding<float>>(results);
        return Task.FromResult(embeddings);
    }
}
