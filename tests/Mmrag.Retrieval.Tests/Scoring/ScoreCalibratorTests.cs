using System.Numerics.Tensors;
using System.Text.Json;
using Mmrag.Knowledge;
using Mmrag.Retrieval.Scoring;
using Mmrag.Retrieval.Search;
using Mmrag.Retrieval.Tests.TestDoubles;
using Mmrag.Storage;
using Mmrag.Storage.ContractTests;

namespace Mmrag.Retrieval.Tests.Scoring;

/// <summary>Score calibration over a store backend.</summary>
public abstract class ScoreCalibratorTests : StoreBackedTests
{
    private static readonly ScoreCalibrationOptions AlwaysRecheck = new() { RecheckInterval = TimeSpan.Zero };

    [Fact]
    public async Task GetCalibrationAsync_ClipLikeGeometry_PutsMatchesAboveHalfAndBackgroundBelow()
    {
        var world = await CreateClipLikeWorldAsync();
        var calibration = await new ScoreCalibrator(world.Knowledge.Store).GetCalibrationAsync();
        var textQuery = world.Text(world.Concepts[7]);
        var nearDuplicate = world.Vectors.Near(world.Images[7], 0.1);

        var textToImage = SyntheticVectors.Cosine(textQuery, world.Images[7]);
        var imageToImage = SyntheticVectors.Cosine(nearDuplicate, world.Images[7]);
        var backgroundImageToImage = Pairs(world.Images, world.Images).Average();

        // Raw cosines are not comparable: the best text→image match scores below an average pair of unrelated images.
        Assert.True(textToImage < backgroundImageToImage, $"text→image match {textToImage:F3}, unrelated images {backgroundImageToImage:F3}");
        Assert.InRange(calibration.Calibrate(QueryModality.Text, ItemKind.Image, textToImage), 0.5, 1.0);
        Assert.InRange(calibration.Calibrate(QueryModality.Image, ItemKind.Image, imageToImage), 0.5, 1.0);
        var background = Pairs(world.Images, world.Images).Select(c => calibration.Calibrate(QueryModality.Image, ItemKind.Image, c))
            .Concat(Pairs(world.Texts, world.Images).Select(c => calibration.Calibrate(QueryModality.Text, ItemKind.Image, c)))
            .Concat(Pairs(world.Texts, world.Texts).Select(c => calibration.Calibrate(QueryModality.Text, ItemKind.TextChunk, c)))
            .ToArray();
        Assert.True(background.Count(s => s < 0.5) >= 0.95 * background.Length, $"{background.Count(s => s >= 0.5)} of {background.Length} unrelated pairs reach 0.5");
        Assert.True(background.Average() < 0.15, $"mean calibrated background {background.Average():F3}");
    }

    [Fact]
    public async Task SearchAsync_ClipLikeGeometry_NearDuplicateAndCrossModalMatchBothPassTheDefaultThreshold()
    {
        var world = await CreateClipLikeWorldAsync();
        var searcher = world.Knowledge.Searcher();
        var text = world.Knowledge.TextQuery("concept seven", world.Text(world.Concepts[7]));
        var image = world.Knowledge.ImageQuery("concept seven", world.Vectors.Near(world.Images[7], 0.1));

        var byText = await searcher.SearchAsync(new SearchRequest { Text = text, Target = SearchTarget.Images });
        var byImage = await searcher.SearchAsync(new SearchRequest { Image = image, Target = SearchTarget.Images });

        Assert.Equal("image-07", byText.Hits[0].Item.Id);
        Assert.Equal("image-07", byImage.Hits[0].Item.Id);
        Assert.True(byText.Hits[0].RawScore < Pairs(world.Images, world.Images).Average()); // raw: below unrelated image pairs
        Assert.InRange(byText.Hits[0].Score, 0.5, 1.0);
        Assert.InRange(byImage.Hits[0].Score, 0.5, 1.0);
    }

