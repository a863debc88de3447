using System.Numerics.Tensors;
using Microsoft.Extensions.AI;
using System.Text.Json;
using System.Text.Json.Serialization;
using Mmrag.Knowledge;
using Mmrag.Storage;

namespace Mmrag.Retrieval.Scoring;

/// <summary>
/// Makes raw cosines comparable across (query modality → item kind) pairs (CLIP's text→image cosines sit near
/// 0.2–0.3, its image→image cosines near 0.8–1.0) by measuring each pair's background distribution in the knowledge
/// base itself; nothing is hard-coded per model.
/// </summary>
/// <remarks>
/// <para>
/// Text queries are stood in for by sampled text chunks' vectors (image descriptions are not embedded as text, so chunks
/// are the only text vectors there are); image queries by sampled images' vectors. For each pair the mean μ and standard
/// deviation σ of the cosines between the proxies and items of the target kind are measured, leaving out pairs of an item
/// with itself or with an exact copy (same content hash). Image→text and text→image share the same cosines.
/// A pair for which fewer than <see cref="ScoreCalibrationOptions.MinItems"/> items of either kind are stored uses the
/// documented prior (μ = 0, σ = 0.1 by default) rather than pooling other pairs, whose scales differ by design.
/// </para>
/// <para>
/// Given the text embedder, it also measures the model's <see cref="CrossModalAlignment"/> (once: a recomputation for
/// changed counts keeps it; <see cref="RecomputeAsync"/> measures it again) on the knowledge base's own
/// described images (their descriptions embedded as text queries) and scales cross-modal z-scores by it (see
/// <see cref="ScoreCalibration.CrossModalReliability"/>): the background alone cannot tell a model with random weights,
/// whose best text→image cosine of a query stands out from the background by chance, from one that knows the images.
/// </para>
/// <para>
/// The statistics are stored in the knowledge base under <c>calibration:&lt;modelId&gt;</c> with the item counts they were
/// computed from, read back by later processes, and recomputed when either count changed by more than
/// <see cref="ScoreCalibrationOptions.RecomputeChangeRatio"/>, when the sampling settings changed, or on demand
/// (<see cref="RecomputeAsync"/>). If the store cannot write the setting (<see cref="KnowledgeStoreException"/>), the
/// statistics are kept in memory only.
/// </para>
/// <para>Thread-safe; concurrent callers share one computation. Does not own the store.</para>
/// </remarks>
public sealed class ScoreCalibrator
{
    /// <summary>Prefix of the store setting that holds the statistics; the model id follows.</summary>
    public const string SettingKeyPrefix = "calibration:";

    private const int FormatVersion = 2;

    private readonly IKnowledgeStore _store;
    private readonly ScoreCalibrationOptions _options;
    private readonly IEmbeddingGenerator<string, Embedding<float>>? _textEmbedder;
    private readonly TimeProvider _time;
    private readonly SemaphoreSlim _gate = new(1, 1);
    private volatile Checked? _current;

    /// <summary>Creates a calibrator over <paramref name="store"/>.</summary>
    /// <param name="store">The knowledge base.</param>
    /// <param name="options">The settings.</param>
    /// <param name="timeProvider">The clock; the system clock by default.</param>
    /// <param name="textEmbedder">The model's text embedder, to measure its text–image alignment on the described images; without it the alignment is not measured.</param>
    public ScoreCalibrator(IKnowledgeStore store, ScoreCalibrationOptions? options = null, TimeProvider? timeProvider = null,
        IEmbeddingGenerator<string, Embedding<float>>? textEmbedder = null)
    {
        ArgumentNullException.ThrowIfNull(store);
        options ??= new ScoreCalibrationOptions();
        options.Validate();
        _store = store;
        _options = options;
        _time = timeProvider ?? TimeProvider.System;
        _textEmbedder = textEmbedder;
    }

    /// <summary>The store setting that holds this knowledge base's statistics.</summary>
    public string SettingKey => SettingKeyPrefix + _store.Space.ModelId;

    /// <summary>
    /// The current calibration: from memory while it is fresh, else checked against the store's counts and read from the
    /// store's setting or recomputed as needed.
    /// </summary>
    public async Task<ScoreCalibration> GetCalibrationAsync(CancellationToken cancellationToken = default)
    {
        if (_current is { } current && !IsDue(current))
        {
            return current.Calibration;
        }

        await _gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            current = _current;
            if (current is not null && !IsDue(current))
            {
                return current.Calibration;
            }

            var stats = await _store.GetStatsAsync(cancellationToken).ConfigureAwait(false);
            if (current is not null && !CountsChanged(current.Calibration.TextChunkCount, current.Calibration.ImageCount, stats))
            {
                _current = new Checked(current.Calibration, _time.GetTimestamp());
                return current.Calibration;
            }

            var stored = await ReadStoredAsync(cancellationToken).ConfigureAwait(false);
            if (stored is not null && !CountsChanged(stored.TextChunkCount, stored.ImageCount, stats))
            {
                _current = new Checked(stored, _time.GetTimestamp());
                return stored;
            }

            // The counts moved: the background is measured again, but an alignment measured on a full sample (a property
            // of the model and the descriptions, which hardly moves with counts) is kept, so a search does not wait on
            // the text tower; one measured on fewer described images is measured again.
            var known = current?.Calibration.Alignment ?? stored?.Alignment;
            return await ComputeAndStoreAsync(stats, known?.Pairs >= _options.AlignmentSampleSize ? known : null, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            _gate.Release();
        }
    }

