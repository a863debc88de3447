using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Mmrag.Knowledge;

namespace Mmrag.Storage.Embedded;

/// <summary>Registers the embedded knowledge store with a service collection.</summary>
public static class EmbeddedStoreServiceCollectionExtensions
{
    /// <summary>
    /// Registers one <see cref="EmbeddedKnowledgeStore"/> for the knowledge base in <paramref name="folder"/> as a
    /// singleton, also as <see cref="IKnowledgeStore"/> and <see cref="IIngestionWorkClaims"/>. The store is opened
    /// (created for <paramref name="space"/> when missing) on first use and disposed with the container. The options
    /// are validated here, so a bad setting fails at start-up, naming the setting.
    /// </summary>
    public static IServiceCollection AddEmbeddedKnowledgeStore(this IServiceCollection services, string folder, EmbeddingSpace space,
        Action<EmbeddedStoreOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentException.ThrowIfNullOrWhiteSpace(folder);
        ArgumentNullException.ThrowIfNull(space);
        var options = new EmbeddedStoreOptions();
        configure?.Invoke(options);
        options.Validate();
        services.AddSingleton(provider =>
        {
            options.LoggerFactory ??= provider.GetService<ILoggerFactory>();
            return EmbeddedKnowledgeStore.Open(folder, space, options, CancellationToken.None);
        });
        services.AddSingleton<IKnowledgeStore>(provider => provider.GetRequiredService<EmbeddedKnowledgeStore>());
        services.AddSingleton<IIngestionWorkClaims>(provider => provider.GetRequiredService<EmbeddedKnowledgeStore>());
        return services;
    }
}
