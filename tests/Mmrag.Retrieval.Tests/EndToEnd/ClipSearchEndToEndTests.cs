using System.Numerics.Tensors;
using Mmrag.Knowledge;
using Mmrag.Retrieval.Scoring;
using Mmrag.Retrieval.Search;
using Mmrag.Retrieval.Tests.TestDoubles;
using Mmrag.Storage;
using Mmrag.Storage.ContractTests;

namespace Mmrag.Retrieval.Tests.EndToEnd;

/// <summary>
/// Every search direction over real fixture images and texts embedded by the tiny CLIP model. Its weights are random,
/// so "expected" means exact matches or the brute-force nearest item, never semantic relevance.
/// </summary>
public abstract class ClipSearchEndToEndTests : StoreBackedTests
{
    [Fact]
    public async Task TextToText_QueryEqualToAChunk_ReturnsThatChunkFirst()
    {
        var (_, searcher) = await CreateAsync();

        for (var i = 0; i < ClipKnowledge.ChunkTexts.Length; i++)
        {
            var result = await searcher.SearchAsync(new SearchRequest { Text = ClipKnowledge.ChunkTexts[i], Target = SearchTarget.Text, Threshold = 0 });

            Assert.Equal($"chunk-{i:00}", result.Hits[0].Item.Id);
            Assert.Equal(MatchedBy.Both, result.Hits[0].MatchedBy);
            Assert.Equal(1.0, result.Hits[0].RawScore!.Value, 4);
        }
    }

    [Fact]
    public async Task TextToImage_ChunkTextAsQuery_ReturnsTheNearestImageFirst()
    {
        var (knowledge, searcher) = await CreateAsync();

        foreach (var text in ClipKnowledge.ChunkTexts)
        {
            var query = await knowledge.EmbedTextAsync(text);
            var expected = knowledge.Images.MaxBy(i => TensorPrimitives.Dot(query, i.Vector.Span))!;

            var result = await searcher.SearchAsync(new SearchRequest { Text = text, Target = SearchTarget.Images, Threshold = 0, Hybrid = false });

            Assert.Equal(expected.Id, result.Hits[0].Item.Id);
            Assert.Equal(TensorPrimitives.Dot(query, expected.Vector.Span), result.Hits[0].RawScore!.Value, 4);
        }
    }

    [Fact]
    public async Task ImageToText_FixtureImageAsQuery_ReturnsTheNearestChunkFirst()
    {
        var (knowledge, searcher) = await CreateAsync();

        foreach (var content in knowledge.Contents.Values)
        {
            var query = await knowledge.EmbedImageAsync(content);
            var expected = knowledge.Chunks.MaxBy(c => TensorPrimitives.Dot(query, c.Vector.Span))!;

            var result = await searcher.SearchAsync(new SearchRequest { Image = content, Target = SearchTarget.Text, Threshold = 0 });

            Assert.Equal(expected.Id, result.Hits[0].Item.Id);
            Assert.Equal(QueryModality.Image, result.Hits[0].QueryModality);
        }
    }

    [Fact]
    public async Task ImageToImage_StoredImageAsQuery_IsSkippedByDefaultAndFirstWithIncludeSelf()
    {
        var (knowledge, searcher) = await CreateAsync();

        foreach (var (file, content) in knowledge.Contents)
        {
            var withSelf = await searcher.SearchAsync(new SearchRequest { Image = content, Target = SearchTarget.Images, IncludeSelf = true, Threshold = 0 });
            var withoutSelf = await searcher.SearchAsync(new SearchRequest { Image = content, Target = SearchTarget.Images, Threshold = 0 });

            Assert.Equal(file, withSelf.Hits[0].Item.Id);
            Assert.Equal(1.0, withSelf.Hits[0].RawScore!.Value, 3);
            Assert.NotEmpty(withoutSelf.Hits);
            Assert.DoesNotContain(withoutSelf.Hits, h => h.Item.Id == file);
        }
    }

    [Fact]
    public async Task Hybrid_WordOnlyInAnImageDescription_SurfacesThatImageFirst()
    {
        var (_, searcher) = await CreateAsync();

        var result = await searcher.SearchAsync(new SearchRequest { Text = "lighthouse", Target = SearchTarget.Images, K = 4, Threshold = 0 });

        Assert.Equal(ClipKnowledge.LighthouseImage, result.Hits[0].Item.Id);
        Assert.Equal(MatchedBy.Both, result.Hits[0].MatchedBy);
    }

