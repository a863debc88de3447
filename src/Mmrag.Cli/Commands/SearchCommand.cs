using System.CommandLine;
using System.Globalization;
using Microsoft.Extensions.AI;
using Mmrag.Answering.Reranking;
using Mmrag.Hosting.Wire;
using Mmrag.Knowledge;
using Mmrag.Retrieval.Search;

namespace Mmrag.Cli.Commands;

/// <summary><c>mmrag search</c>: text and/or image queries against the knowledge base, as a table or JSON.</summary>
internal static class SearchCommand
{
    public static Command Create()
    {
        var kb = new KnowledgeBaseOptions();
        var texts = new Option<string[]>("--text", "-t") { Description = "Query text (repeat to search several queries in one run)." };
        var images = new Option<string[]>("--image", "-i") { Description = "Query image file (repeatable)." };
        var k = new Option<int>("--k") { Description = "Number of results.", DefaultValueFactory = static _ => QueryVocabulary.DefaultSearchK }.AtLeast(1);
        var target = new Option<SearchTarget>("--target")
        {
            Description = "What to search: images, text or all.",
            DefaultValueFactory = static _ => SearchTarget.All,
            CustomParser = static result => QueryVocabulary.TryParseTarget(result.Tokens.Count == 0 ? null : result.Tokens[0].Value, out var parsed)
                ? parsed
                : Invalid(result, $"--target must be {string.Join(", ", QueryVocabulary.TargetNames)}."),
        };
        var threshold = new Option<double?>("--threshold") { Description = "Minimum calibrated score (0..1; default 0.5)." }.Between(0, 1);
        var includeSelf = new Option<bool>("--include-self") { Description = "In image search, keep the query image itself when it is in the knowledge base." };
        var noHybrid = new Option<bool>("--no-hybrid") { Description = "Vector search only (no keyword fusion)." };
        var recall = new Option<double?>("--recall") { Description = "Recall@k the vector index must reach, in (0, 1]: 1 is exact, lower is faster (default: the store's)." }.Between(0, 1, lowExcluded: true);
        var scoring = new Option<ScoringMode>("--scoring") { Description = "Calibrated (default) or SoftmaxTemperature.", DefaultValueFactory = static _ => ScoringMode.Calibrated };
        var noAdapter = TuneCommand.NoAdapterOption();
        var format = new Option<string>("--format") { Description = "table or json.", DefaultValueFactory = static _ => "table" };
        format.AcceptOnlyFromAmong("table", "json");
        var rerank = new RerankCliOptions();
        var command = new Command("search", "Search the knowledge base by text, by image, or both.");
        kb.AddTo(command);
        foreach (var option in new Option[] { texts, images, k, target, threshold, includeSelf, noHybrid, recall, scoring, noAdapter, format })
        {
            command.Options.Add(option);
        }

        rerank.AddTo(command);

        command.SetAction((parseResult, cancellationToken) => CliErrors.RunAsync(parseResult.InvocationConfiguration.Error, async () =>
        {
            var queries = BuildQueries(parseResult.GetValue(texts) ?? [], parseResult.GetValue(images) ?? []);
            if (queries.Count == 0)
            {
                await parseResult.InvocationConfiguration.Error.WriteLineAsync("error: give --text and/or --image.").ConfigureAwait(false);
                return CliErrors.Failure;
            }

            await using var session = await kb.OpenAsync(parseResult, create: false, withModel: true, cancellationToken).ConfigureAwait(false);
            var searcher = session.Searcher;
            var rerankOptions = rerank.Get(parseResult);
            var output = parseResult.InvocationConfiguration.Output;
            foreach (var (text, imagePath) in queries)
            {
                DataContent? image = null;
                if (imagePath is not null)
                {
                    image = new DataContent(await QueryImages.ReadAsync(imagePath, cancellationToken).ConfigureAwait(false), "application/octet-stream") { Name = imagePath };
                }

                var search = await session.SearchAsync(new SearchRequest
                {
                    Text = text,
                    Image = image,
                    K = parseResult.GetValue(k),
                    Target = parseResult.GetValue(target),
                    Threshold = parseResult.GetValue(threshold),
                    IncludeSelf = parseResult.GetValue(includeSelf),
                    Hybrid = parseResult.GetValue(noHybrid) ? false : null,
                    Recall = parseResult.GetValue(recall),
                    Scoring = parseResult.GetValue(scoring),
                    UseAdapter = !parseResult.GetValue(noAdapter),
                }, rerankOptions, cancellationToken).ConfigureAwait(false);
                await TuneCommand.WarnAsync(parseResult.InvocationConfiguration.Error, search.Result.AdapterWarning).ConfigureAwait(false);

                if (parseResult.GetValue(format) == "json")
                {
                    await output.WriteLineAsync(ToJson(search)).ConfigureAwait(false);
                }
                else
                {
                    await WriteTableAsync(output, text, imagePath, search, parseResult.GetValue(threshold) ?? searcher.Options.DefaultThreshold).ConfigureAwait(false);
                }
            }

            if (parseResult.GetValue(format) != "json")
            {
                await output.WriteLineAsync(
                    "score: calibrated relevance in [0, 1], one scale for every query and item kind (--threshold sets the cut); cos: the raw cosine similarity").ConfigureAwait(false);
            }

            return 0;
        }));
        return command;
    }

