using System.CommandLine;
using System.Globalization;
using Mmrag.Hosting.Evaluation;
using Mmrag.Hosting.Wire;
using Mmrag.Retrieval.Search;

namespace Mmrag.Cli.Commands;

/// <summary><c>mmrag eval</c>: scores the knowledge base against labelled queries, beside plain cosine search.</summary>
internal static class EvalCommand
{
    public static Command Create()
    {
        var kb = new KnowledgeBaseOptions();
        var queries = new Option<string>("--queries", "-q")
        {
            Description = "Labelled queries (JSON Lines: {\"text\" | \"image\", \"target\", \"relevant\": [paths relative to the file's folder, or item ids]}).",
        };
        var k = new Option<int>("--k") { Description = "Results per query.", DefaultValueFactory = static _ => QueryVocabulary.DefaultSearchK }.AtLeast(1);
        var threshold = new Option<double?>("--threshold") { Description = "Calibrated threshold for kept / declined (0..1; default the searcher's, 0.5)." }.Between(0, 1);
        var sweep = new Option<bool>("--sweep") { Description = "Print kept / declined across thresholds." };
        var noHybrid = new Option<bool>("--no-hybrid") { Description = "Vector search only (no keyword fusion)." };
        var similarityCut = new Option<double?>("--similarity-cut")
        {
            Description = "Near-duplicate cut: drop hits with this cosine to a better one (default 0.97; 1 keeps all but exact copies).",
        }.Between(-1, 1);
        var noAdapter = TuneCommand.NoAdapterOption();
        var format = new Option<string>("--format") { Description = "table or json.", DefaultValueFactory = static _ => "table" };
        format.AcceptOnlyFromAmong("table", "json");
        var rerank = new RerankCliOptions();
        var command = new Command("eval", "Measure retrieval quality against labelled queries: recall, MRR, nDCG per direction, kept / declined at the threshold, beside plain cosine search.");
        kb.AddTo(command);
        foreach (var option in new Option[] { queries, k, threshold, sweep, noHybrid, similarityCut, noAdapter, format })
        {
            command.Options.Add(option);
        }

        rerank.AddTo(command);

        var dataset = new DatasetEvalOptions();
        dataset.AddTo(command);
        command.Validators.Add(result => dataset.Validate(result, queries));
        command.Validators.Add(result =>
        {
            if (result.GetResult(threshold) is not null && result.GetValue(sweep))
            {
                result.AddError("give --threshold or --sweep, not both.");
            }
        });

        command.SetAction((parseResult, cancellationToken) => CliErrors.RunAsync(parseResult.InvocationConfiguration.Error, async () =>
        {
            if (dataset.IsGiven(parseResult))
            {
                // The published protocol's figures beside mmrag's default search (the scoring options do not apply).
                return await dataset.RunAsync(parseResult, kb, new EvaluationOptions { K = parseResult.GetValue(k) }, parseResult.GetValue(format) == "json",
                    cancellationToken).ConfigureAwait(false);
            }

            var set = await EvaluationQuerySet.LoadAsync(parseResult.GetValue(queries)!, cancellationToken).ConfigureAwait(false);
            await using var session = await kb.OpenAsync(parseResult, create: false, withModel: true, cancellationToken).ConfigureAwait(false);
            var options = new EvaluationOptions
            {
                K = parseResult.GetValue(k),
                Threshold = parseResult.GetValue(threshold),
                Hybrid = !parseResult.GetValue(noHybrid),
                Dedupe = parseResult.GetValue(similarityCut) is { } cut ? DedupeOptions.Default with { SimilarityCut = cut } : null,
                Rerank = rerank.Get(parseResult),
                UseAdapter = !parseResult.GetValue(noAdapter),
            };
            var report = await new RetrievalEvaluator(session).EvaluateAsync(set, options, cancellationToken).ConfigureAwait(false);
            // With an adapter in force, the same queries without it, so that its effect is read off one run.
            var adapter = options.UseAdapter ? await session.Searcher.Adapters.GetAsync(cancellationToken).ConfigureAwait(false) : null;
            await TuneCommand.WarnAsync(parseResult.InvocationConfiguration.Error, adapter?.Warning).ConfigureAwait(false);
            var plain = adapter?.Adapter is null ? null
                : await new RetrievalEvaluator(session).EvaluateAsync(set, options with { UseAdapter = false }, cancellationToken).ConfigureAwait(false);
            var output = parseResult.InvocationConfiguration.Output;
            if (parseResult.GetValue(format) == "json")
            {
                await output.WriteLineAsync(MmragJson.Serialize(EvaluationResponse.From(report, options.K, options.Hybrid) with
                {
                    WithoutAdapter = plain is null ? null : EvaluationResponse.From(plain, options.K, options.Hybrid),
                })).ConfigureAwait(false);
            }
            else
            {
                if (plain is not null)
                {
                    await output.WriteLineAsync("without the query adapter (--no-adapter):").ConfigureAwait(false);
                    await output.WriteAsync(FormatTable(plain, set.Count, options, parseResult.GetValue(sweep))).ConfigureAwait(false);
                    await output.WriteLineAsync(string.Create(CultureInfo.InvariantCulture,
                        $"with the query adapter (revision {adapter!.Adapter!.Info.Revision}, trained {adapter.Adapter.Info.TrainedAt:yyyy-MM-dd HH:mm} UTC on {adapter.Adapter.Info.Judgements} judgements):")).ConfigureAwait(false);
                }

                await output.WriteAsync(FormatTable(report, set.Count, options, parseResult.GetValue(sweep))).ConfigureAwait(false);
            }

            return 0;
        }));
        return command;
    }

