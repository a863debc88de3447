using Mmrag.Clip.Preprocessing;

namespace Mmrag.Clip.Tests.Preprocessing;

public class ImagePreprocessorConfigTests
{
    [Fact]
    public void Load_FixtureModelFile_ReadsTheClipValues()
    {
        var path = Path.Combine(ClipFixtures.ModelDirectory, ImagePreprocessorConfig.FileName);

        var config = ImagePreprocessorConfig.Load(path);

        Assert.Equal(224, config.ShortestEdge);
        Assert.Null(config.ResizeHeight);
        Assert.Equal((224, 224), (config.CropHeight, config.CropWidth));
        Assert.Equal([0.48145466, 0.4578275, 0.40821073], config.ImageMean);
        Assert.Equal([0.26862954, 0.26130258, 0.27577711], config.ImageStd);
        Assert.Equal(0.00392156862745098, config.RescaleFactor);
        Assert.True(config.DoResize && config.DoCenterCrop && config.DoRescale && config.DoNormalize && config.DoConvertRgb);
        Assert.Equal(path, config.SourceName);
    }

    [Fact]
    public void Load_ModelDirectory_ReadsItsPreprocessorConfig()
    {
        var config = ImagePreprocessorConfig.Load(ClipFixtures.ModelDirectory);

        Assert.Equal(Path.Combine(ClipFixtures.ModelDirectory, ImagePreprocessorConfig.FileName), config.SourceName);
        Assert.Equal(224, config.ShortestEdge);
    }

    [Fact]
    public void Parse_OlderIntForm_MeansShortestEdgeAndSquareCrop()
    {
        // openai/clip-vit-base-patch32's original file: ints, no rescale/convert keys.
        const string Json = """
            { "crop_size": 224, "do_center_crop": true, "do_normalize": true, "do_resize": true,
              "feature_extractor_type": "CLIPFeatureExtractor",
              "image_mean": [0.48145466, 0.4578275, 0.40821073], "image_std": [0.26862954, 0.26130258, 0.27577711],
              "resample": 3, "size": 224 }
            """;

        var config = ImagePreprocessorConfig.Parse(Json, "old.json");

        Assert.Equal(224, config.ShortestEdge);
        Assert.Equal((224, 224), (config.CropHeight, config.CropWidth));
        Assert.True(config.DoRescale);
        Assert.Equal(1.0 / 255.0, config.RescaleFactor);
    }

    [Fact]
    public void Parse_HeightWidthSize_IsAFixedResize()
    {
        const string Json = """{ "size": {"height": 336, "width": 320}, "crop_size": {"height": 300, "width": 288} }""";

        var config = ImagePreprocessorConfig.Parse(Json, "fixed.json");

        Assert.Null(config.ShortestEdge);
        Assert.Equal((336, 320), (config.ResizeHeight, config.ResizeWidth));
        Assert.Equal((300, 288), (config.CropHeight, config.CropWidth));
        var preprocessor = new ClipImagePreprocessor(config);
        Assert.Equal(new ResizePlan(320, 336, 16, 18), preprocessor.ComputeResize(1000, 10));
        Assert.Equal((3, 300, 288), preprocessor.OutputShape);
    }

    [Fact]
    public void Parse_ShortestEdgeDictionary_KeepsAspectRatio()
    {
        var config = ImagePreprocessorConfig.Parse("""{ "size": {"shortest_edge": 256}, "crop_size": 256, "image_mean": 0.5, "image_std": [1, 1, 1] }""", "x.json");

        Assert.Equal(256, config.ShortestEdge);
        Assert.Equal([0.5, 0.5, 0.5], config.ImageMean);
        Assert.Equal(new ResizePlan(384, 256, 64, 0), new ClipImagePreprocessor(config).ComputeResize(600, 400));
    }

    [Fact]
    public void Parse_NullsAndUnknownKeys_TakeDefaults()
    {
        var config = ImagePreprocessorConfig.Parse(
            """{ "size": {"shortest_edge": 224, "longest_edge": null}, "crop_size": null, "processor_class": "CLIPProcessor" }""", "x.json");

        Assert.Equal(ImagePreprocessorConfig.ClipDefault with { SourceName = "x.json" }, config);
    }

    [Fact]
    public void Load_MissingFile_ThrowsNamingTheFile()
    {
        var path = Path.Combine(Path.GetTempPath(), $"mmrag-missing-{Guid.NewGuid():N}", ImagePreprocessorConfig.FileName);

        var ex = Assert.Throws<ClipModelException>(() => ImagePreprocessorConfig.Load(path));

        Assert.Contains(path, ex.Message, StringComparison.Ordinal);
        Assert.Contains("preprocessor_config.json", ex.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(2, "bilinear")]
    [InlineData(0, "nearest")]
    public void Parse_UnsupportedResample_ThrowsNamingTheFileAndKey(int resample, string filterName)
    {
        var ex = Assert.Throws<ClipModelException>(() => ImagePreprocessorConfig.Parse($$"""{ "resample": {{resample}} }""", "/models/x/preprocessor_config.json"));

        Assert.Contains("/models/x/preprocessor_config.json", ex.Message, StringComparison.Ordinal);
        Assert.Contains("'resample'", ex.Message, StringComparison.Ordinal);
        Assert.Contains(filterName, ex.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("{ \"size\": \"big\" }", "'size'")]
    [InlineData("{ \"size\": {\"longest_edge\": 224} }", "longest_edge")]
    [InlineData("{ \"size\": {\"height\": 224} }", "'size'")]
    [InlineData("{ \"crop_size\": [224, 224] }", "'crop_size'")]
    [InlineData("{ \"image_mean\": [0.5, 0.5] }", "'image_mean'")]
    [InlineData("{ \"image_std\": [0.5, 0, 0.5] }", "image_std")]
    [InlineData("{ \"do_resize\": \"yes\" }", "'do_resize'")]
    [InlineData("{ \"size\": {\"shortest_edge\": 224.5} }", "'size.shortest_edge'")]
    [InlineData("{ \"size\": {\"shortest_edge\": 0} }", "'size'")]
    [InlineData("[1, 2]", "JSON object")]
    [InlineData("{ \"size\": ", "not valid JSON")]
    public void Parse_MalformedValue_ThrowsNamingTheFileAndTheProblem(string json, string expectedFragment)
    {
        var ex = Assert.Throws<ClipModelException>(() => ImagePreprocessorConfig.Parse(json, "bad.json"));

        Assert.Contains("bad.json", ex.Message, StringComparison.Ordinal);
        Assert.Contains(expectedFragment, ex.Message, StringComparison.Ordinal);
    }
}
