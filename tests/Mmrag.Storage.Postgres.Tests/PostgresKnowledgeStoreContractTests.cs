using Mmrag.Knowledge;
using Mmrag.Storage.ContractTests;

namespace Mmrag.Storage.Postgres.Tests;

/// <summary>
/// The store contract on PostgreSQL + pgvector, one schema per knowledge base (dropped after the test), all on the
/// collection's server.
/// </summary>
[Collection(PostgresCollection.Name)]
public sealed class PostgresKnowledgeStoreContractTests(PostgresTestServer server) : KnowledgeStoreContractTests
{
    private readonly List<string> _schemas = [];

    private PostgresStoreOptions Options() => new() { Schema = _schemas[^1] };

    protected override async Task<IKnowledgeStore> CreateStoreAsync(EmbeddingSpace space)
    {
        _schemas.Add(PostgresTestServer.NewSchema());
        return await PostgresKnowledgeStore.OpenAsync(server.ConnectionString, space, Options());
    }

    protected override async Task<IKnowledgeStore> ReopenStoreAsync(EmbeddingSpace space) =>
        await PostgresKnowledgeStore.OpenAsync(server.ConnectionString, space,
            _schemas.Count > 0 ? Options() : throw new InvalidOperationException("No store was created."));

    protected override Task CleanupAsync() => server.DropSchemasAsync(_schemas);
}
