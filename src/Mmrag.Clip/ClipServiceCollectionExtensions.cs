using Microsoft.Extensions.AI;
using Microsoft.Extensions.DependencyInjection;
using Mmrag.Clip.Inference;

namespace Mmrag.Clip;

/// <summary>Registers CLIP with a service collection.</summary>
public static class ClipServiceCollectionExtensions
{
    /// <summary>
    /// Registers one shared <see cref="ClipModel"/> (loaded from <paramref name="modelDirectory"/> on first use and
    /// disposed with the container) and its two embedding generators:
    /// <c>IEmbeddingGenerator&lt;string, Embedding&lt;float&gt;&gt;</c> (text) and
    /// <c>IEmbeddingGenerator&lt;DataContent, Embedding&lt;float&gt;&gt;</c> (images).
    /// </summary>
    public static IServiceCollection AddClip(this IServiceCollection services, string modelDirectory, ClipModelOptions? options = null,
        ClipEmbeddingOptions? embeddingOptions = null)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentException.ThrowIfNullOrEmpty(modelDirectory);
        services.AddSingleton(_ => ClipModel.Load(modelDirectory, options));
        return AddGenerators(services, embeddingOptions);
    }

    /// <summary>
    /// Registers an already loaded <paramref name="model"/> (the container takes it over and disposes it) and its two
    /// embedding generators, as <see cref="AddClip(IServiceCollection, string, ClipModelOptions?, ClipEmbeddingOptions?)"/> does.
    /// </summary>
    public static IServiceCollection AddClip(this IServiceCollection services, ClipModel model, ClipEmbeddingOptions? embeddingOptions = null)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentNullException.ThrowIfNull(model);
        // A factory, not an instance registration, so that the container owns (disposes) the model.
        services.AddSingleton(_ => model);
        return AddGenerators(services, embeddingOptions);
    }

    private static IServiceCollection AddGenerators(IServiceCollection services, ClipEmbeddingOptions? embeddingOptions)
    {
        services.AddSingleton<IEmbeddingGenerator<string, Embedding<float>>>(provider =>
            new ClipTextEmbeddingGenerator(provider.GetRequiredService<ClipModel>(), embeddingOptions));
        services.AddSingleton<IEmbeddingGenerator<DataContent, Embedding<float>>>(provider =>
            new ClipImageEmbeddingGenerator(provider.GetRequiredService<ClipModel>(), embeddingOptions));
        return services;
    }
}
