using Mmrag.Clip.Models;

namespace Mmrag.Clip.Tests.Models;

public class ModelCatalogTests
{
    [Fact]
    public void Default_IsXenovaClipVitBasePatch32_With512Dimensions()
    {
        var model = ModelCatalog.Default;

        Assert.Equal("clip-vit-base-patch32", model.Name);
        Assert.Equal("Xenova/clip-vit-base-patch32", model.Repository);
        Assert.Equal(512, model.Dimension);
        Assert.Same(model, ModelCatalog.All[0]);
    }

    [Fact]
    public void All_HaveDistinctNamesAndTheFullFileList()
    {
        Assert.Equal(3, ModelCatalog.All.Count);
        Assert.Equal(ModelCatalog.All.Count, ModelCatalog.All.Select(m => m.Name).Distinct().Count());
        Assert.Contains(ModelCatalog.All, m => m.Repository == "Xenova/clip-vit-base-patch16");
        Assert.Contains(ModelCatalog.All, m => m.Repository == "Xenova/CLIP-ViT-B-32-laion2B-s34B-b79K");
        foreach (var model in ModelCatalog.All)
        {
            Assert.Equal(
                ["config.json", "preprocessor_config.json", "tokenizer.json", "vocab.json", "merges.txt", "tokenizer_config.json",
                 "special_tokens_map.json", "onnx/text_model.onnx", "onnx/vision_model.onnx"],
                model.GetFiles());
            Assert.False(string.IsNullOrWhiteSpace(model.Description));
        }
    }

    [Fact]
    public void GetFiles_BothVariants_AddsQuantizedTowers()
    {
        var files = ModelCatalog.Default.GetFiles(ModelVariants.Float32 | ModelVariants.Quantized);

        Assert.Equal(11, files.Count);
        Assert.Equal(["onnx/text_model_quantized.onnx", "onnx/vision_model_quantized.onnx"], files.Skip(9));
        Assert.DoesNotContain("onnx/text_model.onnx", ModelCatalog.Default.GetFiles(ModelVariants.Quantized));
    }

    [Theory]
    [InlineData("clip-vit-base-patch16")]
    [InlineData("CLIP-ViT-Base-Patch16")]
    [InlineData("xenova/clip-vit-base-patch16")]
    public void TryGet_NameOrRepositoryAnyCase_FindsModel(string key)
    {
        Assert.True(ModelCatalog.TryGet(key, out var model));
        Assert.Equal("clip-vit-base-patch16", model.Name);
    }

    [Fact]
    public void Get_UnknownName_ThrowsListingKnownModels()
    {
        var error = Assert.Throws<ClipModelException>(() => ModelCatalog.Get("no-such-model"));

        Assert.Contains("no-such-model", error.Message, StringComparison.Ordinal);
        Assert.Contains("clip-vit-base-patch32", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Descriptor_Revision_IsPinnedOnlyForACommitSha()
    {
        Assert.False(ModelCatalog.Default.IsRevisionPinned);
        var pinned = new ModelDescriptor("m", "o/r", "0123456789abcdef0123456789abcdef01234567", 32, "test");
        Assert.True(pinned.IsRevisionPinned);
    }

    [Theory]
    [InlineData("../escape.json")]
    [InlineData("/etc/passwd")]
    [InlineData("onnx/../../x")]
    [InlineData("a\\b")]
    [InlineData("onnx//x")]
    public void Descriptor_FileOutsideTheFolder_IsRejected(string file)
    {
        Assert.Throws<ArgumentException>(() => new ModelDescriptor("m", "o/r", "main", 32, "test", [file]));
    }

    [Theory]
    [InlineData("")]
    [InlineData("..")]
    [InlineData("a/b")]
    [InlineData("has space")]
    public void Descriptor_NameThatCannotBeAFolder_IsRejected(string name)
    {
        Assert.ThrowsAny<ArgumentException>(() => new ModelDescriptor(name, "o/r", "main", 32, "test"));
    }

    [Fact]
    public void FileUri_EscapesRevisionAndPathSegments()
    {
        var uri = HubClient.FileUri(new Uri("https://hub.example/mirror"), "Xenova/clip-vit-base-patch32", "refs/pr/1", "onnx/text model.onnx");

        Assert.Equal("https://hub.example/mirror/Xenova/clip-vit-base-patch32/resolve/refs%2Fpr%2F1/onnx/text%20model.onnx", uri.AbsoluteUri);
    }
}
