using System.Collections.Concurrent;
using Mmrag.Knowledge;

namespace Mmrag.Storage.ContractTests;

/// <summary>
/// The contract of <see cref="IIngestionWorkClaims"/>, written once for every store shared by several ingesters. A
/// backend's test project subclasses it and says how to create a knowledge base and how to open it a second time as
/// another process would (its own connections, its own caches); the tests play two ingesters on the two instances.
/// </summary>
/// <remarks>
/// Leases in these tests are either minutes (never run out during a test) or a millisecond followed by a wait of
/// fifty (always run out): no test depends on how fast the machine is.
/// </remarks>
public abstract class IngestionWorkClaimsContractTests : IAsyncLifetime
{
    /// <summary>The space of the knowledge bases these tests create.</summary>
    protected static readonly EmbeddingSpace ClaimsSpace = new("claims-model", 16);

    private static readonly TimeSpan Long = TimeSpan.FromMinutes(5);

    private IKnowledgeStore? _first;
    private IKnowledgeStore? _second;

    /// <summary>Creates a new, empty knowledge base for <paramref name="space"/> and opens it.</summary>
    protected abstract Task<IKnowledgeStore> CreateStoreAsync(EmbeddingSpace space);

    /// <summary>Opens the knowledge base of the latest <see cref="CreateStoreAsync"/> again, beside the open one, as a second process would.</summary>
    protected abstract Task<IKnowledgeStore> OpenAnotherAsync(EmbeddingSpace space);

    /// <summary>Removes what the test created (called after both stores were disposed).</summary>
    protected virtual Task CleanupAsync() => Task.CompletedTask;

    /// <summary>The knowledge base as the first ingester opened it.</summary>
    protected IKnowledgeStore Store => _first ?? throw new InvalidOperationException("The test has not been initialized.");

    /// <summary>The first ingester's claims (on <see cref="Store"/>).</summary>
    protected IIngestionWorkClaims A => Claims(Store);

    /// <summary>The second ingester's claims, on its own instance of the same knowledge base.</summary>
    protected IIngestionWorkClaims B => Claims(_second ?? throw new InvalidOperationException("The test has not been initialized."));

    /// <summary>Opens the knowledge base twice, once per ingester.</summary>
    public async Task InitializeAsync()
    {
        _first = await CreateStoreAsync(ClaimsSpace);
        _second = await OpenAnotherAsync(ClaimsSpace);
    }

    /// <summary>Closes both instances, then cleans up.</summary>
    public async Task DisposeAsync()
    {
        await (_second?.DisposeAsync() ?? ValueTask.CompletedTask);
        await (_first?.DisposeAsync() ?? ValueTask.CompletedTask);
        await CleanupAsync();
    }

    private static IIngestionWorkClaims Claims(IKnowledgeStore store) =>
        store as IIngestionWorkClaims ?? throw new InvalidOperationException($"{store.GetType().Name} does not implement IIngestionWorkClaims.");

