namespace Mmrag.Storage.Postgres;

/// <content>Ingestion work claims: several ingesters on one database split the work.</content>
public sealed partial class PostgresKnowledgeStore
{
    /// <inheritdoc />
    /// <remarks>
    /// <para>One statement: <c>INSERT … ON CONFLICT (document_id) DO UPDATE … WHERE</c> the existing claim is the same
    /// owner's (a renewal), its lease ran out, or it was completed for another version. A version already stored (even
    /// by a process that used no claims) is never claimed.</para>
    /// <para>Why exactly one of two racing ingesters wins, under READ COMMITTED: when the claim row exists, PostgreSQL
    /// waits for any transaction holding it, locks its latest committed version and evaluates the <c>DO UPDATE</c>
    /// condition on that version; but a subquery in that condition would still read the statement's older snapshot
    /// (an ingester that had just stored and completed the document would look unfinished). So the condition reads
    /// only the locked claim row's own columns. A deleted document's completed claim is deleted with it
    /// (<see cref="DeleteDocumentAsync"/>), which is how a version completed and then deleted becomes work again.
    /// The documents subquery guards only the insert of a new claim row, where a racing insert conflicts instead.</para>
    /// </remarks>
    public Task<bool> TryClaimAsync(string documentId, string contentHash, string owner, TimeSpan lease, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(documentId);
        ArgumentException.ThrowIfNullOrEmpty(contentHash);
        ArgumentException.ThrowIfNullOrEmpty(owner);
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(lease, TimeSpan.Zero);
        return RunWriteAsync("claiming document " + documentId, async (connection, ct) =>
            await ExecuteAsync(connection, null, $"""
                INSERT INTO {_s}.ingestion_claims AS c (document_id, content_hash, owner, claimed_at, expires_at)
                SELECT $1, $2, $3, clock_timestamp(), clock_timestamp() + $4
                WHERE NOT EXISTS (SELECT 1 FROM {_s}.documents d WHERE d.id = $1 AND d.content_hash = $2)
                ON CONFLICT (document_id) DO UPDATE
                    SET content_hash = EXCLUDED.content_hash, owner = EXCLUDED.owner, claimed_at = EXCLUDED.claimed_at,
                        expires_at = EXCLUDED.expires_at, completed_at = NULL
                    WHERE (c.completed_at IS NOT NULL AND c.content_hash <> EXCLUDED.content_hash)
                       OR (c.completed_at IS NULL AND (c.owner = EXCLUDED.owner OR c.expires_at < clock_timestamp()))
                """, ct, documentId, contentHash, owner, lease).ConfigureAwait(false) == 1, cancellationToken);
    }

    /// <inheritdoc />
    public Task ReleaseAsync(string documentId, string owner, bool completed, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(documentId);
        ArgumentException.ThrowIfNullOrEmpty(owner);
        return RunWriteAsync("releasing the claim on document " + documentId, (connection, ct) => completed
            ? ExecuteAsync(connection, null,
                $"UPDATE {_s}.ingestion_claims SET completed_at = clock_timestamp() WHERE document_id = $1 AND owner = $2 AND completed_at IS NULL", ct,
                documentId, owner)
            : ExecuteAsync(connection, null, $"DELETE FROM {_s}.ingestion_claims WHERE document_id = $1 AND owner = $2 AND completed_at IS NULL", ct,
                documentId, owner), cancellationToken);
    }
}
