using System.Text.Json.Serialization;
using Mmrag.Hosting.Evaluation;

namespace Mmrag.Hosting.Wire;

/// <summary>An evaluation on the wire (<c>mmrag eval --format json</c>).</summary>
/// <param name="Directions">Ranking metrics per direction (<c>text-&gt;image</c>, …).</param>
/// <param name="Overall">Ranking metrics over every matched query.</param>
/// <param name="Threshold">The calibrated threshold in force.</param>
/// <param name="Kept">Share of matched queries keeping a relevant hit at the threshold.</param>
/// <param name="Declined">Share of no-match queries returning no hit at the threshold.</param>
/// <param name="MatchedQueries">Queries with relevant entries.</param>
/// <param name="NoMatchQueries">Queries without.</param>
/// <param name="Sweep">Kept and declined across thresholds.</param>
/// <param name="BestThreshold">The sweep point with the highest balanced accuracy.</param>
/// <param name="Baseline">Plain exact cosine search.</param>
/// <param name="LatencyMs">Search latency at the threshold in force.</param>
/// <param name="K">Results asked per query.</param>
/// <param name="Hybrid">Whether keyword fusion was on.</param>
/// <param name="Rerank">How the LLM reranks went (only with <c>--rerank</c>).</param>
public sealed record EvaluationResponse(
    IReadOnlyDictionary<string, EvaluationMetricsResponse> Directions,
    EvaluationMetricsResponse Overall,
    double Threshold,
    double Kept,
    double Declined,
    int MatchedQueries,
    int NoMatchQueries,
    IReadOnlyList<EvaluationSweepPointResponse> Sweep,
    EvaluationSweepPointResponse? BestThreshold,
    EvaluationBaselineResponse Baseline,
    EvaluationLatencyResponse LatencyMs,
    int K,
    bool Hybrid,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] EvaluationRerankResponse? Rerank = null)
{
    /// <summary>The same evaluation without the knowledge base's query adapter, when one is stored (the main figures are with it).</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public EvaluationResponse? WithoutAdapter { get; init; }

    /// <summary>The wire form of <paramref name="report"/>.</summary>
    public static EvaluationResponse From(EvaluationReport report, int k, bool hybrid)
    {
        ArgumentNullException.ThrowIfNull(report);
        return new EvaluationResponse(
            ToWire(report.Directions), EvaluationMetricsResponse.From(report.Overall), Round(report.Threshold), Round(report.Kept), Round(report.Declined),
            report.MatchedQueries, report.NoMatchQueries, [.. report.Sweep.Select(EvaluationSweepPointResponse.From)],
            report.BestThreshold is null ? null : EvaluationSweepPointResponse.From(report.BestThreshold),
            new EvaluationBaselineResponse(ToWire(report.Baseline.Directions), EvaluationMetricsResponse.From(report.Baseline.Overall),
                Round(report.Baseline.DeclinedAtEqualKept), FiniteOrNull(report.Baseline.CosineCutAtEqualKept),
                [.. report.Baseline.Sweep.Select(static p => new EvaluationCosineSweepPointResponse(FiniteOrNull(p.Threshold), Round(p.Kept), Round(p.Declined)))]),
            new EvaluationLatencyResponse(Math.Round(report.LatencyP50Ms, 2), Math.Round(report.LatencyP95Ms, 2)),
            k, hybrid,
            report.Rerank is { } rerank ? new EvaluationRerankResponse(rerank.Applied, rerank.Failed, rerank.Skipped, rerank.FirstProblem) : null);
    }

    internal static double Round(double value) => Math.Round(value, 4);

    private static double? FiniteOrNull(double value) => double.IsFinite(value) ? Round(value) : null;

    private static Dictionary<string, EvaluationMetricsResponse> ToWire(IReadOnlyDictionary<string, RankingSummary> directions) =>
        directions.ToDictionary(static d => d.Key, static d => EvaluationMetricsResponse.From(d.Value), StringComparer.Ordinal);
}

