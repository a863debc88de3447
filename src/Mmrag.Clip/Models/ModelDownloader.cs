using System.Buffers;
using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Security.Cryptography;
using System.Text;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Mmrag.Clip.Models;

/// <summary>
/// Fetches models from a HuggingFace-style hub into a <see cref="ModelCache"/>: resumable (HTTP range requests on
/// <c>&lt;file&gt;.partial</c>), checked against the hub's published size and SHA-256, and atomic (a file gets its
/// final name only after verification, so a final name never holds a half-written or corrupt file).
/// </summary>
/// <remarks>
/// <para>
/// Protocol: for each missing file a <c>HEAD {endpoint}/{repo}/resolve/{revision}/{file}</c> without following the
/// redirect reads <c>X-Linked-Etag</c> (the SHA-256 of an LFS file), <c>X-Linked-Size</c>, or for small non-LFS files
/// <c>ETag</c> (a git blob SHA-1, not checked) and <c>Content-Length</c>, plus <c>X-Repo-Commit</c>; then a
/// <c>GET</c> that follows redirects, with <c>Range: bytes=N-</c> when N bytes are already on disk.
/// </para>
/// <para>
/// The <see cref="HttpClient"/> must not follow redirects by itself (the checksum is on the redirect response):
/// use <see cref="CreateHttpClient"/> or a handler with <c>AllowAutoRedirect = false</c>. The downloader disposes
/// the client only when told to. Thread-safe: concurrent downloads of different models are fine; a concurrent
/// download of the same file fails with <see cref="ModelDownloadFailure.FileInUse"/> (its <c>.partial</c> is locked).
/// </para>
/// </remarks>
public sealed class ModelDownloader : IDisposable
{
    private const long ProgressIntervalMs = 100;

    private readonly HttpClient _http;
    private readonly HubClient _hub;
    private readonly bool _disposeHttpClient;
    private readonly ILogger _logger;

    /// <summary>Creates a downloader.</summary>
    /// <param name="httpClient">Client to use; must not follow redirects automatically (see <see cref="CreateHttpClient"/>).</param>
    /// <param name="cache">Where models are stored.</param>
    /// <param name="logger">Optional logger.</param>
    /// <param name="disposeHttpClient">True to dispose <paramref name="httpClient"/> with this downloader.</param>
    public ModelDownloader(HttpClient httpClient, ModelCache cache, ILogger<ModelDownloader>? logger = null, bool disposeHttpClient = false)
    {
        ArgumentNullException.ThrowIfNull(httpClient);
        ArgumentNullException.ThrowIfNull(cache);
        _http = httpClient;
        _hub = new HubClient(httpClient);
        _disposeHttpClient = disposeHttpClient;
        _logger = (ILogger?)logger ?? NullLogger.Instance;
        Cache = cache;
    }

    /// <summary>The cache models are downloaded into.</summary>
    public ModelCache Cache { get; }

    /// <summary>
    /// An <see cref="HttpClient"/> suited to the hub: no automatic redirects, no compression (sizes stay exact),
    /// system proxy, 30 s connect timeout, 2 min to receive headers (a stalled body is caught by
    /// <see cref="ModelDownloadOptions.StallTimeout"/>). The caller owns it.
    /// </summary>
    public static HttpClient CreateHttpClient()
    {
        var handler = new SocketsHttpHandler
        {
            AllowAutoRedirect = false,
            AutomaticDecompression = DecompressionMethods.None,
            ConnectTimeout = TimeSpan.FromSeconds(30),
            PooledConnectionLifetime = TimeSpan.FromMinutes(5),
        };
        var client = new HttpClient(handler, disposeHandler: true) { Timeout = TimeSpan.FromMinutes(2) };
        client.DefaultRequestHeaders.UserAgent.Add(new ProductInfoHeaderValue("mmrag", "1.0"));
        return client;
    }

