using Microsoft.Extensions.AI;

namespace Mmrag.Clip.Inference;

/// <summary>What the text and image generators share: the model, its ownership, metadata and service lookup.</summary>
public abstract class ClipEmbeddingGeneratorCore : IDisposable
{
    private readonly bool _ownsModel;
    private readonly EmbeddingGeneratorMetadata _metadata;

    private protected ClipEmbeddingGeneratorCore(ClipModel model, ClipEmbeddingOptions? options, bool ownsModel)
    {
        ArgumentNullException.ThrowIfNull(model);
        Model = model;
        Options = options ?? new ClipEmbeddingOptions();
        _ownsModel = ownsModel;
        _metadata = new EmbeddingGeneratorMetadata("mmrag-clip", providerUri: null, model.ModelId, model.Dimension);
    }

    private protected ClipModel Model { get; }

    private protected ClipEmbeddingOptions Options { get; }

    /// <inheritdoc cref="IEmbeddingGenerator.GetService"/>
    public object? GetService(Type serviceType, object? serviceKey = null)
    {
        ArgumentNullException.ThrowIfNull(serviceType);
        return serviceKey is not null ? null
            : serviceType == typeof(EmbeddingGeneratorMetadata) ? _metadata
            : serviceType.IsInstanceOfType(Model) ? Model
            : serviceType.IsInstanceOfType(this) ? this
            : null;
    }

    /// <summary>Disposes the model when this generator owns it.</summary>
    public void Dispose()
    {
        if (_ownsModel)
        {
            Model.Dispose();
        }

        GC.SuppressFinalize(this);
    }

    private protected Embedding<float> CreateEmbedding(ReadOnlyMemory<float> vector, DateTimeOffset created)
    {
        if (Options.Normalize)
        {
            VectorMath.NormalizeInPlace(System.Runtime.InteropServices.MemoryMarshal.AsMemory(vector).Span);
        }

        return new Embedding<float>(vector) { ModelId = Model.ModelId, CreatedAt = created };
    }
}