    /// <summary>Recomputes the statistics now (e.g. after a large ingestion) and stores them.</summary>
    public async Task<ScoreCalibration> RecomputeAsync(CancellationToken cancellationToken = default)
    {
        await _gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            var stats = await _store.GetStatsAsync(cancellationToken).ConfigureAwait(false);
            return await ComputeAndStoreAsync(stats, knownAlignment: null, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            _gate.Release();
        }
    }

    private bool IsDue(Checked current) => _time.GetElapsedTime(current.At) >= _options.RecheckInterval;

    private bool CountsChanged(int textChunks, int images, KnowledgeBaseStats now) =>
        Changed(textChunks, now.TextChunks) || Changed(images, now.Images);

    private bool Changed(int then, int now) => Math.Abs(now - (double)then) > _options.RecomputeChangeRatio * then;

    private async Task<ScoreCalibration> ComputeAndStoreAsync(KnowledgeBaseStats stats, CrossModalAlignment? knownAlignment, CancellationToken cancellationToken)
    {
        var calibration = await ComputeAsync(stats, knownAlignment, cancellationToken).ConfigureAwait(false);
        try
        {
            await _store.SetSettingAsync(SettingKey, Serialize(calibration), cancellationToken).ConfigureAwait(false);
        }
        catch (KnowledgeStoreException)
        {
            // A read-only or failing store still gets calibrated scores; they are recomputed by the next process.
        }

        _current = new Checked(calibration, _time.GetTimestamp());
        return calibration;
    }

    private async Task<ScoreCalibration> ComputeAsync(KnowledgeBaseStats stats, CrossModalAlignment? knownAlignment, CancellationToken cancellationToken)
    {
        var dimension = _store.Space.Dimension;
        var texts = stats.TextChunks > 0
            ? Usable(await _store.SampleItemsAsync(ItemKind.TextChunk, _options.SampleSize, _options.Seed, cancellationToken).ConfigureAwait(false), dimension)
            : [];
        var images = stats.Images > 0
            ? Usable(await _store.SampleItemsAsync(ItemKind.Image, _options.SampleSize, _options.Seed, cancellationToken).ConfigureAwait(false), dimension)
            : [];

        var textToText = Measure(texts, texts, cancellationToken);
        var textToImage = Measure(texts, images, cancellationToken);
        var imageToImage = Measure(images, images, cancellationToken);
        var alignment = knownAlignment ?? await MeasureAlignmentAsync(images, dimension, cancellationToken).ConfigureAwait(false);
        return new ScoreCalibration(_store.Space.ModelId, stats.TextChunks, stats.Images, _time.GetUtcNow(),
            textToText, textToImage, imageToImage, textToImage, _options.Steepness, _options.Offset, alignment, _options.FullAlignment);
    }

    // Each described image's description is a text query whose one right answer is known: its own image. The share of
    // other described images it ranks below its own, averaged, is the model's text–image alignment on this knowledge base.
    private async Task<CrossModalAlignment?> MeasureAlignmentAsync(KnowledgeItem[] images, int dimension, CancellationToken cancellationToken)
    {
        if (_textEmbedder is null || _options.AlignmentSampleSize == 0)
        {
            return null;
        }

        // Copies of one image, or one description on several images, would make "own" ambiguous. Ordered by id first, so
        // every store (whatever order its sample comes in) keeps the same copy and measures the same value.
        var described = images
            .Where(static image => !string.IsNullOrWhiteSpace(image.Description))
            .OrderBy(static image => image.Id, StringComparer.Ordinal)
            .DistinctBy(static image => image.ContentHash, StringComparer.Ordinal)
            .DistinctBy(static image => image.Description!.Trim(), StringComparer.Ordinal)
            .Take(_options.AlignmentSampleSize)
            .ToArray();
        if (described.Length < _options.MinItems)
        {
            return null;
        }

        var embeddings = await _textEmbedder.GenerateAsync(described.Select(static image => image.Description!.Trim()), cancellationToken: cancellationToken)
            .ConfigureAwait(false);
        if (embeddings.Count != described.Length || embeddings.Any(e => e.Vector.Length != dimension))
        {
            return null;
        }

        double sum = 0;
        for (var i = 0; i < described.Length; i++)
        {
            var description = embeddings[i].Vector.Span;
            var own = TensorPrimitives.Dot(description, described[i].Vector.Span);
            double below = 0;
            for (var j = 0; j < described.Length; j++)
            {
                if (j != i)
                {
                    var other = TensorPrimitives.Dot(description, described[j].Vector.Span);
                    below += other < own ? 1 : other == own ? 0.5 : 0;
                }
            }

            sum += below / (described.Length - 1);
        }

        return new CrossModalAlignment(sum / described.Length, described.Length);
    }

