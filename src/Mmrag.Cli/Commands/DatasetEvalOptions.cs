using System.CommandLine;
using System.CommandLine.Parsing;
using System.Globalization;
using Mmrag.Hosting;
using Mmrag.Hosting.Evaluation;
using Mmrag.Hosting.Wire;

namespace Mmrag.Cli.Commands;

/// <summary>
/// <c>mmrag eval --dataset flickr30k|coco --images DIR --annotations FILE [--kb DIR] [--limit N]</c>: reproduces
/// CLIP's published retrieval figures on a Karpathy test split (<see cref="DatasetEvaluator"/>), in a scratch
/// knowledge base (a temporary folder, removed afterwards, unless --kb names one to keep).
/// </summary>
internal sealed class DatasetEvalOptions
{
    public Option<string?> Dataset { get; } = new("--dataset")
    {
        Description = "Reproduce CLIP's published retrieval figures on a Karpathy test split: flickr30k (1k images) or coco (5k); needs --images and --annotations.",
    };

    public Option<string?> Images { get; } = new("--images") { Description = "With --dataset: the folder holding the dataset's images." };

    public Option<string?> Annotations { get; } = new("--annotations")
    {
        Description = "With --dataset: the Karpathy-split captions file (dataset_flickr30k.json / dataset_coco.json).",
    };

    public Option<int?> Limit { get; } = new("--limit") { Description = "With --dataset: evaluate only the first N test images (a quick run; figures then do not compare)." };

    public void AddTo(Command command)
    {
        Dataset.AcceptOnlyFromAmong([.. KarpathyDataset.Names]);
        Limit.Validators.Add(static result =>
        {
            if (result.GetValueOrDefault<int?>() is < 1)
            {
                result.AddError("--limit must be at least 1.");
            }
        });
        command.Options.Add(Dataset);
        command.Options.Add(Images);
        command.Options.Add(Annotations);
        command.Options.Add(Limit);
    }

    /// <summary>Exactly one of --queries and --dataset; --images and --annotations go with --dataset.</summary>
    public void Validate(CommandResult result, Option<string> queries)
    {
        var dataset = result.GetResult(Dataset) is not null;
        if (dataset == (result.GetResult(queries) is not null))
        {
            result.AddError("give --queries FILE, or --dataset flickr30k|coco with --images and --annotations.");
        }
        else if (dataset && (result.GetResult(Images) is null || result.GetResult(Annotations) is null))
        {
            result.AddError("--dataset needs --images DIR and --annotations FILE.");
        }
        else if (dataset && result.Children.OfType<OptionResult>().FirstOrDefault(static o => !o.Implicit && ScoringOptions.Contains(o.Option.Name)) is { } scoring)
        {
            result.AddError($"{scoring.Option.Name} does not apply to --dataset, which measures the published protocol (plain cosine) and mmrag's default search.");
        }
        else if (!dataset && (result.GetResult(Images) ?? result.GetResult(Annotations) ?? (SymbolResult?)result.GetResult(Limit)) is not null)
        {
            result.AddError("--images, --annotations and --limit go with --dataset.");
        }
    }

    /// <summary>The options of <c>mmrag eval</c> that change mmrag's search or the threshold report, which a dataset run does not use.</summary>
    private static readonly string[] ScoringOptions = ["--threshold", "--sweep", "--no-hybrid", "--similarity-cut", "--rerank", "--rerank-timeout"];

    public bool IsGiven(ParseResult parseResult) => parseResult.GetResult(Dataset) is not null;