    private static SearchTarget Invalid(System.CommandLine.Parsing.ArgumentResult result, string message)
    {
        result.AddError(message);
        return SearchTarget.All;
    }

    /// <summary>One query per --text, one per --image; a single --text with a single --image is one combined query.</summary>
    private static List<(string? Text, string? Image)> BuildQueries(string[] texts, string[] images)
    {
        if (texts.Length == 1 && images.Length == 1)
        {
            return [(texts[0], images[0])];
        }

        return [.. texts.Select(t => ((string?)t, (string?)null)), .. images.Select(i => ((string?)null, (string?)i))];
    }

    /// <summary>The search JSON, the same document the HTTP API returns.</summary>
    internal static string ToJson(RerankedSearch search) => MmragJson.Serialize(MmragJson.ToResponse(search));

    private static async Task WriteTableAsync(TextWriter output, string? text, string? image, RerankedSearch search, double threshold)
    {
        var result = search.Result;
        var query = string.Join(" + ", new[] { text is null ? null : $"\"{text}\"", image is null ? null : Path.GetFileName(image) }.Where(static q => q is not null));
        await output.WriteLineAsync($"query {query}: {result.Hits.Count} hits ({result.TotalTime.TotalMilliseconds:F0} ms)").ConfigureAwait(false);
        if (search.Report is { } report)
        {
            await output.WriteLineAsync(RerankLine(report)).ConfigureAwait(false);
        }

        if (result.Hits.Count == 0)
        {
            await output.WriteLineAsync(string.Create(CultureInfo.InvariantCulture,
                $"  nothing scored above the threshold ({threshold:0.00}): no good match in the knowledge base")).ConfigureAwait(false);
            return;
        }

        for (var i = 0; i < result.Hits.Count; i++)
        {
            var hit = result.Hits[i];
            var item = hit.Item;
            var where = item.Provenance.SourcePath + (item.Provenance.Page is { } page ? $" p.{page}" : "") + (item.Provenance.Section is { Length: > 0 } section ? $" § {section}" : "");
            var snippet = (item.Kind == ItemKind.Image ? item.DescribeImage() : item.Text).ReplaceLineEndings(" ");
            if (snippet.Length > 90)
            {
                snippet = snippet[..87] + "...";
            }

            var raw = hit.RawScore is { } r ? r.ToString("0.000", CultureInfo.InvariantCulture) : "  -  ";
            await output.WriteLineAsync($"  {hit.Rank,2}. {hit.Score:0.000} (cos {raw}) {(item.Kind == ItemKind.Image ? "image" : "text "),-5} {where}").ConfigureAwait(false);
            if (snippet.Length > 0)
            {
                await output.WriteLineAsync($"      {snippet}").ConfigureAwait(false);
            }

            // Whole, never cut with the snippet: the licence asks for it.
            if (item.Credit() is { } credit)
            {
                await output.WriteLineAsync($"      credit: {credit}").ConfigureAwait(false);
            }

            if (search.GradeAt(i) is { } grade)
            {
                await output.WriteLineAsync($"      LLM grade {grade.Grade}/{RerankOptions.MaxGrade}: {grade.Reason}").ConfigureAwait(false);
            }
        }
    }

    /// <summary>One line on how the rerank went, for the table outputs.</summary>
    internal static string RerankLine(RerankReport report) => report.Status switch
    {
        RerankStatus.Applied => string.Create(CultureInfo.InvariantCulture,
            $"  reranked by the LLM: {report.Graded} of {report.Candidates} candidates graded ({report.Elapsed.TotalMilliseconds:F0} ms)"),
        RerankStatus.Failed => $"  LLM rerank failed, search order kept: {report.Detail}",
        _ => $"  LLM rerank skipped: {report.Detail}",
    };
}
