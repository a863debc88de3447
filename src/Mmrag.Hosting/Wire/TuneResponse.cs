using Mmrag.Hosting.Tuning;
using Mmrag.Retrieval.Search;

namespace Mmrag.Hosting.Wire;

/// <summary>What <c>mmrag tune --format json</c> prints: held-out metrics before and after per modality, and whether an adapter was stored.</summary>
/// <param name="Stored">Whether the adapter was stored (held-out recall@5 improved).</param>
/// <param name="Revision">The stored adapter's revision, or null.</param>
/// <param name="Judgements">Judgements given.</param>
/// <param name="Used">Judgements trained or judged on.</param>
/// <param name="OtherModel">Judgements of another model, ignored.</param>
/// <param name="MissingItems">Judgements naming items no longer stored, ignored.</param>
/// <param name="WithoutRelevant">Queries with no relevant item, ignored.</param>
/// <param name="Modalities">Per query modality.</param>
public sealed record TuneResponse(bool Stored, int? Revision, int Judgements, int Used, int OtherModel, int MissingItems, int WithoutRelevant,
    IReadOnlyList<TuneModalityResponse> Modalities)
{
    /// <summary>The wire form of <paramref name="outcome"/>.</summary>
    public static TuneResponse From(TuneOutcome outcome)
    {
        ArgumentNullException.ThrowIfNull(outcome);
        var t = outcome.Training;
        return new TuneResponse(outcome.Stored is not null, outcome.Stored?.Info.Revision, t.Judgements, t.Used, t.OtherModel, t.MissingItems, t.WithoutRelevant,
            [.. t.Modalities.Select(static m => new TuneModalityResponse(m.Modality == QueryModality.Image ? "image" : "text", m.TrainQueries, m.HeldOutQueries,
                m.Epochs, Math.Round(m.Before.Recall5, 6), Math.Round(m.After.Recall5, 6), Math.Round(m.Before.Mrr10, 6), Math.Round(m.After.Mrr10, 6), m.Better, m.Worse,
                m.Kept))]);
    }
}

/// <summary>Held-out quality of one query modality's map before and after training.</summary>
public sealed record TuneModalityResponse(string Modality, int TrainQueries, int HeldOutQueries, int Epochs, double Recall5Before, double Recall5After,
    double Mrr10Before, double Mrr10After, int Better, int Worse, bool Kept);

/// <summary>What <c>mmrag tune --reset</c> did: whether an adapter was stored and is now removed.</summary>
public sealed record TuneResetResponse(bool Removed);