    [Fact]
    public async Task TwoIngesters_SameTwoHundredDocuments_EachStoredOnceAndTheWorkSplit()
    {
        DocumentRecord[] folder = [.. Enumerable.Range(0, 200).Select(i => ContractData.Document($"doc{i:D3}", $"/kb/folder/doc{i:D3}.txt"))];
        var processed = new ConcurrentDictionary<string, ConcurrentBag<string>>();

        // Each of the two ingesters pauses after its first ten documents until the other has claimed one, so that the work
        // is split however the tasks are scheduled (on a loaded 2-core machine one could otherwise finish all 200 before
        // the other starts).
        var firstClaim = new Dictionary<string, TaskCompletionSource>
        {
            ["ingester-a"] = new(TaskCreationOptions.RunContinuationsAsynchronously),
            ["ingester-b"] = new(TaskCreationOptions.RunContinuationsAsynchronously),
        };

        async Task<int> IngestAsync(IIngestionWorkClaims claims, string owner, int seed, string? other = null)
        {
            var random = new Random(seed);
            var writer = (IKnowledgeStore)claims;
            int done = 0;
            foreach (DocumentRecord document in folder)
            {
                if (!await claims.TryClaimAsync(document.Id, document.ContentHash, owner, Long))
                {
                    continue;
                }

                if (other is not null)
                {
                    firstClaim[owner].TrySetResult();
                }

                processed.GetOrAdd(document.Id, _ => []).Add(owner);
                await writer.UpsertDocumentAsync(document, [ContractData.Item(document, 0, ContractData.UnitVector(random, ClaimsSpace.Dimension), "text")]);
                await claims.ReleaseAsync(document.Id, owner, completed: true);
                done++;
                if (other is not null && done == 10)
                {
                    await firstClaim[other].Task.WaitAsync(TimeSpan.FromSeconds(60));
                }
            }

            return done;
        }

        int[] counts = await Task.WhenAll(Task.Run(() => IngestAsync(A, "ingester-a", 1, other: "ingester-b")),
            Task.Run(() => IngestAsync(B, "ingester-b", 2, other: "ingester-a")));

        Assert.Equal(200, counts.Sum());
        Assert.All(counts, c => Assert.True(c > 0, $"one ingester did nothing ({string.Join(", ", counts)})"));
        Assert.Equal(200, processed.Count);
        Assert.All(processed, p => Assert.Single(p.Value));
        KnowledgeBaseStats stats = await Store.GetStatsAsync();
        Assert.Equal((200, 200), (stats.Documents, stats.TextChunks));

        // A third pass over the same, unchanged folder claims nothing.
        Assert.Equal(0, await IngestAsync(B, "ingester-c", 3));
    }

    [Fact]
    public async Task TryClaim_ManyOwnersAtOnce_ExactlyOneWins()
    {
        for (int d = 0; d < 20; d++)
        {
            string id = $"contested{d}";
            using var start = new ManualResetEventSlim();
            Task<bool>[] tries = [.. Enumerable.Range(0, 8).Select(o => Task.Run(() =>
            {
                start.Wait();
                return (o % 2 == 0 ? A : B).TryClaimAsync(id, "h1", $"owner-{o}", Long);
            }))];
            start.Set();
            bool[] won = await Task.WhenAll(tries);
            Assert.Equal(1, won.Count(w => w));
        }
    }

    [Fact]
    public async Task TryClaim_RacingTheHoldersStoreAndCompletion_NeverWins()
    {
        // The interleaving that broke PostgreSQL (issue 15, item 7): a second ingester deciding while the first stores the
        // document and completes the claim must see either the live claim or the completed one, never a free document.
        // The versions differ from the stored hash (as for a described image), so only the claim protects the document.
        int wins = 0;
        for (int d = 0; d < 60; d++)
        {
            DocumentRecord document = ContractData.Document($"race{d:D2}");
            string version = document.ContentHash + "+description";
            Assert.True(await A.TryClaimAsync(document.Id, version, "a", Long));
            Task completion = Task.Run(async () =>
            {
                await Store.UpsertDocumentAsync(document, []);
                await A.ReleaseAsync(document.Id, "a", completed: true);
            });
            while (!completion.IsCompleted)
            {
                wins += await B.TryClaimAsync(document.Id, version, "b", Long) ? 1 : 0;
            }

            await completion;
            wins += await B.TryClaimAsync(document.Id, version, "b", Long) ? 1 : 0;
        }

        Assert.Equal(0, wins);
    }

    [Fact]
    public async Task TryClaim_HeldByAnotherOwner_IsRefusedUntilItsLeaseRunsOut()
    {
        Assert.True(await A.TryClaimAsync("d", "h1", "a", TimeSpan.FromMilliseconds(1)));
        await Task.Delay(50);
        Assert.True(await B.TryClaimAsync("d", "h1", "b", Long)); // a's lease ran out
        Assert.False(await A.TryClaimAsync("d", "h1", "a", Long)); // b holds it now: a's renewal fails
        Assert.False(await A.TryClaimAsync("d", "h2", "c", Long)); // a live claim holds the document, whatever the version
    }

