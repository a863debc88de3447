using Mmrag.Retrieval.Scoring;

namespace Mmrag.Retrieval.Search;

/// <summary>Settings of a <see cref="KnowledgeSearcher"/>; validated when the searcher is created.</summary>
public sealed record KnowledgeSearcherOptions
{
    /// <summary>
    /// Calibrated score a hit needs when the request sets no threshold. 0.5 is a cosine two standard deviations above the
    /// knowledge base's background for that modality pair (<see cref="ScoreCalibrationOptions"/>).
    /// </summary>
    public double DefaultThreshold { get; init; } = 0.5;

    /// <summary>Each store search asks for this many times the wanted k, so fusion and dedupe have candidates to spare.</summary>
    public int OverFetchFactor { get; init; } = 4;

    /// <summary>Upper bound on the candidates asked from one store search.</summary>
    public int MaxCandidatesPerList { get; init; } = 1000;

    /// <summary>The k of reciprocal rank fusion: a list's item at rank r contributes 1/(k + r).</summary>
    public int RrfK { get; init; } = 60;

    /// <summary>
    /// How far, in standard deviations of the background, the words of a hit can move its text-vector score in hybrid
    /// search (default 1): full agreement with the query's known words adds the weight, none subtracts it (see
    /// <see cref="KeywordEvidence"/>). 0 scores by vectors alone. Chosen on four shapes sets (docs/quality.md).
    /// </summary>
    public double KeywordEvidenceWeight { get; init; } = 1.0;

    /// <summary>How scores are calibrated.</summary>
    public ScoreCalibrationOptions Calibration { get; init; } = new();

    internal void Validate()
    {
        Throw.IfOutOfRange(DefaultThreshold is < 0 or > 1 || double.IsNaN(DefaultThreshold), nameof(DefaultThreshold), DefaultThreshold,
            "KnowledgeSearcherOptions.DefaultThreshold must be between 0 and 1.");
        Throw.IfOutOfRange(OverFetchFactor < 1, nameof(OverFetchFactor), OverFetchFactor, "KnowledgeSearcherOptions.OverFetchFactor must be at least 1.");
        Throw.IfOutOfRange(MaxCandidatesPerList < 1, nameof(MaxCandidatesPerList), MaxCandidatesPerList,
            "KnowledgeSearcherOptions.MaxCandidatesPerList must be at least 1.");
        Throw.IfOutOfRange(!(KeywordEvidenceWeight >= 0) || double.IsInfinity(KeywordEvidenceWeight), nameof(KeywordEvidenceWeight), KeywordEvidenceWeight,
            "KnowledgeSearcherOptions.KeywordEvidenceWeight must be 0 or more.");
        Throw.IfOutOfRange(RrfK < 0, nameof(RrfK), RrfK, "KnowledgeSearcherOptions.RrfK must be 0 or more.");
        Throw.IfNull(Calibration, nameof(Calibration));
        Calibration.Validate();
    }
}
