using System.Collections.Concurrent;
using Mmrag.Knowledge;
using Mmrag.Storage.ContractTests;

namespace Mmrag.Storage.Postgres.Tests;

/// <summary>Several ingesters sharing one database through <see cref="IIngestionWorkClaims"/>.</summary>
[Collection(PostgresCollection.Name)]
public sealed class PostgresIngestionWorkClaimsTests(PostgresTestServer server) : IAsyncLifetime
{
    private static readonly EmbeddingSpace Space = new("claims-model", 16);
    private readonly string _schema = PostgresTestServer.NewSchema();

    public Task InitializeAsync() => Task.CompletedTask;

    public Task DisposeAsync() => server.DropSchemasAsync([_schema]);

    private Task<PostgresKnowledgeStore> OpenAsync() =>
        PostgresKnowledgeStore.OpenAsync(server.WithPoolSize(4), Space, new PostgresStoreOptions { Schema = _schema });

    [Fact]
    public async Task TwoIngesters_SameFolderOfTwoHundredDocuments_StoreEachExactlyOnceAndSplitTheWork()
    {
        // Each ingester is its own store (its own data source and pool), as two processes would be.
        await using PostgresKnowledgeStore first = await OpenAsync();
        await using PostgresKnowledgeStore second = await OpenAsync();
        DocumentRecord[] folder = Enumerable.Range(0, 200)
            .Select(i => ContractData.Document($"doc{i:D3}", $"/kb/folder/doc{i:D3}.txt"))
            .ToArray();
        var processed = new ConcurrentDictionary<string, ConcurrentBag<string>>();

        async Task<int> IngestAsync(PostgresKnowledgeStore store, string owner, int seed)
        {
            var random = new Random(seed);
            int done = 0;
            foreach (DocumentRecord document in folder)
            {
                if (!await store.TryClaimAsync(document.Id, document.ContentHash, owner, TimeSpan.FromMinutes(5)))
                {
                    continue;
                }

                processed.GetOrAdd(document.Id, _ => []).Add(owner);
                await store.UpsertDocumentAsync(document, [ContractData.Item(document, 0, ContractData.UnitVector(random, 16), "text")]);
                await store.ReleaseAsync(document.Id, owner, completed: true);
                done++;
            }

            return done;
        }

        int[] counts = await Task.WhenAll(Task.Run(() => IngestAsync(first, "ingester-a", 1)), Task.Run(() => IngestAsync(second, "ingester-b", 2)));

        Assert.Equal(200, counts.Sum());
        Assert.All(counts, c => Assert.True(c > 0, $"one ingester did nothing ({string.Join(", ", counts)})"));
        Assert.Equal(200, processed.Count);
        Assert.All(processed, p => Assert.Single(p.Value));
        KnowledgeBaseStats stats = await first.GetStatsAsync();
        Assert.Equal((200, 200), (stats.Documents, stats.TextChunks));

        // A third pass over the same, unchanged folder claims nothing.
        Assert.Equal(0, await IngestAsync(second, "ingester-c", 3));
    }

    [Fact]
    public async Task TryClaim_HeldByAnotherUntilReleasedOrExpired_ThenFree()
    {
        await using PostgresKnowledgeStore store = await OpenAsync();
        Assert.True(await store.TryClaimAsync("d", "h1", "a", TimeSpan.FromMinutes(5)));
        Assert.False(await store.TryClaimAsync("d", "h1", "b", TimeSpan.FromMinutes(5)));

        await store.ReleaseAsync("d", "b", completed: false); // not b's claim: nothing happens
        Assert.False(await store.TryClaimAsync("d", "h1", "b", TimeSpan.FromMinutes(5)));

        await store.ReleaseAsync("d", "a", completed: false); // a gave up: free again
        Assert.True(await store.TryClaimAsync("d", "h1", "b", TimeSpan.FromMilliseconds(1)));
        await Task.Delay(50);
        Assert.True(await store.TryClaimAsync("d", "h1", "c", TimeSpan.FromMinutes(5))); // b's lease ran out

        await store.UpsertDocumentAsync(ContractData.Document("d"), []); // c stored it (a described image: the claim's version is not the file hash)
        await store.ReleaseAsync("d", "c", completed: true);
        Assert.False(await store.TryClaimAsync("d", "h1", "a", TimeSpan.FromMinutes(5))); // that version is done
        Assert.True(await store.TryClaimAsync("d", "h2", "a", TimeSpan.FromMinutes(5))); // a new version is work again
    }

    [Fact]
    public async Task TryClaim_VersionAlreadyStoredWithoutClaims_IsNotClaimed()
    {
        await using PostgresKnowledgeStore store = await OpenAsync();
        DocumentRecord document = ContractData.Document("stored");
        await store.UpsertDocumentAsync(document, []);
        Assert.False(await store.TryClaimAsync(document.Id, document.ContentHash, "a", TimeSpan.FromMinutes(5)));
        Assert.True(await store.TryClaimAsync(document.Id, "changed", "a", TimeSpan.FromMinutes(5)));
    }

    [Fact]
    public async Task TryClaim_BySameOwnerWhileHeld_RenewsTheLease()
    {
        await using PostgresKnowledgeStore store = await OpenAsync();
        Assert.True(await store.TryClaimAsync("d", "h1", "a", TimeSpan.FromMilliseconds(300)));
        Assert.True(await store.TryClaimAsync("d", "h1", "a", TimeSpan.FromMinutes(5))); // renewed before it ran out
        await Task.Delay(400);
        Assert.False(await store.TryClaimAsync("d", "h1", "b", TimeSpan.FromMinutes(5))); // the renewed lease still holds
    }

    [Fact]
    public async Task TryClaim_CompletedVersionWhoseDocumentWasDeleted_IsWorkAgain()
    {
        await using PostgresKnowledgeStore store = await OpenAsync();
        DocumentRecord document = ContractData.Document("deleted-later");
        Assert.True(await store.TryClaimAsync(document.Id, document.ContentHash, "a", TimeSpan.FromMinutes(5)));
        await store.UpsertDocumentAsync(document, []);
        await store.ReleaseAsync(document.Id, "a", completed: true);
        Assert.False(await store.TryClaimAsync(document.Id, document.ContentHash, "b", TimeSpan.FromMinutes(5)));

        Assert.True(await store.DeleteDocumentAsync(document.Id));
        Assert.True(await store.TryClaimAsync(document.Id, document.ContentHash, "b", TimeSpan.FromMinutes(5)));
    }
}
