using Mmrag.Clip.Models;

namespace Mmrag.Clip.Tests.Models;

public class ModelCacheTests : ModelTestBase
{
    [Theory]
    [InlineData(null, "/home/u/.cache/mmrag/models")]
    [InlineData("", "/home/u/.cache/mmrag/models")]
    [InlineData("/data/mmrag", "/data/mmrag/models")]
    [InlineData("~/mm", "/home/u/mm/models")]
    public void ResolveRoot_UsesMmragHomeOrTheUserCache(string? mmragHome, string expected)
    {
        Assert.Equal(expected, ModelCache.ResolveRoot(mmragHome, "/home/u"));
    }

    [Fact]
    public void List_RootMissing_IsEmpty()
    {
        Assert.Empty(Cache.List());
    }

    [Fact]
    public void List_ReportsCompletePartialAndHandPlacedModels()
    {
        CopyFixtureModel(ModelDirectory(), Float32Files);
        CopyFixtureModel(ModelDirectory("clip-vit-base-patch16"), [ModelLayout.Config]);
        Directory.CreateDirectory(Path.GetDirectoryName(PathIn(ModelLayout.TextModel, "clip-vit-base-patch16"))!);
        File.WriteAllBytes(PathIn(ModelLayout.TextModel, "clip-vit-base-patch16") + ".partial", new byte[10]);
        CopyFixtureModel(ModelDirectory("my-clip"), [.. ModelLayout.SupportFiles, ModelLayout.QuantizedTextModel, ModelLayout.QuantizedVisionModel]);
        Directory.CreateDirectory(ModelDirectory(".trash"));

        var models = Cache.List();

        Assert.Equal(["clip-vit-base-patch16", "clip-vit-base-patch32", "my-clip"], models.Select(m => m.Name));

        var partial = models[0];
        Assert.False(partial.IsComplete);
        Assert.Same(ModelCatalog.ClipVitBasePatch16, partial.Model);
        Assert.Equal(ModelVariants.None, partial.CompleteVariants);
        Assert.Equal(Float32Files.Where(f => f != ModelLayout.Config), partial.MissingFiles);
        Assert.Equal([ModelLayout.TextModel], partial.PartialFiles);

        var complete = models[1];
        Assert.True(complete.IsComplete);
        Assert.Equal(ModelVariants.Float32, complete.CompleteVariants);
        Assert.Empty(complete.PartialFiles);
        Assert.Equal(Float32Files.Sum(f => (long)HubFiles[f].Length), complete.SizeBytes);

        var handPlaced = models[2];
        Assert.Null(handPlaced.Model);
        Assert.True(handPlaced.IsComplete);
        Assert.Equal(ModelVariants.Quantized, handPlaced.CompleteVariants);
    }

    [Theory]
    [InlineData("clip-vit-base-patch32")]
    [InlineData("Xenova/clip-vit-base-patch32")]
    public void Resolve_CatalogNameOrRepository_PointsIntoTheCache(string key)
    {
        var resolution = Cache.Resolve(key);

        Assert.Equal(ModelSource.Cache, resolution.Source);
        Assert.Same(ModelCatalog.Default, resolution.Model);
        Assert.Equal(ModelDirectory(), resolution.Directory);
        Assert.False(resolution.Exists);
        Assert.Equal(Float32Files, resolution.MissingFiles);
        Assert.False(Cache.TryResolve(key, out _));
    }

    [Fact]
    public void TryResolve_ExistingFolderInTheLayout_IsUsedAsIs()
    {
        Assert.True(Cache.TryResolve(ClipFixtures.ModelDirectory, out var directory));

        Assert.Equal(Path.GetFullPath(ClipFixtures.ModelDirectory), directory);
        Assert.Equal(ModelSource.LocalFolder, Cache.Resolve(ClipFixtures.ModelDirectory).Source);
    }

    [Fact]
    public void Resolve_IncompleteFolder_NamesTheMissingFiles()
    {
        var folder = Path.Combine(TempRoot, "mine");
        CopyFixtureModel(folder, Float32Files.Where(f => f != ModelLayout.VisionModel && f != ModelLayout.Merges));

        var resolution = Cache.Resolve(folder);

        Assert.Equal(ModelSource.LocalFolder, resolution.Source);
        Assert.True(resolution.Exists);
        Assert.False(resolution.IsComplete);
        Assert.Equal([ModelLayout.Merges, ModelLayout.VisionModel], resolution.MissingFiles);
        Assert.False(Cache.TryResolve(folder, out _));
    }

    [Fact]
    public void Resolve_CompleteCachedModel_IsFound()
    {
        CopyFixtureModel(ModelDirectory(), Float32Files);

        Assert.True(Cache.TryResolve("clip-vit-base-patch32", out var directory));
        Assert.Equal(ModelDirectory(), directory);
        Assert.False(Cache.TryResolve("clip-vit-base-patch32", out _, ModelVariants.Quantized));
    }
}