    [Fact]
    public async Task Release_NotCompleted_FreesTheDocumentForAnotherIngester()
    {
        Assert.True(await A.TryClaimAsync("d", "h1", "a", Long));
        Assert.False(await B.TryClaimAsync("d", "h1", "b", Long));

        await A.ReleaseAsync("d", "a", completed: false); // a failed on it: another ingester may try
        Assert.True(await B.TryClaimAsync("d", "h1", "b", Long));
    }

    [Fact]
    public async Task Release_ByAnOwnerThatDoesNotHoldTheClaim_ChangesNothing()
    {
        await B.ReleaseAsync("nobody-claimed", "b", completed: true); // no claim at all: nothing happens
        Assert.True(await A.TryClaimAsync("nobody-claimed", "h1", "a", Long));
        Assert.True(await A.TryClaimAsync("d", "h1", "a", Long));

        await B.ReleaseAsync("d", "b", completed: false);
        Assert.False(await B.TryClaimAsync("d", "h1", "b", Long));
        await B.ReleaseAsync("d", "b", completed: true);
        Assert.False(await B.TryClaimAsync("d", "h1", "b", Long));
        await A.ReleaseAsync("d", "a", completed: false);
        Assert.True(await B.TryClaimAsync("d", "h1", "b", Long)); // a's claim was still a live one until a gave it back
    }

    [Fact]
    public async Task TryClaim_BySameOwnerWhileHeld_RenewsTheLease()
    {
        Assert.True(await A.TryClaimAsync("d", "h1", "a", TimeSpan.FromMilliseconds(1)));
        Assert.True(await A.TryClaimAsync("d", "h1", "a", Long)); // renewed (even after it ran out, while no one else took it)
        await Task.Delay(50);
        Assert.False(await B.TryClaimAsync("d", "h1", "b", Long)); // the renewed lease still holds
    }

    [Fact]
    public async Task TryClaim_VersionAlreadyStoredWithoutClaims_IsNotClaimed()
    {
        DocumentRecord document = ContractData.Document("stored");
        await Store.UpsertDocumentAsync(document, []);
        Assert.False(await A.TryClaimAsync(document.Id, document.ContentHash, "a", Long));
        Assert.True(await A.TryClaimAsync(document.Id, "changed", "a", Long));
    }

    [Fact]
    public async Task TryClaim_CompletedVersion_IsDoneButANewVersionIsWorkAgain()
    {
        DocumentRecord document = ContractData.Document("d");
        Assert.True(await A.TryClaimAsync(document.Id, "h1+description", "a", Long));
        await Store.UpsertDocumentAsync(document, []); // a described image: the claim's version is not the file hash
        await A.ReleaseAsync(document.Id, "a", completed: true);

        Assert.False(await B.TryClaimAsync(document.Id, "h1+description", "b", Long));
        Assert.False(await A.TryClaimAsync(document.Id, "h1+description", "a", Long)); // done, even for its own owner
        Assert.True(await B.TryClaimAsync(document.Id, "h1+new-description", "b", Long));
    }

    [Fact]
    public async Task TryClaim_CompletedVersionWhoseDocumentWasDeleted_IsWorkAgain()
    {
        DocumentRecord document = ContractData.Document("deleted-later");
        Assert.True(await A.TryClaimAsync(document.Id, document.ContentHash, "a", Long));
        await Store.UpsertDocumentAsync(document, []);
        await A.ReleaseAsync(document.Id, "a", completed: true);
        Assert.False(await B.TryClaimAsync(document.Id, document.ContentHash, "b", Long));

        Assert.True(await Store.DeleteDocumentAsync(document.Id));
        Assert.True(await B.TryClaimAsync(document.Id, document.ContentHash, "b", Long));
        Assert.False(await A.TryClaimAsync(document.Id, document.ContentHash, "a", Long)); // and b holds it now
    }
}
