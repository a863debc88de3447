using System.Security.Cryptography;
using Microsoft.Extensions.AI;
using Mmrag.Knowledge;

namespace Mmrag.Retrieval.Search;

/// <summary>Which kinds of items a search returns.</summary>
public enum SearchTarget
{
    /// <summary>Images and text chunks, merged into one list by calibrated score.</summary>
    All,

    /// <summary>Images only.</summary>
    Images,

    /// <summary>Text chunks only.</summary>
    Text,
}

/// <summary>What <see cref="SearchHit.Score"/> holds.</summary>
public enum ScoringMode
{
    /// <summary>
    /// The cosine calibrated per (query modality → item modality) pair against the knowledge base's own background
    /// distribution (<see cref="Scoring.ScoreCalibrator"/>): comparable across modalities, in [0, 1].
    /// </summary>
    Calibrated,

    /// <summary>
    /// Softmax over the candidates' cosines divided by <see cref="SearchRequest.Temperature"/>, as CLIP does with its
    /// logit scale (0.01 ≙ 100). Computed per item kind over every fused candidate of that kind (before threshold,
    /// dedupe and the top-k cut), so the scores of one kind sum to 1 when every candidate is returned. Not comparable
    /// across kinds; thresholds and the Target=All merge still use the calibrated score.
    /// </summary>
    SoftmaxTemperature,
}

/// <summary>
/// One search: a text and/or an image query, the kinds of items wanted and how many, filters, threshold, scoring and
/// dedupe. Immutable; safe to share between threads.
/// </summary>
public sealed record SearchRequest
{
    private readonly DataContent? _image;

    /// <summary>The text query (hybrid keyword search uses it too). At least one of <see cref="Text"/> and <see cref="Image"/> is required.</summary>
    public string? Text { get; init; }

    /// <summary>The image query (encoded bytes). Setting it computes <see cref="ImageContentHash"/>.</summary>
    public DataContent? Image
    {
        get => _image;
        init
        {
            _image = value;
            ImageContentHash = value is null ? null : ComputeContentHash(value.Data.Span);
        }
    }

    /// <summary>
    /// SHA-256 of the query image's bytes as lowercase hex, the form <see cref="KnowledgeItem.ContentHash"/> uses: a stored
    /// item with this hash is the query image itself and is skipped unless <see cref="IncludeSelf"/> is set.
    /// </summary>
    public string? ImageContentHash { get; private init; }

    /// <summary>The kinds of items to return (default: both).</summary>
    public SearchTarget Target { get; init; } = SearchTarget.All;

    /// <summary>Most hits returned overall, and per kind when <see cref="KImages"/> / <see cref="KText"/> are not set (default 10).</summary>
    public int K { get; init; } = 10;

    /// <summary>Most images returned (0 = none); null means <see cref="K"/>, and <see cref="K"/> caps it.</summary>
    public int? KImages { get; init; }

    /// <summary>Most text chunks returned (0 = none); null means <see cref="K"/>, and <see cref="K"/> caps it.</summary>
    public int? KText { get; init; }

    /// <summary>Metadata conditions; its <see cref="SearchFilter.Kind"/> narrows <see cref="Target"/>.</summary>
    public SearchFilter Filter { get; init; } = SearchFilter.None;

    /// <summary>
    /// Smallest calibrated score kept, in [0, 1]; null means <see cref="KnowledgeSearcherOptions.DefaultThreshold"/>
    /// (0.5: two standard deviations above the background). Applies to the calibrated score in every scoring mode.
    /// </summary>
    public double? Threshold { get; init; }

    /// <summary>
    /// The recall@k the vector index must reach, in (0, 1]: 1 is an exact search, lower values are faster (see
    /// <see cref="SearchRecall"/>); null means the store's default breadth.
    /// </summary>
    public double? Recall { get; init; }

    /// <summary>Fuse keyword search with vector search; null means on whenever there is a text query.</summary>
    public bool? Hybrid { get; init; }

    /// <summary>Keep stored items whose content is the query image itself (default: skip them).</summary>
    public bool IncludeSelf { get; init; }

    /// <summary>What <see cref="SearchHit.Score"/> holds (default: calibrated).</summary>
    public ScoringMode Scoring { get; init; } = ScoringMode.Calibrated;

    /// <summary>Softmax temperature for <see cref="ScoringMode.SoftmaxTemperature"/> (default 0.01, CLIP's logit scale 100).</summary>
    public double Temperature { get; init; } = 0.01;

