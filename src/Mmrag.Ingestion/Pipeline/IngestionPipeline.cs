using Microsoft.Extensions.AI;
using Mmrag.Ingestion.Loaders;
using Mmrag.Storage;

namespace Mmrag.Ingestion.Pipeline;

/// <summary>
/// Ingests files and folders into a knowledge base, incrementally: every file is hashed, and a file whose stored
/// version has the same hash (and, for an image, the same description) costs nothing more. Other files are loaded,
/// their text items embedded with the text generator and their images with the image generator (in batches; a vector
/// already stored for the same content hash is reused, so a resumed run never embeds anything twice), and stored with
/// one <see cref="IKnowledgeStore.UpsertDocumentAsync"/> per document, which replaces the earlier version atomically:
/// cancelling or crashing at any point leaves only whole documents. A file that cannot be read, or an image file that
/// cannot be decoded, is recorded as a failure and the run goes on (a version stored earlier stays until the file reads
/// again); a broken image inside a document is recorded and dropped from it. The next files are hashed and loaded while
/// the current ones are embedded, and the files embedded before are stored meanwhile, so the embedding generators do not
/// wait on reads or writes.
/// <para>
/// When the store is shared by several ingesters (it implements <see cref="IIngestionWorkClaims"/>, e.g. PostgreSQL),
/// every changed file is claimed before it is loaded, so ingesters started on the same folder (processes, machines)
/// split the files between them; a file another ingester holds or has just stored is counted in
/// <see cref="IngestionSummary.ClaimedElsewhere"/> and left to it.
/// </para>
/// <para>
/// Thread-safe: runs may overlap if the store tolerates it, but they should not ingest the same files. The pipeline
/// does not own the store or the generators.
/// </para>
/// </summary>
public sealed class IngestionPipeline
{
    private readonly IKnowledgeStore _store;
    private readonly IEmbeddingGenerator<string, Embedding<float>> _textEmbedder;
    private readonly IEmbeddingGenerator<DataContent, Embedding<float>> _imageEmbedder;
    private readonly LoaderRegistry _loaders;
    private readonly TimeProvider _time;

    /// <summary>Creates a pipeline writing to <paramref name="store"/>.</summary>
    /// <param name="store">The knowledge base.</param>
    /// <param name="textEmbedder">Embeds text chunks (e.g. the CLIP text tower).</param>
    /// <param name="imageEmbedder">Embeds images (e.g. the CLIP vision tower); its vectors share the text embedder's space.</param>
    /// <param name="loaders">Which loader reads which file.</param>
    /// <param name="timeProvider">Clock for timestamps and rates; the system clock by default.</param>
    public IngestionPipeline(IKnowledgeStore store, IEmbeddingGenerator<string, Embedding<float>> textEmbedder,
        IEmbeddingGenerator<DataContent, Embedding<float>> imageEmbedder, LoaderRegistry loaders, TimeProvider? timeProvider = null)
    {
        ArgumentNullException.ThrowIfNull(store);
        ArgumentNullException.ThrowIfNull(textEmbedder);
        ArgumentNullException.ThrowIfNull(imageEmbedder);
        ArgumentNullException.ThrowIfNull(loaders);
        _store = store;
        _textEmbedder = textEmbedder;
        _imageEmbedder = imageEmbedder;
        _loaders = loaders;
        _time = timeProvider ?? TimeProvider.System;
    }

    /// <summary>
    /// Ingests <paramref name="paths"/> (files, folders walked recursively, and http(s) URLs of web pages read through
    /// the guarded fetcher of <see cref="IngestionOptions.Web"/>), then <see cref="IngestionOptions.Sources"/>. A
    /// remote document is incremental like a file: it is fetched with the stored validators (a 304 costs nothing
    /// more), and a body whose hash equals the stored version's is not embedded again.
    /// </summary>
    /// <returns>What the run did.</returns>
    /// <exception cref="OperationCanceledException">The run was cancelled; every document stored so far is complete.</exception>
    /// <exception cref="EmbeddingSpaceMismatchException">The generators' vectors do not have the knowledge base's dimension.</exception>
    /// <exception cref="KnowledgeStoreException">The store failed; the run stops.</exception>
    public async Task<IngestionSummary> IngestAsync(IReadOnlyList<string> paths, IngestionOptions? options = null,
        IProgress<IngestionProgress>? progress = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(paths);
        if (paths.Any(string.IsNullOrWhiteSpace))
        {
            throw new ArgumentException("A path is null or blank.", nameof(paths));
        }

        options ??= new IngestionOptions();
        options.Validate();
        var embedder = new DocumentEmbedder(_store, _textEmbedder, _imageEmbedder, options.EmbeddingBatchSize);
        var run = new IngestionRun(_store, _loaders, embedder, _time, options, progress, cancellationToken);
        return await run.ExecuteAsync(paths).ConfigureAwait(false);
    }
}
