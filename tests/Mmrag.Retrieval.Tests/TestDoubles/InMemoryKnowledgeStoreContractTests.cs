using Mmrag.Knowledge;
using Mmrag.Storage;
using Mmrag.Storage.ContractTests;

namespace Mmrag.Retrieval.Tests.TestDoubles;

/// <summary>
/// The store contract on the in-memory double that the retrieval and ingestion suites run on, so a test passing on
/// the double says something about the real stores. Reopening is <see cref="InMemoryKnowledgeStore.Reopen"/>: a new
/// store over the same state, so the reopen tests check that state survives the first store's disposal and that the
/// space is checked, not that anything reaches a disk.
/// </summary>
public sealed class InMemoryKnowledgeStoreContractTests : KnowledgeStoreContractTests
{
    private InMemoryKnowledgeStore? _latest;

    protected override Task<IKnowledgeStore> CreateStoreAsync(EmbeddingSpace space)
    {
        _latest = new InMemoryKnowledgeStore(space);
        return Task.FromResult<IKnowledgeStore>(_latest);
    }

    protected override Task<IKnowledgeStore> ReopenStoreAsync(EmbeddingSpace space) =>
        Task.FromResult<IKnowledgeStore>((_latest ?? throw new InvalidOperationException("No store was created.")).Reopen(space));
}