    [Fact]
    public async Task GetCalibrationAsync_Statistics_MatchBruteForceOverAllPairs()
    {
        var kb = NewKnowledge();
        var vectors = new SyntheticVectors(kb.Dimension, seed: 3);
        var texts = Enumerable.Range(0, 12).Select(i => kb.AddText($"t{i:00}", $"text {i}", vectors.Unit()).Vector.ToArray()).ToArray();
        var images = Enumerable.Range(0, 9).Select(_ => vectors.Unit()).ToArray();
        for (var i = 0; i < images.Length; i++)
        {
            kb.AddImage($"i{i:00}", images[i]);
        }

        await kb.CommitAsync();

        var calibration = await new ScoreCalibrator(kb.Store).GetCalibrationAsync();

        AssertDistribution(Pairs(texts, texts), calibration.TextToText);
        AssertDistribution(Pairs(texts, images), calibration.TextToImage);
        AssertDistribution(Pairs(images, images), calibration.ImageToImage);
        Assert.Equal(calibration.TextToImage, calibration.ImageToText);
        Assert.Equal(12, calibration.TextChunkCount);
        Assert.Equal(9, calibration.ImageCount);
    }

    [Fact]
    public async Task GetCalibrationAsync_ExactCopies_AreLeftOutOfTheBackground()
    {
        var kb = NewKnowledge();
        var vectors = new SyntheticVectors(kb.Dimension, seed: 4);
        var distinct = Enumerable.Range(0, 10).Select(_ => vectors.Unit()).ToArray();
        for (var i = 0; i < distinct.Length; i++)
        {
            kb.AddImage($"i{i:00}", distinct[i]);
        }

        for (var i = 0; i < 5; i++)
        {
            kb.AddImage($"copy-{i}", distinct[0], document: $"copies-{i}", bytes: "image bytes of i00"u8.ToArray());
        }

        await kb.CommitAsync();

        var calibration = await new ScoreCalibrator(kb.Store).GetCalibrationAsync();

        // All 15 items; every pair of items with the same content (the copies and i00) is skipped.
        var all = distinct.Concat(Enumerable.Repeat(distinct[0], 5)).ToArray();
        var cosines = new List<double>();
        for (var a = 0; a < all.Length; a++)
        {
            for (var b = 0; b < all.Length; b++)
            {
                var same = a == b || ((a == 0 || a >= 10) && (b == 0 || b >= 10));
                if (!same)
                {
                    cosines.Add(TensorPrimitives.Dot(all[a], all[b]));
                }
            }
        }

        AssertDistribution(cosines, calibration.ImageToImage);
    }

    [Fact]
    public async Task GetCalibrationAsync_TooFewItemsOfAKind_UsesTheDocumentedPrior()
    {
        var kb = NewKnowledge();
        var vectors = new SyntheticVectors(kb.Dimension, seed: 5);
        for (var i = 0; i < 12; i++)
        {
            kb.AddText($"t{i:00}", $"text {i}", vectors.Unit());
        }

        for (var i = 0; i < 7; i++)
        {
            kb.AddImage($"i{i:00}", vectors.Unit());
        }

        await kb.CommitAsync();

        var calibration = await new ScoreCalibrator(kb.Store).GetCalibrationAsync();

        Assert.False(calibration.TextToText.IsPrior);
        Assert.Equal(new CosineDistribution(0, 0.1, 0, IsPrior: true), calibration.ImageToImage);
        Assert.True(calibration.TextToImage.IsPrior);
        Assert.True(calibration.ImageToText.IsPrior);
    }

    [Fact]
    public async Task GetCalibrationAsync_EmptyKnowledgeBase_UsesPriorsEverywhere()
    {
        var kb = NewKnowledge();

        var calibration = await new ScoreCalibrator(kb.Store).GetCalibrationAsync();

        Assert.All([calibration.TextToText, calibration.TextToImage, calibration.ImageToImage, calibration.ImageToText], d => Assert.True(d.IsPrior));
        Assert.Equal(0, kb.Store.SampleCalls);
    }

    [Fact]
    public async Task GetCalibrationAsync_CalledAgain_UsesTheStatisticsInMemory()
    {
        var kb = await CreateSmallWorldAsync();
        var calibrator = new ScoreCalibrator(kb.Store);

        var first = await calibrator.GetCalibrationAsync();
        var second = await calibrator.GetCalibrationAsync();

        Assert.Same(first, second);
        Assert.Equal(2, kb.Store.SampleCalls);
    }

