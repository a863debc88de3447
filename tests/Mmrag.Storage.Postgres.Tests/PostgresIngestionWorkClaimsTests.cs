using System.Collections.Concurrent;
using Mmrag.Knowledge;
using Mmrag.Storage.ContractTests;
using Npgsql;

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
    public async Task TryClaim_WaitingWhileTheHolderStoresAndCompletesTheSameVersion_LosesOnceItCommits()
    {
        // The interleaving that gave two winners under READ COMMITTED: B's claim statement starts (and takes its
        // snapshot) while A's transaction has stored the document and completed its claim but not committed; B waits for
        // A's row lock, then decides on the claim row as A left it. Deciding through a subquery on documents read B's
        // older snapshot, where the document was not stored yet, so B won a version A had just completed.
        await using PostgresKnowledgeStore store = await OpenAsync();
        DocumentRecord document = ContractData.Document("raced");
        Assert.True(await store.TryClaimAsync(document.Id, document.ContentHash, "a", TimeSpan.FromMinutes(5)));

        await using NpgsqlDataSource dataSource = NpgsqlDataSource.Create(server.WithPoolSize(1));
        await using NpgsqlConnection holder = await dataSource.OpenConnectionAsync();
        await using (NpgsqlTransaction tx = await holder.BeginTransactionAsync())
        {
            // What A's UpsertDocumentAsync and ReleaseAsync(completed: true) write, in one open transaction.
            await ExecuteAsync(holder, $"INSERT INTO \"{_schema}\".documents (id, source_path, content_hash, media_type, item_count, ingested_at) " +
                $"VALUES ('{document.Id}', '{document.SourcePath}', '{document.ContentHash}', 'text/plain', 0, now())");
            await ExecuteAsync(holder, $"UPDATE \"{_schema}\".ingestion_claims SET completed_at = clock_timestamp() WHERE document_id = '{document.Id}'");

            Task<bool> claim = Task.Run(() => store.TryClaimAsync(document.Id, document.ContentHash, "b", TimeSpan.FromMinutes(5)));
            if (server.IsPglite)
            {
                // PGlite runs one transaction at a time: B's statement waits for the backend, not for a row lock, and
                // starts after the commit. Let its messages arrive first all the same.
                await Task.Delay(300);
            }
            else
            {
                await WaitForALockWaitAsync(holder, claim);
            }

            Assert.False(claim.IsCompleted, "the claim did not wait for the transaction holding the claim row");
            await tx.CommitAsync();
            Assert.False(await claim.WaitAsync(TimeSpan.FromSeconds(30)), "b claimed a version a had just stored and completed");
        }

        Assert.False(await store.TryClaimAsync(document.Id, document.ContentHash, "c", TimeSpan.FromMinutes(5)));
    }

    /// <summary>Waits until a session waits for the holder's locks (the claim, for the claim row), failing after 10 s.</summary>
    private static async Task WaitForALockWaitAsync(NpgsqlConnection holder, Task claim)
    {
        var clock = System.Diagnostics.Stopwatch.StartNew();
        while (true)
        {
            await using var command = new NpgsqlCommand("SELECT EXISTS (SELECT 1 FROM pg_stat_activity WHERE pg_backend_pid() = ANY (pg_blocking_pids(pid)))", holder);
            if ((bool)(await command.ExecuteScalarAsync())!)
            {
                return;
            }

            Assert.False(claim.IsCompleted, "the claim did not wait for the transaction holding the claim row");
            Assert.True(clock.Elapsed < TimeSpan.FromSeconds(10), "the claim never waited for the claim row's lock");
            await Task.Delay(20);
        }
    }

    private static async Task ExecuteAsync(NpgsqlConnection connection, string sql)
    {
        await using var command = new NpgsqlCommand(sql, connection);
        await command.ExecuteNonQueryAsync();
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
