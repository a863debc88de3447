using Mmrag.Knowledge;

namespace Mmrag.Retrieval.Search;

/// <summary>Which part of the query found a hit.</summary>
public enum QueryModality
{
    /// <summary>The text query (its vector, or keyword search).</summary>
    Text,

    /// <summary>The image query's vector.</summary>
    Image,

    /// <summary>Both the text and the image part of a combined query.</summary>
    Fused,
}

/// <summary>Which index found a hit.</summary>
public enum MatchedBy
{
    /// <summary>Vector (nearest-neighbour) search only.</summary>
    Vector,

    /// <summary>Keyword search only.</summary>
    Keyword,

    /// <summary>Both vector and keyword search.</summary>
    Both,
}

/// <summary>One result of a search. Immutable.</summary>
public sealed record SearchHit
{
    /// <summary>The item (with its vector).</summary>
    public required KnowledgeItem Item { get; init; }

    /// <summary>
    /// The score shown to users: the calibrated score (default), or the softmax probability among the candidates of
    /// the item's kind (<see cref="ScoringMode.SoftmaxTemperature"/>). In [0, 1].
    /// </summary>
    public required double Score { get; init; }

    /// <summary>
    /// The calibrated score whatever the scoring mode: the best over the query's vectors of the cosine calibrated for
    /// its (query modality → item kind) pair. Thresholds and the merge of kinds use it.
    /// </summary>
    public required double CalibratedScore { get; init; }

    /// <summary>
    /// The raw cosine behind <see cref="CalibratedScore"/>; for a keyword-only hit the cosine of the query vector with the
    /// item's stored vector. Null only when the item has no stored vector.
    /// </summary>
    public double? RawScore { get; init; }

    /// <summary>The reciprocal-rank-fusion score (Σ 1/(60 + rank) over the lists that found the hit); orders hits within a kind.</summary>
    public double FusionScore { get; init; }

    /// <summary>Which part of the query found the hit.</summary>
    public QueryModality QueryModality { get; init; }

    /// <summary>
    /// How well the hit's own words agree with the text query in hybrid search, in [0, 1] (see
    /// <see cref="Scoring.KeywordEvidence"/>); null when not measured (no text query, vector-only search, no words).
    /// </summary>
    public double? KeywordEvidence { get; init; }

    /// <summary>Which index found the hit.</summary>
    public MatchedBy MatchedBy { get; init; }

    /// <summary>1-based position in the result.</summary>
    public int Rank { get; init; }
}

/// <summary>The outcome of a search: hits best first (possibly none: "no relevant result" is a valid answer) and timings.</summary>
public sealed record SearchResult
{
    /// <summary>The hits, best first.</summary>
    public required IReadOnlyList<SearchHit> Hits { get; init; }

    /// <summary>Time spent embedding the query.</summary>
    public TimeSpan EmbedTime { get; init; }

    /// <summary>Time spent searching the store, fusing, scoring and deduplicating.</summary>
    public TimeSpan SearchTime { get; init; }

    /// <summary>Time spent loading or recomputing score calibration (zero when it was cached).</summary>
    public TimeSpan CalibrationTime { get; init; }

    /// <summary>Whether the knowledge base's query adapter changed a query vector of this search.</summary>
    public bool AdapterApplied { get; init; }

    /// <summary>Why a stored query adapter was not used (e.g. trained for another model), or null.</summary>
    public string? AdapterWarning { get; init; }

    /// <summary>Embedding, calibration and search time together.</summary>
    public TimeSpan TotalTime => EmbedTime + CalibrationTime + SearchTime;
}