    [Fact]
    public async Task GetCalibrationAsync_NewCalibratorOverTheSameStore_ReadsTheStoredStatistics()
    {
        var kb = await CreateSmallWorldAsync();
        var first = await new ScoreCalibrator(kb.Store).GetCalibrationAsync();

        var calibrator = new ScoreCalibrator(kb.Store);
        var second = await calibrator.GetCalibrationAsync();

        Assert.Equal(2, kb.Store.SampleCalls);
        Assert.Equal("calibration:synthetic-64", calibrator.SettingKey);
        using var stored = JsonDocument.Parse((await kb.Store.GetSettingAsync(calibrator.SettingKey))!);
        Assert.Equal(10, stored.RootElement.GetProperty("images").GetInt32());
        Assert.Equal(first.ImageToImage, second.ImageToImage);
        Assert.Equal(first.TextToText, second.TextToText);
        Assert.Equal(first.TextToImage, second.TextToImage);
    }

    [Fact]
    public async Task GetCalibrationAsync_CountsChangedByMoreThanTwentyPercent_Recomputes()
    {
        var kb = await CreateSmallWorldAsync();
        var calibrator = new ScoreCalibrator(kb.Store, AlwaysRecheck);
        await calibrator.GetCalibrationAsync();
        var vectors = new SyntheticVectors(kb.Dimension, seed: 99);

        kb.AddImage("new-1", vectors.Unit());
        kb.AddImage("new-2", vectors.Unit());
        await kb.CommitAsync();
        var atTwentyPercent = await calibrator.GetCalibrationAsync();
        var samplesAtTwentyPercent = kb.Store.SampleCalls;
        kb.AddImage("new-3", vectors.Unit());
        await kb.CommitAsync();
        var pastTwentyPercent = await calibrator.GetCalibrationAsync();

        Assert.Equal(2, samplesAtTwentyPercent);
        Assert.Equal(10, atTwentyPercent.ImageCount);
        Assert.Equal(4, kb.Store.SampleCalls);
        Assert.Equal(13, pastTwentyPercent.ImageCount);
    }

    [Fact]
    public async Task GetCalibrationAsync_WithinTheRecheckInterval_DoesNotAskTheStore()
    {
        var kb = await CreateSmallWorldAsync();
        var clock = new ManualTimeProvider();
        var calibrator = new ScoreCalibrator(kb.Store, new ScoreCalibrationOptions { RecheckInterval = TimeSpan.FromMinutes(1) }, clock);
        await calibrator.GetCalibrationAsync();
        var vectors = new SyntheticVectors(kb.Dimension, seed: 98);
        for (var i = 0; i < 10; i++)
        {
            kb.AddImage($"new-{i}", vectors.Unit());
        }

        await kb.CommitAsync();
        var statsCalls = kb.Store.StatsCalls;

        clock.Advance(TimeSpan.FromSeconds(59));
        var cached = await calibrator.GetCalibrationAsync();
        var statsCallsWithinInterval = kb.Store.StatsCalls;
        clock.Advance(TimeSpan.FromSeconds(2));
        var recomputed = await calibrator.GetCalibrationAsync();

        Assert.Equal(statsCalls, statsCallsWithinInterval);
        Assert.Equal(10, cached.ImageCount);
        Assert.Equal(20, recomputed.ImageCount);
    }

    [Fact]
    public async Task RecomputeAsync_UnchangedKnowledgeBase_SamplesAgain()
    {
        var kb = await CreateSmallWorldAsync();
        var calibrator = new ScoreCalibrator(kb.Store);
        await calibrator.GetCalibrationAsync();

        await calibrator.RecomputeAsync();

        Assert.Equal(4, kb.Store.SampleCalls);
    }

    [Fact]
    public async Task GetCalibrationAsync_DamagedStoredSetting_IsRecomputedAndOverwritten()
    {
        var kb = await CreateSmallWorldAsync();
        var calibrator = new ScoreCalibrator(kb.Store);
        await kb.Store.SetSettingAsync(calibrator.SettingKey, "{ not json");

        var calibration = await calibrator.GetCalibrationAsync();

        Assert.False(calibration.ImageToImage.IsPrior);
        Assert.Equal(2, kb.Store.SampleCalls);
        using var stored = JsonDocument.Parse((await kb.Store.GetSettingAsync(calibrator.SettingKey))!);
        Assert.Equal(2, stored.RootElement.GetProperty("version").GetInt32());
    }

