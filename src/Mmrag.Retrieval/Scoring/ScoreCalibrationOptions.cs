namespace Mmrag.Retrieval.Scoring;

/// <summary>
/// Settings of <see cref="ScoreCalibrator"/>. A cosine c for a (query modality → item kind) pair becomes
/// <c>sigmoid(Steepness · ((c − μ)/σ − Offset))</c>, where μ and σ describe the background: the cosines between
/// unrelated items of the knowledge base itself for that pair. With the defaults (1.5, 2) a cosine two standard
/// deviations above the background scores 0.5, four above scores 0.95, and the background mean scores 0.05.
/// </summary>
public sealed record ScoreCalibrationOptions
{
    /// <summary>Items of each kind sampled to estimate the background (default 200, so at most 200 × 200 cosines per pair).</summary>
    public int SampleSize { get; init; } = 200;

    /// <summary>Seed of the store's deterministic sampling (default 20240601).</summary>
    public int Seed { get; init; } = 20240601;

    /// <summary>
    /// Fewest sampled items of each kind involved in a pair for its background to be measured (default 8). Below it the
    /// pair uses the prior (<see cref="PriorMean"/>, <see cref="PriorStandardDeviation"/>).
    /// </summary>
    public int MinItems { get; init; } = 8;

    /// <summary>Slope a of the logistic curve over the z-score (default 1.5).</summary>
    public double Steepness { get; init; } = 1.5;

    /// <summary>The z-score b that maps to 0.5 (default 2).</summary>
    public double Offset { get; init; } = 2.0;

    /// <summary>
    /// Background mean assumed for a pair that cannot be measured (default 0: unrelated unit vectors are orthogonal on
    /// average). Used e.g. for text queries on a knowledge base without text chunks, whose chunks would be the proxies.
    /// </summary>
    public double PriorMean { get; init; }

    /// <summary>Background standard deviation assumed for a pair that cannot be measured (default 0.1).</summary>
    public double PriorStandardDeviation { get; init; } = 0.1;

    /// <summary>Smallest standard deviation used, so a knowledge base of near-identical items does not divide by zero (default 0.005).</summary>
    public double MinStandardDeviation { get; init; } = 0.005;

    /// <summary>
    /// Most described images whose description is embedded to measure how well the model aligns text with images in this
    /// knowledge base (default 64; see <see cref="CrossModalAlignment"/>). 0 turns the measurement off.
    /// </summary>
    public int AlignmentSampleSize { get; init; } = 64;

    /// <summary>
    /// The alignment (the chance that a description lies nearer its own image than another image) at and above which
    /// cross-modal z-scores are trusted fully (default 0.8). At 0.5 (chance) and below they count for a twentieth (<see cref="ScoreCalibration.MinCrossModalReliability"/>); in between linearly.
    /// </summary>
    public double FullAlignment { get; init; } = 0.8;

    /// <summary>The statistics are recomputed when the number of text chunks or of images changed by more than this fraction (default 0.2).</summary>
    public double RecomputeChangeRatio { get; init; } = 0.2;

    /// <summary>How long a calibration is used before the store's counts are checked again (default 30 s; zero checks on every search).</summary>
    public TimeSpan RecheckInterval { get; init; } = TimeSpan.FromSeconds(30);

    internal void Validate()
    {
        Throw.IfOutOfRange(SampleSize < 2, "Calibration.SampleSize", SampleSize, "ScoreCalibrationOptions.SampleSize must be at least 2.");
        Throw.IfOutOfRange(MinItems < 2, "Calibration.MinItems", MinItems, "ScoreCalibrationOptions.MinItems must be at least 2.");
        Throw.IfOutOfRange(!(Steepness > 0) || double.IsInfinity(Steepness), "Calibration.Steepness", Steepness,
            "ScoreCalibrationOptions.Steepness must be a positive number.");
        Throw.IfOutOfRange(!double.IsFinite(Offset), "Calibration.Offset", Offset, "ScoreCalibrationOptions.Offset must be a finite number.");
        Throw.IfOutOfRange(PriorMean is < -1 or > 1 || double.IsNaN(PriorMean), "Calibration.PriorMean", PriorMean,
            "ScoreCalibrationOptions.PriorMean must be a cosine between -1 and 1.");
        Throw.IfOutOfRange(!(PriorStandardDeviation > 0) || PriorStandardDeviation > 2, "Calibration.PriorStandardDeviation", PriorStandardDeviation,
            "ScoreCalibrationOptions.PriorStandardDeviation must be in (0, 2].");
        Throw.IfOutOfRange(!(MinStandardDeviation > 0) || MinStandardDeviation > 2, "Calibration.MinStandardDeviation", MinStandardDeviation,
            "ScoreCalibrationOptions.MinStandardDeviation must be in (0, 2].");
        Throw.IfOutOfRange(!(RecomputeChangeRatio >= 0) || double.IsInfinity(RecomputeChangeRatio), "Calibration.RecomputeChangeRatio", RecomputeChangeRatio,
            "ScoreCalibrationOptions.RecomputeChangeRatio must be 0 or more.");
        Throw.IfOutOfRange(AlignmentSampleSize < 0, "Calibration.AlignmentSampleSize", AlignmentSampleSize,
            "ScoreCalibrationOptions.AlignmentSampleSize must be 0 or more.");
        Throw.IfOutOfRange(!(FullAlignment > 0.5) || FullAlignment > 1, "Calibration.FullAlignment", FullAlignment,
            "ScoreCalibrationOptions.FullAlignment must be in (0.5, 1].");
        Throw.IfOutOfRange(RecheckInterval < TimeSpan.Zero, "Calibration.RecheckInterval", RecheckInterval,
            "ScoreCalibrationOptions.RecheckInterval must not be negative.");
    }
}
