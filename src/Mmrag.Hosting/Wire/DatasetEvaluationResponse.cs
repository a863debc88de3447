using System.Text.Json.Serialization;
using Mmrag.Hosting.Evaluation;

namespace Mmrag.Hosting.Wire;

/// <summary>
/// <c>mmrag eval --dataset … --format json</c>: recall@1/5/10 per direction as the published CLIP figures count them,
/// for plain cosine search (the published protocol) and mmrag's default search, beside those figures, and the full
/// evaluation.
/// </summary>
/// <param name="Dataset">The dataset (<c>flickr30k</c> or <c>coco</c>).</param>
/// <param name="Split">The split evaluated (<c>test</c>).</param>
/// <param name="Images">Images evaluated (image→text queries).</param>
/// <param name="Captions">Captions evaluated (text→image queries).</param>
/// <param name="SplitImages">Images of the split in the file (more than <paramref name="Images"/> under <c>--limit</c>).</param>
/// <param name="OtherDocuments">Documents in the knowledge base besides the split's.</param>
/// <param name="Comparable">Whether the figures compare with the published ones: the whole published test split, nothing else in the knowledge base.</param>
/// <param name="Counted">How each direction's recall@k is counted, as in the published figures.</param>
/// <param name="Published">The published figures.</param>
/// <param name="PlainCosine">Plain cosine search's figures.</param>
/// <param name="Mmrag">mmrag's default search's figures.</param>
/// <param name="Evaluation">The full evaluation (the <c>mmrag eval</c> JSON, without a sweep).</param>
public sealed record DatasetEvaluationResponse(
    string Dataset,
    string Split,
    int Images,
    int Captions,
    int SplitImages,
    int OtherDocuments,
    bool Comparable,
    IReadOnlyDictionary<string, string> Counted,
    DatasetPublishedResponse Published,
    IReadOnlyDictionary<string, DatasetRecallResponse> PlainCosine,
    IReadOnlyDictionary<string, DatasetRecallResponse> Mmrag,
    EvaluationResponse Evaluation)
{
    /// <summary>How text→image recall@k is counted.</summary>
    public const string TextToImageCounted = "recall@k: the caption's one image in the top k (the same as hit@k)";

    /// <summary>How image→text recall@k is counted.</summary>
    public const string ImageToTextCounted = "hit@k: any of the image's captions in the top k (the benchmark's recall@k)";

    /// <summary>The wire form of <paramref name="report"/>, evaluated with <paramref name="k"/> results per query and keyword fusion as <paramref name="hybrid"/>.</summary>
    public static DatasetEvaluationResponse From(DatasetEvaluationReport report, int k, bool hybrid)
    {
        ArgumentNullException.ThrowIfNull(report);
        return new DatasetEvaluationResponse(report.Split.Dataset, report.Split.Split, report.Split.Images.Count, report.Split.CaptionCount, report.Split.SplitSize,
            report.OtherDocuments, report.Comparable,
            new Dictionary<string, string>(StringComparer.Ordinal)
            {
                [DatasetEvaluator.TextToImage] = TextToImageCounted,
                [DatasetEvaluator.ImageToText] = ImageToTextCounted,
            },
            new DatasetPublishedResponse(PublishedClipFigures.Source, report.Published.TestImages, Directions(report.Published.TextToImage, report.Published.ImageToText)),
            Directions(report.PlainCosine.TextToImage, report.PlainCosine.ImageToText),
            Directions(report.Mmrag.TextToImage, report.Mmrag.ImageToText),
            EvaluationResponse.From(report.Evaluation, k, hybrid));
    }

    private static Dictionary<string, DatasetRecallResponse> Directions(RecallAtK textToImage, RecallAtK imageToText) => new(StringComparer.Ordinal)
    {
        [DatasetEvaluator.TextToImage] = DatasetRecallResponse.From(textToImage),
        [DatasetEvaluator.ImageToText] = DatasetRecallResponse.From(imageToText),
    };
}

/// <summary>The published figures of a dataset.</summary>
/// <param name="Source">Where they come from.</param>
/// <param name="TestImages">The test split they are for.</param>
/// <param name="Directions">Recall@1/5/10 per direction.</param>
public sealed record DatasetPublishedResponse(string Source, int TestImages, IReadOnlyDictionary<string, DatasetRecallResponse> Directions);

/// <summary>Recall at 1, 5 and 10, in [0, 1].</summary>
/// <param name="Recall1">At 1.</param>
/// <param name="Recall5">At 5.</param>
/// <param name="Recall10">At 10.</param>
public sealed record DatasetRecallResponse(
    [property: JsonPropertyName("recall@1")] double Recall1,
    [property: JsonPropertyName("recall@5")] double Recall5,
    [property: JsonPropertyName("recall@10")] double Recall10)
{
    internal static DatasetRecallResponse From(RecallAtK r) => new(EvaluationResponse.Round(r.At1), EvaluationResponse.Round(r.At5), EvaluationResponse.Round(r.At10));
}
