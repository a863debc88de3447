using Microsoft.Extensions.AI;
using Mmrag.Embeddings;
using Mmrag.Knowledge;
using Mmrag.Storage;

namespace Mmrag.Ingestion.Pipeline;

/// <summary>
/// The embedding step of an ingestion run: gives each loaded item of a document a vector. Items are identified by a
/// content hash (SHA-256 of an image's bytes or of a chunk's text); a vector already stored for the same hash is reused,
/// each distinct hash is embedded once, texts and images in batches of <c>batchSize</c>. Image batches report per image
/// (<see cref="PerItemEmbeddingGeneratorExtensions.GeneratePerItemAsync"/>): an undecodable image fails alone inside its
/// batch and the others keep the batch's vectors (a generator without that capability has a failed batch's images
/// embedded one at a time). Vectors of another dimension than the
/// knowledge base's stop the run. Vectors are kept as the generator returned them, not normalised again: a vector is
/// normalised once on the ingest path, by the generator, and the store's write-time check
/// (<c>Mmrag.Storage.Providers.StoreInput</c>) rescales only one that is not unit length within its tolerance.
/// <para>Holds no state between calls; thread-safe if the store and the generators are. Owns none of them.</para>
/// </summary>
internal sealed class DocumentEmbedder(IKnowledgeStore store, IEmbeddingGenerator<string, Embedding<float>> textEmbedder,
    IEmbeddingGenerator<DataContent, Embedding<float>> imageEmbedder, int batchSize)
{
    /// <summary>
    /// Finds or computes the vector of every item of <paramref name="items"/>.
    /// </summary>
    /// <param name="items">A document's items.</param>
    /// <param name="progress">Called with (items done, items in the document) once the stored vectors are known and after each batch.</param>
    /// <param name="cancellationToken">Stops the run.</param>
    /// <param name="shared">
    /// What one call over several documents' items together found (<see cref="SharedEmbeddings"/>): its vectors and errors
    /// are taken before the store is asked, so that small documents share batches.
    /// </param>
    /// <param name="reusable">
    /// Vectors this run embedded that may not be stored yet (the group before, stored while this one is embedded): taken
    /// like stored vectors, so that an image in two groups is embedded once, as when the groups ran one after the other.
    /// </param>
    /// <param name="contentHashes">The items' content hashes when already known (<see cref="SharedEmbeddings.HashesOf"/>), so that no item is hashed twice.</param>
    /// <exception cref="EmbeddingSpaceMismatchException">A generator returned vectors of another dimension than the knowledge base's.</exception>
    public async Task<EmbeddedItems> EmbedAsync(IReadOnlyList<LoadedItem> items, Action<int, int> progress, CancellationToken cancellationToken,
        SharedEmbeddings? shared = null, IReadOnlyDictionary<string, ReadOnlyMemory<float>>? reusable = null, IReadOnlyList<string>? contentHashes = null)
    {
        if (contentHashes is not null && contentHashes.Count != items.Count)
        {
            throw new ArgumentException($"{contentHashes.Count} content hashes for {items.Count} items.", nameof(contentHashes));
        }

        var hashes = contentHashes ?? [.. items.Select(ContentHashOf)];

        var occurrences = hashes.CountBy(h => h, StringComparer.Ordinal).ToDictionary(StringComparer.Ordinal);
        var vectors = new Dictionary<string, ReadOnlyMemory<float>>(StringComparer.Ordinal);
        var imageErrors = new Dictionary<string, string>(StringComparer.Ordinal);
        var fresh = 0;
        foreach (var hash in occurrences.Keys)
        {
            if (shared is null)
            {
                break;
            }

            if (shared.Embedded.Vectors.TryGetValue(hash, out var vector))
            {
                vectors[hash] = vector;
                fresh += shared.CountOnce(hash) ? 1 : 0;
            }
            else if (shared.Embedded.Errors.TryGetValue(hash, out var error))
            {
                imageErrors[hash] = error;
            }
        }

        foreach (var hash in occurrences.Keys)
        {
            if (reusable is not null && !vectors.ContainsKey(hash) && reusable.TryGetValue(hash, out var vector))
            {
                vectors[hash] = vector;
            }
        }

        var distinct = occurrences.Keys.Where(h => !vectors.ContainsKey(h) && !imageErrors.ContainsKey(h)).ToList();
        if (distinct.Count > 0)
        {
            foreach (var (hash, vector) in await store.FindVectorsByContentHashAsync(distinct, cancellationToken).ConfigureAwait(false))
            {
                vectors[hash] = vector;
            }
        }

        var texts = new List<(string Hash, string Text)>();
        var images = new List<(string Hash, LoadedItem Item)>();
        var queued = new HashSet<string>(StringComparer.Ordinal);
        for (var i = 0; i < hashes.Count; i++)
        {
            if (vectors.ContainsKey(hashes[i]) || imageErrors.ContainsKey(hashes[i]) || !queued.Add(hashes[i]))
            {
                continue;
            }

            if (items[i].Kind == ItemKind.Image)
            {
                images.Add((hashes[i], items[i]));
            }
            else
            {
                texts.Add((hashes[i], items[i].Text));
            }
        }

        // Items whose vectors were already stored count as done from the start.
        var done = hashes.Count - texts.Sum(t => occurrences[t.Hash]) - images.Sum(i => occurrences[i.Hash]);
        progress(done, hashes.Count);
        foreach (var batch in texts.Chunk(batchSize))
        {
            var embeddings = await textEmbedder.GenerateAsync(batch.Select(t => t.Text), cancellationToken: cancellationToken)
                .ConfigureAwait(false);
            Keep(batch.Select(t => t.Hash).ToList(), embeddings, vectors);
            done += batch.Sum(t => occurrences[t.Hash]);
            progress(done, hashes.Count);
        }

        foreach (var batch in images.Chunk(batchSize))
        {
            await EmbedImagesAsync(batch, vectors, imageErrors, cancellationToken).ConfigureAwait(false);
            done += batch.Sum(i => occurrences[i.Hash]);
            progress(done, hashes.Count);
        }

        var failed = images.Count(i => imageErrors.ContainsKey(i.Hash));
        return new EmbeddedItems(hashes, vectors, imageErrors, fresh + texts.Count + images.Count - failed)
        {
            Fresh = texts.Select(t => t.Hash).Concat(images.Select(i => i.Hash)).Where(vectors.ContainsKey).ToHashSet(StringComparer.Ordinal),
        };
    }

    /// <summary>The SHA-256 of an image's bytes or of a chunk's text: what identifies the item's content.</summary>
    public static string ContentHashOf(LoadedItem item) =>
        item.Kind == ItemKind.Image ? DocumentIds.Sha256Hex(item.ImageBytes.Span) : DocumentIds.Sha256Hex(item.Text);

    /// <summary>Embeds a batch of images in one call; an image that fails gets its error, the others their vectors.</summary>
    private async Task EmbedImagesAsync((string Hash, LoadedItem Item)[] batch, Dictionary<string, ReadOnlyMemory<float>> vectors,
        Dictionary<string, string> errors, CancellationToken cancellationToken)
    {
        var results = await imageEmbedder.GeneratePerItemAsync([.. batch.Select(b => ToDataContent(b.Item))], cancellationToken: cancellationToken)
            .ConfigureAwait(false);
        var embedded = new List<string>(batch.Length);
        var embeddings = new List<Embedding<float>>(batch.Length);
        for (var i = 0; i < batch.Length; i++)
        {
            if (results[i] is { Embedding: { } embedding, Error: null })
            {
                embedded.Add(batch[i].Hash);
                embeddings.Add(embedding);
            }
            else
            {
                errors[batch[i].Hash] = results[i].Error?.Message ?? "the generator returned no embedding";
            }
        }

        Keep(embedded, new GeneratedEmbeddings<Embedding<float>>(embeddings), vectors);
    }

    private void Keep(List<string> hashes, GeneratedEmbeddings<Embedding<float>> embeddings, Dictionary<string, ReadOnlyMemory<float>> vectors)
    {
        if (embeddings.Count != hashes.Count)
        {
            throw new InvalidOperationException($"The embedding generator returned {embeddings.Count} embeddings for {hashes.Count} inputs.");
        }

        var space = store.Space;
        for (var i = 0; i < hashes.Count; i++)
        {
            var vector = embeddings[i].Vector;
            if (vector.Length != space.Dimension)
            {
                throw new EmbeddingSpaceMismatchException(
                    $"The embedding generator returned {vector.Length}-dimensional vectors, but the knowledge base holds {space.Dimension}-dimensional vectors of '{space.ModelId}'.");
            }

            // Passed on as generated: normalising is the generator's job (the CLIP generators do it by default), and the
            // store checks the length at write time, rescaling only a vector that is not unit length.
            vectors[hashes[i]] = vector;
        }
    }

    private static DataContent ToDataContent(LoadedItem item) =>
        new(item.ImageBytes, item.ImageMediaType ?? "application/octet-stream") { Name = item.ImagePath ?? item.Provenance.SourcePath };
}

