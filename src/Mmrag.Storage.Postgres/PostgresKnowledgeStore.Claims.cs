namespace Mmrag.Storage.Postgres;

/// <content>Ingestion work claims: several ingesters on one database split the work.</content>
public sealed partial class PostgresKnowledgeStore
{
    /// <inheritdoc />
    /// <remarks>
    /// One statement: <c>INSERT … ON CONFLICT (document_id) DO UPDATE … WHERE</c> the existing claim is the same
    /// owner's (a renewal), its lease ran out, or it was completed for another version or for a document deleted since.
    /// PostgreSQL locks the conflicting row and re-checks the condition against its latest version, so of two ingesters
    /// racing for a document exactly one gets it; a version already stored (even by a process that used no claims) is
    /// never claimed.
    /// </remarks>
    public Task<bool> TryClaimAsync(string documentId, string contentHash, string owner, TimeSpan lease, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(documentId);
        ArgumentException.ThrowIfNullOrEmpty(contentHash);
        ArgumentException.ThrowIfNullOrEmpty(owner);
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(lease, TimeSpan.Zero);
        return RunAsync("claiming document " + documentId, async (connection, ct) =>
            await ExecuteAsync(connection, null, $"""
                INSERT INTO {_s}.ingestion_claims AS c (document_id, content_hash, owner, claimed_at, expires_at)
                SELECT $1, $2, $3, clock_timestamp(), clock_timestamp() + $4
                WHERE NOT EXISTS (SELECT 1 FROM {_s}.documents d WHERE d.id = $1 AND d.content_hash = $2)
                ON CONFLICT (document_id) DO UPDATE
                    SET content_hash = EXCLUDED.content_hash, owner = EXCLUDED.owner, claimed_at = EXCLUDED.claimed_at,
                        expires_at = EXCLUDED.expires_at, completed_at = NULL
                    WHERE (c.completed_at IS NOT NULL
                           AND (c.content_hash <> EXCLUDED.content_hash OR NOT EXISTS (SELECT 1 FROM {_s}.documents d WHERE d.id = $1)))
                       OR (c.completed_at IS NULL AND (c.owner = EXCLUDED.owner OR c.expires_at < clock_timestamp()))
                """, ct, documentId, contentHash, owner, lease).ConfigureAwait(false) == 1, cancellationToken);
    }

    /// <inheritdoc />
    public Task ReleaseAsync(string documentId, string owner, bool completed, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(documentId);
        ArgumentException.ThrowIfNullOrEmpty(owner);
        return RunAsync("releasing the claim on document " + documentId, (connection, ct) => completed
            ? ExecuteAsync(connection, null,
                $"UPDATE {_s}.ingestion_claims SET completed_at = clock_timestamp() WHERE document_id = $1 AND owner = $2 AND completed_at IS NULL", ct,
                documentId, owner)
            : ExecuteAsync(connection, null, $"DELETE FROM {_s}.ingestion_claims WHERE document_id = $1 AND owner = $2 AND completed_at IS NULL", ct,
                documentId, owner), cancellationToken);
    }
}