    private static KnowledgeItem[] Usable(IReadOnlyList<KnowledgeItem> items, int dimension) =>
        [.. items.Where(item => item.Vector.Length == dimension)];

    private CosineDistribution Measure(KnowledgeItem[] queries, KnowledgeItem[] targets, CancellationToken cancellationToken)
    {
        if (queries.Length < _options.MinItems || targets.Length < _options.MinItems)
        {
            return Prior();
        }

        var moments = default(CosineMoments);
        foreach (var query in queries)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var q = query.Vector.Span;
            foreach (var target in targets)
            {
                if (CosineMoments.IsBackgroundPair(query, target))
                {
                    moments.Add(TensorPrimitives.Dot(q, target.Vector.Span));
                }
            }
        }

        return moments.Count < _options.MinItems
            ? Prior()
            : new CosineDistribution(moments.Mean, moments.StandardDeviation(_options.MinStandardDeviation), moments.Count, IsPrior: false);
    }

    private CosineDistribution Prior() => new(_options.PriorMean, _options.PriorStandardDeviation, 0, IsPrior: true);

    private async Task<ScoreCalibration?> ReadStoredAsync(CancellationToken cancellationToken)
    {
        var json = await _store.GetSettingAsync(SettingKey, cancellationToken).ConfigureAwait(false);
        if (string.IsNullOrWhiteSpace(json))
        {
            return null;
        }

        CalibrationDocument? document;
        try
        {
            document = JsonSerializer.Deserialize(json, CalibrationJsonContext.Default.CalibrationDocument);
        }
        catch (JsonException)
        {
            return null; // A damaged setting is recomputed and overwritten.
        }

        if (document is null
            || document.Version != FormatVersion
            || document.ModelId != _store.Space.ModelId
            || document.Dimension != _store.Space.Dimension
            || document.SampleSize != _options.SampleSize
            || document.Seed != _options.Seed
            || document.MinItems != _options.MinItems
            || document.AlignmentSampleSize != AlignmentSampleSize
            || document.Alignment is { } a && !(a.Auroc is >= 0 and <= 1 && a.Pairs > 0)
            || !(document.TextToText is { } tt && document.TextToImage is { } ti && document.ImageToImage is { } ii && document.ImageToText is { } it)
            || !Valid(tt) || !Valid(ti) || !Valid(ii) || !Valid(it))
        {
            return null;
        }

        return new ScoreCalibration(document.ModelId, document.TextChunks, document.Images, document.ComputedAt,
            Floor(tt), Floor(ti), Floor(ii), Floor(it), _options.Steepness, _options.Offset, document.Alignment, _options.FullAlignment);

        static bool Valid(CosineDistribution d) => double.IsFinite(d.Mean) && d.StandardDeviation > 0 && double.IsFinite(d.StandardDeviation);
    }

    // Priors follow the current options; measured deviations respect the current floor.
    private CosineDistribution Floor(CosineDistribution distribution) =>
        distribution.IsPrior ? Prior()
        : distribution.StandardDeviation >= _options.MinStandardDeviation ? distribution
        : distribution with { StandardDeviation = _options.MinStandardDeviation };

    private string Serialize(ScoreCalibration calibration) => JsonSerializer.Serialize(
        new CalibrationDocument(FormatVersion, calibration.ModelId, _store.Space.Dimension, calibration.TextChunkCount, calibration.ImageCount,
            _options.SampleSize, _options.Seed, _options.MinItems, calibration.ComputedAt,
            calibration.TextToText, calibration.TextToImage, calibration.ImageToImage, calibration.ImageToText,
            AlignmentSampleSize, calibration.Alignment),
        CalibrationJsonContext.Default.CalibrationDocument);

    // A calibrator without a text embedder measures no alignment, so its statistics differ from one with it.
    private int AlignmentSampleSize => _textEmbedder is null ? 0 : _options.AlignmentSampleSize;

    private sealed record Checked(ScoreCalibration Calibration, long At);
}

/// <summary>The stored form of a <see cref="ScoreCalibration"/> (the curve's constants are options, not data).</summary>
internal sealed record CalibrationDocument(
    int Version,
    string ModelId,
    int Dimension,
    int TextChunks,
    int Images,
    int SampleSize,
    int Seed,
    int MinItems,
    DateTimeOffset ComputedAt,
    CosineDistribution? TextToText,
    CosineDistribution? TextToImage,
    CosineDistribution? ImageToImage,
    CosineDistribution? ImageToText,
    int AlignmentSampleSize,
    CrossModalAlignment? Alignment);

[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase)]
[JsonSerializable(typeof(CalibrationDocument))]
internal sealed partial class CalibrationJsonContext : JsonSerializerContext;
