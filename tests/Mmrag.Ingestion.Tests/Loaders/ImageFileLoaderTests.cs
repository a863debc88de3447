using Mmrag.Ingestion.Loaders;
using Mmrag.Ingestion.Tests.Support;
using Mmrag.Knowledge;

namespace Mmrag.Ingestion.Tests.Loaders;

public sealed class ImageFileLoaderTests
{
    private readonly ImageFileLoader _loader = new();

    [Theory]
    [InlineData("a.jpg", true)]
    [InlineData("a.JPEG", true)]
    [InlineData("a.png", true)]
    [InlineData("a.webp", true)]
    [InlineData("a.gif", true)]
    [InlineData("a.bmp", true)]
    [InlineData("a.tiff", false)]
    [InlineData("a.txt", false)]
    public void CanLoad_ByExtension(string path, bool expected) => Assert.Equal(expected, _loader.CanLoad(path));

    [Fact]
    public async Task LoadAsync_ImageWithDescription_OneImageItemWithBytesDescriptionAndNameWords()
    {
        using var temp = new TemporaryDirectory();
        var path = temp.Write("red_fox-in_snow.jpg", Fixtures.Jpeg);
        var descriptions = new Dictionary<string, string> { [path] = "A red fox standing in fresh snow." };

        var document = await _loader.LoadAsync(path, TestChunkers.Context(temp.Path, descriptions));

        Assert.Equal("image/jpeg", document.MediaType);
        Assert.Equal("red_fox-in_snow", document.Title);
        Assert.Empty(document.Failures);
        var item = Assert.Single(document.Items);
        Assert.Equal(ItemKind.Image, item.Kind);
        Assert.Equal(Fixtures.Jpeg, item.ImageBytes.ToArray());
        Assert.Equal("image/jpeg", item.ImageMediaType);
        Assert.Equal(path, item.ImagePath);
        Assert.Equal("A red fox standing in fresh snow.", item.Description);
        Assert.Equal("A red fox standing in fresh snow.\nred fox in snow", item.Text);
        Assert.Equal(path, item.Provenance.SourcePath);
        Assert.Equal(0, item.Provenance.Position);
    }

    [Fact]
    public async Task LoadAsync_PngNamedJpg_MediaTypeFromBytes()
    {
        using var temp = new TemporaryDirectory();
        var path = temp.Write("IMG_20240101_1234.jpg", Fixtures.Png);

        var document = await _loader.LoadAsync(path, TestChunkers.Context(temp.Path));

        var item = Assert.Single(document.Items);
        Assert.Equal("image/png", item.ImageMediaType);
        Assert.Equal("image/png", document.MediaType);
        Assert.Null(item.Description);
        Assert.Equal(string.Empty, item.Text);
    }

    [Theory]
    [InlineData("gray_jpeg_250x250.jpg", "image/jpeg")]
    [InlineData("palette_P_256x192.gif", "image/gif")]
    [InlineData("bmp_333x222.bmp", "image/bmp")]
    [InlineData("smooth_1000x200.webp", "image/webp")]
    public async Task LoadAsync_EachFormat_Sniffed(string fixture, string mediaType)
    {
        using var temp = new TemporaryDirectory();
        var path = temp.Write("picture.bin.png", Fixtures.Image(fixture));

        var document = await _loader.LoadAsync(path, TestChunkers.Context(temp.Path));

        Assert.Equal(mediaType, Assert.Single(document.Items).ImageMediaType);
    }

    [Fact]
    public async Task LoadAsync_NotAnImage_ThrowsNamingTheFile()
    {
        using var temp = new TemporaryDirectory();
        var path = temp.Write("notes.png", "just text, not a picture");

        var error = await Assert.ThrowsAsync<DocumentLoadException>(() => _loader.LoadAsync(path, TestChunkers.Context(temp.Path)));

        Assert.Contains(path, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task LoadAsync_LargerThanMaxFileBytes_ThrowsNamingTheFile()
    {
        using var temp = new TemporaryDirectory();
        var path = temp.Write("big.jpg", Fixtures.Jpeg);

        var error = await Assert.ThrowsAsync<DocumentLoadException>(() =>
            _loader.LoadAsync(path, TestChunkers.Context(temp.Path) with { MaxFileBytes = 1000 }));

        Assert.Contains(path, error.Message, StringComparison.Ordinal);
        Assert.Contains("MaxFileBytes", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task LoadAsync_MissingFile_ThrowsNamingTheFile()
    {
        using var temp = new TemporaryDirectory();
        var path = temp.Combine("gone.jpg");

        var error = await Assert.ThrowsAsync<DocumentLoadException>(() => _loader.LoadAsync(path, TestChunkers.Context(temp.Path)));

        Assert.Contains(path, error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("IMG_20240101_1234", "")]
    [InlineData("golden_retriever-puppy2", "golden retriever puppy2")]
    [InlineData("RedFoxWinter", "Red Fox Winter")]
    [InlineData("DSC-0042 (copy)", "copy")]
    public void FileNameWords_DropsSeparatorsCountersAndCameraPrefixes(string stem, string expected) =>
        Assert.Equal(expected, ImageFileLoader.FileNameWords(stem));
}
