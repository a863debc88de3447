using Microsoft.Extensions.AI;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Mmrag.Answering;
using Mmrag.Answering.Llm;
using Mmrag.Clip;
using Mmrag.Clip.Inference;
using Mmrag.Ingestion.Chunking;
using Mmrag.Ingestion.Loaders;
using Mmrag.Ingestion.Pipeline;
using Mmrag.Retrieval.Search;
using Mmrag.Storage;

namespace Mmrag.Hosting;

/// <summary>Registers a knowledge base with an application's service collection.</summary>
public static class MmragServiceCollectionExtensions
{
    /// <summary>
    /// Registers the knowledge base <paramref name="options"/> names as a singleton <see cref="MmragKnowledgeBase"/>
    /// (opened on first use through <see cref="MmragKnowledgeBase.OpenAsync"/>, disposed with the container), and its
    /// <see cref="IKnowledgeStore"/>, <see cref="KnowledgeSearcher"/>, <see cref="Answerer"/> and <see cref="Answering.Reranking.LlmReranker"/> for injection.
    /// </summary>
    public static IServiceCollection AddMmrag(this IServiceCollection services, MmragOptions options)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentNullException.ThrowIfNull(options);
        // DI factories are synchronous; opening runs on the pool so no synchronization context can deadlock it.
        services.AddSingleton(_ => Task.Run(() => MmragKnowledgeBase.OpenAsync(options)).GetAwaiter().GetResult());
        return AddForwards(services);
    }

    /// <summary>
    /// Registers an already opened <paramref name="knowledgeBase"/> (the caller keeps owning it) and its store, searcher
    /// and answerer, as a host that opened it itself (the CLI's <c>mmrag serve</c>) does.
    /// </summary>
    public static IServiceCollection AddMmrag(this IServiceCollection services, MmragKnowledgeBase knowledgeBase)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentNullException.ThrowIfNull(knowledgeBase);
        services.AddSingleton(knowledgeBase);
        return AddForwards(services);
    }

    private static IServiceCollection AddForwards(IServiceCollection services)
    {
        // The knowledge base owns these; its store's disposal is idempotent, so a container that disposes the forward too is harmless.
        services.TryAddSingleton(static sp => sp.GetRequiredService<MmragKnowledgeBase>().Store);
        services.TryAddSingleton(static sp => sp.GetRequiredService<MmragKnowledgeBase>().Searcher);
        services.TryAddSingleton(static sp => sp.GetRequiredService<MmragKnowledgeBase>().Answerer);
        services.TryAddSingleton(static sp => sp.GetRequiredService<MmragKnowledgeBase>().Reranker);
        return services;
    }

    /// <summary>
    /// The parts of one knowledge base, on the libraries' own registrations: the store (owned), <c>AddClip</c> for the
    /// model and its generators, the searcher, <c>AddAnswering</c> for the answerer and LLM, and the ingestion pipeline.
    /// </summary>
    internal static IServiceCollection AddMmragParts(this IServiceCollection services, IKnowledgeStore store, ClipModel? model, MmragOptions options)
    {
        // Factories, not instances, so that the container owns (disposes) them.
        services.AddSingleton(_ => store);
        if (store is IIngestionWorkClaims)
        {
            services.AddSingleton(sp => (IIngestionWorkClaims)sp.GetRequiredService<IKnowledgeStore>());
        }

        if (model is null)
        {
            return services;
        }

        services.AddClip(model, new ClipEmbeddingOptions { MaxImagePixels = options.MaxImagePixels });
        services.AddSingleton(sp => new KnowledgeSearcher(sp.GetRequiredService<IKnowledgeStore>(),
            sp.GetRequiredService<IEmbeddingGenerator<string, Embedding<float>>>(), sp.GetRequiredService<IEmbeddingGenerator<DataContent, Embedding<float>>>()));
        if (options.ChatClient is { } chat)
        {
            // The caller's: an instance registration, which the container does not dispose.
            services.AddSingleton(chat);
        }

        services.AddAnswering(options.ChatClient is null ? options.Llm ?? new LlmOptions() : new LlmOptions());
        services.AddSingleton(sp => new IngestionPipelineFactory(sp));
        return services;
    }
}

/// <summary>Makes ingestion pipelines over a knowledge base's store and model, with the chunker sized by the model's tokenizer.</summary>
internal sealed class IngestionPipelineFactory(IServiceProvider services)
{
    // Loaders are made per pipeline: runs in parallel (server jobs) must not share a loader's state.
    public IngestionPipeline Create() => new(services.GetRequiredService<IKnowledgeStore>(),
        services.GetRequiredService<IEmbeddingGenerator<string, Embedding<float>>>(),
        services.GetRequiredService<IEmbeddingGenerator<DataContent, Embedding<float>>>(), CreateLoaders(services.GetRequiredService<ClipModel>()));

    private static LoaderRegistry CreateLoaders(ClipModel model)
    {
        var tokenizer = model.Tokenizer;
        return LoaderRegistry.CreateDefault(new TextChunker(text => tokenizer.EncodeToIds(text).Length));
    }
}
