using System.Globalization;
using Mmrag.Ingestion.Pipeline;

namespace Mmrag.Hosting.Evaluation;

/// <summary>Recall at 1, 5 and 10, as a share in [0, 1].</summary>
/// <param name="At1">At 1.</param>
/// <param name="At5">At 5.</param>
/// <param name="At10">At 10.</param>
public sealed record RecallAtK(double At1, double At5, double At10);

/// <summary>
/// Published zero-shot retrieval figures of CLIP ViT-B/32 on a dataset's Karpathy test split, from LAION's
/// CLIP_benchmark: text→image recall@k (the one image of a caption in the top k) and image→text recall@k as that
/// benchmark counts it (any of the image's captions in the top k: hit@k in <see cref="RankingMetrics"/>' terms).
/// </summary>
/// <param name="Dataset">The dataset (<see cref="KarpathyDataset.Names"/>).</param>
/// <param name="TestImages">The size of the test split the figures are for.</param>
/// <param name="TextToImage">Text→image recall@1/5/10.</param>
/// <param name="ImageToText">Image→text recall@1/5/10 (any caption in the top k).</param>
public sealed record PublishedClipFigures(string Dataset, int TestImages, RecallAtK TextToImage, RecallAtK ImageToText)
{
    /// <summary>Where the figures come from.</summary>
    public const string Source = "LAION CLIP_benchmark, zero-shot, CLIP ViT-B/32";

    /// <summary>Flickr30k, 1k test images.</summary>
    public static PublishedClipFigures Flickr30k { get; } = new("flickr30k", 1000, new(0.588, 0.836, 0.900), new(0.789, 0.949, 0.982));

    /// <summary>MSCOCO, 5k test images.</summary>
    public static PublishedClipFigures Coco { get; } = new("coco", 5000, new(0.304, 0.559, 0.669), new(0.501, 0.750, 0.835));

    /// <summary>The figures of <paramref name="dataset"/>.</summary>
    /// <exception cref="ArgumentException">No figures for it.</exception>
    public static PublishedClipFigures For(string dataset) => dataset switch
    {
        "flickr30k" => Flickr30k,
        "coco" => Coco,
        _ => throw new ArgumentException($"No published figures for '{dataset}' (known: {string.Join(", ", KarpathyDataset.Names)}).", nameof(dataset)),
    };
}

/// <summary>What <see cref="DatasetEvaluator.EvaluateAsync"/> measured, beside the published figures.</summary>
/// <param name="Split">The images and captions evaluated.</param>
/// <param name="Evaluation">The full evaluation: directions <c>text-&gt;image</c> (one query per caption) and <c>image-&gt;text</c> (one per image).</param>
/// <param name="Published">The published figures of the dataset.</param>
/// <param name="OtherDocuments">Documents in the knowledge base besides the split's images and captions (candidates the published protocol does not have).</param>
public sealed record DatasetEvaluationReport(KarpathySplit Split, EvaluationReport Evaluation, PublishedClipFigures Published, int OtherDocuments)
{
    /// <summary>Whether the whole published test split was evaluated, so that the figures compare (a smaller pool is easier).</summary>
    public bool Comparable => Split.Images.Count == Published.TestImages && OtherDocuments == 0;

    /// <summary>Plain cosine search's figures, as the published ones count them (the published protocol).</summary>
    public (RecallAtK TextToImage, RecallAtK ImageToText) PlainCosine => AsPublished(Evaluation.Baseline.Directions);

    /// <summary>mmrag's default search's figures, counted the same way.</summary>
    public (RecallAtK TextToImage, RecallAtK ImageToText) Mmrag => AsPublished(Evaluation.Directions);

    private static (RecallAtK, RecallAtK) AsPublished(IReadOnlyDictionary<string, RankingSummary> directions)
    {
        // One relevant image per caption: recall@k and hit@k are the same. Five captions per image: the benchmark
        // counts a hit when any of them is in the top k, which is hit@k, not recall@k (the share of the five found).
        var toImage = directions.GetValueOrDefault(DatasetEvaluator.TextToImage);
        var toText = directions.GetValueOrDefault(DatasetEvaluator.ImageToText);
        return (toImage is null ? new RecallAtK(0, 0, 0) : new RecallAtK(toImage.Recall1, toImage.Recall5, toImage.Recall10),
            toText is null ? new RecallAtK(0, 0, 0) : new RecallAtK(toText.Hit1, toText.Hit5, toText.Hit10));
    }
}

