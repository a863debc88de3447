using System.Security.Cryptography;
using System.Threading.Channels;
using Mmrag.Ingestion.Loaders;
using Mmrag.Ingestion.Ocr;
using Mmrag.Ingestion.Web;
using Mmrag.Knowledge;
using Mmrag.Storage;
using Mmrag.Threading;

namespace Mmrag.Ingestion.Pipeline;

/// <summary>
/// The state of one <see cref="IngestionPipeline.IngestAsync"/> call: discovery, hashing and loading on a background
/// task, embedding a group of files at a time (<see cref="DocumentEmbedder"/>) while the group before is stored one
/// document at a time, the counts of the summary and the progress reports. Used by one call only; its stages share it
/// as <see cref="ProcessFilesAsync"/> describes.
/// </summary>
internal sealed class IngestionRun(IKnowledgeStore store, LoaderRegistry loaders, DocumentEmbedder embedder, TimeProvider time,
    IngestionOptions options, IProgress<IngestionProgress>? progress, CancellationToken cancellationToken)
{
    private enum Outcome
    {
        Unchanged,
        ClaimedElsewhere,
        Failed,
        Loaded,
        Gone,
        Skipped,
    }

    /// <summary>A file after hashing and loading (or a remote document after fetching), waiting to be embedded and stored.</summary>
    private sealed record PreparedFile(string Path, string DocumentId, string? Hash, DocumentRecord? Stored, Outcome Outcome)
    {
        public LoadedDocument? Document { get; init; }

        public string? FailureReason { get; init; }

        /// <summary>A remote document's state to store with it (or to refresh for an unchanged one).</summary>
        public RemoteDocumentState? Remote { get; init; }
    }

    private sealed record EmbeddedDocument(List<KnowledgeItem> Items, List<IngestionFailure> Failures, int Embedded);

    /// <summary>Encoded image bytes a group of files embedded together may hold (memory stays bounded whatever the files).</summary>
    private const long GroupImageBytes = 256L * 1024 * 1024;

    private readonly long _started = time.GetTimestamp();
    private readonly List<IngestionFailure> _failures = [];
    private readonly List<IngestionFailure> _warnings = [];
    // The run's pixel limit applies to OCR as well.
    private readonly DocumentOcr? _ocr = options.Ocr is { } ocr
        ? new DocumentOcr(new TesseractOcr(ocr with { MaxImagePixels = Math.Min(ocr.MaxImagePixels, options.MaxImagePixels) }), loaders.Chunker)
        : null;
    private IReadOnlyDictionary<string, string> _descriptions = new Dictionary<string, string>();
    private readonly List<string> _skipped = [];
    private WebFetcher? _fetcher;
    private WebImageDownloads? _webImages;
    private int _filesTotal;
    private int _filesDone;
    private int _added;
    private int _unchanged;
    private int _claimedElsewhere;
    private WorkClaimSet? _claims;
    private int _replaced;
    private int _failed;
    private int _empty;
    private int _prunedRemote;
    private int _items;
    private int _embedded;
    // Counts are changed by the store stage only; the embedding stage reads them to report progress (Report).
    private int _failureCount;
    private readonly Lock _reporting = new();
    // Guarded by _reporting. The newest report not yet delivered: reports are snapshots, so one that a newer one overtakes
    // is dropped rather than queued (a slow callback would otherwise let a queue grow, and keep its deliverer busy, for as
    // long as the run).
    private IngestionProgress? _pending;
    private bool _delivering;

    public async Task<IngestionSummary> ExecuteAsync(IReadOnlyList<string> paths)
    {
        if (options.Ocr is { } ocr)
        {
            // A missing Tesseract or language stops the run at its start with one message, not once per image.
            await new TesseractOcr(ocr).VerifyAsync(cancellationToken).ConfigureAwait(false);
            await store.SetSettingAsync(IngestionOptions.OcrLanguagesSettingKey, ocr.Languages, cancellationToken).ConfigureAwait(false);
        }

        var discovery = new FileDiscovery(loaders, options.KnowledgeBaseDirectory, options.MaxDescriptionLength);
        var (local, resolved, refused) = Resolve(paths);
        await Task.Run(() => discovery.Discover(local, options.DescriptionsFile, cancellationToken), cancellationToken).ConfigureAwait(false);
        _descriptions = discovery.Descriptions;
        await RecordDiscoveryFailuresAsync(discovery).ConfigureAwait(false);
        foreach (var (path, reason) in refused)
        {
            await FailFileAsync(path, reason).ConfigureAwait(false);
        }

        var sources = await RemoteSourcesAsync(paths, resolved).ConfigureAwait(false);
        _filesTotal = discovery.Files.Count + sources.Count;
        Report(null);

        if (store is IIngestionWorkClaims claims)
        {
            _claims = new WorkClaimSet(claims, options.ClaimLease, time);
        }

        try
        {
            await ProcessFilesAsync(discovery.Files, sources).ConfigureAwait(false);
        }
        finally
        {
            if (_claims is not null)
            {
                await _claims.DisposeAsync().ConfigureAwait(false);
            }

            _webImages?.Dispose();
            _fetcher?.Dispose();
        }

        var pruned = _prunedRemote + (options.Prune ? await PruneAsync(discovery).ConfigureAwait(false) : 0);
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
            Skipped = [.. discovery.Skipped, .. _skipped],
            Hidden = discovery.Hidden,
            Failures = _failures,
            Warnings = _warnings,
            Items = _items,
            Embedded = _embedded,
            Elapsed = time.GetElapsedTime(_started),
        };
    }

    /// <summary>
    /// Records what the walk refused (counted as failed) and the sidecars' problems (warnings). Sidecars, folders and
    /// refused paths are looked at afresh every run, so the failures an earlier run recorded against them are
    /// replaced by this run's: a folder that can be listed again loses its old failure.
    /// </summary>
    private async Task RecordDiscoveryFailuresAsync(FileDiscovery discovery)
    {
        var stored = await store.ListFailuresAsync(cancellationToken).ConfigureAwait(false);
        foreach (var path in stored.Select(f => f.SourcePath).Distinct(PathGuard.Comparer).Where(discovery.CheckedPaths.Contains))
        {
            await store.ClearFailuresAsync(path, cancellationToken).ConfigureAwait(false);
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
        var stamped = failure with { At = time.GetUtcNow() };
        _failures.Add(stamped);
        _failureCount = _failures.Count;
        if (warning)
        {
            _warnings.Add(stamped);
        }
        else
        {
            _failed++;
        }

        await store.RecordFailureAsync(stamped, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// The remote documents of the run: the http(s) URLs among <paramref name="paths"/> as web pages (each once, within
    /// the page budget), then <see cref="IngestionOptions.Sources"/>. A URL that cannot be parsed is a failure.
    /// </summary>
    private async Task<List<RemoteSource>> RemoteSourcesAsync(IReadOnlyList<string> paths, List<RemoteSource> resolved)
    {
        var sources = new List<RemoteSource>();
        var urls = paths.Where(RemoteSources.IsUrl).ToList();
        if (urls.Count == 0 && resolved.Count == 0 && options.Sources.Count == 0)
        {
            return sources;
        }

        _fetcher = new WebFetcher(options.Web.Fetcher);
        _webImages = new WebImageDownloads(_fetcher);
        var crawl = new WebCrawl(_fetcher, options.Web);
        foreach (var url in urls)
        {
            if (RemoteSources.TryParse(url) is not { } uri)
            {
                await FailFileAsync(url, $"{url}: not a valid http or https URL.").ConfigureAwait(false);
            }
            else if (crawl.Start(uri) is { } page)
            {
                sources.Add(page);
            }
        }

        sources.AddRange(resolved);
        sources.AddRange(options.Sources);
        return sources;
    }

    /// <summary>Splits the paths into file paths and those the <see cref="IngestionOptions.SourceResolvers"/> turn into sources (http(s) URLs are neither).</summary>
    private (List<string> Local, List<RemoteSource> Resolved, List<(string Path, string Reason)> Refused) Resolve(IReadOnlyList<string> paths)
    {
        var local = new List<string>();
        var resolved = new List<RemoteSource>();
        var refused = new List<(string, string)>();
        foreach (var path in paths.Where(static p => !RemoteSources.IsUrl(p)))
        {
            IReadOnlyList<RemoteSource>? sources = null;
            try
            {
                sources = options.SourceResolvers.Select(r => r.Resolve(path)).FirstOrDefault(static s => s is not null);
            }
            catch (ArgumentException ex)
            {
                refused.Add((path, $"{path}: {ex.Message}"));
                continue;
            }

            if (sources is null)
            {
                local.Add(path);
            }
            else
            {
                resolved.AddRange(sources);
            }
        }

        return (local, resolved, refused);
    }

    /// <summary>
    /// Hashes and loads files, then fetches and loads remote documents (and those they lead to), on a background task,
    /// at most <see cref="IngestionOptions.Prefetch"/> ahead, while this one embeds and stores.
    /// </summary>
    private async Task ProcessFilesAsync(List<DiscoveredFile> files, List<RemoteSource> sources)
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
                // Up to ParallelLoads files are prepared at once (with OCR, one Tesseract per core) and handed on in order.
                var preparing = new Queue<Task<PreparedFile>>();
                try
                {
                    foreach (var file in files)
                    {
                        preparing.Enqueue(Task.Run(() => PrepareAsync(file, stop.Token), stop.Token));
                        if (preparing.Count >= options.EffectiveParallelLoads)
                        {
                            await channel.Writer.WriteAsync(await preparing.Dequeue().ConfigureAwait(false), stop.Token).ConfigureAwait(false);
                        }
                    }

                    while (preparing.TryDequeue(out var next))
                    {
                        await channel.Writer.WriteAsync(await next.ConfigureAwait(false), stop.Token).ConfigureAwait(false);
                    }
                }
                catch
                {
                    // A stopped run still waits for the loads it started, so none outlives it.
                    await stop.CancelAsync().ConfigureAwait(false);
                    await Task.WhenAll(preparing).ContinueWith(static _ => { }, CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default)
                        .ConfigureAwait(false);
                    throw;
                }

                // Breadth first: a page's links come after the pages already queued; each URL is read once.
                var queue = new Queue<RemoteSource>(sources);
                var seen = new HashSet<string>(StringComparer.Ordinal);
                while (queue.TryDequeue(out var source))
                {
                    if (!seen.Add(source.SourcePath))
                    {
                        Interlocked.Decrement(ref _filesTotal);
                        continue;
                    }

                    var (prepared, next) = await PrepareRemoteAsync(source, stop.Token).ConfigureAwait(false);
                    foreach (var followUp in next)
                    {
                        Interlocked.Increment(ref _filesTotal);
                        queue.Enqueue(followUp);
                    }

                    await channel.Writer.WriteAsync(prepared, stop.Token).ConfigureAwait(false);
                }
            }
            catch
            {
                // The store stage stops at its next document rather than storing what is left of its group.
                await stop.CancelAsync().ConfigureAwait(false);
                throw;
            }
            finally
            {
                channel.Writer.TryComplete();
            }
        }, stop.Token);

        // Three stages side by side: the producer above reads files; this flow gathers them into groups and embeds each
        // group on the pool while it gathers the next; a group is stored on the pool as soon as its embedding ends (after
        // the group before it, so stores keep the files' order), not when the next group is gathered: with a slow source
        // (a crawl's host delay, slow loads) finished work is written at once rather than held. So the store's writes and
        // the next group's reads never leave the embedding generator waiting, and at most three groups (one stored, one
        // embedded, one gathered) are held at once: a group is embedded only once the one two before it is stored.
        Task<SharedEmbeddings?>? embedding = null;
        var storing = Task.CompletedTask;
        try
        {
            var group = await GatherAsync(channel.Reader, stop.Token).ConfigureAwait(false);
            SharedEmbeddings? previous = null;
            var storedBefore = Task.CompletedTask;
            while (group.Count > 0)
            {
                await storedBefore.ConfigureAwait(false);
                if (embedding is not null)
                {
                    // The next group reuses this one's vectors, which may not be stored yet.
                    previous = await embedding.ConfigureAwait(false);
                }

                var embedded = group;
                var inFlight = previous;
                embedding = StopAllOnFailureAsync(Task.Run(() => EmbedTogetherAsync(embedded, inFlight, stop.Token), stop.Token), stop);
                storedBefore = storing;
                storing = StoreWhenEmbeddedAsync(embedded, embedding, storedBefore, stop);
                group = await GatherAsync(channel.Reader, stop.Token).ConfigureAwait(false);
            }

            await storing.ConfigureAwait(false);
            await producer.ConfigureAwait(false);
        }
        catch (Exception failure)
        {
            await stop.CancelAsync().ConfigureAwait(false);
            // Every stage started is waited for, so that none outlives the run.
            Task?[] stages = [producer, embedding, storing];
            foreach (var stage in stages)
            {
                if (stage is not null)
                {
                    await stage.ContinueWith(static _ => { }, CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default)
                        .ConfigureAwait(false);
                }
            }

            // A stage that failed cancels the others through `stop`, so this flow may see only that cancellation: report
            // the stage's own failure (a store gone away is not a Ctrl-C) unless the caller really cancelled.
            if (failure is OperationCanceledException && !cancellationToken.IsCancellationRequested
                && stages.FirstOrDefault(static t => t is { IsFaulted: true })?.Exception?.InnerException is { } cause)
            {
                System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw(cause);
            }

            throw;
        }
    }

    /// <summary>
    /// A stage of <see cref="ProcessFilesAsync"/> whose failure stops the others at once through <paramref name="stop"/>:
    /// not when the flow next awaits it, which may be after the group being stored is finished.
    /// </summary>
    private static async Task<T> StopAllOnFailureAsync<T>(Task<T> stage, CancellationTokenSource stop)
    {
        try
        {
            return await stage.ConfigureAwait(false);
        }
        catch
        {
            await stop.CancelAsync().ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>
    /// The store stage of <see cref="ProcessFilesAsync"/> for one group: once <paramref name="before"/> (the group before's
    /// store) and <paramref name="embedding"/> are done, stores the group's files in order on the pool. A failure stops
    /// the other stages at once through <paramref name="stop"/>, so that they do not wait on work that will not be stored;
    /// a failure elsewhere stops this one at its next document (<see cref="StoreGroupAsync"/>).
    /// </summary>
    private async Task StoreWhenEmbeddedAsync(List<PreparedFile> group, Task<SharedEmbeddings?> embedding, Task before, CancellationTokenSource stop)
    {
        try
        {
            await before.ConfigureAwait(false);
            var shared = await embedding.ConfigureAwait(false);
            await Task.Run(() => StoreGroupAsync(group, shared, stop.Token), stop.Token).ConfigureAwait(false);
        }
        catch
        {
            await stop.CancelAsync().ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>
    /// Stores the files of an embedded group, in order (the store stage of <see cref="ProcessFilesAsync"/>). When
    /// <paramref name="stop"/> says another stage failed (or the run was cancelled), it stops between two documents, or
    /// while a document is still being embedded, never between a document's write and its state: what is stored stays
    /// whole.
    /// </summary>
    private async Task StoreGroupAsync(List<PreparedFile> group, SharedEmbeddings? shared, CancellationToken stop)
    {
        foreach (var prepared in group)
        {
            stop.ThrowIfCancellationRequested();
            await StoreAsync(prepared, shared, stop).ConfigureAwait(false);
        }
    }

    /// <summary>
    /// The next files to embed together: files are taken as they are prepared until their items fill a batch
    /// (<see cref="IngestionOptions.EmbeddingBatchSize"/>), their images hold <see cref="GroupImageBytes"/>, or the files
    /// run out, so that a folder of photos is embedded 32 at a time rather than one per file. Empty when no file is left.
    /// </summary>
    private async Task<List<PreparedFile>> GatherAsync(ChannelReader<PreparedFile> reader, CancellationToken token)
    {
        var group = new List<PreparedFile>();
        var items = 0;
        var bytes = 0L;
        do
        {
            while (reader.TryRead(out var prepared))
            {
                group.Add(prepared);
                foreach (var item in prepared.Document?.Items ?? [])
                {
                    items++;
                    bytes += item.ImageBytes.Length;
                }

                if (items >= options.EmbeddingBatchSize || bytes >= GroupImageBytes || group.Count >= options.EmbeddingBatchSize)
                {
                    return group;
                }
            }
        }
        while (await reader.WaitToReadAsync(token).ConfigureAwait(false));

        return group;
    }

    /// <summary>
    /// Embeds the items of a group's loaded files in one call, for the files to take their vectors from (the embedding
    /// stage of <see cref="ProcessFilesAsync"/>, so a file alone in its group is embedded here too); null when the group
    /// has no loaded file, or when the call fails (each file is then embedded alone, so a failure stays its own).
    /// <paramref name="inFlight"/> is the group before, which may not be stored yet: its vectors are reused as stored ones.
    /// </summary>
    private async Task<SharedEmbeddings?> EmbedTogetherAsync(List<PreparedFile> group, SharedEmbeddings? inFlight, CancellationToken token)
    {
        var loaded = group.Where(static p => p.Outcome == Outcome.Loaded).ToList();
        if (loaded.Count == 0)
        {
            return null;
        }

        try
        {
            var documents = loaded.ConvertAll(static p => p.Document!);
            var items = documents.SelectMany(static d => d.Items).ToList();
            var first = loaded[0].Path;
            // The group's items count as the first file's, so that progress moves while the batch is embedded.
            return new SharedEmbeddings(await embedder.EmbedAsync(items, (done, total) => Report(first, done, total), token,
                reusable: inFlight?.Embedded.Vectors).ConfigureAwait(false), documents);
        }
        catch (Exception ex) when (!IsCancellation(ex, token) && ex is not (EmbeddingSpaceMismatchException or KnowledgeStoreException))
        {
            return null;
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

        var version = Versioned(hash);
        var stored = await store.GetDocumentAsync(documentId, token).ConfigureAwait(false);
        if (stored is not null && stored.ContentHash == version && await DescriptionUnchangedAsync(path, documentId, hash, token).ConfigureAwait(false))
        {
            return new PreparedFile(path, documentId, version, stored, Outcome.Unchanged);
        }

        if (_claims is not null && !await _claims.TryClaimAsync(documentId, ClaimVersion(path, version), token).ConfigureAwait(false))
        {
            return new PreparedFile(path, documentId, version, stored, Outcome.ClaimedElsewhere);
        }

        var loader = loaders.Find(path)!;
        var context = new DocumentLoadContext(file.Root, _descriptions)
        {
            MaxFileBytes = options.MaxFileBytes,
            MaxImagePixels = options.MaxImagePixels,
            MaxItems = options.MaxItemsPerFile,
        };
        var load = Task.Run(async () =>
        {
            var loaded = await loader.LoadAsync(path, context, timeout.Token).ConfigureAwait(false);
            return _ocr is null ? loaded : await _ocr.ApplyAsync(loaded, timeout.Token).ConfigureAwait(false);
        }, CancellationToken.None);
        try
        {
            var document = await load.WaitAsync(timeout.Token).ConfigureAwait(false);
            return new PreparedFile(path, documentId, version, stored, Outcome.Loaded) { Document = Capped(document) };
        }
        catch (OperationCanceledException) when (TimedOut(timeout, token))
        {
            // The loader may still be running: observe its end so that a late exception is not unobserved.
            load.Abandon();
            return new PreparedFile(path, documentId, version, stored, Outcome.Failed) { FailureReason = TookTooLong(path) };
        }
        catch (Exception ex) when (!IsCancellation(ex, token))
        {
            return new PreparedFile(path, documentId, version, stored, Outcome.Failed) { FailureReason = Describe(ex, path) };
        }

        PreparedFile Failed(string reason) => new(path, documentId, null, null, Outcome.Failed) { FailureReason = reason };
    }

    /// <summary>What is stored for a document depends on its content and on whether its images were read with OCR (and in which languages).</summary>
    private string Versioned(string hash) => options.Ocr is { } ocr ? hash + "+ocr:" + ocr.Languages : hash;

    /// <summary>
    /// Fetches and loads a remote document: its stored state is handed over only when the stored document is that
    /// version, so a conditional request's 304 never stands for a document that is not there; a loaded document whose
    /// version equals the stored one is unchanged all the same (nothing is embedded).
    /// </summary>
    private async Task<(PreparedFile Prepared, IReadOnlyList<RemoteSource> FollowUps)> PrepareRemoteAsync(RemoteSource source, CancellationToken token)
    {
        var path = source.SourcePath;
        var documentId = DocumentIds.ForPath(path);
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(token);
        timeout.CancelAfter(options.FileTimeout);
        var stored = await store.GetDocumentAsync(documentId, token).ConfigureAwait(false);
        var state = stored is null ? null : await RemoteDocumentState.ReadAsync(store, documentId, token).ConfigureAwait(false);
        var context = new RemoteLoadContext(source, _fetcher!, _webImages!, loaders, HtmlLoaderOf(loaders),
            state is not null && stored!.ContentHash == Versioned(state.Version) ? state : null)
        {
            MaxBytes = options.MaxFileBytes,
            MaxImagePixels = options.MaxImagePixels,
            MaxItems = options.MaxItemsPerFile,
            MaxImageBytesPerPage = options.Web.MaxImageBytesPerPage,
            MaxImageRequestsPerPage = options.Web.MaxImageRequestsPerPage,
        };
        var load = Task.Run(() => source.LoadAsync(context, timeout.Token), CancellationToken.None);
        RemoteLoadResult result;
        try
        {
            result = await load.WaitAsync(timeout.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (TimedOut(timeout, token))
        {
            load.Abandon();
            return (Failed(TookTooLong(path)), []);
        }
        catch (Exception ex) when (!IsCancellation(ex, token))
        {
            return (Failed(ex is WebFetchException or DocumentLoadException ? ex.Message : Describe(ex, path)), []);
        }

        var prepared = result.Outcome switch
        {
            RemoteLoadOutcome.Unchanged when context.Stored is not null =>
                new PreparedFile(path, documentId, stored!.ContentHash, stored, Outcome.Unchanged) { Remote = result.State ?? context.Stored },
            RemoteLoadOutcome.Unchanged => Failed($"{path}: the source said it was unchanged, but no version of it is stored."),
            RemoteLoadOutcome.Gone => new PreparedFile(path, documentId, null, stored, Outcome.Gone) { FailureReason = result.Reason },
            RemoteLoadOutcome.Skipped => new PreparedFile(path, documentId, null, stored, Outcome.Skipped) { FailureReason = result.Reason },
            _ => await PrepareLoadedRemoteAsync(path, documentId, stored, result, timeout, token).ConfigureAwait(false),
        };
        return (prepared, result.FollowUps);

        PreparedFile Failed(string reason) => new(path, documentId, null, null, Outcome.Failed) { FailureReason = reason };
    }

    private async Task<PreparedFile> PrepareLoadedRemoteAsync(string path, string documentId, DocumentRecord? stored, RemoteLoadResult result,
        CancellationTokenSource timeout, CancellationToken token)
    {
        var version = Versioned(result.State!.Version);
        if (stored is not null && stored.ContentHash == version)
        {
            return new PreparedFile(path, documentId, version, stored, Outcome.Unchanged) { Remote = result.State };
        }

        if (_claims is not null && !await _claims.TryClaimAsync(documentId, version, token).ConfigureAwait(false))
        {
            return new PreparedFile(path, documentId, version, stored, Outcome.ClaimedElsewhere);
        }

        var document = result.Document! with { SourcePath = path };
        try
        {
            if (_ocr is not null)
            {
                document = await _ocr.ApplyAsync(document, timeout.Token).ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException) when (TimedOut(timeout, token))
        {
            return new PreparedFile(path, documentId, version, stored, Outcome.Failed) { FailureReason = TookTooLong(path) };
        }

        return new PreparedFile(path, documentId, version, stored, Outcome.Loaded) { Document = Capped(document), Remote = result.State };
    }

    private static HtmlLoader HtmlLoaderOf(LoaderRegistry loaders) =>
        loaders.Find("page.html") as HtmlLoader
        ?? (loaders.Chunker is { } chunker ? new HtmlLoader(chunker) : throw new InvalidOperationException("Web pages need an HTML loader in the loader registry."));

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
            null, time.GetUtcNow());
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
        var item = await store.GetItemAsync(DocumentIds.ForItem(documentId, 0, hash), token).ConfigureAwait(false);
        return item is not null && string.Equals(item.Description, description, StringComparison.Ordinal);
    }

    /// <summary>Stores one prepared file; <paramref name="stop"/> may end it only before anything of it is written.</summary>
    private async Task StoreAsync(PreparedFile prepared, SharedEmbeddings? shared, CancellationToken stop)
    {
        var path = prepared.Path;
        Report(path);
        switch (prepared.Outcome)
        {
            case Outcome.Unchanged:
                _unchanged++;
                if (prepared.Remote is { } refreshed && !refreshed.SameAs(await RemoteDocumentState.ReadAsync(store, prepared.DocumentId, cancellationToken).ConfigureAwait(false)))
                {
                    await refreshed.WriteAsync(store, prepared.DocumentId, cancellationToken).ConfigureAwait(false);
                }

                break;
            case Outcome.Skipped:
                _skipped.Add($"{path} ({prepared.FailureReason})");
                break;
            case Outcome.Gone:
                await GoneAsync(prepared).ConfigureAwait(false);
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
                    stored = await StoreDocumentAsync(prepared, shared, stop).ConfigureAwait(false);
                    if (stored && prepared.Remote is { } state)
                    {
                        // After the document: a crash in between costs an unconditional request next time, never a wrong "unchanged".
                        await state.WriteAsync(store, prepared.DocumentId, cancellationToken).ConfigureAwait(false);
                    }
                }
                catch (Exception ex) when (!IsCancellation(ex, stop) && ex is not (EmbeddingSpaceMismatchException or KnowledgeStoreException))
                {
                    await FailFileAsync(path, Describe(ex, path)).ConfigureAwait(false);
                }

                // A failed file is given back rather than completed, so that a later run tries it again, as without claims.
                await ReleaseClaimAsync(prepared.DocumentId, stored).ConfigureAwait(false);
                break;
        }

        _filesDone++;
        Report(null);
    }

    /// <summary>
    /// A remote document that answers 404 or 410: with <see cref="IngestionOptions.Prune"/> its stored version goes
    /// (counted as pruned); otherwise it is a failure and the stored version stays.
    /// </summary>
    private async Task GoneAsync(PreparedFile prepared)
    {
        if (options.Prune)
        {
            if (prepared.Stored is not null && await store.DeleteDocumentAndFailuresAsync(prepared.DocumentId, cancellationToken).ConfigureAwait(false))
            {
                _prunedRemote++;
            }

            await store.ClearFailuresAsync(prepared.Path, cancellationToken).ConfigureAwait(false);
            await RemoteDocumentState.DeleteAsync(store, prepared.DocumentId, cancellationToken).ConfigureAwait(false);
            return;
        }

        var kept = prepared.Stored is null ? "" : " The stored version is kept; ingest with --prune (IngestionOptions.Prune) to remove it.";
        await FailFileAsync(prepared.Path, prepared.FailureReason + kept).ConfigureAwait(false);
    }

    private Task ReleaseClaimAsync(string documentId, bool stored) =>
        _claims is null ? Task.CompletedTask : _claims.ReleaseAsync(documentId, stored, cancellationToken);

    /// <summary>
    /// Embeds and stores a loaded file; false when it failed (and was recorded as failed). <paramref name="stop"/> ends
    /// the embedding; once the document is written, the rest (its failures) follows with the run's token.
    /// </summary>
    private async Task<bool> StoreDocumentAsync(PreparedFile prepared, SharedEmbeddings? shared, CancellationToken stop)
    {
        var document = prepared.Document!;
        var path = prepared.Path;
        var embedded = await EmbedAsync(document, prepared.DocumentId, shared, stop).ConfigureAwait(false);
        if (document.MediaType.StartsWith("image/", StringComparison.Ordinal) && embedded.Items.Count == 0 && embedded.Failures.Count > 0)
        {
            // An image file is its image: if that cannot be decoded, the file has failed (its earlier version, if any, stays).
            await FailFileAsync(path, embedded.Failures[0].Reason).ConfigureAwait(false);
            return false;
        }

        var record = new DocumentRecord(prepared.DocumentId, path, prepared.Hash!, document.MediaType, document.Title, embedded.Items.Count,
            time.GetUtcNow())
        {
            Tags = options.Tags,
        };
        await store.UpsertDocumentAsync(record, embedded.Items, cancellationToken).ConfigureAwait(false);

        // Stored: the file's earlier failures are history; what failed inside it this time is recorded afresh.
        await store.ClearFailuresAsync(path, cancellationToken).ConfigureAwait(false);
        foreach (var failure in document.Failures.Concat(embedded.Failures))
        {
            await RecordAsync(failure with { SourcePath = path }, warning: true).ConfigureAwait(false);
        }

        if (document.Items.Count == 0)
        {
            // Stored all the same, so that the next run finds it unchanged; but an empty document is worth a look.
            _empty++;
            await RecordAsync(new IngestionFailure(path, "No text or images were found in the file; it is stored as an empty document.", null,
                time.GetUtcNow()), warning: true).ConfigureAwait(false);
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
        await store.ClearFailuresAsync(path, cancellationToken).ConfigureAwait(false);
        await RecordAsync(new IngestionFailure(path, reason, null, time.GetUtcNow()), warning: false).ConfigureAwait(false);
    }

    /// <summary>The document's items with their vectors (<see cref="DocumentEmbedder"/>); an image that could not be embedded is left out and recorded.</summary>
    private async Task<EmbeddedDocument> EmbedAsync(LoadedDocument document, string documentId, SharedEmbeddings? shared, CancellationToken stop)
    {
        // The group's call hashed the items already: each item's bytes are hashed once.
        var embedded = await embedder.EmbedAsync(document.Items, (done, total) => Report(document.SourcePath, done, total), stop, shared,
            contentHashes: shared?.HashesOf(document)).ConfigureAwait(false);

        var hashes = embedded.ContentHashes;
        var items = new List<KnowledgeItem>(hashes.Count);
        var failures = new List<IngestionFailure>();
        for (var i = 0; i < hashes.Count; i++)
        {
            var loaded = document.Items[i];
            if (!embedded.Vectors.TryGetValue(hashes[i], out var vector))
            {
                var where = loaded.Provenance.Page is { } page ? $"page {page}, item {loaded.Provenance.Position}" : $"item {loaded.Provenance.Position}";
                var image = loaded.ImagePath is null ? "An image" : $"The image '{loaded.ImagePath}'";
                failures.Add(new IngestionFailure(document.SourcePath,
                    $"{image} could not be embedded and was left out: {embedded.Errors.GetValueOrDefault(hashes[i], "unknown error")}",
                    where, time.GetUtcNow()));
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

        return new EmbeddedDocument(items, failures, embedded.Embedded);
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

    /// <summary>Deletes the stored documents of files under the run's paths that are gone, and the failures of such paths.</summary>
    private Task<int> PruneAsync(FileDiscovery discovery)
    {
        bool InScope(string path) =>
            discovery.ExplicitFiles.Contains(path, PathGuard.Comparer) || discovery.FolderRoots.Any(root => PathGuard.IsLexicallyUnder(path, root));

        // Failures of files that are gone (never stored, or deleted since) go too; a failure may be a folder's.
        return store.DeleteWhereAsync(path => InScope(path) && !File.Exists(path), path => InScope(path) && !File.Exists(path) && !Directory.Exists(path),
            cancellationToken);
    }

    /// <summary>
    /// Reports where the run stands, with <paramref name="fileItemsDone"/> of <paramref name="fileItemsTotal"/> items of
    /// <paramref name="currentFile"/> done. The embedding and store stages both report: one call at a time and in the
    /// order reported, so <see cref="IngestionProgress.FilesDone"/> never goes back (only the store stage changes the
    /// counts). The user's callback runs outside the run's lock: a stage that reports while the other stage's report is
    /// being delivered leaves its report to that stage to deliver next (replacing an older one still waiting: reports are
    /// snapshots, so only the newest is worth delivering) and goes on with its work, so a slow callback
    /// never stops both stages, and one that blocks until the other stage moves on does not deadlock them.
    /// </summary>
    private void Report(string? currentFile, int fileItemsDone = 0, int fileItemsTotal = 0)
    {
        if (progress is null)
        {
            return;
        }

        lock (_reporting)
        {
            var elapsed = time.GetElapsedTime(_started);
            var items = Volatile.Read(ref _items);
            var rate = elapsed.TotalSeconds > 0 ? items / elapsed.TotalSeconds : 0;
            _pending = new IngestionProgress(Volatile.Read(ref _filesDone), Volatile.Read(ref _filesTotal), items, Volatile.Read(ref _failureCount),
                rate, currentFile, elapsed)
            {
                FileItemsDone = currentFile is null ? 0 : fileItemsDone,
                FileItemsTotal = currentFile is null ? 0 : fileItemsTotal,
            };
            if (_delivering)
            {
                return;
            }

            _delivering = true;
        }

        try
        {
            while (true)
            {
                IngestionProgress next;
                lock (_reporting)
                {
                    if (_pending is null)
                    {
                        _delivering = false;
                        return;
                    }

                    (next, _pending) = (_pending, null);
                }

                progress.Report(next);
            }
        }
        catch
        {
            // The callback threw (the stage fails with it): the next report delivers what is left.
            lock (_reporting)
            {
                _delivering = false;
            }

            throw;
        }
    }

    private static bool IsCancellation(Exception ex, CancellationToken token) => ex is OperationCanceledException && token.IsCancellationRequested;

    private static string Describe(Exception ex, string path) =>
        ex is DocumentLoadException ? ex.Message : $"{path}: {ex.Message} ({ex.GetType().Name})";
}
