using System.Diagnostics;
using Microsoft.Data.Sqlite;
using Mmrag.Knowledge;
using Mmrag.Storage.ContractTests;

namespace Mmrag.Storage.Embedded.Tests;

/// <summary>
/// The claims contract on the embedded store: two store instances on one folder are two processes as far as SQLite is
/// concerned (separate connections, decisions serialized by its write lock).
/// </summary>
public sealed class EmbeddedIngestionWorkClaimsContractTests : IngestionWorkClaimsContractTests
{
    private readonly TemporaryFolder _root = new();
    private string? _folder;

    protected override async Task<IKnowledgeStore> CreateStoreAsync(EmbeddingSpace space)
    {
        _folder = _root.NewFolder();
        return await EmbeddedKnowledgeStore.OpenAsync(_folder, space, EmbeddedKnowledgeStoreContractTests.Options());
    }

    protected override async Task<IKnowledgeStore> OpenAnotherAsync(EmbeddingSpace space) =>
        await EmbeddedKnowledgeStore.OpenAsync(_folder ?? throw new InvalidOperationException("No store was created."), space,
            EmbeddedKnowledgeStoreContractTests.Options());

    protected override Task CleanupAsync()
    {
        _root.Dispose();
        return Task.CompletedTask;
    }
}

/// <summary>What the embedded store's claims do beyond the contract: SQLite's write lock, ended holder processes, the schema upgrade.</summary>
public sealed class EmbeddedIngestionWorkClaimsTests : IDisposable
{
    private static readonly EmbeddingSpace Space = new("claims-model", 16);
    private static readonly TimeSpan Long = TimeSpan.FromMinutes(5);
    private readonly TemporaryFolder _root = new();

    public void Dispose() => _root.Dispose();

    private static Task<EmbeddedKnowledgeStore> OpenAsync(string folder) =>
        EmbeddedKnowledgeStore.OpenAsync(folder, Space, EmbeddedKnowledgeStoreContractTests.Options());

    private static SqliteConnection Raw(string folder) => new($"Data Source={Path.Combine(folder, "knowledge.db")};Pooling=False");

    [Fact]
    public async Task TryClaim_WhileAnotherProcessIsCompletingTheClaim_WaitsForItsCommitAndLoses()
    {
        // Item 7 of issue 15, deterministically: the second ingester asks while the first's completion is written but not
        // committed (here by a raw connection holding SQLite's write lock, as the first process would). It must wait for
        // the commit and then see the completed claim, not decide on what it read before.
        string folder = _root.NewFolder();
        await using EmbeddedKnowledgeStore first = await OpenAsync(folder);
        await using EmbeddedKnowledgeStore second = await OpenAsync(folder);
        DocumentRecord document = ContractData.Document("described-image");
        string version = document.ContentHash + "+description";
        Assert.True(await first.TryClaimAsync(document.Id, version, "first", Long));
        await first.UpsertDocumentAsync(document, []);

        await using SqliteConnection completing = Raw(folder);
        await completing.OpenAsync();
        Task<bool> attempt;
        await using (SqliteTransaction tx = completing.BeginTransaction(deferred: false))
        {
            await ExecuteAsync(completing, "UPDATE ingestion_claims SET completed_at = '2030-01-01T00:00:00.0000000Z' WHERE document_id = 'described-image'", tx);
            attempt = Task.Run(() => second.TryClaimAsync(document.Id, version, "second", Long));
            await Task.Delay(300);
            Assert.False(attempt.IsCompleted, "the claim was decided without waiting for the write lock");
            await tx.CommitAsync();
        }

        Assert.False(await attempt);
    }

    [Fact]
    public async Task TryClaim_HeldByAnEndedProcessOnThisMachine_IsFreeAtOnce_FromAnotherMachine_WaitsForItsLease()
    {
        string folder = _root.NewFolder();
        await using EmbeddedKnowledgeStore store = await OpenAsync(folder);
        Assert.True(await store.TryClaimAsync("killed", "h1", "killed-ingester", Long));
        Assert.True(await store.TryClaimAsync("remote", "h1", "remote-ingester", Long));
        int ended = await EndedProcessIdAsync();
        await using (SqliteConnection raw = Raw(folder))
        {
            await raw.OpenAsync();
            await ExecuteAsync(raw, $"UPDATE ingestion_claims SET pid = {ended}");
            await ExecuteAsync(raw, "UPDATE ingestion_claims SET host = 'another-machine' WHERE document_id = 'remote'");
        }

        Assert.True(await store.TryClaimAsync("killed", "h1", "rerun", Long)); // its process is gone: no wait for the lease
        Assert.False(await store.TryClaimAsync("remote", "h1", "rerun", Long)); // another machine's process may be alive
        Assert.False(await store.TryClaimAsync("killed", "h1", "third", Long)); // the rerun (alive) holds it now
    }

    [Fact]
    public async Task Open_DatabaseOfSchemaVersionOne_AddsTheClaimsTable()
    {
        string folder = _root.NewFolder();
        await (await OpenAsync(folder)).DisposeAsync();
        await using (SqliteConnection raw = Raw(folder))
        {
            // What the build before claims left: schema version 1, no claims table.
            await raw.OpenAsync();
            await ExecuteAsync(raw, "DROP TABLE ingestion_claims");
            await ExecuteAsync(raw, "DROP TABLE relevance_feedback"); // a later version's
            await ExecuteAsync(raw, "UPDATE schema_version SET version = 1");
        }

        await using EmbeddedKnowledgeStore store = await OpenAsync(folder);
        Assert.True(await store.TryClaimAsync("d", "h1", "a", Long));
        await using SqliteConnection check = Raw(folder);
        await check.OpenAsync();
        await using SqliteCommand version = check.CreateCommand();
        version.CommandText = "SELECT version FROM schema_version";
        Assert.Equal(4L, await version.ExecuteScalarAsync()); // and on through every later migration
    }

    /// <summary>The id of a process that has just ended (and was reaped), as a killed ingester's would be.</summary>
    private static async Task<int> EndedProcessIdAsync()
    {
        using var process = Process.Start(new ProcessStartInfo("sh", ["-c", "exit 0"]) { UseShellExecute = false })
            ?? throw new InvalidOperationException("sh did not start.");
        await process.WaitForExitAsync();
        return process.Id;
    }

    private static async Task ExecuteAsync(SqliteConnection connection, string sql, SqliteTransaction? tx = null)
    {
        await using SqliteCommand command = connection.CreateCommand();
        command.CommandText = sql;
        command.Transaction = tx;
        await command.ExecuteNonQueryAsync();
    }
}