/// <summary>
/// Reproduces CLIP's published retrieval figures with mmrag: ingests a Karpathy split (<see cref="KarpathyDataset"/>)
/// into a knowledge base, each image as itself and each caption as a text file of its own (so that a caption is one
/// retrievable text item, named after its image: <c>dataset-captions/&lt;dataset&gt;/&lt;imgid&gt;-&lt;image&gt;.&lt;n&gt;.txt</c>), then
/// evaluates every caption as a text→image query (relevant: its image) and every image as an image→text query
/// (relevant: its captions) with <see cref="RetrievalEvaluator"/>: plain cosine search, the published protocol, and
/// mmrag's default search beside it. Not thread-safe; owns nothing.
/// </summary>
public sealed class DatasetEvaluator(MmragKnowledgeBase knowledgeBase)
{
    /// <summary>The folder, inside the knowledge base's, holding the caption files.</summary>
    public const string CaptionsFolderName = "dataset-captions";

    /// <summary>The direction of the caption queries.</summary>
    public const string TextToImage = "text->image";

    /// <summary>The direction of the image queries.</summary>
    public const string ImageToText = "image->text";

    private readonly MmragKnowledgeBase _knowledgeBase = knowledgeBase ?? throw new ArgumentNullException(nameof(knowledgeBase));

    /// <summary>Where the captions of <paramref name="dataset"/> are written.</summary>
    public string CaptionsFolder(string dataset) => Path.Combine(_knowledgeBase.Folder, CaptionsFolderName, dataset);

    /// <summary>
    /// Ingests <paramref name="split"/>'s images and captions. The caption files are written afresh each time and
    /// pruned with their folder, so a knowledge base reused with another split or limit keeps no stale captions;
    /// unchanged files cost nothing to ingest again (content hashes).
    /// </summary>
    /// <exception cref="InvalidDataException">An image or caption could not be ingested (the message names the first ones).</exception>
    public async Task<IngestionSummary> IngestAsync(KarpathySplit split, IProgress<IngestionProgress>? progress = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(split);
        var folder = CaptionsFolder(split.Dataset);
        if (Directory.Exists(folder))
        {
            Directory.Delete(folder, recursive: true);
        }

        Directory.CreateDirectory(folder);
        foreach (var image in split.Images)
        {
            for (var i = 0; i < image.Captions.Count; i++)
            {
                await File.WriteAllTextAsync(CaptionPath(folder, image, i), image.Captions[i], cancellationToken).ConfigureAwait(false);
            }
        }

        var summary = await _knowledgeBase.CreatePipeline().IngestAsync([folder, .. split.Images.Select(static i => i.ImagePath)],
            _knowledgeBase.CreateIngestionOptions(static o => o with { Prune = true }), progress, cancellationToken).ConfigureAwait(false);
        if (summary.Failed > 0)
        {
            var failures = summary.Failures.Except(summary.Warnings).Take(3).Select(static f => $"{f.SourcePath}: {f.Reason}");
            throw new InvalidDataException(string.Create(CultureInfo.InvariantCulture,
                $"{summary.Failed} file(s) of the {split.Dataset} {split.Split} split could not be ingested, so the figures would not compare: {string.Join("; ", failures)}"));
        }

        return summary;
    }

    /// <summary>
    /// Evaluates <paramref name="split"/>, ingested by <see cref="IngestAsync"/>: its captions as text→image queries,
    /// its images as image→text queries. No sweep is run (every query has relevant items); k is at least 10.
    /// </summary>
    public async Task<DatasetEvaluationReport> EvaluateAsync(KarpathySplit split, EvaluationOptions? options = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(split);
        options ??= new EvaluationOptions();
        var folder = CaptionsFolder(split.Dataset);
        var queries = new List<EvaluationQuery>(split.CaptionCount + split.Images.Count);
        foreach (var image in split.Images)
        {
            for (var i = 0; i < image.Captions.Count; i++)
            {
                queries.Add(new EvaluationQuery(string.Create(CultureInfo.InvariantCulture, $"{image.ImageId}.{i + 1}"), image.Captions[i], null,
                    Retrieval.Search.SearchTarget.Images, [image.ImagePath], folder));
            }
        }

        foreach (var image in split.Images)
        {
            queries.Add(new EvaluationQuery(image.ImageId.ToString(CultureInfo.InvariantCulture), null, image.ImagePath, Retrieval.Search.SearchTarget.Text,
                [.. Enumerable.Range(0, image.Captions.Count).Select(i => CaptionPath(folder, image, i))], folder));
        }

        var report = await new RetrievalEvaluator(_knowledgeBase)
            .EvaluateAsync(queries, options with { K = Math.Max(options.K, 10), SweepThresholds = [] }, cancellationToken).ConfigureAwait(false);
        var stats = await _knowledgeBase.Store.GetStatsAsync(cancellationToken).ConfigureAwait(false);
        return new DatasetEvaluationReport(split, report, PublishedClipFigures.For(split.Dataset),
            Math.Max(0, stats.Documents - split.Images.Count - split.CaptionCount));
    }

    private static string CaptionPath(string folder, KarpathyImage image, int index) =>
        Path.Combine(folder, string.Create(CultureInfo.InvariantCulture, $"{image.ImageId}-{Path.GetFileNameWithoutExtension(image.ImagePath)}.{index + 1}.txt"));
}
