using System.Text.Json;
using Mmrag.Testing;

namespace Mmrag.Cli.Tests;

public sealed class DatasetEvalCommandTests : IDisposable
{
    private readonly KarpathyFiles _files = new();

    [Fact]
    public async Task EvalDataset_TinyClipInAScratchKnowledgeBase_PrintsThePublishedFiguresBesideItsOwnAndRemovesTheScratch()
    {
        _files.WriteSplit(6);
        var scratchBefore = Scratches();

        var table = await CliRunner.RunAsync("eval", "--dataset", "flickr30k", "--images", _files.Images, "--annotations", _files.Annotations,
            "--model", Fixtures.TinyModel, "--offline");
        var json = await CliRunner.RunAsync("eval", "--dataset", "flickr30k", "--images", _files.Images, "--annotations", _files.Annotations,
            "--model", Fixtures.TinyModel, "--offline", "--limit", "4", "--format", "json");

        Assert.True(table.ExitCode == 0, table.Error + table.Output);
        Assert.Contains("flickr30k test split: 6 images, 30 captions", table.Output, StringComparison.Ordinal);
        Assert.Contains("LAION CLIP_benchmark, zero-shot, CLIP ViT-B/32", table.Output, StringComparison.Ordinal);
        Assert.Matches(@"text->image +recall@k \(its one image\) +\|  58\.8  83\.6  90\.0 \| +[\d.]+ +[\d.]+ 100\.0 \|", table.Output);
        Assert.Matches(@"image->text +hit@k \(any of its captions\) +\|  78\.9  94\.9  98\.2 \|", table.Output);
        Assert.Contains("note: 6 images, not the published 1000", table.Output, StringComparison.Ordinal);

        Assert.True(json.ExitCode == 0, json.Error);
        using var document = JsonDocument.Parse(json.Output);
        var root = document.RootElement;
        Assert.Equal(4, root.GetProperty("images").GetInt32());
        Assert.Equal(20, root.GetProperty("captions").GetInt32());
        Assert.Equal(6, root.GetProperty("split_images").GetInt32());
        Assert.False(root.GetProperty("comparable").GetBoolean());
        foreach (var set in new[] { "plain_cosine", "mmrag" })
        {
            foreach (var direction in new[] { "text->image", "image->text" })
            {
                foreach (var metric in new[] { "recall@1", "recall@5", "recall@10" })
                {
                    Assert.InRange(root.GetProperty(set).GetProperty(direction).GetProperty(metric).GetDouble(), 0, 1);
                }
            }
        }

        Assert.Equal(0.588, root.GetProperty("published").GetProperty("directions").GetProperty("text->image").GetProperty("recall@1").GetDouble());
        Assert.Equal(4, root.GetProperty("evaluation").GetProperty("directions").GetProperty("image->text").GetProperty("queries").GetInt32());
        Assert.Equal(scratchBefore, Scratches());
    }

    [Fact]
    public async Task EvalDataset_WithKb_KeepsTheKnowledgeBaseThere()
    {
        _files.WriteSplit(3);
        var kb = Path.Combine(_files.Root, "kb");

        var result = await CliRunner.RunAsync("eval", "--dataset", "flickr30k", "--images", _files.Images, "--annotations", _files.Annotations,
            "--model", Fixtures.TinyModel, "--offline", "--kb", kb);

        Assert.True(result.ExitCode == 0, result.Error + result.Output);
        Assert.Equal(15, Directory.GetFiles(Path.Combine(kb, "dataset-captions", "flickr30k"), "*.txt").Length);
        Assert.DoesNotContain("other document", result.Output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task EvalDataset_ImagePathLeavingTheImagesFolder_FailsWithOneLineNamingTheEntry()
    {
        _files.WriteSplitWith(3, KarpathyFiles.Entry(55, "../../etc/passwd", "test", ["Out."]));

        var result = await CliRunner.RunAsync("eval", "--dataset", "flickr30k", "--images", _files.Images, "--annotations", _files.Annotations,
            "--model", Fixtures.TinyModel, "--offline");

        Assert.Equal(1, result.ExitCode);
        Assert.StartsWith($"error: {_files.Annotations}: entry", result.Error, StringComparison.Ordinal);
        Assert.Contains("(imgid 55)", result.Error, StringComparison.Ordinal);
        Assert.Contains("refused", result.Error, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("give --queries FILE, or --dataset", "eval", "--kb", "x")]
    [InlineData("give --queries FILE, or --dataset", "eval", "--queries", "q.jsonl", "--dataset", "coco", "--images", "i", "--annotations", "a.json")]
    [InlineData("--dataset needs --images DIR and --annotations FILE", "eval", "--dataset", "coco", "--images", "i")]
    [InlineData("--images, --annotations and --limit go with --dataset", "eval", "--queries", "q.jsonl", "--limit", "3")]
    [InlineData("--limit must be at least 1", "eval", "--dataset", "coco", "--images", "i", "--annotations", "a.json", "--limit", "0")]
    [InlineData("'imagenet'", "eval", "--dataset", "imagenet", "--images", "i", "--annotations", "a.json")]
    [InlineData("--sweep does not apply to --dataset", "eval", "--dataset", "coco", "--images", "i", "--annotations", "a.json", "--sweep")]
    public async Task EvalDataset_WrongOptions_AreUsageErrors(string message, params string[] args)
    {
        var result = await CliRunner.RunAsync(args);

        Assert.NotEqual(0, result.ExitCode);
        Assert.Contains(message, result.Error + result.Output, StringComparison.Ordinal);
    }

    private static string[] Scratches() => [.. Directory.GetDirectories(Path.GetTempPath(), "mmrag-eval-flickr30k-*").Order(StringComparer.Ordinal)];

    public void Dispose() => _files.Dispose();
}
