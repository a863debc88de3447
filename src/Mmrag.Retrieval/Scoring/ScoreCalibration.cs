using Mmrag.Knowledge;
using Mmrag.Retrieval.Search;

namespace Mmrag.Retrieval.Scoring;

/// <summary>The background distribution of cosines for one (query modality → item kind) pair.</summary>
/// <param name="Mean">Mean cosine μ between unrelated query proxies and items.</param>
/// <param name="StandardDeviation">Standard deviation σ (never below <see cref="ScoreCalibrationOptions.MinStandardDeviation"/>).</param>
/// <param name="Pairs">Number of cosines measured; 0 for a prior.</param>
/// <param name="IsPrior">Whether too few items were available and the prior of <see cref="ScoreCalibrationOptions"/> stands in.</param>
public sealed record CosineDistribution(double Mean, double StandardDeviation, long Pairs, bool IsPrior)
{
    /// <summary>How many standard deviations <paramref name="cosine"/> lies above the background mean.</summary>
    public double ZScore(double cosine) => (cosine - Mean) / StandardDeviation;
}

/// <summary>
/// How well the model tells this knowledge base's images apart by their own descriptions: for each sampled described
/// image, the share of other described images that lie farther from its description than it does (the area under the
/// ROC curve of "own image" against "other image"), averaged. 0.5 is chance: a model with random weights, whose
/// text→image cosines carry no meaning. A trained CLIP on descriptions of what the images show scores near 1.
/// </summary>
/// <param name="Auroc">The mean area under the curve, in [0, 1].</param>
/// <param name="Pairs">Described images measured.</param>
public sealed record CrossModalAlignment(double Auroc, int Pairs);

/// <summary>
/// Calibration statistics of one knowledge base: a background cosine distribution per (query modality → item kind)
/// pair, and the logistic curve that turns z-scores into [0, 1] scores. Immutable and thread-safe.
/// </summary>
public sealed class ScoreCalibration
{
    internal ScoreCalibration(string modelId, int textChunkCount, int imageCount, DateTimeOffset computedAt,
        CosineDistribution textToText, CosineDistribution textToImage, CosineDistribution imageToImage, CosineDistribution imageToText,
        double steepness, double offset, CrossModalAlignment? alignment = null, double fullAlignment = 0.8)
    {
        ModelId = modelId;
        TextChunkCount = textChunkCount;
        ImageCount = imageCount;
        ComputedAt = computedAt;
        TextToText = textToText;
        TextToImage = textToImage;
        ImageToImage = imageToImage;
        ImageToText = imageToText;
        Steepness = steepness;
        Offset = offset;
        Alignment = alignment;
        CrossModalReliability = alignment is null ? 1 : Math.Clamp((alignment.Auroc - 0.5) / (fullAlignment - 0.5), MinCrossModalReliability, 1);
    }

    /// <summary>The embedding model the statistics belong to.</summary>
    public string ModelId { get; }

    /// <summary>Text chunks in the knowledge base when the statistics were computed.</summary>
    public int TextChunkCount { get; }

    /// <summary>Images in the knowledge base when the statistics were computed.</summary>
    public int ImageCount { get; }

    /// <summary>When the statistics were computed.</summary>
    public DateTimeOffset ComputedAt { get; }

    /// <summary>Text query → text chunk (proxies: sampled chunks against other chunks).</summary>
    public CosineDistribution TextToText { get; }

    /// <summary>Text query → image (proxies: sampled chunks against sampled images).</summary>
    public CosineDistribution TextToImage { get; }

    /// <summary>Image query → image (sampled images against other images).</summary>
    public CosineDistribution ImageToImage { get; }

    /// <summary>Image query → text chunk (sampled images against sampled chunks; the same cosines as <see cref="TextToImage"/>).</summary>
    public CosineDistribution ImageToText { get; }

    /// <summary>Slope a of the logistic curve.</summary>
    public double Steepness { get; }

    /// <summary>z-score b that maps to 0.5.</summary>
    public double Offset { get; }

    /// <summary>The measured text–image alignment of the model on this knowledge base, or null when too few images are described.</summary>
    public CrossModalAlignment? Alignment { get; }

    /// <summary>The smallest <see cref="CrossModalReliability"/>: above zero, so the cosine still orders cross-modal hits.</summary>
    public const double MinCrossModalReliability = 0.05;

    /// <summary>
    /// The factor in [<see cref="MinCrossModalReliability"/>, 1] applied to cross-modal (text→image, image→text) z-scores: 1
    /// when the alignment is unknown or at least <see cref="ScoreCalibrationOptions.FullAlignment"/>, the minimum at chance. A model whose text and image towers do not
    /// agree on this knowledge base's own described images then gives no confident cross-modal hit, while its rankings
    /// (monotone in the cosine) stay as they are.
    /// </summary>
    public double CrossModalReliability { get; }

    /// <summary>The background of the (<paramref name="query"/> → <paramref name="target"/>) pair.</summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="query"/> is <see cref="QueryModality.Fused"/>: calibrate each query vector on its own.</exception>
    public CosineDistribution GetDistribution(QueryModality query, ItemKind target) => (query, target) switch
    {
        (QueryModality.Text, ItemKind.TextChunk) => TextToText,
        (QueryModality.Text, ItemKind.Image) => TextToImage,
        (QueryModality.Image, ItemKind.Image) => ImageToImage,
        (QueryModality.Image, ItemKind.TextChunk) => ImageToText,
        _ => throw new ArgumentOutOfRangeException(nameof(query), query, "Only text and image query vectors are calibrated; a fused hit takes the best of its vectors."),
    };

    /// <summary>The calibrated score in [0, 1] of <paramref name="cosine"/> for the (<paramref name="query"/> → <paramref name="target"/>) pair.</summary>
    /// <param name="query">The query vector's modality.</param>
    /// <param name="target">The item's kind.</param>
    /// <param name="cosine">The cosine of the query vector and the item.</param>
    /// <param name="zShift">Added to the z-score before the curve: other evidence, in standard deviations (0: none).</param>
    public double Calibrate(QueryModality query, ItemKind target, double cosine, double zShift = 0) =>
        Logistic((GetDistribution(query, target).ZScore(cosine) * Reliability(query, target)) + zShift, Steepness, Offset);

    private double Reliability(QueryModality query, ItemKind target) =>
        (query == QueryModality.Text) == (target == ItemKind.TextChunk) ? 1 : CrossModalReliability;

    /// <summary><c>1 / (1 + exp(−steepness · (z − offset)))</c>.</summary>
    public static double Logistic(double z, double steepness, double offset) => 1.0 / (1.0 + Math.Exp(-steepness * (z - offset)));
}
