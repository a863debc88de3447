using Mmrag.Knowledge;
using Mmrag.Retrieval.Tests.EndToEnd;
using Mmrag.Retrieval.Tests.Scoring;
using Mmrag.Retrieval.Tests.Search;
using Mmrag.Storage;
using Mmrag.Storage.Embedded;

namespace Mmrag.Retrieval.Tests;

/// <summary>Creates embedded (SQLite + vector index) stores in temp folders for the retrieval suites, and removes them afterwards.</summary>
internal sealed class EmbeddedStoreFactory : IDisposable
{
    private readonly string _root = Path.Combine(Path.GetTempPath(), "mmrag-retrieval-" + Guid.NewGuid().ToString("N"));

    // The suites' CreateStore hook is synchronous; opening a store in a test thread is harmless.
    public IKnowledgeStore Create(EmbeddingSpace space) =>
        EmbeddedKnowledgeStore.OpenAsync(Path.Combine(_root, Guid.NewGuid().ToString("N")), space).GetAwaiter().GetResult();

    public void Dispose()
    {
        try
        {
            Directory.Delete(_root, recursive: true);
        }
        catch (DirectoryNotFoundException)
        {
        }
    }
}

public sealed class EmbeddedKnowledgeSearcherTests : KnowledgeSearcherTests, IDisposable
{
    private readonly EmbeddedStoreFactory _stores = new();

    protected override IKnowledgeStore CreateStore(EmbeddingSpace space) => _stores.Create(space);

    public void Dispose() => _stores.Dispose();
}

public sealed class EmbeddedScoreCalibratorTests : ScoreCalibratorTests, IDisposable
{
    private readonly EmbeddedStoreFactory _stores = new();

    protected override IKnowledgeStore CreateStore(EmbeddingSpace space) => _stores.Create(space);

    public void Dispose() => _stores.Dispose();
}

public sealed class EmbeddedClipSearchEndToEndTests : ClipSearchEndToEndTests, IDisposable
{
    private readonly EmbeddedStoreFactory _stores = new();

    protected override IKnowledgeStore CreateStore(EmbeddingSpace space) => _stores.Create(space);

    public void Dispose() => _stores.Dispose();
}
