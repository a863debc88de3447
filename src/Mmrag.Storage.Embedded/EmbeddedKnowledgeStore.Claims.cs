using System.Diagnostics;
using Microsoft.Data.Sqlite;
using Mmrag.Storage.Embedded.Sql;

namespace Mmrag.Storage.Embedded;

/// <content>Ingestion work claims: several ingesters (processes) on one knowledge base folder split the work.</content>
public sealed partial class EmbeddedKnowledgeStore
{
    private static readonly string s_host = Environment.MachineName;

    /// <inheritdoc />
    /// <remarks>
    /// The claim is decided in one <c>BEGIN IMMEDIATE</c> transaction: SQLite's write lock is taken before anything is
    /// read, so the decision reads the latest committed state and no other process can change it before the claim is
    /// written. Of two ingesters racing for a document exactly one wins, and one that completed the version a moment
    /// ago is seen as completed. A claim is free when there is none; when it was completed for another version or for a
    /// document deleted since; or, while not completed, when it is this owner's (a renewal), its lease ran out, or the
    /// process that took it on this machine has ended (a killed ingester's files need not wait for its lease; a process
    /// id reused meanwhile only makes them wait). A version already stored (even by a process that used no claims) is
    /// never claimed.
    /// </remarks>
    public async Task<bool> TryClaimAsync(string documentId, string contentHash, string owner, TimeSpan lease, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(documentId);
        ArgumentException.ThrowIfNullOrEmpty(contentHash);
        ArgumentException.ThrowIfNullOrEmpty(owner);
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(lease, TimeSpan.Zero);
        ThrowIfDisposed();
        // The write lock too, so that a claim waits for this process's own writes in line rather than by polling
        // SQLite's busy handler (which it still does for other processes' writes).
        await _writeLock.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            return await RunAsync("claiming document " + documentId, async (connection, ct) =>
            {
                using SqliteTransaction tx = connection.BeginTransaction(deferred: false);
                DateTimeOffset now = DateTimeOffset.UtcNow;
                if (!IsFree(await ReadClaimAsync(connection, tx, documentId, contentHash, ct).ConfigureAwait(false), contentHash, owner, now))
                {
                    return false;
                }

                using SqliteCommand claim = Command(connection, """
                    INSERT INTO ingestion_claims(document_id, content_hash, owner, host, pid, claimed_at, expires_at, completed_at)
                    VALUES ($id, $hash, $owner, $host, $pid, $now, $expires, NULL)
                    ON CONFLICT(document_id) DO UPDATE SET content_hash = excluded.content_hash, owner = excluded.owner,
                        host = excluded.host, pid = excluded.pid, claimed_at = excluded.claimed_at,
                        expires_at = excluded.expires_at, completed_at = NULL
                    """, tx);
                claim.Parameters.AddWithValue("$id", documentId);
                claim.Parameters.AddWithValue("$hash", contentHash);
                claim.Parameters.AddWithValue("$owner", owner);
                claim.Parameters.AddWithValue("$host", s_host);
                claim.Parameters.AddWithValue("$pid", Environment.ProcessId);
                claim.Parameters.AddWithValue("$now", StoreText.Time(now));
                claim.Parameters.AddWithValue("$expires", StoreText.Time(lease < DateTimeOffset.MaxValue - now ? now + lease : DateTimeOffset.MaxValue));
                await claim.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
                tx.Commit();
                return true;
            }, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            _writeLock.Release();
        }
    }

    /// <inheritdoc />
    public async Task ReleaseAsync(string documentId, string owner, bool completed, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(documentId);
        ArgumentException.ThrowIfNullOrEmpty(owner);
        ThrowIfDisposed();
        await _writeLock.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            await RunAsync("releasing the claim on document " + documentId, async (connection, ct) =>
            {
                using SqliteCommand release = Command(connection, completed
                    ? "UPDATE ingestion_claims SET completed_at = $now WHERE document_id = $id AND owner = $owner AND completed_at IS NULL"
                    : "DELETE FROM ingestion_claims WHERE document_id = $id AND owner = $owner AND completed_at IS NULL");
                release.Parameters.AddWithValue("$id", documentId);
                release.Parameters.AddWithValue("$owner", owner);
                release.Parameters.AddWithValue("$now", StoreText.Time(DateTimeOffset.UtcNow));
                return await release.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
            }, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            _writeLock.Release();
        }
    }

    /// <summary>What decides a claim on a document: whether that version is stored, whether the document exists, and its claim row if any.</summary>
    private static async Task<ClaimState> ReadClaimAsync(SqliteConnection connection, SqliteTransaction tx, string documentId, string contentHash,
        CancellationToken ct)
    {
        using SqliteCommand read = Command(connection, """
            SELECT (SELECT content_hash = $hash FROM documents WHERE id = $id),
                   c.content_hash, c.owner, c.host, c.pid, c.expires_at, c.completed_at IS NOT NULL
            FROM (SELECT 1) LEFT JOIN ingestion_claims c ON c.document_id = $id
            """, tx);
        read.Parameters.AddWithValue("$id", documentId);
        read.Parameters.AddWithValue("$hash", contentHash);
        using SqliteDataReader reader = await read.ExecuteReaderAsync(ct).ConfigureAwait(false);
        await reader.ReadAsync(ct).ConfigureAwait(false);
        bool documentExists = !reader.IsDBNull(0);
        bool versionStored = documentExists && reader.GetBoolean(0);
        ClaimRow? claim = reader.IsDBNull(1) ? null
            : new ClaimRow(reader.GetString(1), reader.GetString(2), reader.GetString(3), reader.GetInt32(4), StoreText.ParseTime(reader.GetString(5)),
                reader.GetBoolean(6));
        return new ClaimState(versionStored, documentExists, claim);
    }

    private static bool IsFree(ClaimState state, string contentHash, string owner, DateTimeOffset now)
    {
        if (state.VersionStored)
        {
            return false;
        }

        if (state.Claim is not { } claim)
        {
            return true;
        }

        return claim.Completed
            ? !claim.ContentHash.Equals(contentHash, StringComparison.Ordinal) || !state.DocumentExists
            : claim.Owner.Equals(owner, StringComparison.Ordinal) || claim.ExpiresAt < now || HolderHasEnded(claim.Host, claim.Pid);
    }

    /// <summary>
    /// Whether the process that took a claim is known to have ended: it ran on this machine and no process has its id.
    /// A claim from another machine (or container with another name) is left to its lease.
    /// </summary>
    private static bool HolderHasEnded(string host, int pid)
    {
        if (!host.Equals(s_host, StringComparison.Ordinal) || pid == Environment.ProcessId)
        {
            return false;
        }

        try
        {
            using var process = Process.GetProcessById(pid);
            return false;
        }
        catch (ArgumentException)
        {
            return true; // no process with that id
        }
        catch (InvalidOperationException)
        {
            return true; // it ended while being looked up
        }
    }

    private readonly record struct ClaimState(bool VersionStored, bool DocumentExists, ClaimRow? Claim);

    private sealed record ClaimRow(string ContentHash, string Owner, string Host, int Pid, DateTimeOffset ExpiresAt, bool Completed);
}