    /// <summary>Near-duplicate removal and MMR (default: drop hits with cosine ≥ 0.97 to a better one, no MMR).</summary>
    public DedupeOptions Dedupe { get; init; } = DedupeOptions.Default;

    /// <summary>
    /// Apply the knowledge base's query adapter (<see cref="Adapters.QueryAdapter"/>, learnt from relevance feedback by
    /// <c>mmrag tune</c>) to the query vectors when one is stored for its model (default); false searches with the plain vectors.
    /// </summary>
    public bool UseAdapter { get; init; } = true;

    /// <summary>Whether keyword search takes part.</summary>
    internal bool UsesKeywords => (Hybrid ?? true) && !string.IsNullOrWhiteSpace(Text);

    /// <summary>SHA-256 of <paramref name="content"/> as lowercase hex, as stored in <see cref="KnowledgeItem.ContentHash"/>.</summary>
    public static string ComputeContentHash(ReadOnlySpan<byte> content) => Convert.ToHexStringLower(SHA256.HashData(content));

    internal void Validate()
    {
        if (string.IsNullOrWhiteSpace(Text) && Image is null)
        {
            throw new ArgumentException("A search needs a text query, an image query, or both (SearchRequest.Text / SearchRequest.Image).", "request");
        }

        Throw.IfOutOfRange(K < 1, "request.K", K, "SearchRequest.K must be at least 1.");
        Throw.IfOutOfRange(KImages < 0, "request.KImages", KImages, "SearchRequest.KImages must be 0 or more.");
        Throw.IfOutOfRange(KText < 0, "request.KText", KText, "SearchRequest.KText must be 0 or more.");
        Throw.IfOutOfRange(Threshold is < 0 or > 1 || (Threshold is { } t && double.IsNaN(t)), "request.Threshold", Threshold,
            "SearchRequest.Threshold must be between 0 and 1 (it applies to calibrated scores).");
        Throw.IfOutOfRange(!(Temperature > 0) || double.IsInfinity(Temperature), "request.Temperature", Temperature,
            "SearchRequest.Temperature must be a positive number.");
        Throw.IfOutOfRange(Recall is { } r && !(r is > 0 and <= 1), "request.Recall", Recall, "SearchRequest.Recall must be in (0, 1].");
        Throw.IfNull(Filter, "request.Filter");
        Throw.IfNull(Dedupe, "request.Dedupe");
        Dedupe.Validate();
    }
}

/// <summary>
/// How near-duplicates are removed from results. The similarity cut and MMR combine: with both set, hits are chosen
/// in MMR order and any hit at or above the cut to an already chosen one is dropped.
/// </summary>
public sealed record DedupeOptions
{
    /// <summary>Drop hits whose cosine to an already selected hit is ≥ 0.97; no MMR.</summary>
    public static DedupeOptions Default { get; } = new();

    /// <summary>Keep every hit (exact copies included).</summary>
    public static DedupeOptions None { get; } = new() { SimilarityCut = null };

    /// <summary>
    /// A hit whose cosine to an already selected hit (of the same kind) is at or above this is dropped; null disables the
    /// cut. 0.97 drops exact copies and re-encodes of one image and repeated chunks, while keeping related but distinct items.
    /// </summary>
    public double? SimilarityCut { get; init; } = 0.97;

    /// <summary>
    /// Maximal marginal relevance: when set, hits are chosen greedily by λ·score − (1 − λ)·(max cosine to the hits
    /// already chosen), where score is the calibrated score. 1 is plain relevance order; 0.5 balances relevance and
    /// diversity. Null (default) keeps relevance order.
    /// </summary>
    public double? MmrLambda { get; init; }

    internal void Validate()
    {
        Throw.IfOutOfRange(SimilarityCut is < -1 or > 1 || (SimilarityCut is { } c && double.IsNaN(c)), "request.Dedupe.SimilarityCut", SimilarityCut,
            "DedupeOptions.SimilarityCut must be a cosine between -1 and 1, or null.");
        Throw.IfOutOfRange(MmrLambda is < 0 or > 1 || (MmrLambda is { } l && double.IsNaN(l)), "request.Dedupe.MmrLambda", MmrLambda,
            "DedupeOptions.MmrLambda must be between 0 and 1, or null.");
    }
}
