using Mmrag.Retrieval.Scoring;

namespace Mmrag.Retrieval.Adapters;

/// <summary>Settings of <see cref="QueryAdapterTrainer"/>; validated when training starts. The defaults were measured on the shapes sets (docs/adapter.md).</summary>
public sealed record QueryAdapterTrainingOptions
{
    /// <summary>The seed of the held-out split and of the batch order: the same judgements, store and seed give bit-identical maps.</summary>
    public int Seed { get; init; } = 1;

    /// <summary>The share of queries (not of judgements: a query's judgements stay together) held out per modality, in (0, 1).</summary>
    public double HoldoutShare { get; init; } = 0.2;

    /// <summary>Most passes over the training queries.</summary>
    public int MaxEpochs { get; init; } = 200;

    /// <summary>Training stops after this many epochs without a better held-out recall@5 (or, at equal recall, loss).</summary>
    public int Patience { get; init; } = 20;

    /// <summary>Queries per gradient step; the other queries of a batch supply in-batch negatives.</summary>
    public int BatchSize { get; init; } = 16;

    /// <summary>Adam's step size.</summary>
    public double LearningRate { get; init; } = 0.01;

    /// <summary>The softmax temperature of the contrastive loss over cosines (0.05: logit scale 20).</summary>
    public double Temperature { get; init; } = 0.05;

    /// <summary>λ of the penalty λ‖W − I‖², which keeps the map near the identity (and so near what the model learnt).</summary>
    public double IdentityPenalty { get; init; } = 1;

    /// <summary>Hard negatives per query: the nearest items of the target kind (plain vector) not judged relevant.</summary>
    public int HardNegatives { get; init; } = 32;

    /// <summary>A modality's map is kept only when it raises held-out recall@5 by more than this.</summary>
    public double MinRecallGain { get; init; }

    /// <summary>A modality's map is kept only when it lowers held-out MRR@10 by at most this (a map that finds more but ranks the first hit lower is not better).</summary>
    public double MaxMrrLoss { get; init; } = 0.01;

    /// <summary>
    /// A modality's map is kept only when at least this many more held-out queries gain recall@5 than lose it: a mean
    /// carried by one or two queries is not evidence (wrong judgements can move a few by chance).
    /// </summary>
    public int MinNetImprovedQueries { get; init; } = 2;

    /// <summary>
    /// A modality's map is considered only when the plain vectors already agree with the held-out judgements this much
    /// (MRR@10 at least this). Judgements the model almost never agrees with are taken as mismatched (a shuffled file,
    /// another knowledge base's paths): a map near the identity cannot learn an unrelated relevance, and what it does
    /// learn from them, which items are judged relevant most often, raises held-out recall without any relevance
    /// (measured on shapes: shuffled judgements gain 0.05–0.25 recall@5 that way, from an MRR@10 under 0.26).
    /// </summary>
    public double MinPlainMrr { get; init; } = 0.3;

    /// <summary>Sample size, seed and minimum items of the background measured for calibration (<see cref="QueryAdapter.ToCalibrationScale"/>).</summary>
    public ScoreCalibrationOptions Calibration { get; init; } = new();

    internal void Validate()
    {
        Throw.IfOutOfRange(!(HoldoutShare is > 0 and < 1), nameof(HoldoutShare), HoldoutShare, "QueryAdapterTrainingOptions.HoldoutShare must be between 0 and 1 (exclusive).");
        Throw.IfOutOfRange(MaxEpochs < 1, nameof(MaxEpochs), MaxEpochs, "QueryAdapterTrainingOptions.MaxEpochs must be at least 1.");
        Throw.IfOutOfRange(Patience < 1, nameof(Patience), Patience, "QueryAdapterTrainingOptions.Patience must be at least 1.");
        Throw.IfOutOfRange(BatchSize < 1, nameof(BatchSize), BatchSize, "QueryAdapterTrainingOptions.BatchSize must be at least 1.");
        Throw.IfOutOfRange(!(LearningRate > 0) || double.IsInfinity(LearningRate), nameof(LearningRate), LearningRate,
            "QueryAdapterTrainingOptions.LearningRate must be a positive number.");
        Throw.IfOutOfRange(!(Temperature > 0) || double.IsInfinity(Temperature), nameof(Temperature), Temperature,
            "QueryAdapterTrainingOptions.Temperature must be a positive number.");
        Throw.IfOutOfRange(!(IdentityPenalty >= 0) || double.IsInfinity(IdentityPenalty), nameof(IdentityPenalty), IdentityPenalty,
            "QueryAdapterTrainingOptions.IdentityPenalty must be 0 or more.");
        Throw.IfOutOfRange(HardNegatives < 0, nameof(HardNegatives), HardNegatives, "QueryAdapterTrainingOptions.HardNegatives must be 0 or more.");
        Throw.IfOutOfRange(!(MinRecallGain >= 0) || MinRecallGain >= 1, nameof(MinRecallGain), MinRecallGain,
            "QueryAdapterTrainingOptions.MinRecallGain must be in [0, 1).");
        Throw.IfOutOfRange(!(MaxMrrLoss >= 0) || double.IsInfinity(MaxMrrLoss), nameof(MaxMrrLoss), MaxMrrLoss, "QueryAdapterTrainingOptions.MaxMrrLoss must be 0 or more.");
        Throw.IfOutOfRange(MinNetImprovedQueries < 1, nameof(MinNetImprovedQueries), MinNetImprovedQueries, "QueryAdapterTrainingOptions.MinNetImprovedQueries must be at least 1.");
        Throw.IfOutOfRange(!(MinPlainMrr is >= 0 and <= 1), nameof(MinPlainMrr), MinPlainMrr, "QueryAdapterTrainingOptions.MinPlainMrr must be between 0 and 1.");
        Throw.IfNull(Calibration, nameof(Calibration));
        Calibration.Validate();
    }
}