/// <summary>
/// What <see cref="DocumentEmbedder.EmbedAsync"/> found for a document's items: each item's content hash (in the items'
/// order), the vector of each hash that has one, and why each image without one could not be embedded.
/// </summary>
/// <param name="ContentHashes">The content hash of each item, in the items' order.</param>
/// <param name="Vectors">The vector of each hash, reused or embedded; an image that could not be embedded has none.</param>
/// <param name="Errors">Why each image hash without a vector could not be embedded.</param>
/// <param name="Embedded">How many distinct items were embedded now (not reused).</param>
internal sealed record EmbeddedItems(IReadOnlyList<string> ContentHashes, IReadOnlyDictionary<string, ReadOnlyMemory<float>> Vectors,
    IReadOnlyDictionary<string, string> Errors, int Embedded)
{
    /// <summary>The hashes embedded by this call (not found stored or shared).</summary>
    public IReadOnlySet<string> Fresh { get; init; } = new HashSet<string>(StringComparer.Ordinal);
}

/// <summary>
/// The embeddings of several documents' items made in one <see cref="DocumentEmbedder.EmbedAsync"/> call, handed to each
/// document's own call; each freshly embedded hash counts as embedded once, for the first document that uses it.
/// Used by one run only; not thread-safe.
/// </summary>
/// <param name="embedded">What the call over the documents' items, one document after the other, found.</param>
/// <param name="documents">The documents whose items were embedded, in the order of their items.</param>
internal sealed class SharedEmbeddings(EmbeddedItems embedded, IReadOnlyList<LoadedDocument> documents)
{
    private readonly HashSet<string> _uncounted = [.. embedded.Fresh];
    private readonly string[] _hashes = [.. embedded.ContentHashes];
    private readonly Dictionary<LoadedDocument, int> _offsets = Offsets(documents);

    public EmbeddedItems Embedded { get; } = embedded;

    /// <summary>Whether <paramref name="hash"/> was embedded by the shared call and not yet counted.</summary>
    public bool CountOnce(string hash) => _uncounted.Remove(hash);

    /// <summary>The content hashes of <paramref name="document"/>'s items as the shared call computed them; null for a document not in it.</summary>
    public IReadOnlyList<string>? HashesOf(LoadedDocument document) =>
        _offsets.TryGetValue(document, out var offset) ? new ArraySegment<string>(_hashes, offset, document.Items.Count) : (IReadOnlyList<string>?)null;

    private static Dictionary<LoadedDocument, int> Offsets(IReadOnlyList<LoadedDocument> documents)
    {
        // By reference: two documents may be equal as records (the same file under two names) and still be two entries.
        var offsets = new Dictionary<LoadedDocument, int>(ReferenceEqualityComparer.Instance);
        var offset = 0;
        foreach (var document in documents)
        {
            offsets[document] = offset;
            offset += document.Items.Count;
        }

        return offsets;
    }
}