/// <summary>Ranking metrics of one direction, named as in the shapes sets' <c>reference.json</c>.</summary>
/// <param name="Queries">Matched queries averaged.</param>
/// <param name="Recall1">Recall@1.</param>
/// <param name="Recall5">Recall@5.</param>
/// <param name="Recall10">Recall@10.</param>
/// <param name="Hit1">Hit@1.</param>
/// <param name="Hit5">Hit@5.</param>
/// <param name="Hit10">Hit@10.</param>
/// <param name="Mrr10">MRR@10.</param>
/// <param name="Ndcg10">nDCG@10.</param>
public sealed record EvaluationMetricsResponse(
    int Queries,
    [property: JsonPropertyName("recall@1")] double Recall1,
    [property: JsonPropertyName("recall@5")] double Recall5,
    [property: JsonPropertyName("recall@10")] double Recall10,
    [property: JsonPropertyName("hit@1")] double Hit1,
    [property: JsonPropertyName("hit@5")] double Hit5,
    [property: JsonPropertyName("hit@10")] double Hit10,
    [property: JsonPropertyName("mrr@10")] double Mrr10,
    [property: JsonPropertyName("ndcg@10")] double Ndcg10)
{
    internal static EvaluationMetricsResponse From(RankingSummary s) => new(s.Queries, EvaluationResponse.Round(s.Recall1), EvaluationResponse.Round(s.Recall5),
        EvaluationResponse.Round(s.Recall10), EvaluationResponse.Round(s.Hit1), EvaluationResponse.Round(s.Hit5), EvaluationResponse.Round(s.Hit10),
        EvaluationResponse.Round(s.Mrr10), EvaluationResponse.Round(s.Ndcg10));
}

/// <summary>Kept and declined at one threshold.</summary>
/// <param name="Threshold">The calibrated threshold.</param>
/// <param name="Kept">Share of matched queries keeping a relevant hit.</param>
/// <param name="Declined">Share of no-match queries returning no hit.</param>
public sealed record EvaluationSweepPointResponse(double Threshold, double Kept, double Declined)
{
    internal static EvaluationSweepPointResponse From(SweepPoint p) => new(EvaluationResponse.Round(p.Threshold), EvaluationResponse.Round(p.Kept), EvaluationResponse.Round(p.Declined));
}

/// <summary>Plain exact cosine search on the wire.</summary>
/// <param name="Directions">Ranking metrics per direction.</param>
/// <param name="Overall">Ranking metrics over every matched query.</param>
/// <param name="DeclinedAtEqualKept">No-match queries declined by the global cosine cut keeping as many matched queries as the threshold does.</param>
/// <param name="CosineCutAtEqualKept">That cut (null when none exists).</param>
/// <param name="Sweep">Per point of the pipeline's sweep, the cosine cut keeping as many matched queries, and what it keeps and declines.</param>
public sealed record EvaluationBaselineResponse(
    IReadOnlyDictionary<string, EvaluationMetricsResponse> Directions,
    EvaluationMetricsResponse Overall,
    double DeclinedAtEqualKept,
    double? CosineCutAtEqualKept,
    IReadOnlyList<EvaluationCosineSweepPointResponse> Sweep);

/// <summary>A global cosine cut with what it keeps and declines.</summary>
/// <param name="Cut">The raw cosine cut (null: no cut keeps that many, or none is needed).</param>
/// <param name="Kept">Share of matched queries keeping a relevant hit.</param>
/// <param name="Declined">Share of no-match queries returning no hit.</param>
public sealed record EvaluationCosineSweepPointResponse(double? Cut, double Kept, double Declined);

/// <summary>Latency percentiles in milliseconds.</summary>
/// <param name="P50">Median.</param>
/// <param name="P95">95th percentile.</param>
public sealed record EvaluationLatencyResponse(double P50, double P95);

/// <summary>How the LLM reranks of an evaluation went.</summary>
/// <param name="Applied">Queries reranked.</param>
/// <param name="Failed">Queries whose rerank failed (their search order was scored).</param>
/// <param name="Skipped">Queries not reranked (nothing to grade, or no LLM configured).</param>
/// <param name="FirstProblem">Why the first rerank that did not apply did not.</param>
public sealed record EvaluationRerankResponse(int Applied, int Failed, int Skipped, string? FirstProblem);
