using Mmrag.Knowledge;
using Mmrag.Storage.ContractTests;
using Mmrag.Storage.Embedded.Indexing;

namespace Mmrag.Storage.Embedded.Tests;

/// <summary>
/// The store contract on the embedded store, one knowledge base folder per test. The exact-search threshold is
/// lowered to 500 so the larger corpora of the suite go through the HNSW graph (built inline, so every search after
/// the corpus is stored uses it), as a large knowledge base would.
/// </summary>
public sealed class EmbeddedKnowledgeStoreContractTests : KnowledgeStoreContractTests
{
    private readonly TemporaryFolder _root = new();
    private string? _folder;

    internal static EmbeddedStoreOptions Options() => new()
    {
        ExactSearchThreshold = 500,
        BuildIndexInBackground = false,
        Hnsw = new HnswOptions { M = 12, EfConstruction = 100, MaxDegreeOfParallelism = 1 },
    };

    protected override async Task<IKnowledgeStore> CreateStoreAsync(EmbeddingSpace space)
    {
        _folder = _root.NewFolder();
        return await EmbeddedKnowledgeStore.OpenAsync(_folder, space, Options());
    }

    protected override async Task<IKnowledgeStore> ReopenStoreAsync(EmbeddingSpace space) =>
        await EmbeddedKnowledgeStore.OpenAsync(_folder ?? throw new InvalidOperationException("No store was created."), space, Options());

    protected override Task CleanupAsync()
    {
        _root.Dispose();
        return Task.CompletedTask;
    }
}
