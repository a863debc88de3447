using Microsoft.Extensions.AI;
using Mmrag.Clip.Inference;
using Mmrag.Clip.Tokenization;

namespace Mmrag.Clip.Tests.Inference;

public class ClipTextEmbeddingTests
{
    public static TheoryData<string> Cases => TextEmbeddingCases.Theory();

    [Theory]
    [MemberData(nameof(Cases))]
    public void EmbedTokens_FixtureInputIdsUnpadded_MatchesReferenceTightly(string caseId)
    {
        var (_, inputIds, expected) = TextEmbeddingCases.Get(caseId);
        var eos = Array.IndexOf(inputIds, 49407);
        var tokens = new ClipTokens(inputIds[..(eos + 1)], Truncated: false);
        var actual = new float[SharedModel.Instance.Dimension];

        SharedModel.Instance.EmbedTokens([tokens], actual);

        EmbeddingAssert.Close(expected, actual, minCosine: 0.99999, maxAbs: 1e-4);
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public async Task GenerateAsync_FixtureText_MatchesNormalizedReference(string caseId)
    {
        var (text, _, expected) = TextEmbeddingCases.Get(caseId);
        using var generator = new ClipTextEmbeddingGenerator(SharedModel.Instance);

        var embedding = await generator.GenerateAsync(text);

        EmbeddingAssert.Close(EmbeddingAssert.Normalized(expected), embedding.Vector.Span, minCosine: 0.9999, maxAbs: 1e-4);
    }

    [Fact]
    public async Task GenerateAsync_ManyTextsOfMixedLength_EqualsOneByOneInInputOrder()
    {
        var texts = TextEmbeddingCases.Ids.Select(static id => TextEmbeddingCases.Get(id).Text).ToArray();
        var model = ClipModel.Load(ClipFixtures.ModelDirectory, new ClipModelOptions { MaxBatchSize = 7, IntraOpThreads = 1 });
        using var generator = new ClipTextEmbeddingGenerator(model, ownsModel: true);

        var batched = await generator.GenerateAsync(texts);

        Assert.Equal(texts.Length, batched.Count);
        for (var i = 0; i < texts.Length; i++)
        {
            var single = await generator.GenerateAsync(texts[i]);
            EmbeddingAssert.Close(single.Vector.Span, batched[i].Vector.Span, minCosine: 0.999999, maxAbs: 1e-5);
        }
    }

    [Fact]
    public async Task GenerateAsync_Default_ReturnsUnitVectorsWithModelMetadata()
    {
        using var generator = new ClipTextEmbeddingGenerator(SharedModel.Instance);
        var embedding = await generator.GenerateAsync("a photo of a cat");

        Assert.Equal(1.0, System.Numerics.Tensors.TensorPrimitives.Norm(embedding.Vector.Span), 5);
        var metadata = generator.GetService<EmbeddingGeneratorMetadata>();
        Assert.NotNull(metadata);
        Assert.Equal(32, metadata.DefaultModelDimensions);
        Assert.Equal("tiny-clip", metadata.DefaultModelId);
        Assert.Same(SharedModel.Instance, generator.GetService<ClipModel>());
    }

    [Fact]
    public async Task GenerateAsync_NormalizeOff_ReturnsRawProjection()
    {
        var (text, _, expected) = TextEmbeddingCases.Get(TextEmbeddingCases.Ids.First());
        using var generator = new ClipTextEmbeddingGenerator(SharedModel.Instance, new ClipEmbeddingOptions { Normalize = false });
        var embedding = await generator.GenerateAsync(text);
        EmbeddingAssert.Close(expected, embedding.Vector.Span, minCosine: 0.9999, maxAbs: 1e-4);
    }

    [Fact]
    public async Task GenerateAsync_WrongDimensionsRequested_Throws()
    {
        using var generator = new ClipTextEmbeddingGenerator(SharedModel.Instance);
        await Assert.ThrowsAsync<NotSupportedException>(() =>
            generator.GenerateAsync(["x"], new EmbeddingGenerationOptions { Dimensions = 512 }));
    }

    [Fact]
    public async Task GenerateAsync_CancelledToken_ThrowsOperationCanceled()
    {
        using var generator = new ClipTextEmbeddingGenerator(SharedModel.Instance);
        using var cancellation = new CancellationTokenSource();
        await cancellation.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => generator.GenerateAsync(["a photo"], cancellationToken: cancellation.Token));
    }

