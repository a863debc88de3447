using System.CommandLine;
using System.Globalization;
using Mmrag.Hosting.Evaluation;
using Mmrag.Hosting.Tuning;
using Mmrag.Hosting.Wire;
using Mmrag.Retrieval.Adapters;
using Mmrag.Storage;

namespace Mmrag.Cli.Commands;

/// <summary>
/// <c>mmrag tune</c>: learns a query adapter from relevance judgements (a queries file and/or the stored feedback) and
/// stores it only if held-out recall@5 improved; <c>--reset</c> removes it.
/// </summary>
internal static class TuneCommand
{
    public static Command Create()
    {
        var kb = new KnowledgeBaseOptions();
        var pairs = new Option<string?>("--pairs")
        {
            Description = "Judgements as labelled queries (the eval format: {\"text\" | \"image\", \"target\", \"relevant\": [...], \"irrelevant\": [...]}); recorded as feedback where the store keeps it.",
        };
        var fromFeedback = new Option<bool>("--from-feedback") { Description = "Train on the knowledge base's stored feedback (judgements of its model)." };
        var seed = new Option<int>("--seed") { Description = "Seed of the held-out split and batch order (same judgements + seed → same adapter).", DefaultValueFactory = static _ => 1 };
        var holdout = new Option<double>("--holdout") { Description = "Share of queries held out to stop early and to judge the adapter (0..1, exclusive).", DefaultValueFactory = static _ => 0.2 };
        var reset = new Option<bool>("--reset") { Description = "Remove the knowledge base's adapter (search goes back to the plain vectors)." };
        var format = new Option<string>("--format") { Description = "table or json.", DefaultValueFactory = static _ => "table" };
        format.AcceptOnlyFromAmong("table", "json");
        var command = new Command("tune", "Learn a query adapter from relevance judgements; stored only if recall@5 on held-out queries improves.");
        kb.AddTo(command);
        foreach (var option in new Option[] { pairs, fromFeedback, seed, holdout, reset, format })
        {
            command.Options.Add(option);
        }

        command.Validators.Add(result =>
        {
            var hasPairs = result.GetResult(pairs) is not null;
            var feedback = result.GetValue(fromFeedback);
            if (result.GetValue(reset) && (hasPairs || feedback))
            {
                result.AddError("give --reset alone, not with --pairs or --from-feedback.");
            }
            else if (!result.GetValue(reset) && !hasPairs && !feedback)
            {
                result.AddError("give --pairs FILE and/or --from-feedback (or --reset).");
            }
        });

        command.SetAction((parseResult, cancellationToken) => CliErrors.RunAsync(parseResult.InvocationConfiguration.Error, async () =>
        {
            var output = parseResult.InvocationConfiguration.Output;
            var error = parseResult.InvocationConfiguration.Error;
            var json = parseResult.GetValue(format) == "json";
            var queries = parseResult.GetValue(pairs) is { } file ? await EvaluationQuerySet.LoadAsync(file, cancellationToken).ConfigureAwait(false) : null;
            await using var session = await kb.OpenAsync(parseResult, create: false, withModel: !parseResult.GetValue(reset), cancellationToken).ConfigureAwait(false);
            if (parseResult.GetValue(reset))
            {
                var removed = await QueryAdapterTuning.ResetAsync(session, cancellationToken).ConfigureAwait(false);
                await output.WriteLineAsync(json ? MmragJson.Serialize(new TuneResetResponse(removed)) : removed ? "query adapter removed" : "no query adapter was stored").ConfigureAwait(false);
                return 0;
            }

            if (parseResult.GetValue(holdout) is not (> 0 and < 1))
            {
                await error.WriteLineAsync("error: --holdout must be between 0 and 1 (exclusive).").ConfigureAwait(false);
                return CliErrors.Failure;
            }

            var judgements = new List<RelevanceJudgement>();
            if (queries is not null)
            {
                var read = await QueryAdapterTuning.JudgementsFromQueriesAsync(session, queries, cancellationToken: cancellationToken).ConfigureAwait(false);
                judgements.AddRange(read.Judgements);
                if (read.Unresolved > 0)
                {
                    await error.WriteLineAsync(string.Create(CultureInfo.InvariantCulture,
                        $"warning: {read.Unresolved} relevant/irrelevant entries name no stored document or item and were skipped.")).ConfigureAwait(false);
                }

                if (!await QueryAdapterTuning.RecordAsync(session, read.Judgements, cancellationToken).ConfigureAwait(false) && !json)
                {
                    await error.WriteLineAsync("note: this store does not keep feedback; the file's judgements are used for this run only.").ConfigureAwait(false);
                }
            }

            if (parseResult.GetValue(fromFeedback))
            {
                if (session.Store is not IRelevanceFeedbackStore feedback)
                {
                    await error.WriteLineAsync("error: this knowledge base's store does not keep feedback (no IRelevanceFeedbackStore); use --pairs FILE.").ConfigureAwait(false);
                    return CliErrors.Failure;
                }

                var known = judgements.Select(static j => j.Id).ToHashSet(StringComparer.Ordinal);
                judgements.AddRange((await feedback.ListJudgementsAsync(session.Store.Space.ModelId, cancellationToken).ConfigureAwait(false))
                    .Where(j => !known.Contains(j.Id)));
            }

            var outcome = await QueryAdapterTuning.TuneAsync(session, judgements, new QueryAdapterTrainingOptions
            {
                Seed = parseResult.GetValue(seed),
                HoldoutShare = parseResult.GetValue(holdout),
            }, cancellationToken).ConfigureAwait(false);
            await output.WriteAsync(json ? MmragJson.Serialize(TuneResponse.From(outcome)) + Environment.NewLine : QueryAdapterTuning.Describe(outcome)).ConfigureAwait(false);
            return 0;
        }));
        return command;
    }

    /// <summary>The <c>--no-adapter</c> switch of search, ask and eval.</summary>
    internal static Option<bool> NoAdapterOption() => new("--no-adapter")
    {
        Description = "Search with the plain query vectors, without the knowledge base's query adapter (mmrag tune).",
    };

    /// <summary>Writes why a stored adapter is not used, if it is not.</summary>
    internal static async Task WarnAsync(TextWriter error, string? warning)
    {
        if (warning is not null)
        {
            await error.WriteLineAsync($"warning: {warning}").ConfigureAwait(false);
        }
    }
}