    [Fact]
    public async Task Dedupe_FiveExactCopiesOfAnImage_YieldOneHit()
    {
        var knowledge = await ClipKnowledge.GetAsync();
        var photo = knowledge.Images.Single(i => i.Id == ClipKnowledge.LighthouseImage);
        var copies = Enumerable.Range(1, 4).Select(n => photo with { Id = $"copy-{n}", DocumentId = $"copies-{n}", Provenance = new Provenance($"/kb/copies/{n}.jpg") });
        var (_, searcher) = await CreateAsync(copies);
        var query = knowledge.Contents[ClipKnowledge.LighthouseImage];

        var deduped = await searcher.SearchAsync(new SearchRequest { Image = query, Target = SearchTarget.Images, IncludeSelf = true, Threshold = 0 });
        var all = await searcher.SearchAsync(new SearchRequest { Image = query, Target = SearchTarget.Images, IncludeSelf = true, Threshold = 0, Dedupe = DedupeOptions.None });

        Assert.Single(deduped.Hits, h => h.Item.ContentHash == photo.ContentHash);
        Assert.Equal(5, all.Hits.Count(h => h.Item.ContentHash == photo.ContentHash));
    }

    [Fact]
    public async Task Threshold_AboveEveryScore_ReturnsAnEmptyResult()
    {
        var (_, searcher) = await CreateAsync();

        var result = await searcher.SearchAsync(new SearchRequest { Text = "zebra crossing at midnight", Threshold = 0.999 });
        var unfiltered = await searcher.SearchAsync(new SearchRequest { Text = "zebra crossing at midnight", Threshold = 0 });

        Assert.Empty(result.Hits);
        Assert.Equal(10, unfiltered.Hits.Count);
    }

    [Fact]
    public async Task TargetAll_TextAndImageQuery_ReturnsBothKindsWithCalibratedScores()
    {
        var (knowledge, searcher) = await CreateAsync();

        var result = await searcher.SearchAsync(new SearchRequest
        {
            Text = ClipKnowledge.ChunkTexts[3],
            Image = knowledge.Contents["checker_225x224.png"],
            KImages = 3,
            KText = 3,
            Threshold = 0,
        });

        Assert.Equal(3, result.Hits.Count(h => h.Item.Kind == ItemKind.Image));
        Assert.Equal(3, result.Hits.Count(h => h.Item.Kind == ItemKind.TextChunk));
        Assert.Contains(result.Hits, h => h.Item.Id == "chunk-03");
        Assert.DoesNotContain(result.Hits, h => h.Item.Id == "checker_225x224.png");
        Assert.All(result.Hits, h => Assert.InRange(h.Score, 0, 1));
    }

    [Fact]
    public async Task Calibration_AfterASearch_IsStoredUnderTheModelId()
    {
        var (knowledge, searcher) = await CreateAsync();

        await searcher.SearchAsync(new SearchRequest { Text = "anything" });

        var calibration = await searcher.Calibrator.GetCalibrationAsync();
        Assert.Equal("calibration:tiny-clip", searcher.Calibrator.SettingKey);
        Assert.False(calibration.ImageToImage.IsPrior);
        Assert.False(calibration.TextToText.IsPrior);
        Assert.True(calibration.ImageToImage.Mean > calibration.TextToImage.Mean, "CLIP's image→image cosines sit above its text→image ones");
        Assert.Equal(knowledge.Images.Count(), calibration.ImageCount);
    }

    private async Task<(ClipKnowledge Knowledge, KnowledgeSearcher Searcher)> CreateAsync(IEnumerable<KnowledgeItem>? extra = null)
    {
        var knowledge = await ClipKnowledge.GetAsync();
        var store = CreateStore(knowledge.Space);
        Track(store);
        await knowledge.FillAsync(store, extra);
        return (knowledge, new KnowledgeSearcher(store, knowledge.TextGenerator, knowledge.ImageGenerator));
    }
}

/// <summary>The end-to-end suite over the in-memory test store.</summary>
public sealed class InMemoryClipSearchEndToEndTests : ClipSearchEndToEndTests
{
    protected override IKnowledgeStore CreateStore(EmbeddingSpace space) => new InMemoryKnowledgeStore(space);
}
