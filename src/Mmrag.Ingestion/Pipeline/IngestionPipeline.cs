using System.Security.Cryptography;
using System.Threading.Channels;
using Microsoft.Extensions.AI;
using Mmrag.Ingestion.Loaders;
using Mmrag.Knowledge;
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
/// the current one is embedded.
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
    /// Ingests <paramref name="paths"/> (files, or folders walked recursively).
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
        var run = new Run(this, options, progress, cancellationToken);
        return await run.ExecuteAsync(paths).ConfigureAwait(false);
    }

    private enum Outcome
    {
        Unchanged,
        ClaimedElsewhere,
        Failed,
        Loaded,
    }

    /// <summary>A file after hashing and loading, waiting to be embedded and stored.</summary>
    private sealed record PreparedFile(DiscoveredFile File, string DocumentId, string? Hash, DocumentRecord? Stored, Outcome Outcome)
    {
        public LoadedDocument? Document { get; init; }

        public string? FailureReason { get; init; }
    }

    private sealed record EmbeddedDocument(List<KnowledgeItem> Items, List<IngestionFailure> Failures, int Embedded);

    /// <summary>The state of one <see cref="IngestAsync"/> call.</summary>
    private sealed class Run(IngestionPipeline pipeline, IngestionOptions options, IProgress<IngestionProgress>? progress, CancellationToken cancellationToken)
    {
        private readonly long _started = pipeline._time.GetTimestamp();
        private readonly List<IngestionFailure> _failures = [];
        private readonly List<IngestionFailure> _warnings = [];
        private IReadOnlyDictionary<string, string> _descriptions = new Dictionary<string, string>();
        private int _filesTotal;
        private int _filesDone;
        private int _added;
        private int _unchanged;
        private int _claimedElsewhere;
        private WorkClaimSet? _claims;
        private int _replaced;
        private int _failed;
        private int _empty;
        private int _items;
        private int _embedded;
        private int _fileItemsDone;
        private int _fileItemsTotal;

        private IKnowledgeStore Store => pipeline._store;

        public async Task<IngestionSummary> ExecuteAsync(IReadOnlyList<string> paths)
        {
            var discovery = new FileDiscovery(pipeline._loaders, options.KnowledgeBaseDirectory, options.MaxDescriptionLength);
            await Task.Run(() => discovery.Discover(paths, options.DescriptionsFile, cancellationToken), cancellationToken).ConfigureAwait(false);
            _descriptions = discovery.Descriptions;
            _filesTotal = discovery.Files.Count;
            await RecordDiscoveryFailuresAsync(discovery).ConfigureAwait(false);
            Report(null);

            if (Store is IIngestionWorkClaims claims)
            {
                _claims = new WorkClaimSet(claims, options.ClaimLease, pipeline._time);
            }

            try
            {
                await ProcessFilesAsync(discovery.Files).ConfigureAwait(false);
            }
            finally
            {
                if (_claims is not null)
                {
                    await _claims.DisposeAsync().ConfigureAwait(false);
                }
            }

            var pruned = options.Prune ? await PruneAsync(discovery).ConfigureAwait(false) : 0;
            Report(null);
            return new IngestionSummary
            {
                Files = _filesTotal,
                Added = _added,
                Unchanged = _unchanged,
                ClaimedElsewhere = _claimedElsewhere,
                Replaced = _replaced,
                Pruned = pruned,
                Failed = _failed,
                Empty = _empty,
                Skipped = discovery.Skipped,
                Hidden = discovery.Hidden,
                Failures = _failures,
                Warnings = _warnings,
                Items = _items,
                Embedded = _embedded,
                Elapsed = pipeline._time.GetElapsedTime(_started),
            };
        }

        /// <summary>
        /// Records what the walk refused (counted as failed) and the sidecars' problems (warnings). Sidecars, folders and
        /// refused paths are looked at afresh every run, so the failures an earlier run recorded against them are
        /// replaced by this run's: a folder that can be listed again loses its old failure.
        /// </summary>
        private async Task RecordDiscoveryFailuresAsync(FileDiscovery discovery)
        {
            var stored = await Store.ListFailuresAsync(cancellationToken).ConfigureAwait(false);
            foreach (var path in stored.Select(f => f.SourcePath).Distinct(PathGuard.Comparer).Where(discovery.CheckedPaths.Contains))
            {
                await Store.ClearFailuresAsync(path, cancellationToken).ConfigureAwait(false);
            }

            foreach (var failure in discovery.Failures)
            {
                await RecordAsync(failure, warning: false).ConfigureAwait(false);
            }

            foreach (var warning in discovery.Warnings)
            {
                await RecordAsync(warning, warning: true).ConfigureAwait(false);
            }
        }

        /// <summary>Adds a failure to the run's list (a warning, or a path that failed as a whole) and stores it.</summary>
        private async Task RecordAsync(IngestionFailure failure, bool warning)
        {
            var stamped = failure with { At = pipeline._time.GetUtcNow() };
            _failures.Add(stamped);
            if (warning)
            {
                _warnings.Add(stamped);
            }
            else
            {
                _failed++;
            }

            await Store.RecordFailureAsync(stamped, cancellationToken).ConfigureAwait(false);
        }

        /// <summary>Hashes and loads files on a background task, at most <see cref="IngestionOptions.Prefetch"/> ahead, while this one embeds and stores.</summary>
        private async Task ProcessFilesAsync(List<DiscoveredFile> files)
        {
            using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            var channel = Channel.CreateBounded<PreparedFile>(new BoundedChannelOptions(Math.Max(1, options.Prefetch))
            {
                SingleReader = true,
                SingleWriter = true,
            });
            var producer = Task.Run(async () =>
            {
                try
                {
                    foreach (var file in files)
                    {
                        var prepared = await PrepareAsync(file, stop.Token).ConfigureAwait(false);
                        await channel.Writer.WriteAsync(prepared, stop.Token).ConfigureAwait(false);
                    }
                }
                finally
                {
                    channel.Writer.TryComplete();
                }
            }, stop.Token);

            try
            {
                await foreach (var prepared in channel.Reader.ReadAllAsync(stop.Token).ConfigureAwait(false))
                {
                    await StoreAsync(prepared).ConfigureAwait(false);
                }

                await producer.ConfigureAwait(false);
            }
            catch
            {
                await stop.CancelAsync().ConfigureAwait(false);
                try
                {
                    await producer.ConfigureAwait(false);
                }
                catch (Exception) when (stop.IsCancellationRequested)
                {
                    // The producer stops because we stopped it; the consumer's exception is the one to report.
                }

                throw;
            }
        }

        private async Task<PreparedFile> PrepareAsync(DiscoveredFile file, CancellationToken token)
        {
            var path = file.Path;
            var documentId = DocumentIds.ForPath(path);

            // The time limit covers hashing and loading; a loader that does not stop when asked is left behind.
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(token);
            timeout.CancelAfter(options.FileTimeout);
            string hash;
            try
            {
                // Checked again right before opening: the folder may have changed since the walk.
                if (file.RealRoot is not null && !PathGuard.IsLexicallyUnder(PathGuard.RealPath(path), file.RealRoot))
                {
                    return Failed($"{path}: leads outside the ingested folder '{file.Root}' through a symbolic link; it was not read.");
                }

                var stream = RegularFiles.OpenRead(path);
                await using (stream.ConfigureAwait(false))
                {
                    if (stream.Length > options.MaxFileBytes)
                    {
                        return Failed($"{path}: the file is {stream.Length:N0} bytes, larger than the {options.MaxFileBytes:N0}-byte limit (MaxFileBytes).");
                    }

                    hash = Convert.ToHexStringLower(await SHA256.HashDataAsync(stream, timeout.Token).ConfigureAwait(false));
                }
            }
            catch (NotARegularFileException ex)
            {
                return Failed(ex.Message);
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                return Failed($"{path}: cannot be read ({ex.Message}).");
            }
            catch (OperationCanceledException) when (TimedOut(timeout, token))
            {
                return Failed(TookTooLong(path));
            }

            var stored = await Store.GetDocumentAsync(documentId, token).ConfigureAwait(false);
            if (stored is not null && stored.ContentHash == hash && await DescriptionUnchangedAsync(path, documentId, hash, token).ConfigureAwait(false))
            {
                return new PreparedFile(file, documentId, hash, stored, Outcome.Unchanged);
            }

            if (_claims is not null && !await _claims.TryClaimAsync(documentId, ClaimVersion(path, hash), token).ConfigureAwait(false))
            {
                return new PreparedFile(file, documentId, hash, stored, Outcome.ClaimedElsewhere);
            }

            var loader = pipeline._loaders.Find(path)!;
            var context = new DocumentLoadContext(file.Root, _descriptions)
            {
                MaxFileBytes = options.MaxFileBytes,
                MaxImagePixels = options.MaxImagePixels,
                MaxItems = options.MaxItemsPerFile,
            };
            var load = Task.Run(() => loader.LoadAsync(path, context, timeout.Token), CancellationToken.None);
            try
            {
                var document = await load.WaitAsync(timeout.Token).ConfigureAwait(false);
                return new PreparedFile(file, documentId, hash, stored, Outcome.Loaded) { Document = Capped(document) };
            }
            catch (OperationCanceledException) when (TimedOut(timeout, token))
            {
                // The loader may still be running: observe its end so that a late exception is not unobserved.
                _ = load.ContinueWith(static t => _ = t.Exception, CancellationToken.None, TaskContinuationOptions.OnlyOnFaulted, TaskScheduler.Default);
                return new PreparedFile(file, documentId, hash, stored, Outcome.Failed) { FailureReason = TookTooLong(path) };
            }
            catch (Exception ex) when (!IsCancellation(ex, token))
            {
                return new PreparedFile(file, documentId, hash, stored, Outcome.Failed) { FailureReason = Describe(ex, path) };
            }

            PreparedFile Failed(string reason) => new(file, documentId, null, null, Outcome.Failed) { FailureReason = reason };
        }

        private static bool TimedOut(CancellationTokenSource timeout, CancellationToken run) =>
            timeout.IsCancellationRequested && !run.IsCancellationRequested;

        private string TookTooLong(string path) =>
            $"{path}: reading it took longer than {Format(options.FileTimeout)} (FileTimeout); it was given up and the run went on.";

        private static string Format(TimeSpan time) =>
            time.TotalMinutes >= 1 && time.Seconds == 0 ? $"{time.TotalMinutes:0.#} min" : $"{time.TotalSeconds:0.###} s";

        /// <summary>
        /// Keeps the first <see cref="IngestionOptions.MaxItemsPerFile"/> items of a loader that read more (the standard
        /// loaders stop reading there themselves and report it).
        /// </summary>
        private LoadedDocument Capped(LoadedDocument document)
        {
            if (document.Items.Count <= options.MaxItemsPerFile)
            {
                return document;
            }

            var failure = new IngestionFailure(document.SourcePath,
                $"The file has {document.Items.Count:N0} items; only the first {options.MaxItemsPerFile:N0} were kept (MaxItemsPerFile).",
                null, pipeline._time.GetUtcNow());
            return document with { Items = [.. document.Items.Take(options.MaxItemsPerFile)], Failures = [.. document.Failures, failure] };
        }

        /// <summary>
        /// What a claim is for: the file's hash, plus its description for an image with one (a new description is a new
        /// version to ingest, though the file's bytes are the same).
        /// </summary>
        private string ClaimVersion(string path, string hash) =>
            ImageFormats.HasImageExtension(path) && _descriptions.TryGetValue(path, out var description)
                ? hash + "+" + DocumentIds.Sha256Hex(description)[..16]
                : hash;

        /// <summary>An image file's description lives in a sidecar, outside the bytes hashed: compare it with the stored item's.</summary>
        private async Task<bool> DescriptionUnchangedAsync(string path, string documentId, string hash, CancellationToken token)
        {
            if (!ImageFormats.HasImageExtension(path))
            {
                return true;
            }

            _descriptions.TryGetValue(path, out var description);
            var item = await Store.GetItemAsync(DocumentIds.ForItem(documentId, 0, hash), token).ConfigureAwait(false);
            return item is not null && string.Equals(item.Description, description, StringComparison.Ordinal);
        }

        private async Task StoreAsync(PreparedFile prepared)
        {
            var path = prepared.File.Path;
            Report(path);
            switch (prepared.Outcome)
            {
                case Outcome.Unchanged:
                    _unchanged++;
                    break;
                case Outcome.ClaimedElsewhere:
                    _claimedElsewhere++;
                    break;
                case Outcome.Failed:
                    await FailFileAsync(path, prepared.FailureReason!).ConfigureAwait(false);
                    await ReleaseClaimAsync(prepared.DocumentId, stored: false).ConfigureAwait(false);
                    break;
                case Outcome.Loaded:
                    var stored = false;
                    try
                    {
                        stored = await StoreDocumentAsync(prepared).ConfigureAwait(false);
                    }
                    catch (Exception ex) when (!IsCancellation(ex, cancellationToken) && ex is not (EmbeddingSpaceMismatchException or KnowledgeStoreException))
                    {
                        await FailFileAsync(path, Describe(ex, path)).ConfigureAwait(false);
                    }

                    // A failed file is given back rather than completed, so that a later run tries it again, as without claims.
                    await ReleaseClaimAsync(prepared.DocumentId, stored).ConfigureAwait(false);
                    break;
            }

            _filesDone++;
            _fileItemsDone = _fileItemsTotal = 0;
            Report(null);
        }

        private Task ReleaseClaimAsync(string documentId, bool stored) =>
            _claims is null ? Task.CompletedTask : _claims.ReleaseAsync(documentId, stored, cancellationToken);

        /// <summary>Embeds and stores a loaded file; false when it failed (and was recorded as failed).</summary>
        private async Task<bool> StoreDocumentAsync(PreparedFile prepared)
        {
            var document = prepared.Document!;
            var path = prepared.File.Path;
            var embedded = await EmbedAsync(document, prepared.DocumentId).ConfigureAwait(false);
            if (document.MediaType.StartsWith("image/", StringComparison.Ordinal) && embedded.Items.Count == 0 && embedded.Failures.Count > 0)
            {
                // An image file is its image: if that cannot be decoded, the file has failed (its earlier version, if any, stays).
                await FailFileAsync(path, embedded.Failures[0].Reason).ConfigureAwait(false);
                return false;
            }

            var record = new DocumentRecord(prepared.DocumentId, path, prepared.Hash!, document.MediaType, document.Title, embedded.Items.Count,
                pipeline._time.GetUtcNow())
            {
                Tags = options.Tags,
            };
            await Store.UpsertDocumentAsync(record, embedded.Items, cancellationToken).ConfigureAwait(false);

            // Stored: the file's earlier failures are history; what failed inside it this time is recorded afresh.
            await Store.ClearFailuresAsync(path, cancellationToken).ConfigureAwait(false);
            foreach (var failure in document.Failures.Concat(embedded.Failures))
            {
                await RecordAsync(failure with { SourcePath = path }, warning: true).ConfigureAwait(false);
            }

            if (document.Items.Count == 0)
            {
                // Stored all the same, so that the next run finds it unchanged; but an empty document is worth a look.
                _empty++;
                await RecordAsync(new IngestionFailure(path, "No text or images were found in the file; it is stored as an empty document.", null,
                    pipeline._time.GetUtcNow()), warning: true).ConfigureAwait(false);
            }

            if (prepared.Stored is null)
            {
                _added++;
            }
            else
            {
                _replaced++;
            }

            _items += embedded.Items.Count;
            _embedded += embedded.Embedded;
            return true;
        }

        private async Task FailFileAsync(string path, string reason)
        {
            await Store.ClearFailuresAsync(path, cancellationToken).ConfigureAwait(false);
            await RecordAsync(new IngestionFailure(path, reason, null, pipeline._time.GetUtcNow()), warning: false).ConfigureAwait(false);
        }

        private async Task<EmbeddedDocument> EmbedAsync(LoadedDocument document, string documentId)
        {
            var hashes = new string[document.Items.Count];
            for (var i = 0; i < hashes.Length; i++)
            {
                var item = document.Items[i];
                hashes[i] = item.Kind == ItemKind.Image ? DocumentIds.Sha256Hex(item.ImageBytes.Span) : DocumentIds.Sha256Hex(item.Text);
            }

            var distinct = hashes.Distinct(StringComparer.Ordinal).ToList();
            var occurrences = hashes.CountBy(h => h, StringComparer.Ordinal).ToDictionary(StringComparer.Ordinal);
            var vectors = distinct.Count == 0 ? new Dictionary<string, ReadOnlyMemory<float>>(StringComparer.Ordinal)
                : new Dictionary<string, ReadOnlyMemory<float>>(
                    await Store.FindVectorsByContentHashAsync(distinct, cancellationToken).ConfigureAwait(false), StringComparer.Ordinal);

            var texts = new List<(string Hash, string Text)>();
            var images = new List<(string Hash, LoadedItem Item)>();
            var queued = new HashSet<string>(StringComparer.Ordinal);
            for (var i = 0; i < hashes.Length; i++)
            {
                if (vectors.ContainsKey(hashes[i]) || !queued.Add(hashes[i]))
                {
                    continue;
                }

                if (document.Items[i].Kind == ItemKind.Image)
                {
                    images.Add((hashes[i], document.Items[i]));
                }
                else
                {
                    texts.Add((hashes[i], document.Items[i].Text));
                }
            }

            // Progress within the file: items whose vectors were already stored count as done from the start.
            _fileItemsTotal = hashes.Length;
            _fileItemsDone = hashes.Length - texts.Sum(t => occurrences[t.Hash]) - images.Sum(i => occurrences[i.Hash]);
            Report(document.SourcePath);
            foreach (var batch in texts.Chunk(options.EmbeddingBatchSize))
            {
                var embeddings = await pipeline._textEmbedder.GenerateAsync(batch.Select(t => t.Text), cancellationToken: cancellationToken)
                    .ConfigureAwait(false);
                Keep(batch.Select(t => t.Hash).ToList(), embeddings, vectors);
                _fileItemsDone += batch.Sum(t => occurrences[t.Hash]);
                Report(document.SourcePath);
            }

            var imageErrors = new Dictionary<string, string>(StringComparer.Ordinal);
            foreach (var batch in images.Chunk(options.EmbeddingBatchSize))
            {
                await EmbedImagesAsync(batch, vectors, imageErrors).ConfigureAwait(false);
                _fileItemsDone += batch.Sum(i => occurrences[i.Hash]);
                Report(document.SourcePath);
            }

            var items = new List<KnowledgeItem>(hashes.Length);
            var failures = new List<IngestionFailure>();
            for (var i = 0; i < hashes.Length; i++)
            {
                var loaded = document.Items[i];
                if (!vectors.TryGetValue(hashes[i], out var vector))
                {
                    var where = loaded.Provenance.Page is { } page ? $"page {page}, item {loaded.Provenance.Position}" : $"item {loaded.Provenance.Position}";
                    var image = loaded.ImagePath is null ? "An image" : $"The image '{loaded.ImagePath}'";
                    failures.Add(new IngestionFailure(document.SourcePath,
                        $"{image} could not be embedded and was left out: {imageErrors.GetValueOrDefault(hashes[i], "unknown error")}",
                        where, pipeline._time.GetUtcNow()));
                    continue;
                }

                items.Add(new KnowledgeItem
                {
                    Id = DocumentIds.ForItem(documentId, loaded.Provenance.Position, hashes[i]),
                    DocumentId = documentId,
                    Kind = loaded.Kind,
                    ContentHash = hashes[i],
                    Text = loaded.Text,
                    Description = loaded.Description,
                    ImagePath = loaded.Kind == ItemKind.Image ? await CacheImageAsync(loaded, hashes[i]).ConfigureAwait(false) : null,
                    Provenance = loaded.Provenance,
                    Vector = vector,
                    Tags = options.Tags,
                });
            }

            return new EmbeddedDocument(items, failures, texts.Count + images.Count - imageErrors.Count);
        }

        /// <summary>Embeds a batch of images; when the batch fails, each image alone, so one undecodable image costs only itself.</summary>
        private async Task EmbedImagesAsync((string Hash, LoadedItem Item)[] batch, Dictionary<string, ReadOnlyMemory<float>> vectors,
            Dictionary<string, string> errors)
        {
            try
            {
                var embeddings = await pipeline._imageEmbedder.GenerateAsync(batch.Select(b => ToDataContent(b.Item)), cancellationToken: cancellationToken)
                    .ConfigureAwait(false);
                Keep(batch.Select(b => b.Hash).ToList(), embeddings, vectors);
                return;
            }
            catch (Exception ex) when (IsItemFailure(ex))
            {
                if (batch.Length == 1)
                {
                    errors[batch[0].Hash] = ex.Message;
                    return;
                }
            }

            foreach (var (hash, item) in batch)
            {
                try
                {
                    var embeddings = await pipeline._imageEmbedder.GenerateAsync([ToDataContent(item)], cancellationToken: cancellationToken)
                        .ConfigureAwait(false);
                    Keep([hash], embeddings, vectors);
                }
                catch (Exception ex) when (IsItemFailure(ex))
                {
                    errors[hash] = ex.Message;
                }
            }
        }

        private void Keep(List<string> hashes, GeneratedEmbeddings<Embedding<float>> embeddings, Dictionary<string, ReadOnlyMemory<float>> vectors)
        {
            if (embeddings.Count != hashes.Count)
            {
                throw new InvalidOperationException($"The embedding generator returned {embeddings.Count} embeddings for {hashes.Count} inputs.");
            }

            var space = Store.Space;
            for (var i = 0; i < hashes.Count; i++)
            {
                var vector = embeddings[i].Vector;
                if (vector.Length != space.Dimension)
                {
                    throw new EmbeddingSpaceMismatchException(
                        $"The embedding generator returned {vector.Length}-dimensional vectors, but the knowledge base holds {space.Dimension}-dimensional vectors of '{space.ModelId}'.");
                }

                vectors[hashes[i]] = Normalized(vector.Span);
            }
        }

        private async Task<string?> CacheImageAsync(LoadedItem item, string hash)
        {
            if (item.ImagePath is not null || options.ImageCacheDirectory is null)
            {
                return item.ImagePath;
            }

            var folder = Path.Combine(Path.GetFullPath(options.ImageCacheDirectory), hash[..2]);
            var path = Path.Combine(folder, hash + ImageFormats.ExtensionOf(item.ImageMediaType ?? string.Empty));
            if (!File.Exists(path))
            {
                Directory.CreateDirectory(folder);
                var temporary = path + "." + Guid.NewGuid().ToString("N") + ".tmp";
                await File.WriteAllBytesAsync(temporary, item.ImageBytes, cancellationToken).ConfigureAwait(false);
                File.Move(temporary, path, overwrite: true);
            }

            return path;
        }

        private async Task<int> PruneAsync(FileDiscovery discovery)
        {
            bool InScope(string path) =>
                discovery.ExplicitFiles.Contains(path, PathGuard.Comparer) || discovery.FolderRoots.Any(root => PathGuard.IsLexicallyUnder(path, root));

            var gone = new List<DocumentRecord>();
            await foreach (var document in Store.ListDocumentsAsync(cancellationToken).ConfigureAwait(false))
            {
                if (InScope(document.SourcePath) && !File.Exists(document.SourcePath))
                {
                    gone.Add(document);
                }
            }

            var pruned = 0;
            foreach (var document in gone)
            {
                if (await Store.DeleteDocumentAsync(document.Id, cancellationToken).ConfigureAwait(false))
                {
                    pruned++;
                }

                await Store.ClearFailuresAsync(document.SourcePath, cancellationToken).ConfigureAwait(false);
            }

            // Failures of files that are gone (never stored, or deleted since) go too.
            var failed = await Store.ListFailuresAsync(cancellationToken).ConfigureAwait(false);
            foreach (var path in failed.Select(f => f.SourcePath).Distinct(PathGuard.Comparer))
            {
                if (InScope(path) && !File.Exists(path) && !Directory.Exists(path))
                {
                    await Store.ClearFailuresAsync(path, cancellationToken).ConfigureAwait(false);
                }
            }

            return pruned;
        }

        private void Report(string? currentFile)
        {
            if (progress is null)
            {
                return;
            }

            var elapsed = pipeline._time.GetElapsedTime(_started);
            var rate = elapsed.TotalSeconds > 0 ? _items / elapsed.TotalSeconds : 0;
            progress.Report(new IngestionProgress(_filesDone, _filesTotal, _items, _failures.Count, rate, currentFile, elapsed)
            {
                FileItemsDone = currentFile is null ? 0 : _fileItemsDone,
                FileItemsTotal = currentFile is null ? 0 : _fileItemsTotal,
            });
        }

        private bool IsItemFailure(Exception ex) => !IsCancellation(ex, cancellationToken) && ex is not EmbeddingSpaceMismatchException;

        private static bool IsCancellation(Exception ex, CancellationToken token) => ex is OperationCanceledException && token.IsCancellationRequested;

        private static string Describe(Exception ex, string path) =>
            ex is DocumentLoadException ? ex.Message : $"{path}: {ex.Message} ({ex.GetType().Name})";

        private static DataContent ToDataContent(LoadedItem item) =>
            new(item.ImageBytes, item.ImageMediaType ?? "application/octet-stream") { Name = item.ImagePath ?? item.Provenance.SourcePath };

        private static float[] Normalized(ReadOnlySpan<float> vector)
        {
            var result = vector.ToArray();
            double sum = 0;
            foreach (var value in result)
            {
                sum += (double)value * value;
            }

            if (sum > 0)
            {
                var scale = (float)(1.0 / Math.Sqrt(sum));
                for (var i = 0; i < result.Length; i++)
                {
                    result[i] *= scale;
                }
            }

            return result;
        }
    }
}
