namespace Mmrag.Ingestion.Pipeline;

/// <summary>What one ingestion run does. Validated when the run starts.</summary>
public sealed record IngestionOptions
{
    /// <summary>The image cache's conventional folder inside a knowledge base's folder (<see cref="ImageCacheDirectory"/>).</summary>
    public const string ImageCacheFolderName = "images";

    /// <summary>
    /// Delete stored documents whose files, under the ingested folders (or the files given), no longer exist, and those
    /// of URLs that now answer 404 Not Found or 410 Gone.
    /// </summary>
    public bool Prune { get; init; }

    /// <summary>An extra description file (JSON Lines, JSON array or CSV) whose entries override the sidecars found in the folders.</summary>
    public string? DescriptionsFile { get; init; }

    /// <summary>The knowledge base's own folder, never ingested even when it lies under an ingested folder.</summary>
    public string? KnowledgeBaseDirectory { get; init; }

    /// <summary>
    /// Where images without a file of their own (extracted from PDFs, <c>data:</c> URIs) are written, named by content
    /// hash, so that answers can show them; null keeps them only as vectors (their <c>ImagePath</c> stays null).
    /// </summary>
    public string? ImageCacheDirectory { get; init; }

    /// <summary>Tags put on every document and item stored by this run.</summary>
    public IReadOnlyList<string> Tags { get; init; } = [];

    /// <summary>Most texts or images sent to an embedding generator in one call.</summary>
    public int EmbeddingBatchSize { get; init; } = 32;

    /// <summary>How many files are hashed and loaded ahead of the one being embedded.</summary>
    public int Prefetch { get; init; } = 2;

    /// <summary>
    /// How many files are hashed and loaded at once (their order in the run is kept). 0 (the default) means as many as
    /// Tesseract processes may run (<see cref="Ocr"/>'s MaxParallelism) when OCR is on, where reading a file is mostly
    /// OCR, and one otherwise, where loading is cheap beside embedding and would only compete with it for the cores.
    /// </summary>
    public int ParallelLoads { get; init; }

    internal int EffectiveParallelLoads => ParallelLoads > 0 ? ParallelLoads : Ocr?.MaxParallelism ?? 1;

    /// <summary>Largest file read, in bytes; larger files are recorded as failures.</summary>
    public long MaxFileBytes { get; init; } = 512L * 1024 * 1024;

    /// <summary>
    /// Most items (text chunks and images) taken from one file. The loaders stop reading a file there, so a huge text
    /// file costs at most this many chunks of time and memory; the file is stored with its first items and a warning
    /// names it (in <see cref="IngestionSummary.Warnings"/> and the stored failures).
    /// </summary>
    public int MaxItemsPerFile { get; init; } = 20_000;

    /// <summary>
    /// Longest time reading one file may take (hashing, parsing, chunking; not embedding). A file that takes longer
    /// fails with a message saying so and the run goes on; a loader that does not stop when asked is abandoned on its
    /// worker thread.
    /// </summary>
    public TimeSpan FileTimeout { get; init; } = TimeSpan.FromMinutes(5);

    /// <summary>
    /// Longest image description kept from a sidecar, in characters (descriptions are stored and sent into prompts);
    /// a longer one is cut and a warning names the sidecar line.
    /// </summary>
    public int MaxDescriptionLength { get; init; } = Loaders.DescriptionSidecars.DefaultMaxDescriptionLength;

    /// <summary>Largest image, in pixels, passed on to loaders (the image decoder enforces its own limit when embedding).</summary>
    public long MaxImagePixels { get; init; } = 100_000_000;

    /// <summary>
    /// With a store shared by several ingesters (<see cref="Mmrag.Storage.IIngestionWorkClaims"/>): how long a claim on a file
    /// lasts without renewal. The run renews its claims every third of this, so a crashed ingester's files are free
    /// again for the others after at most this long.
    /// </summary>
    public TimeSpan ClaimLease { get; init; } = TimeSpan.FromMinutes(2);

    /// <summary>
    /// Reads the text printed in images (image files and the images inside documents, such as scanned PDF pages) with
    /// Tesseract; null (the default) reads none. Part of each file's version: ingesting again with another setting
    /// processes the files again. The languages used are recorded in the knowledge base (<see cref="OcrLanguagesSettingKey"/>).
    /// </summary>
    public Ocr.TesseractOcrOptions? Ocr { get; init; }

