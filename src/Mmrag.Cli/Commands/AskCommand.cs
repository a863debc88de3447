using System.CommandLine;
using System.Globalization;
using Microsoft.Extensions.AI;
using Mmrag.Answering;
using Mmrag.Answering.Llm;
using Mmrag.Hosting.Wire;
using Mmrag.Knowledge;

namespace Mmrag.Cli.Commands;

/// <summary>
/// <c>mmrag ask "QUESTION" [--image PATH]</c>: retrieves sources, streams the LLM's answer, then prints the numbered
/// sources (text) or one JSON object <c>{answer, citations, sources, usage}</c> (json).
/// </summary>
internal static class AskCommand
{
    public static Command Create()
    {
        var kb = new KnowledgeBaseOptions();
        var question = new Argument<string>("question") { Description = "The question." };
        var image = new Option<string?>("--image", "-i") { Description = "A photo to ask about (e.g. a product photo)." };
        var strategy = new Option<string>("--strategy")
        {
            Description = "multimodal (CLIP across modalities; default), text+images (text retrieval, original images sent) or text (text only; images via captions).",
            DefaultValueFactory = static _ => QueryVocabulary.StrategyNames[0],
        };
        strategy.AcceptOnlyFromAmong([.. QueryVocabulary.StrategyNames]);
        var k = new Option<int>("--k") { Description = "Sources to retrieve.", DefaultValueFactory = static _ => QueryVocabulary.DefaultAnswerK }.AtLeast(1);
        var maxImages = new Option<int>("--max-images")
        {
            Description = "Most images sent to the LLM (the user's image included).",
            DefaultValueFactory = static _ => QueryVocabulary.DefaultMaxImages,
        }.AtLeast(0);
        var threshold = new Option<double?>("--threshold") { Description = "Minimum calibrated score of a source (0..1)." }.Between(0, 1);
        var decline = new Option<bool>("--decline-without-context") { Description = "When no source is relevant, decline instead of answering without sources." };
        var noAdapter = TuneCommand.NoAdapterOption();
        var format = new Option<string>("--format") { Description = "text or json.", DefaultValueFactory = static _ => "text" };
        format.AcceptOnlyFromAmong("text", "json");
        var rerank = new RerankCliOptions();
        var command = new Command("ask", "Answer a question from the knowledge base with a (vision) LLM, citing its sources.");
        command.Arguments.Add(question);
        kb.AddTo(command);
        foreach (var option in new Option[] { image, strategy, k, maxImages, threshold, decline, noAdapter, format })
        {
            command.Options.Add(option);
        }

        rerank.AddTo(command);

        command.SetAction((parseResult, cancellationToken) => CliErrors.RunAsync(parseResult.InvocationConfiguration.Error, async () =>
        {
            var output = parseResult.InvocationConfiguration.Output;
            var error = parseResult.InvocationConfiguration.Error;
            await using var session = await kb.OpenAsync(parseResult, create: false, withModel: true, cancellationToken).ConfigureAwait(false);
            var answerer = session.Answerer;

            DataContent? picture = null;
            if (parseResult.GetValue(image) is { } imagePath)
            {
                picture = new DataContent(await QueryImages.ReadAsync(imagePath, cancellationToken), "application/octet-stream") { Name = Path.GetFileName(imagePath) };
            }

            var options = new AnswerOptions
            {
                Strategy = QueryVocabulary.TryParseStrategy(parseResult.GetValue(strategy), out var chosen) ? chosen : AnswerStrategy.Multimodal,
                K = parseResult.GetValue(k),
                MaxImages = parseResult.GetValue(maxImages),
                Threshold = parseResult.GetValue(threshold),
                NoContextBehavior = parseResult.GetValue(decline) ? NoContextBehavior.Decline : NoContextBehavior.AnswerWithoutContext,
                Rerank = rerank.Get(parseResult),
                UseAdapter = !parseResult.GetValue(noAdapter),
            };
            if (options.UseAdapter)
            {
                await TuneCommand.WarnAsync(error, (await session.Searcher.Adapters.GetAsync(cancellationToken)).Warning);
            }

            var json = parseResult.GetValue(format) == "json";
            Answer? answer = null;
            await foreach (var update in answerer.AskStreamingAsync(new Question(parseResult.GetValue(question)!, picture), options, cancellationToken))
            {
                switch (update.Kind)
                {
                    case AnswerUpdateKind.Sources when !json && update.NoContext:
                        await error.WriteLineAsync("note: nothing in the knowledge base scored above the threshold; the answer is not based on any source.");
                        break;
                    case AnswerUpdateKind.Token when !json:
                        await output.WriteAsync(update.Text);
                        await output.FlushAsync(cancellationToken);
                        break;
                    case AnswerUpdateKind.Completed:
                        answer = update.Answer;
                        break;
                }
            }

            if (answer is null)
            {
                throw new InvalidOperationException("The answer stream ended without a completed answer.");
            }

            if (json)
            {
                await output.WriteLineAsync(ToJson(answer));
                return 0;
            }

            if (answer.LlmCalled)
            {
                await output.WriteLineAsync();
            }
            else if (answerer.HasLlm)
            {
                await output.WriteLineAsync(answer.Text);
            }

            if (answer.Rerank is { } report)
            {
                await error.WriteLineAsync(SearchCommand.RerankLine(report).TrimStart());
            }

            await WriteSourcesAsync(output, answer);
            if (!answerer.HasLlm)
            {
                // Said once, where messages go; the answer's text is the same hint.
                await error.WriteLineAsync(LlmOptions.ConfigurationHint);
            }

            if (answer.UnresolvedCitations.Count > 0)
            {
                await error.WriteLineAsync($"warning: the answer cites [{string.Join("], [", answer.UnresolvedCitations)}], which match no source.");
            }

            return 0;
        }));
        return command;
    }

    private static async Task WriteSourcesAsync(TextWriter output, Answer answer)
    {
        if (answer.Sources.Count == 0)
        {
            await output.WriteLineAsync("sources: none");
            return;
        }

        await output.WriteLineAsync("sources:");
        var cited = answer.Citations.Select(static c => c.Number).ToHashSet();
        foreach (var source in answer.Sources)
        {
            var where = source.SourcePath + (source.Page is { } page ? $" p.{page}" : "") + (source.Item.Provenance.Section is { Length: > 0 } section ? $" § {section}" : "");
            var kind = source.Kind == ItemKind.Image ? (source.ImageSent ? "image (sent)" : "image") : "text";
            await output.WriteLineAsync(string.Create(CultureInfo.InvariantCulture,
                $"  [{source.Number}]{(cited.Contains(source.Number) ? "*" : " ")} {source.Score:0.000} {kind,-12} {where}"));
            if (source.Item.Credit() is { } credit)
            {
                await output.WriteLineAsync($"       credit: {credit}");
            }

            if (source.Rerank is { } grade)
            {
                await output.WriteLineAsync($"       LLM grade {grade.Grade}/{Answering.Reranking.RerankOptions.MaxGrade}: {grade.Reason}");
            }
        }
    }

    /// <summary>The answer JSON, the same document the HTTP API returns.</summary>
    internal static string ToJson(Answer answer) => MmragJson.Serialize(MmragJson.ToResponse(answer));
}
