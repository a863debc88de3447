using System.Text.Json;
using System.Text.Json.Nodes;
using Mmrag.Hosting.Evaluation;
using Mmrag.Hosting.Wire;
using Mmrag.Testing;

namespace Mmrag.Hosting.Tests.Evaluation;

public sealed class DatasetEvaluatorTests : IDisposable
{
    private readonly KarpathyFiles _files = new();
    private readonly string _kb = Path.Combine(Path.GetTempPath(), "mmrag-dataset-kb-" + Guid.NewGuid().ToString("N"));

    [Fact]
    public async Task Evaluate_TinyClipOnASmallSplit_QueriesEveryCaptionAndEveryImageBesideThePublishedFigures()
    {
        _files.WriteSplit(8);
        var split = await KarpathyDataset.LoadAsync(_files.Annotations, _files.Images, "flickr30k");
        await using var kb = await OpenAsync(TestKnowledgeBases.TinyClip);
        var evaluator = new DatasetEvaluator(kb);

        var summary = await evaluator.IngestAsync(split);
        var report = await evaluator.EvaluateAsync(split);

        Assert.Equal(0, summary.Failed);
        Assert.Equal(8 + 40, summary.Files);
        var stats = await kb.Store.GetStatsAsync();
        Assert.Equal(8, stats.Images);
        Assert.Equal(40, stats.TextChunks);
        Assert.Equal(0, report.OtherDocuments);
        Assert.Equal([DatasetEvaluator.TextToImage, DatasetEvaluator.ImageToText], report.Evaluation.Directions.Keys);
        Assert.Equal(40, report.Evaluation.Directions[DatasetEvaluator.TextToImage].Queries);
        Assert.Equal(8, report.Evaluation.Directions[DatasetEvaluator.ImageToText].Queries);
        Assert.Equal(40, report.Evaluation.Baseline.Directions[DatasetEvaluator.TextToImage].Queries);
        Assert.Equal(48, report.Evaluation.MatchedQueries);
        Assert.Equal(0, report.Evaluation.NoMatchQueries);
        Assert.Empty(report.Evaluation.Sweep);

        // Eight images and k 10: every caption's image is in its top 10, so text->image recall@10 is 1 whatever the
        // model; five captions among forty texts are not, so image->text hit@10 is what the evaluator measured.
        Assert.Equal(1, report.PlainCosine.TextToImage.At10, 6);
        var toText = report.Evaluation.Baseline.Directions[DatasetEvaluator.ImageToText];
        Assert.Equal(new RecallAtK(toText.Hit1, toText.Hit5, toText.Hit10), report.PlainCosine.ImageToText);
        Assert.Equal(PublishedClipFigures.Flickr30k, report.Published);
        Assert.False(report.Comparable);

        using var json = JsonDocument.Parse(MmragJson.Serialize(DatasetEvaluationResponse.From(report, 10, hybrid: true)));
        var root = json.RootElement;
        Assert.Equal(0.588, root.GetProperty("published").GetProperty("directions").GetProperty("text->image").GetProperty("recall@1").GetDouble());
        Assert.Equal(0.982, root.GetProperty("published").GetProperty("directions").GetProperty("image->text").GetProperty("recall@10").GetDouble());
        Assert.Equal(1, root.GetProperty("plain_cosine").GetProperty("text->image").GetProperty("recall@10").GetDouble());
        Assert.StartsWith("hit@k", root.GetProperty("counted").GetProperty("image->text").GetString(), StringComparison.Ordinal);
        Assert.Equal(40, root.GetProperty("evaluation").GetProperty("directions").GetProperty("text->image").GetProperty("queries").GetInt32());
        Assert.Equal(40, root.GetProperty("captions").GetInt32());
    }

    [Fact]
    public async Task Ingest_KnowledgeBaseReusedWithASmallerLimit_PrunesTheStaleCaptionsAndCountsTheOtherImages()
    {
        _files.WriteSplit(6);
        await using var kb = await OpenAsync(TestKnowledgeBases.TinyClip);
        var evaluator = new DatasetEvaluator(kb);
        await evaluator.IngestAsync(await KarpathyDataset.LoadAsync(_files.Annotations, _files.Images, "flickr30k"));
        var smaller = await KarpathyDataset.LoadAsync(_files.Annotations, _files.Images, "flickr30k", new KarpathyReadOptions { Limit = 4 });

        var summary = await evaluator.IngestAsync(smaller);
        var report = await evaluator.EvaluateAsync(smaller);

        Assert.Equal(10, summary.Pruned);
        Assert.Equal(20, (await kb.Store.GetStatsAsync()).TextChunks);
        Assert.Equal(2, report.OtherDocuments);
        Assert.Equal(20, report.Evaluation.Directions[DatasetEvaluator.TextToImage].Queries);
    }

    [Fact]
    public async Task Evaluate_ShapesClipWithShapesDevDescriptionsAsCaptions_FindsImagesFarAboveChance()
    {
        // shapes/dev's 150 images, each with its description as its one caption: a trained model must find the
        // described image far more often than chance (10 / 150 at k 10), which it only can when queries and relevant
        // items are wired to the right files.
        var set = Path.GetFullPath(Path.Combine(ClipFixtureLocator.Directory, "..", "shapes", "dev", "images"));
        var entries = new JsonArray();
        var id = 0;
        foreach (var line in File.ReadLines(Path.Combine(set, "description.json")))
        {
            using var description = JsonDocument.Parse(line);
            var name = description.RootElement.GetProperty("image_path").GetString()!;
            File.Copy(Path.Combine(set, name), Path.Combine(_files.Images, name));
            entries.Add(KarpathyFiles.Entry(id++, name, "test", [description.RootElement.GetProperty("description").GetString()!]));
        }

        _files.Write(entries, "coco");
        var split = await KarpathyDataset.LoadAsync(_files.Annotations, _files.Images, "coco");
        await using var kb = await OpenAsync(TestKnowledgeBases.ShapesClip);
        var evaluator = new DatasetEvaluator(kb);
        await evaluator.IngestAsync(split);

        var report = await evaluator.EvaluateAsync(split);

        // Measured: plain cosine text->image 0.84 / 1.00 / 1.00, image->text (hit@k) 0.78 / 0.99 / 1.00; mmrag's default
        // search the same text->image and 0.78 / 0.97 / 0.98 image->text. Floors a little below.
        Assert.Equal(150, split.Images.Count);
        Assert.InRange(report.PlainCosine.TextToImage.At1, 0.75, 1);
        Assert.InRange(report.PlainCosine.TextToImage.At10, 0.95, 1);
        Assert.InRange(report.PlainCosine.ImageToText.At1, 0.7, 1);
        Assert.InRange(report.PlainCosine.ImageToText.At10, 0.95, 1);
        Assert.InRange(report.Mmrag.TextToImage.At1, 0.75, 1);
        Assert.InRange(report.Mmrag.ImageToText.At10, 0.9, 1);
    }

    private Task<MmragKnowledgeBase> OpenAsync(string model) =>
        MmragKnowledgeBase.OpenAsync(new MmragOptions { Folder = _kb, Model = model, CreateIfMissing = true, Offline = true });

    public void Dispose()
    {
        _files.Dispose();
        try
        {
            Directory.Delete(_kb, recursive: true);
        }
        catch (IOException)
        {
            // Best effort (or never created).
        }
    }
}