    /// <summary>Reads the split, ingests it into the scratch knowledge base with a progress display, evaluates it and prints the comparison.</summary>
    public async Task<int> RunAsync(ParseResult parseResult, KnowledgeBaseOptions kb, EvaluationOptions options, bool json, CancellationToken cancellationToken)
    {
        if (parseResult.GetResult(kb.Connection) is not null || parseResult.GetValue(kb.Store) == "postgres")
        {
            await parseResult.InvocationConfiguration.Error.WriteLineAsync("error: --dataset builds an embedded scratch knowledge base; --store postgres and --connection do not apply.")
                .ConfigureAwait(false);
            return CliErrors.Failure;
        }

        var dataset = parseResult.GetValue(Dataset)!;
        var split = await KarpathyDataset.LoadAsync(parseResult.GetValue(Annotations)!, parseResult.GetValue(Images)!, dataset,
            new KarpathyReadOptions { Limit = parseResult.GetValue(Limit) }, cancellationToken).ConfigureAwait(false);

        var mmragOptions = kb.ToOptions(parseResult, create: true, withModel: true);
        mmragOptions.PostgresConnection = null;
        var scratch = parseResult.GetResult(kb.KnowledgeBase) is null ? Path.Combine(Path.GetTempPath(), "mmrag-eval-" + dataset + "-" + Guid.NewGuid().ToString("N")) : null;
        mmragOptions.Folder = scratch ?? mmragOptions.Folder;
        var error = parseResult.InvocationConfiguration.Error;
        try
        {
            using var download = DownloadProgress.Create(error);
            mmragOptions.DownloadProgress = download;
            await using var session = await MmragKnowledgeBase.OpenAsync(mmragOptions, cancellationToken).ConfigureAwait(false);
            var evaluator = new DatasetEvaluator(session);
            await error.WriteLineAsync(string.Create(CultureInfo.InvariantCulture,
                $"{dataset} {split.Split} split: {split.Images.Count} images, {split.CaptionCount} captions; ingesting into {session.Label}")).ConfigureAwait(false);
            await IngestionDisplay.RunAsync(error, progress => evaluator.IngestAsync(split, progress, cancellationToken)).ConfigureAwait(false);
            await error.WriteLineAsync(string.Create(CultureInfo.InvariantCulture,
                $"evaluating {split.CaptionCount} text->image and {split.Images.Count} image->text queries…")).ConfigureAwait(false);
            var report = await evaluator.EvaluateAsync(split, options, cancellationToken).ConfigureAwait(false);
            var output = parseResult.InvocationConfiguration.Output;
            await output.WriteAsync(json
                ? MmragJson.Serialize(DatasetEvaluationResponse.From(report, Math.Max(options.K, 10), options.Hybrid)) + Environment.NewLine
                : FormatTable(report)).ConfigureAwait(false);
            return 0;
        }
        finally
        {
            if (scratch is not null && Directory.Exists(scratch))
            {
                Directory.Delete(scratch, recursive: true);
            }
        }
    }

    internal static string FormatTable(DatasetEvaluationReport report)
    {
        var c = CultureInfo.InvariantCulture;
        var text = new System.Text.StringBuilder();
        var split = report.Split;
        var published = report.Published;
        text.AppendLine(c, $"{split.Dataset} {split.Split} split: {split.Images.Count} images, {split.CaptionCount} captions ({split.CaptionCount} text->image queries, {split.Images.Count} image->text queries)");
        text.AppendLine(c, $"published: {PublishedClipFigures.Source} ({published.TestImages} test images); recall@k in %");
        text.AppendLine("                                         | published         | plain cosine      | mmrag");
        text.AppendLine("direction    counted as                  |   R@1   R@5  R@10 |   R@1   R@5  R@10 |   R@1   R@5  R@10");
        Row("text->image", "recall@k (its one image)", published.TextToImage, report.PlainCosine.TextToImage, report.Mmrag.TextToImage);
        Row("image->text", "hit@k (any of its captions)", published.ImageToText, report.PlainCosine.ImageToText, report.Mmrag.ImageToText);
        text.AppendLine("plain cosine is the published protocol (exact cosine search); mmrag is its default search (fusion, calibration, dedupe; no threshold).");
        text.AppendLine("The benchmark counts image->text as found when any of the image's captions is in the top k: hit@k in mmrag eval's terms.");
        text.AppendLine("text->image has one relevant image, so its recall@k and hit@k agree. All metrics: add --format json.");
        if (split.Images.Count != published.TestImages)
        {
            text.AppendLine(c, $"note: {split.Images.Count} images, not the published {published.TestImages}{(split.SplitSize != split.Images.Count ? " (--limit)" : "")}: a smaller pool is easier, so the figures do not compare.");
        }

        if (report.OtherDocuments > 0)
        {
            text.AppendLine(c, $"note: the knowledge base holds {report.OtherDocuments} other document(s), candidates the published protocol does not have: use a fresh --kb.");
        }

        return text.ToString();

        void Row(string direction, string counted, RecallAtK p, RecallAtK cosine, RecallAtK mmrag) =>
            text.AppendLine(c, $"{direction,-12} {counted,-27} | {Percent(p)} | {Percent(cosine)} | {Percent(mmrag)}");

        string Percent(RecallAtK r) => string.Create(c, $"{r.At1 * 100,5:0.0} {r.At5 * 100,5:0.0} {r.At10 * 100,5:0.0}");
    }
}
