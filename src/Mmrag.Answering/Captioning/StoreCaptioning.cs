using System.Security.Cryptography;
using System.Text;
using Microsoft.Extensions.AI;
using Mmrag.Knowledge;
using Mmrag.Storage;

namespace Mmrag.Answering.Captioning;

/// <summary>The outcome of captioning a knowledge base.</summary>
/// <param name="Captioned">Images captioned in this run.</param>
/// <param name="Documents">Documents rewritten.</param>
/// <param name="Failures">Images (or documents) that failed; also recorded in the store's failures.</param>
public sealed record CaptionRunSummary(int Captioned, int Documents, IReadOnlyList<CaptionResult> Failures);

/// <summary>Captions the images of an existing knowledge base (strategy "translate to text").</summary>
public static class StoreCaptioning
{
    /// <summary>Tag carried by caption chunks.</summary>
    public const string CaptionTag = "caption";

    /// <summary>Suffix of a caption chunk's id after its image's id.</summary>
    public const string CaptionIdSuffix = "#caption";

    /// <summary>
    /// Captions every image of <paramref name="store"/> that has no description, document by document: the image gets the
    /// caption as description and keyword text (its CLIP vector is kept), and a caption chunk (a text chunk tagged
    /// <see cref="CaptionTag"/>, pointing at the image through <see cref="KnowledgeItem.ImagePath"/>, embedded with
    /// <paramref name="textGenerator"/>) is added, so text retrieval finds the image by vector too. The store contract
    /// has no item update, so each changed document is re-upserted whole (atomic). Resumable: captioned images have a
    /// description and are skipped next time. Per-image failures are recorded with the store and returned.
    /// </summary>
    public static async Task<CaptionRunSummary> CaptionStoreAsync(this ImageCaptioner captioner, IKnowledgeStore store,
        IEmbeddingGenerator<string, Embedding<float>> textGenerator, IProgress<CaptionResult>? progress = null,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(captioner);
        ArgumentNullException.ThrowIfNull(store);
        ArgumentNullException.ThrowIfNull(textGenerator);

        var documents = new List<DocumentRecord>();
        await foreach (var document in store.ListDocumentsAsync(cancellationToken).ConfigureAwait(false))
        {
            documents.Add(document);
        }

        // Any unit vector: with a one-document filter the search returns all of its items (the filter is selective, so exact).
        var probe = new float[store.Space.Dimension];
        probe[0] = 1;
        var failures = new List<CaptionResult>();
        var captioned = 0;
        var rewritten = 0;
        foreach (var document in documents)
        {
            var hits = await store.SearchVectorsAsync(probe, Math.Max(1, document.ItemCount),
                new SearchFilter { DocumentIds = [document.Id] }, SearchRecall.Exact, cancellationToken).ConfigureAwait(false);
            var items = hits.Select(h => h.Item).OrderBy(i => i.Provenance.Position).ThenBy(i => i.Id, StringComparer.Ordinal).ToList();
            if (!items.Any(ImageCaptioner.NeedsCaption))
            {
                continue;
            }

            if (items.Count != document.ItemCount)
            {
                // Rewriting the document from a partial read would lose items.
                var reason = $"could not read all {document.ItemCount} items of the document (got {items.Count}); not captioned";
                await RecordAsync(store, document, null, reason, cancellationToken).ConfigureAwait(false);
                failures.Add(new CaptionResult(items.First(ImageCaptioner.NeedsCaption), null, reason));
                continue;
            }

            var results = await captioner.CaptionBatchAsync(items, cancellationToken).ConfigureAwait(false);
            foreach (var failed in results.Where(r => !r.Succeeded))
            {
                await RecordAsync(store, document, failed.Item.ImagePath, failed.Error!, cancellationToken).ConfigureAwait(false);
                failures.Add(failed);
                progress?.Report(failed);
            }

            var succeeded = results.Where(r => r.Succeeded).ToList();
            if (succeeded.Count == 0)
            {
                continue;
            }

            var vectors = await textGenerator.GenerateAsync(succeeded.Select(r => r.Caption!), cancellationToken: cancellationToken).ConfigureAwait(false);
            var updated = succeeded.ToDictionary(r => r.Item.Id, r => r.Updated!);
            var newItems = items.Select(i => updated.GetValueOrDefault(i.Id, i)).ToList();
            for (var i = 0; i < succeeded.Count; i++)
            {
                newItems.Add(CaptionChunk(succeeded[i].Item, succeeded[i].Caption!, vectors[i].Vector));
            }

            await store.UpsertDocumentAsync(document with { ItemCount = newItems.Count }, newItems, cancellationToken).ConfigureAwait(false);
            captioned += succeeded.Count;
            rewritten++;
            foreach (var result in succeeded)
            {
                progress?.Report(result);
            }
        }

        return new CaptionRunSummary(captioned, rewritten, failures);
    }

    /// <summary>The text chunk that carries <paramref name="image"/>'s caption for text retrieval.</summary>
    public static KnowledgeItem CaptionChunk(KnowledgeItem image, string caption, ReadOnlyMemory<float> vector)
    {
        ArgumentNullException.ThrowIfNull(image);
        return new KnowledgeItem
        {
            Id = image.Id + CaptionIdSuffix,
            DocumentId = image.DocumentId,
            Kind = ItemKind.TextChunk,
            ContentHash = Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(caption))),
            Text = caption,
            Description = caption,
            ImagePath = image.ImagePath,
            Provenance = image.Provenance with { Caption = caption },
            Vector = vector,
            Tags = [.. image.Tags, CaptionTag],
        };
    }

    private static Task RecordAsync(IKnowledgeStore store, DocumentRecord document, string? detail, string reason, CancellationToken cancellationToken) =>
        store.RecordFailureAsync(new IngestionFailure(document.SourcePath, $"Captioning failed: {reason}", detail, DateTimeOffset.UtcNow), cancellationToken);
}