    /// <summary>
    /// How http(s) URLs given among the paths are fetched and crawled (the guard against private hosts, limits, depth,
    /// robots.txt, host delay, PDFs linked from pages).
    /// </summary>
    public Web.WebIngestionOptions Web { get; init; } = new();

    /// <summary>
    /// Remote documents supplied by code (e.g. Wikipedia articles), ingested after the paths like files: claimed,
    /// counted, failed and pruned alike. Their URLs are their source paths.
    /// </summary>
    public IReadOnlyList<Web.RemoteSource> Sources { get; init; } = [];

    /// <summary>
    /// Resolvers asked, in order, about each path that is not an http(s) URL (e.g. <c>wikipedia:Helsinki</c>): a path
    /// one of them resolves is ingested as its remote sources instead of as a file.
    /// </summary>
    public IReadOnlyList<Web.IRemoteSourceResolver> SourceResolvers { get; init; } = [];

    /// <summary>
    /// Whether a run reads <paramref name="path"/> from the network (an http(s) URL, or a path a resolver claims, even a
    /// malformed one, which the run records as failed) rather than from the disk, so that folder rules do not apply to it.
    /// </summary>
    public bool IsRemote(string path)
    {
        if (Mmrag.Ingestion.Web.RemoteSources.IsUrl(path))
        {
            return true;
        }

        try
        {
            return SourceResolvers.Any(resolver => resolver.Resolve(path) is not null);
        }
        catch (ArgumentException)
        {
            return true;
        }
    }

    /// <summary>The store setting that records the OCR languages of the last run with OCR (e.g. <c>eng+deu</c>).</summary>
    public const string OcrLanguagesSettingKey = "ocr.languages";

    /// <summary>Throws when a setting is out of range; the message names it.</summary>
    public void Validate()
    {
        if (EmbeddingBatchSize < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(EmbeddingBatchSize), EmbeddingBatchSize, "IngestionOptions.EmbeddingBatchSize must be at least 1.");
        }

        if (ParallelLoads < 0)
        {
            throw new ArgumentOutOfRangeException(nameof(ParallelLoads), ParallelLoads, "IngestionOptions.ParallelLoads must not be negative.");
        }

        if (Prefetch < 0)
        {
            throw new ArgumentOutOfRangeException(nameof(Prefetch), Prefetch, "IngestionOptions.Prefetch must not be negative.");
        }

        if (MaxFileBytes < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(MaxFileBytes), MaxFileBytes, "IngestionOptions.MaxFileBytes must be positive.");
        }

        if (MaxImagePixels < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(MaxImagePixels), MaxImagePixels, "IngestionOptions.MaxImagePixels must be positive.");
        }

        if (MaxItemsPerFile < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(MaxItemsPerFile), MaxItemsPerFile, "IngestionOptions.MaxItemsPerFile must be at least 1.");
        }

        if (FileTimeout <= TimeSpan.Zero)
        {
            throw new ArgumentOutOfRangeException(nameof(FileTimeout), FileTimeout, "IngestionOptions.FileTimeout must be positive.");
        }

        if (MaxDescriptionLength < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(MaxDescriptionLength), MaxDescriptionLength, "IngestionOptions.MaxDescriptionLength must be at least 1.");
        }

        if (ClaimLease < TimeSpan.FromSeconds(1))
        {
            throw new ArgumentOutOfRangeException(nameof(ClaimLease), ClaimLease, "IngestionOptions.ClaimLease must be at least one second.");
        }

        Ocr?.Validate();
        ArgumentNullException.ThrowIfNull(Web, nameof(Web));
        Web.Validate();
        if (Sources is null || Sources.Any(static s => s is null))
        {
            throw new ArgumentException("IngestionOptions.Sources must not contain null.", nameof(Sources));
        }

        if (SourceResolvers is null || SourceResolvers.Any(static r => r is null))
        {
            throw new ArgumentException("IngestionOptions.SourceResolvers must not contain null.", nameof(SourceResolvers));
        }

        if (Tags is null || Tags.Any(string.IsNullOrWhiteSpace))
        {
            throw new ArgumentException("IngestionOptions.Tags must not contain null or blank tags.", nameof(Tags));
        }
    }
}
