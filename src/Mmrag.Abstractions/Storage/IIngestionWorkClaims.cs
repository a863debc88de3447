namespace Mmrag.Storage;

/// <summary>
/// Optional store capability: claims on ingestion work, so that several ingesters (processes, possibly on several
/// machines) sharing one knowledge base split a folder between them and never ingest the same version of a document
/// twice. Stores shared across processes implement it beside <see cref="IKnowledgeStore"/> (test with
/// <c>store is IIngestionWorkClaims</c>). Thread-safe.
/// </summary>
/// <remarks>
/// An ingester calls <see cref="TryClaimAsync"/> before it reads and embeds a file, and processes the file only when
/// it gets true; it then stores the document and calls <see cref="ReleaseAsync"/> with <c>completed: true</c> (or
/// <c>false</c> when it gave up, so another ingester may try). A claim whose holder died is free again once its
/// lease has run out; a live holder renews its claim (by claiming again) before its lease runs out.
/// </remarks>
public interface IIngestionWorkClaims
{
    /// <summary>
    /// Claims the work of ingesting version <paramref name="contentHash"/> of document <paramref name="documentId"/>
    /// for <paramref name="owner"/> for <paramref name="lease"/>; when <paramref name="owner"/> already holds the claim,
    /// renews it for <paramref name="lease"/> from now. False when that version is already stored or completed (and its
    /// document not deleted since), or another owner holds a live claim on the document.
    /// </summary>
    Task<bool> TryClaimAsync(string documentId, string contentHash, string owner, TimeSpan lease, CancellationToken cancellationToken = default);

    /// <summary>
    /// Ends <paramref name="owner"/>'s claim on <paramref name="documentId"/>: <paramref name="completed"/> records the
    /// version as done (no one claims it again); otherwise the claim is dropped so another ingester may take it.
    /// Does nothing when <paramref name="owner"/> holds no claim on it.
    /// </summary>
    Task ReleaseAsync(string documentId, string owner, bool completed, CancellationToken cancellationToken = default);
}
