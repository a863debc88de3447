using System.Collections.Concurrent;
using Mmrag.Knowledge;
using Mmrag.Storage.ContractTests;
using Npgsql;

namespace Mmrag.Storage.Postgres.Tests;

/// <summary>
/// The claims contract (<see cref="IngestionWorkClaimsContractTests"/>) on PostgreSQL: two stores, each with its own
/// data source and pool, are two processes.
/// </summary>
[Collection(PostgresCollection.Name)]
public sealed class PostgresIngestionWorkClaimsContractTests(PostgresTestServer server) : IngestionWorkClaimsContractTests
{
    private readonly string _schema = PostgresTestServer.NewSchema();

    protected override async Task<IKnowledgeStore> CreateStoreAsync(EmbeddingSpace space) =>
        await PostgresKnowledgeStore.OpenAsync(server.WithPoolSize(4), space, new PostgresStoreOptions { Schema = _schema });

    protected override Task<IKnowledgeStore> OpenAnotherAsync(EmbeddingSpace space) => CreateStoreAsync(space);

    protected override Task CleanupAsync() => server.DropSchemasAsync([_schema]);
}

/// <summary>What PostgreSQL's claims must get right beyond the contract: the interleaving of READ COMMITTED row locks.</summary>
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
}
