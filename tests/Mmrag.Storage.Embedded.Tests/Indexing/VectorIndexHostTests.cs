using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Logging.Abstractions;
using Mmrag.Knowledge;
using Mmrag.Storage.ContractTests;
using Mmrag.Storage.Embedded.Indexing;

namespace Mmrag.Storage.Embedded.Tests.Indexing;

/// <summary>
/// The index host on its own, over a knowledge base that a store wrote: catching up with another instance's writes,
/// and the graph's round trip through <c>vectors.hnsw</c> with no store in between.
/// </summary>
public sealed class VectorIndexHostTests : IDisposable
{
    private static readonly EmbeddingSpace Space = new("test-model", 24);
    private readonly TemporaryFolder _root = new();
    private readonly SemaphoreSlim _writeLock = new(1, 1);

    public void Dispose()
    {
        _writeLock.Dispose();
        _root.Dispose();
    }

    private static EmbeddedStoreOptions Options() => new()
    {
        ExactSearchThreshold = 200,
        BuildIndexInBackground = false,
        Hnsw = new HnswOptions { M = 8, EfConstruction = 60, MaxDegreeOfParallelism = 1 },
    };

    private static string ConnectionString(string folder) =>
        new SqliteConnectionStringBuilder { DataSource = Path.Combine(folder, EmbeddedKnowledgeStore.DatabaseFileName), Pooling = false }.ToString();

    private static async Task<SqliteConnection> OpenConnectionAsync(string folder, CancellationToken cancellationToken)
    {
        var connection = new SqliteConnection(ConnectionString(folder));
        await connection.OpenAsync(cancellationToken);
        return connection;
    }

    /// <summary>A host over the knowledge base in <paramref name="folder"/>, loaded as a store loads it when it opens.</summary>
    private async Task<VectorIndexHost> LoadHostAsync(string folder)
    {
        await using SqliteConnection connection = await OpenConnectionAsync(folder, CancellationToken.None);
        using SqliteCommand uid = connection.CreateCommand();
        uid.CommandText = "SELECT uid FROM kb_info WHERE id = 1";
        var host = new VectorIndexHost(Path.Combine(folder, EmbeddedKnowledgeStore.IndexFileName), Guid.Parse((string)(await uid.ExecuteScalarAsync())!),
            Space.Dimension, Options(), _writeLock, ct => OpenConnectionAsync(folder, ct), NullLogger.Instance);
        host.Load(connection, CancellationToken.None);
        return host;
    }

    /// <summary>The ids of the top 10 items for each query, through the host's own search.</summary>
    private static List<string> TopTen(VectorIndexHost host, IEnumerable<float[]> queries)
    {
        IndexSnapshot snapshot = host.Current;
        return [.. queries.SelectMany(q => host.Search(snapshot, q, 10, null, null))
            .Select(hit => $"{snapshot.Table.DocumentIds[hit.Slot]}/{snapshot.Table.ContentHashes[hit.Slot]}")];
    }

    [Fact]
    public async Task Sync_AnotherInstanceAddedAndDeleted_IndexMatchesDatabase()
    {
        string folder = _root.NewFolder("kb");
        await using EmbeddedKnowledgeStore other = await EmbeddedKnowledgeStore.OpenAsync(folder, Space, Options());
        await Corpus.Build(60, Space.Dimension, seed: 3).StoreAsync(other);
        await using VectorIndexHost host = await LoadHostAsync(folder);
        long loadedAt = host.Current.Generation;
        Assert.Equal(60, host.Current.LiveCount);

        DocumentRecord added = ContractData.Document("added");
        float[] addedVector = ContractData.UnitVector(new Random(99), Space.Dimension);
        await other.UpsertDocumentAsync(added, [ContractData.Item(added, 0, addedVector, contentHash: "added-hash")]);
        Assert.True(await other.DeleteDocumentAsync("doc00"));
        Assert.Equal(loadedAt, host.Current.Generation); // nothing tells the host until it looks

        await host.SyncAsync(CancellationToken.None);

        EmbeddedIndexStatus truth = other.IndexStatus;
        Assert.Equal(truth.Generation, host.Current.Generation);
        Assert.Equal(truth.LiveVectors, host.Current.LiveCount);
        Assert.Equal(60 - 3 + 1, host.Current.LiveCount);
        Assert.False(host.NeedsSync);
        VectorHit top = Assert.Single(host.Search(host.Current, addedVector, 1, null, null));
        Assert.Equal(ContentHashKey.Of("added-hash"), host.Current.Table.ContentHashes[top.Slot]);
        Assert.Empty(host.Search(host.Current, addedVector, 60, new SearchFilter { DocumentIds = ["doc00"] }, null));
    }

    [Fact]
    public async Task SaveThenLoad_GraphBuiltByOneHost_NextHostLoadsItFromFileWithSameResults()
    {
        string folder = _root.NewFolder("kb");
        await using (EmbeddedKnowledgeStore store = await EmbeddedKnowledgeStore.OpenAsync(folder, Space, Options()))
        {
            await Corpus.Build(400, Space.Dimension, seed: 5).StoreAsync(store);
        }

        File.Delete(Path.Combine(folder, EmbeddedKnowledgeStore.IndexFileName)); // from here on only hosts write it
        float[][] queries = [.. Enumerable.Range(0, 12).Select(i => ContractData.UnitVector(new Random(500 + i), Space.Dimension))];
        List<string> built;
        await using (VectorIndexHost first = await LoadHostAsync(folder))
        {
            EmbeddedIndexStatus status = first.Status;
            Assert.Equal("no index file", status.IndexFileProblem);
            Assert.False(status.GraphLoadedFromFile);
            Assert.Equal(1, status.GraphBuilds);
            Assert.Equal(1, status.IndexSaves);
            built = TopTen(first, queries);
            Assert.Equal(queries.Length, first.Status.GraphSearches);
        }

        await using VectorIndexHost second = await LoadHostAsync(folder);
        EmbeddedIndexStatus loaded = second.Status;
        Assert.True(loaded.GraphLoadedFromFile);
        Assert.Null(loaded.IndexFileProblem);
        Assert.Equal(0, loaded.GraphBuilds);
        Assert.Equal(400, loaded.LiveVectors);
        Assert.Equal(built, TopTen(second, queries));
        Assert.Equal(queries.Length, second.Status.GraphSearches);
    }

    [Fact]
    public async Task DisposeAsync_GraphChangedSinceLastSave_WritesFileThatTheNextHostLoads()
    {
        string folder = _root.NewFolder("kb");
        await using EmbeddedKnowledgeStore other = await EmbeddedKnowledgeStore.OpenAsync(folder, Space, Options());
        await Corpus.Build(300, Space.Dimension, seed: 7).StoreAsync(other);
        await other.SaveIndexAsync();
        VectorIndexHost host = await LoadHostAsync(folder);
        Assert.True(host.Status.GraphLoadedFromFile);

        await other.DeleteDocumentAsync("doc01");
        await host.SyncAsync(CancellationToken.None);
        long synced = host.Current.Generation;
        await host.DisposeAsync();
        Assert.Equal(1, host.Status.IndexSaves);

        await using VectorIndexHost next = await LoadHostAsync(folder);
        Assert.True(next.Status.GraphLoadedFromFile, next.Status.IndexFileProblem);
        Assert.Equal(synced, next.Current.Generation);
        Assert.Equal(300 - 15, next.Current.LiveCount);
    }
}