    [Fact]
    public async Task Load_TextGraphWithAttentionMask_GivesSameEmbeddings()
    {
        using var folder = ModelFolderCopy.Create(textModelSource: "text_model_with_attention_mask.onnx");
        using var model = ClipModel.Load(folder.Path, new ClipModelOptions { IntraOpThreads = 1 });
        using var generator = new ClipTextEmbeddingGenerator(model);
        var (text, _, expected) = TextEmbeddingCases.Get(TextEmbeddingCases.Ids.Last());

        var embedding = await generator.GenerateAsync(text);

        EmbeddingAssert.Close(EmbeddingAssert.Normalized(expected), embedding.Vector.Span, minCosine: 0.9999, maxAbs: 1e-4);
    }

    [Fact]
    public async Task Load_VisionGraphInPlaceOfTextGraph_ThrowsNamingTheFile()
    {
        using var folder = ModelFolderCopy.Create(textModelSource: "vision_model.onnx");
        using var model = ClipModel.Load(folder.Path);
        using var generator = new ClipTextEmbeddingGenerator(model);

        var error = await Assert.ThrowsAsync<ClipModelException>(() => generator.GenerateAsync(["a cat"]));
        Assert.Contains("text_model.onnx", error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("vision_model.onnx", "vision_model.onnx", "text_model.onnx")]
    [InlineData("text_model.onnx", "text_model.onnx", "vision_model.onnx")]
    public void WarmUp_OneTowerIsTheWrongGraph_ThrowsNamingThatTowersFile(string textSource, string visionSource, string named)
    {
        // The towers load side by side; whichever fails is reported, by its own file.
        using var folder = ModelFolderCopy.Create(textModelSource: textSource, visionModelSource: visionSource);
        using var model = ClipModel.Load(folder.Path);

        var error = Assert.Throws<ClipModelException>(model.WarmUp);
        Assert.Contains(named, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Load_GarbageGraph_ThrowsNamingTheFile()
    {
        using var folder = ModelFolderCopy.Create();
        File.Delete(Path.Combine(folder.Path, "onnx", "vision_model.onnx"));
        File.WriteAllText(Path.Combine(folder.Path, "onnx", "vision_model.onnx"), "this is not an onnx file");
        using var model = ClipModel.Load(folder.Path);

        var error = Assert.Throws<ClipModelException>(model.WarmUp);
        Assert.Contains("vision_model.onnx", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Load_MissingGraph_ThrowsListingMissingFiles()
    {
        using var folder = ModelFolderCopy.Create();
        File.Delete(Path.Combine(folder.Path, "onnx", "text_model.onnx"));

        var error = Assert.Throws<ClipModelException>(() => ClipModel.Load(folder.Path));
        Assert.Contains("text_model.onnx", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Load_ConfigDimensionDisagreesWithGraph_ThrowsNamingBoth()
    {
        using var folder = ModelFolderCopy.Create();
        var configPath = Path.Combine(folder.Path, "config.json");
        File.Delete(configPath);
        File.WriteAllText(configPath, """{"model_type": "clip", "projection_dim": 512, "text_config": {"max_position_embeddings": 77}}""");
        using var model = ClipModel.Load(folder.Path);
        using var generator = new ClipTextEmbeddingGenerator(model);

        var error = await Assert.ThrowsAsync<ClipModelException>(() => generator.GenerateAsync(["a cat"]));
        Assert.Contains("projection_dim 512", error.Message, StringComparison.Ordinal);
    }
}