    internal static string FormatTable(EvaluationReport report, int queryCount, EvaluationOptions options, bool sweep)
    {
        var text = new System.Text.StringBuilder();
        var c = CultureInfo.InvariantCulture;
        text.AppendLine(c, $"{queryCount} queries ({report.MatchedQueries} with relevant items, {report.NoMatchQueries} with none), k {options.K}, hybrid {(options.Hybrid ? "on" : "off")}");
        text.AppendLine("                          mmrag                                              | plain cosine");
        text.AppendLine("direction       queries   R@1   R@5  R@10   H@1   H@5  H@10 MRR@10 nDCG@10 |   R@1   R@5  R@10   H@1 MRR@10");
        foreach (var (direction, metrics) in report.Directions)
        {
            Row(direction, metrics, report.Baseline.Directions.GetValueOrDefault(direction));
        }

        Row("overall", report.Overall, report.Baseline.Overall);
        text.AppendLine(c, $"threshold {report.Threshold:0.00} (calibrated score: 0.5 is two standard deviations above this knowledge base's background cosine for the pair)");
        text.AppendLine(c, $"  kept     {report.Kept:0.000}  matched queries keeping at least one relevant hit");
        text.AppendLine(c, $"  declined {report.Declined:0.000}  no-match queries returning no hit (\"no good match\")");
        var cut = double.IsFinite(report.Baseline.CosineCutAtEqualKept) ? report.Baseline.CosineCutAtEqualKept.ToString("0.000", c) : "none";
        text.AppendLine(c, $"  plain cosine at the same kept share declines {report.Baseline.DeclinedAtEqualKept:0.000} (one global cosine cut, {cut})");
        if (report.BestThreshold is { } best)
        {
            text.AppendLine(c, $"  best balanced threshold {best.Threshold:0.00}: kept {best.Kept:0.000}, declined {best.Declined:0.000}");
        }

        text.AppendLine(c, $"latency p50 {report.LatencyP50Ms:0.0} ms, p95 {report.LatencyP95Ms:0.0} ms");
        if (report.Rerank is { } rerank)
        {
            text.AppendLine(c, $"LLM rerank (mmrag columns): {rerank.Applied} applied, {rerank.Failed} failed, {rerank.Skipped} skipped{(rerank.FirstProblem is { } problem ? $" (first: {problem})" : "")}");
        }

        if (sweep)
        {
            text.AppendLine("threshold   kept  declined  balanced | plain cosine at the same kept: cut  declined");
            for (var i = 0; i < report.Sweep.Count; i++)
            {
                var point = report.Sweep[i];
                var cosine = report.Baseline.Sweep[i];
                var cosineCut = double.IsFinite(cosine.Threshold) ? cosine.Threshold.ToString("0.000", c) : "    -";
                text.AppendLine(c, $"     {point.Threshold:0.00}  {point.Kept:0.000}     {point.Declined:0.000}     {point.BalancedAccuracy:0.000} |                                {cosineCut}     {cosine.Declined:0.000}");
            }
        }

        return text.ToString();

        void Row(string name, RankingSummary m, RankingSummary? b)
        {
            text.Append(c, $"{name,-15} {m.Queries,7} {m.Recall1,5:0.000} {m.Recall5,5:0.000} {m.Recall10,5:0.000} {m.Hit1,5:0.000} {m.Hit5,5:0.000} {m.Hit10,5:0.000} {m.Mrr10,6:0.000} {m.Ndcg10,7:0.000} |");
            text.AppendLine(b is null ? "" : string.Create(c, $" {b.Recall1,5:0.000} {b.Recall5,5:0.000} {b.Recall10,5:0.000} {b.Hit1,5:0.000} {b.Mrr10,6:0.000}"));
        }
    }
}