    [Fact]
    public async Task GetCalibrationAsync_StoredWithOtherSamplingSettings_Recomputes()
    {
        var kb = await CreateSmallWorldAsync();
        await new ScoreCalibrator(kb.Store).GetCalibrationAsync();

        await new ScoreCalibrator(kb.Store, new ScoreCalibrationOptions { Seed = 7 }).GetCalibrationAsync();

        Assert.Equal(4, kb.Store.SampleCalls);
    }

    [Fact]
    public async Task GetCalibrationAsync_StoreCannotWriteSettings_StillCalibrates()
    {
        var kb = await CreateSmallWorldAsync();
        kb.Store.FailSettingWrites = true;

        var calibration = await new ScoreCalibrator(kb.Store).GetCalibrationAsync();

        Assert.False(calibration.TextToText.IsPrior);
    }

    [Fact]
    public async Task GetCalibrationAsync_Cancelled_Throws()
    {
        var kb = await CreateSmallWorldAsync();
        using var cancellation = new CancellationTokenSource();
        await cancellation.CancelAsync();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => new ScoreCalibrator(kb.Store).GetCalibrationAsync(cancellation.Token));
    }

    [Fact]
    public async Task GetCalibrationAsync_DescriptionsEmbedNearTheirOwnImages_TrustsCrossModalScoresFully()
    {
        var world = await CreateClipLikeWorldAsync(describe: true);
        for (var i = 0; i < world.Concepts.Length; i++)
        {
            world.Knowledge.TextGenerator.Set(Description(i), world.Text(world.Concepts[i]));
        }

        var calibration = await new ScoreCalibrator(world.Knowledge.Store, textEmbedder: world.Knowledge.TextGenerator).GetCalibrationAsync();

        Assert.NotNull(calibration.Alignment);
        Assert.Equal(world.Concepts.Length, calibration.Alignment.Pairs);
        Assert.InRange(calibration.Alignment.Auroc, 0.95, 1.0);
        Assert.Equal(1.0, calibration.CrossModalReliability);
        Assert.InRange(calibration.Calibrate(QueryModality.Text, ItemKind.Image, SyntheticVectors.Cosine(world.Text(world.Concepts[7]), world.Images[7])), 0.5, 1.0);
    }

    [Fact]
    public async Task GetCalibrationAsync_ModelThatDoesNotAlignDescriptionsWithImages_GivesNoConfidentCrossModalScore()
    {
        // The text "model" embeds each description to a random vector, as a model with random weights would: the
        // background z-scores alone still let a query's best image stand out by chance.
        var world = await CreateClipLikeWorldAsync(describe: true);
        var plain = await new ScoreCalibrator(world.Knowledge.Store).GetCalibrationAsync();
        var calibration = await new ScoreCalibrator(world.Knowledge.Store, textEmbedder: world.Knowledge.TextGenerator).GetCalibrationAsync();

        Assert.NotNull(calibration.Alignment);
        Assert.InRange(calibration.Alignment.Auroc, 0.35, 0.65);
        Assert.InRange(calibration.CrossModalReliability, 0.0, 0.5);
        var match = SyntheticVectors.Cosine(world.Text(world.Concepts[7]), world.Images[7]);
        Assert.InRange(plain.Calibrate(QueryModality.Text, ItemKind.Image, match), 0.5, 1.0);
        Assert.InRange(calibration.Calibrate(QueryModality.Text, ItemKind.Image, match), 0.0, 0.5);
        Assert.InRange(calibration.Calibrate(QueryModality.Image, ItemKind.TextChunk, match), 0.0, 0.5);
        // Same-modality scores do not depend on the towers agreeing.
        var nearDuplicate = SyntheticVectors.Cosine(world.Vectors.Near(world.Images[7], 0.1), world.Images[7]);
        Assert.Equal(plain.Calibrate(QueryModality.Image, ItemKind.Image, nearDuplicate), calibration.Calibrate(QueryModality.Image, ItemKind.Image, nearDuplicate));
    }

    [Fact]
    public async Task GetCalibrationAsync_NewCalibratorOverTheSameStore_ReadsTheStoredAlignment()
    {
        var world = await CreateClipLikeWorldAsync(describe: true);
        var first = await new ScoreCalibrator(world.Knowledge.Store, textEmbedder: world.Knowledge.TextGenerator).GetCalibrationAsync();
        var counting = new CountingTextGenerator(world.Knowledge.TextGenerator);

        var second = await new ScoreCalibrator(world.Knowledge.Store, textEmbedder: counting).GetCalibrationAsync();

        Assert.Equal(first.Alignment, second.Alignment);
        Assert.Equal(first.CrossModalReliability, second.CrossModalReliability);
        Assert.Equal(0, counting.Calls);
    }

    [Fact]
    public async Task GetCalibrationAsync_CopiesOfAnImageWithOtherDescriptions_MeasureTheSameAlignmentWhateverTheSampleOrder()
    {
        // Each photo is stored twice (a folder's copy with a fitting description, a document's copy with other words):
        // which copy is measured must not depend on the order a store's sample comes in.
        var kb = NewKnowledge();
        var vectors = new SyntheticVectors(kb.Dimension, seed: 31);
        for (var i = 0; i < 20; i++)
        {
            var image = vectors.Unit();
            var bytes = System.Text.Encoding.UTF8.GetBytes($"photo bytes {i}");
            kb.AddImage($"photo-{i:00}", image, $"photo {i}", bytes: bytes);
            kb.AddImage($"copy-{i:00}", image, $"unrelated words {i}", bytes: bytes);
            kb.TextGenerator.Set($"photo {i}", vectors.Near(image, 0.3));
        }

        await kb.CommitAsync();

        var measured = new List<CrossModalAlignment?>();
        foreach (var seed in new[] { 1, 2, 3, 4 })
        {
            var calibration = await new ScoreCalibrator(kb.Store, new ScoreCalibrationOptions { Seed = seed }, textEmbedder: kb.TextGenerator).RecomputeAsync();
            measured.Add(calibration.Alignment);
        }

        Assert.NotNull(measured[0]);
        Assert.Equal(20, measured[0]!.Pairs);
        Assert.All(measured, m => Assert.Equal(measured[0], m));
    }

    [Fact]
    public async Task GetCalibrationAsync_CountsChanged_KeepsAFullSampleAlignmentWithoutEmbeddingAndRecomputeMeasuresAgain()
    {
        // A search that finds the counts moved recomputes the background, but must not wait on the text tower for an
        // alignment already measured on a full sample.
        var world = await CreateClipLikeWorldAsync(describe: true);
        var counting = new CountingTextGenerator(world.Knowledge.TextGenerator);
        var options = new ScoreCalibrationOptions { RecheckInterval = TimeSpan.Zero, AlignmentSampleSize = 40 };
        var calibrator = new ScoreCalibrator(world.Knowledge.Store, options, textEmbedder: counting);
        var first = await calibrator.GetCalibrationAsync();
        for (var i = 0; i < 30; i++)
        {
            world.Knowledge.AddImage($"more-{i:00}", world.Vectors.Unit(), $"another picture {i}");
        }

        await world.Knowledge.CommitAsync();
        var afterGrowth = await calibrator.GetCalibrationAsync();
        var callsAfterGrowth = counting.Calls;
        await calibrator.RecomputeAsync();

        Assert.Equal(40, first.Alignment!.Pairs);
        Assert.Equal(90, afterGrowth.ImageCount);
        Assert.Equal(first.Alignment, afterGrowth.Alignment);
        Assert.Equal(1, callsAfterGrowth);
        Assert.Equal(2, counting.Calls);
    }

    [Fact]
    public async Task GetCalibrationAsync_TooFewDescribedImages_LeavesCrossModalScoresAsTheyAre()
    {
        var world = await CreateClipLikeWorldAsync(describe: false);

        var calibration = await new ScoreCalibrator(world.Knowledge.Store, textEmbedder: world.Knowledge.TextGenerator).GetCalibrationAsync();

        Assert.Null(calibration.Alignment);
        Assert.Equal(1.0, calibration.CrossModalReliability);
    }

    [Fact]
    public void Constructor_InvalidOption_ThrowsNamingIt()
    {
        var kb = NewKnowledge();

        var error = Assert.Throws<ArgumentOutOfRangeException>(() => new ScoreCalibrator(kb.Store, new ScoreCalibrationOptions { Steepness = 0 }));
        Assert.Contains("Steepness", error.Message, StringComparison.Ordinal);
    }

    private static IEnumerable<double> Pairs(float[][] queries, float[][] targets) =>
        from q in queries
        from t in targets
        where !ReferenceEquals(q, t)
        select (double)TensorPrimitives.Dot(q, t);

    private static void AssertDistribution(IEnumerable<double> cosines, CosineDistribution distribution)
    {
        var values = cosines.ToArray();
        var mean = values.Average();
        var deviation = Math.Sqrt(values.Average(c => (c - mean) * (c - mean)));
        Assert.False(distribution.IsPrior);
        Assert.Equal(values.Length, distribution.Pairs);
        Assert.Equal(mean, distribution.Mean, 5);
        Assert.Equal(deviation, distribution.StandardDeviation, 5);
    }

    private async Task<TestKnowledge> CreateSmallWorldAsync()
    {
        var kb = NewKnowledge();
        var vectors = new SyntheticVectors(kb.Dimension, seed: 2);
        for (var i = 0; i < 10; i++)
        {
            kb.AddText($"t{i:00}", $"text {i}", vectors.Unit());
            kb.AddImage($"i{i:00}", vectors.Unit());
        }

        await kb.CommitAsync();
        return kb;
    }

    /// <summary>
    /// 60 concepts, each with an image and a text chunk, laid out like CLIP's space: images share one direction and
    /// texts another (the modality gap), so unrelated images are more alike than a text and its own image.
    /// </summary>
    private static string Description(int concept) => $"a picture of concept {concept}";

    private async Task<ClipLikeWorld> CreateClipLikeWorldAsync(bool describe = false)
    {
        var kb = NewKnowledge();
        var vectors = new SyntheticVectors(kb.Dimension, seed: 21);
        var world = new ClipLikeWorld(kb, vectors, vectors.Unit(), vectors.Unit(), new float[60][], new float[60][], new float[60][]);
        for (var i = 0; i < 60; i++)
        {
            world.Concepts[i] = vectors.Unit();
            world.Images[i] = world.Image(world.Concepts[i]);
            world.Texts[i] = world.Text(world.Concepts[i]);
            kb.AddImage($"image-{i:00}", world.Images[i], describe ? Description(i) : "");
            kb.AddText($"chunk-{i:00}", $"about concept {i}", world.Texts[i], document: $"notes-{i / 10}");
        }

        await kb.CommitAsync();
        return world;
    }

    private sealed record ClipLikeWorld(TestKnowledge Knowledge, SyntheticVectors Vectors, float[] ImageAxis, float[] TextAxis,
        float[][] Concepts, float[][] Images, float[][] Texts)
    {
        public float[] Image(float[] concept) => SyntheticVectors.Combine((ImageAxis, 0.7), (concept, 0.6), (Vectors.Unit(), 0.3));

        public float[] Text(float[] concept) => SyntheticVectors.Combine((TextAxis, 0.6), (concept, 0.6), (Vectors.Unit(), 0.3));
    }
}

/// <summary>Counts the embedding calls that reach a text generator.</summary>
internal sealed class CountingTextGenerator(Microsoft.Extensions.AI.IEmbeddingGenerator<string, Microsoft.Extensions.AI.Embedding<float>> inner)
    : Microsoft.Extensions.AI.IEmbeddingGenerator<string, Microsoft.Extensions.AI.Embedding<float>>
{
    public int Calls { get; private set; }

    public Task<Microsoft.Extensions.AI.GeneratedEmbeddings<Microsoft.Extensions.AI.Embedding<float>>> GenerateAsync(IEnumerable<string> values,
        Microsoft.Extensions.AI.EmbeddingGenerationOptions? options = null, CancellationToken cancellationToken = default)
    {
        Calls++;
        return inner.GenerateAsync(values, options, cancellationToken);
    }

    public object? GetService(Type serviceType, object? serviceKey = null) => inner.GetService(serviceType, serviceKey);

    public void Dispose()
    {
    }
}

/// <summary>The calibration suite over the in-memory test store.</summary>
public sealed class InMemoryScoreCalibratorTests : ScoreCalibratorTests
{
    protected override IKnowledgeStore CreateStore(EmbeddingSpace space) => new InMemoryKnowledgeStore(space);
}
