using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Mmrag.Knowledge;

namespace Mmrag.Storage.Postgres;

/// <summary>Registers the PostgreSQL knowledge store with a service collection.</summary>
public static class PostgresStoreServiceCollectionExtensions
{
    /// <summary>
    /// Registers one <see cref="PostgresKnowledgeStore"/> for the database <paramref name="connectionString"/> names
    /// as a singleton, also as <see cref="IKnowledgeStore"/> and <see cref="IIngestionWorkClaims"/>. The store is opened
    /// (created for <paramref name="space"/> when missing, migrated) on first use and disposed with the container. The
    /// options are validated here, so a bad setting fails at start-up, naming the setting.
    /// </summary>
    public static IServiceCollection AddPostgresKnowledgeStore(this IServiceCollection services, string connectionString, EmbeddingSpace space,
        Action<PostgresStoreOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentException.ThrowIfNullOrWhiteSpace(connectionString);
        ArgumentNullException.ThrowIfNull(space);
        var options = new PostgresStoreOptions();
        configure?.Invoke(options);
        options.Validate();
        services.AddSingleton(provider =>
        {
            options.LoggerFactory ??= provider.GetService<ILoggerFactory>();
            // DI factories are synchronous; opening runs on the pool so no synchronization context can deadlock it.
            return Task.Run(() => PostgresKnowledgeStore.OpenAsync(connectionString, space, options)).GetAwaiter().GetResult();
        });
        services.AddSingleton<IKnowledgeStore>(provider => provider.GetRequiredService<PostgresKnowledgeStore>());
        services.AddSingleton<IIngestionWorkClaims>(provider => provider.GetRequiredService<PostgresKnowledgeStore>());
        return services;
    }
}