    /// <summary>
    /// Returns the folder of <paramref name="nameOrPath"/>, downloading what is missing first. A folder path is used
    /// as is (never downloaded into); a catalog name or repository id (<see cref="ModelCatalog"/>) is looked up in
    /// <see cref="Cache"/> and fetched when incomplete; see <see cref="ModelCache.Resolve"/>. A complete model
    /// needs no network, even when offline.
    /// </summary>
    /// <exception cref="ClipModelException">Unknown model name, or a named folder that is missing or incomplete.</exception>
    /// <exception cref="ModelDownloadException">The download failed or is forbidden (offline); the message says which files to put where.</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled; finished files are kept, the current one stays <c>.partial</c> and resumes next time.</exception>
    public async Task<string> EnsureModelAsync(
        string nameOrPath,
        ModelDownloadOptions? options = null,
        IProgress<ModelDownloadProgress>? progress = null,
        CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(nameOrPath);
        options ??= ModelDownloadOptions.Default;
        options.Validate();

        var resolution = Cache.Resolve(nameOrPath, options.Variants);
        if (resolution.IsComplete)
        {
            return resolution.Directory;
        }

        if (resolution.Source == ModelSource.LocalFolder)
        {
            throw new ClipModelException(resolution.Exists
                ? $"Model folder '{resolution.Directory}' is missing {string.Join(", ", resolution.MissingFiles)}. "
                  + "A folder given by path is used as is and never downloaded into: complete it, or name a catalog model "
                  + $"({KnownNames()}) to have it downloaded."
                : $"Model folder '{resolution.Directory}' does not exist.");
        }

        if (resolution.Model is null)
        {
            throw new ClipModelException(resolution.Exists
                ? $"Model folder '{resolution.Directory}' is missing {string.Join(", ", resolution.MissingFiles)}, and "
                  + $"'{nameOrPath}' is not in the catalog ({KnownNames()}), so it cannot be downloaded."
                : $"Unknown model '{nameOrPath}'. Known models: {KnownNames()}; or give the path of a folder in the "
                  + "HuggingFace ONNX layout (write ./name for a folder in the working directory).");
        }

        return await DownloadAsync(resolution.Model, options, progress, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// Downloads the files of <paramref name="model"/> (for <see cref="ModelDownloadOptions.Variants"/>) that are not
    /// yet in <c>{Cache.Root}/{model.Name}</c> and returns that folder. Files already present are trusted (they were
    /// verified before they got their name); unfinished <c>.partial</c> files are resumed.
    /// </summary>
    /// <exception cref="ModelDownloadException">The download failed or is forbidden (offline); the message says which files to put where.</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled; the cache stays consistent.</exception>
    public async Task<string> DownloadAsync(
        ModelDescriptor model,
        ModelDownloadOptions? options = null,
        IProgress<ModelDownloadProgress>? progress = null,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(model);
        options ??= ModelDownloadOptions.Default;
        options.Validate();
        cancellationToken.ThrowIfCancellationRequested();

        var directory = Cache.GetModelDirectory(model.Name);
        var files = model.GetFiles(options.Variants);
        var missing = ModelLayout.MissingFiles(directory, files);
        if (missing.Count == 0)
        {
            return directory;
        }

        if (options.IsOffline)
        {
            throw new ModelDownloadException(
                $"Model '{model.Name}' is not complete and offline mode is on ({ModelDownloadOptions.OfflineVariable} or the "
                + $"Offline option), so nothing was downloaded. {ManualInstructions(model, model.Revision, options, directory, missing)}"
                + $"{Environment.NewLine}Or turn offline mode off and run again.",
                ModelDownloadFailure.Offline,
                model.Name,
                directory,
                missing);
        }

        var pull = new Pull(model, options, directory, files, missing, progress);
        Log.ModelDownloadStarting(_logger, model.Name, model.Repository, model.Revision, missing.Count);
        Log.ModelDirectory(_logger, model.Name, directory);
        try
        {
            Directory.CreateDirectory(directory);
            for (var i = 0; i < missing.Count; i++)
            {
                pull.Infos[i] = await CheckAsync(pull, i, cancellationToken).ConfigureAwait(false);
            }

            for (var i = 0; i < missing.Count; i++)
            {
                await FetchAsync(pull, i, cancellationToken).ConfigureAwait(false);
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw pull.Fail(ModelDownloadFailure.Storage, $"Could not write model '{model.Name}' into '{directory}': {e.Message}", file: null, e);
        }

        Log.ModelDownloadCompleted(_logger, model.Name);
        return directory;
    }

    /// <inheritdoc />
    public void Dispose()
    {
        if (_disposeHttpClient)
        {
            _http.Dispose();
        }
    }

    private async Task<HubFileInfo> CheckAsync(Pull pull, int index, CancellationToken cancellationToken)
    {
        pull.Report(index, ModelDownloadStage.Checking, 0);
        for (var failures = 0; ;)
        {
            try
            {
                var info = await _hub.HeadAsync(pull.FileUri(pull.Files[index]), response => StatusFailure(pull, pull.Files[index], response), cancellationToken).ConfigureAwait(false);
                if (!ModelDescriptor.IsCommitSha(pull.Revision) && info.Commit is not null)
                {
                    // A branch can move between two files of one pull; fetch the rest from the commit the first came from.
                    Log.RevisionPinned(_logger, pull.Model.Name, pull.Revision, info.Commit);
                    pull.Revision = info.Commit;
                }

                return info;
            }
            catch (Exception e) when (HubClient.IsTransient(e, cancellationToken))
            {
                await BackOffAsync(pull, index, e, ++failures, fileBytes: 0, cancellationToken).ConfigureAwait(false);
            }
        }
    }

    private async Task FetchAsync(Pull pull, int index, CancellationToken cancellationToken)
    {
        var file = pull.Files[index];
        var finalPath = ModelLayout.FullPath(pull.Directory, file);
        var partialPath = finalPath + ModelLayout.PartialSuffix;
        Directory.CreateDirectory(Path.GetDirectoryName(finalPath)!);

        string? corruption;
        long length;
        var stream = PartialDownload.Open(partialPath, e => pull.Fail(
            ModelDownloadFailure.FileInUse,
            $"Could not open '{partialPath}' to download '{file}' of model '{pull.Model.Name}': {e.Message} "
            + "Another download of the same model may be running; wait for it or stop it.",
            file,
            e));
        await using (stream.ConfigureAwait(false))
        {
            corruption = await DownloadAndVerifyAsync(pull, index, stream, cancellationToken).ConfigureAwait(false);
            length = stream.Length;
            if (corruption is null)
            {
                stream.Flush(flushToDisk: true);
            }
        }

        if (corruption is not null)
        {
            File.Delete(partialPath);
            throw pull.Fail(ModelDownloadFailure.Verification, corruption, file);
        }

        File.Move(partialPath, finalPath, overwrite: true);
        Log.FileVerified(_logger, pull.Model.Name, file, length);
        pull.CompleteFile(index, length);
    }

    // Returns null when the file on disk is verified, or a message saying how it is corrupt.
    private async Task<string?> DownloadAndVerifyAsync(Pull pull, int index, FileStream stream, CancellationToken cancellationToken)
    {
        var file = pull.Files[index];
        var info = pull.Infos[index]!;
        if (info.Size is long publishedSize && stream.Length > publishedSize)
        {
            Log.StalePartial(_logger, pull.Model.Name, file, stream.Length);
            stream.SetLength(0);
        }

        var holdsEarlierBytes = stream.Length > 0;
        var restartedAfterMismatch = false;
        for (var failures = 0; ;)
        {
            var before = stream.Length;
            try
            {
                if (info.Size is not long size || stream.Length < size)
                {
                    switch (await TransferAsync(pull, index, stream, cancellationToken).ConfigureAwait(false))
                    {
                        case TransferOutcome.FromStart:
                            holdsEarlierBytes = false;
                            break;
                        case TransferOutcome.Resumed:
                            holdsEarlierBytes = true;
                            break;
                        case TransferOutcome.RangeNotSatisfiable:
                            stream.SetLength(0);
                            holdsEarlierBytes = false;
                            continue;
                        case TransferOutcome.AlreadyComplete:
                        default:
                            break;
                    }
                }
            }
            catch (Exception e) when (HubClient.IsTransient(e, cancellationToken))
            {
                // A bounded number of attempts in a row without progress; an attempt that gained bytes starts the count again.
                failures = stream.Length > before ? 1 : failures + 1;
                await BackOffAsync(pull, index, e, failures, stream.Length, cancellationToken).ConfigureAwait(false);
                continue;
            }

            var corruption = await VerifyAsync(pull, index, stream, cancellationToken).ConfigureAwait(false);
            if (corruption is null)
            {
                return null;
            }

            if (holdsEarlierBytes && !restartedAfterMismatch)
            {
                // The kept prefix may come from an older version of the file; fetch it whole once before giving up.
                Log.ResumedFileMismatch(_logger, pull.Model.Name, file);
                stream.SetLength(0);
                holdsEarlierBytes = false;
                restartedAfterMismatch = true;
                continue;
            }

            return corruption;
        }
    }

    private async Task<TransferOutcome> TransferAsync(Pull pull, int index, FileStream stream, CancellationToken cancellationToken)
    {
        var file = pull.Files[index];
        var offset = stream.Length;
        using var response = await _hub.GetAsync(pull.FileUri(file), offset, cancellationToken).ConfigureAwait(false);

        TransferOutcome outcome;
        switch (response.StatusCode)
        {
            case HttpStatusCode.PartialContent:
                var from = response.Content.Headers.ContentRange?.From;
                if (from != offset)
                {
                    // Appending a range that starts elsewhere would corrupt the file; start over instead.
                    stream.SetLength(0);
                    throw new HubTransferException($"asked for bytes from {offset} and got a range starting at {from?.ToString(CultureInfo.InvariantCulture) ?? "(none)"}");
                }

                outcome = offset > 0 ? TransferOutcome.Resumed : TransferOutcome.FromStart;
                if (offset > 0)
                {
                    Log.Resuming(_logger, pull.Model.Name, file, offset);
                }

                break;

            case HttpStatusCode.OK:
                if (offset > 0)
                {
                    Log.RangeIgnored(_logger, pull.Model.Name, file);
                    stream.SetLength(0);
                }

                outcome = TransferOutcome.FromStart;
                break;

            case HttpStatusCode.RequestedRangeNotSatisfiable when offset > 0:
                // Nothing after `offset`: either the partial file is already whole, or it is longer than the file.
                return response.Content.Headers.ContentRange?.Length == offset
                    ? TransferOutcome.AlreadyComplete
                    : TransferOutcome.RangeNotSatisfiable;

            default:
                throw StatusFailure(pull, file, response);
        }

        await PartialDownload.AppendBodyAsync(response, stream, pull.Options.StallTimeout,
            length => pull.Report(index, ModelDownloadStage.Downloading, length, throttle: true), cancellationToken).ConfigureAwait(false);
        pull.Report(index, ModelDownloadStage.Downloading, stream.Length);
        if (pull.Infos[index]!.Size is long size && stream.Length < size)
        {
            throw new HubTransferException($"the transfer ended after {stream.Length} of {size} bytes");
        }
        return outcome;
    }

    private async Task<string?> VerifyAsync(Pull pull, int index, FileStream stream, CancellationToken cancellationToken)
    {
        var file = pull.Files[index];
        var info = pull.Infos[index]!;
        await stream.FlushAsync(cancellationToken).ConfigureAwait(false);
        var length = stream.Length;
        pull.Report(index, ModelDownloadStage.Verifying, length);

        const string Retry = "The bad download was deleted; run again to fetch it afresh.";
        if (info.Size is long size && length != size)
        {
            return $"Download of '{file}' for model '{pull.Model.Name}' is corrupt: expected {size} bytes, got {length}. {Retry}";
        }

        if (info.Sha256 is null)
        {
            Log.NoChecksum(_logger, pull.Model.Name, file);
            return null;
        }

        var actual = await PartialDownload.Sha256Async(stream, cancellationToken).ConfigureAwait(false);
        return actual == info.Sha256
            ? null
            : $"Download of '{file}' for model '{pull.Model.Name}' is corrupt: expected SHA-256 {info.Sha256}, got {actual} ({length} bytes). {Retry}";
    }

    private async Task BackOffAsync(Pull pull, int index, Exception exception, int failures, long fileBytes, CancellationToken cancellationToken)
    {
        var options = pull.Options;
        var file = pull.Files[index];
        if (failures > options.MaxRetries)
        {
            throw pull.Fail(
                ModelDownloadFailure.Network,
                $"Could not download model '{pull.Model.Name}' ({pull.Model.Repository}@{pull.Model.Revision}) from {options.Endpoint}: "
                + $"{DescribeCause(exception)} (while fetching '{file}'). Check the network connection or proxy and run again: finished "
                + $"files are kept and unfinished ones resume. {ManualInstructions(pull.Model, pull.Revision, options, pull.Directory, pull.StillMissing())}",
                file,
                exception);
        }

        var exponential = options.RetryBaseDelay * Math.Pow(2, failures - 1);
        var jittered = exponential * (0.8 + (0.4 * Random.Shared.NextDouble()));
        var delay = exception is TransientStatusException { RetryAfter: { } retryAfter } ? retryAfter : jittered;
        delay = delay > options.MaxRetryDelay ? options.MaxRetryDelay : delay;

        Log.Retrying(_logger, pull.Model.Name, file, failures, delay, exception);
        pull.Report(index, ModelDownloadStage.Retrying, fileBytes);
        await Task.Delay(delay, cancellationToken).ConfigureAwait(false);
    }

    private static Exception StatusFailure(Pull pull, string file, HttpResponseMessage response)
    {
        var status = (int)response.StatusCode;
        var url = response.RequestMessage?.RequestUri;
        if (status is 408 or 429 or >= 500)
        {
            var retryAfter = response.Headers.RetryAfter is { } header
                ? header.Delta ?? (header.Date is { } date ? date - DateTimeOffset.UtcNow : null)
                : null;
            return new TransientStatusException($"HTTP {status} {response.ReasonPhrase} from {url}", retryAfter is { } r && r > TimeSpan.Zero ? r : null);
        }

        var model = pull.Model;
        return status switch
        {
            404 => pull.Fail(
                ModelDownloadFailure.NotFound,
                $"The hub has no '{file}' in {model.Repository} at revision '{pull.Revision}' (HTTP 404 from {url}). "
                + "Check the repository id and revision of the model.",
                file),
            401 or 403 => pull.Fail(
                ModelDownloadFailure.AccessDenied,
                $"The hub refused '{file}' of {model.Repository} (HTTP {status} from {url}): the repository may be gated, private "
                + $"or renamed, and mmrag sends no credentials. {ManualInstructions(model, pull.Revision, pull.Options, pull.Directory, pull.StillMissing())}",
                file),
            _ => pull.Fail(ModelDownloadFailure.Http, $"Unexpected HTTP {status} {response.ReasonPhrase} for '{file}' of model '{model.Name}' from {url}.", file),
        };
    }

    private static string ManualInstructions(ModelDescriptor model, string revision, ModelDownloadOptions options, string directory, IReadOnlyList<string> files)
    {
        var text = new StringBuilder();
        text.Append(CultureInfo.InvariantCulture, $"To install it by hand, put these {files.Count} file(s) into '{directory}', keeping their sub-folders:");
        foreach (var file in files)
        {
            text.Append(CultureInfo.InvariantCulture, $"{Environment.NewLine}  {file}  <-  {HubClient.FileUri(options.Endpoint, model.Repository, revision, file)}");
        }

        return text.ToString();
    }

    private static string DescribeCause(Exception exception)
    {
        var messages = new List<string>();
        for (var e = exception; e is not null; e = e.InnerException)
        {
            if (!string.IsNullOrWhiteSpace(e.Message) && !messages.Any(m => m.Contains(e.Message, StringComparison.Ordinal)))
            {
                messages.Add(e.Message.TrimEnd('.'));
            }
        }

        return string.Join(": ", messages);
    }

    private static string KnownNames() => string.Join(", ", ModelCatalog.All.Select(m => m.Name));

    private enum TransferOutcome
    {
        FromStart,
        Resumed,
        AlreadyComplete,
        RangeNotSatisfiable,
    }

    // State of one DownloadAsync call.
    private sealed class Pull(
        ModelDescriptor model,
        ModelDownloadOptions options,
        string directory,
        IReadOnlyList<string> allFiles,
        IReadOnlyList<string> files,
        IProgress<ModelDownloadProgress>? progress)
    {
        private long _completedBytes;
        private long _lastReport;

        public ModelDescriptor Model { get; } = model;

        public ModelDownloadOptions Options { get; } = options;

        public string Directory { get; } = directory;

        public IReadOnlyList<string> Files { get; } = files;

        public HubFileInfo?[] Infos { get; } = new HubFileInfo?[files.Count];

        public string Revision { get; set; } = model.Revision;

        public Uri FileUri(string file) => HubClient.FileUri(Options.Endpoint, Model.Repository, Revision, file);

        public IReadOnlyList<string> StillMissing() => ModelLayout.MissingFiles(Directory, allFiles);

        public void CompleteFile(int index, long length)
        {
            _completedBytes += length;
            Report(index, ModelDownloadStage.Completed, length, completed: true);
        }

        public void Report(int index, ModelDownloadStage stage, long fileBytes, bool throttle = false, bool completed = false)
        {
            if (progress is null)
            {
                return;
            }

            var now = Environment.TickCount64;
            if (throttle && now - _lastReport < ProgressIntervalMs)
            {
                return;
            }

            _lastReport = now;
            long? total = Infos.All(i => i?.Size is not null) ? Infos.Sum(i => i!.Size!.Value) : null;
            var overall = completed ? _completedBytes : _completedBytes + fileBytes;
            progress.Report(new ModelDownloadProgress(
                Model.Name, Files[index], stage, fileBytes, Infos[index]?.Size, overall, total, index, Files.Count));
        }

        public ModelDownloadException Fail(ModelDownloadFailure failure, string message, string? file, Exception? inner = null) =>
            new(message, failure, Model.Name, Directory, StillMissing(), file, inner);
    }
}
