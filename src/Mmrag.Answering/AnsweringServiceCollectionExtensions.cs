using Microsoft.Extensions.AI;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Logging;
using Mmrag.Answering.Captioning;
using Mmrag.Answering.Images;
using Mmrag.Answering.Llm;
using Mmrag.Answering.Reranking;
using Mmrag.Retrieval.Search;

namespace Mmrag.Answering;

/// <summary>Registers answering.</summary>
public static class AnsweringServiceCollectionExtensions
{
    /// <summary>
    /// Registers <see cref="Answerer"/> (singleton, needs a registered <see cref="KnowledgeSearcher"/>), the
    /// <see cref="IChatClient"/> from <paramref name="llm"/> when it is configured (validated here, so a bad setting fails
    /// at start-up naming it), an <see cref="ImageCaptioner"/> on the caption model, the <see cref="LlmReranker"/> on the
    /// same chat client (it skips every rerank without one), and <see cref="IImageReencoder"/>.
    /// With no LLM configured the answerer returns sources and the configuration hint.
    /// </summary>
    public static IServiceCollection AddAnswering(this IServiceCollection services, LlmOptions llm)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentNullException.ThrowIfNull(llm);
        services.TryAddSingleton<IImageReencoder>(SkiaJpegReencoder.Instance);
        if (llm.IsConfigured)
        {
            llm.Validate();
            services.TryAddSingleton(sp => OpenAiCompatibleChatClientFactory.Create(llm, loggerFactory: sp.GetService<ILoggerFactory>()));
            services.TryAddSingleton(sp => new ImageCaptioner(
                OpenAiCompatibleChatClientFactory.Create(llm, llm.EffectiveCaptionModel, sp.GetService<ILoggerFactory>()),
                reencoder: sp.GetRequiredService<IImageReencoder>()));
        }

        services.TryAddSingleton(sp => new LlmReranker(sp.GetService<IChatClient>(), sp.GetRequiredService<IImageReencoder>(), sp.GetService<ILogger<LlmReranker>>()));
        services.TryAddSingleton(sp => new Answerer(sp.GetRequiredService<KnowledgeSearcher>(), sp.GetService<IChatClient>(),
            sp.GetRequiredService<IImageReencoder>(), sp.GetService<ILogger<Answerer>>(), sp.GetRequiredService<LlmReranker>()));
        return services;
    }
}
