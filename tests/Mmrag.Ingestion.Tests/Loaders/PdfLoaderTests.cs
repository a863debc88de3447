using System.Diagnostics;
using Mmrag.Ingestion.Loaders;
using Mmrag.Ingestion.Tests.Support;
using Mmrag.Knowledge;

namespace Mmrag.Ingestion.Tests.Loaders;

public sealed class PdfLoaderTests
{
    private static readonly byte[] PngSignature = [0x89, (byte)'P', (byte)'N', (byte)'G', 0x0D, 0x0A, 0x1A, 0x0A];

    private readonly PdfLoader _loader = new(TestChunkers.Clip);

    [Fact]
    public async Task LoadAsync_TextAndImages_TextPerPageAndImagesLinkedToTheirPage()
    {
        using var temp = new TemporaryDirectory();
        var path = temp.Write("notes.pdf", TestPdfs.TwoPagesWithJpegAndPng());

        var document = await _loader.LoadAsync(path, TestChunkers.Context(temp.Path));

        Assert.Equal("application/pdf", document.MediaType);
        Assert.Equal("Field notes", document.Title);
        Assert.Empty(document.Failures);
        var texts = document.Items.Where(i => i.Kind == ItemKind.TextChunk).ToList();
        Assert.Contains(texts, t => t.Provenance.Page == 1 && t.Text.Contains("The red fox hunts small rodents", StringComparison.Ordinal));
        Assert.Contains(texts, t => t.Provenance.Page == 2 && t.Text.Contains("Otters float on their backs", StringComparison.Ordinal));
        Assert.All(document.Items, i => Assert.Equal("Field notes", i.Provenance.DocumentTitle));
        Assert.Equal(Enumerable.Range(0, document.Items.Count), document.Items.Select(i => i.Provenance.Position));

        var images = document.Items.Where(i => i.Kind == ItemKind.Image).ToList();
        Assert.Equal(2, images.Count);
        Assert.Equal(1, images[0].Provenance.Page);
        Assert.Equal("image/jpeg", images[0].ImageMediaType);
        Assert.Equal(Fixtures.Jpeg, images[0].ImageBytes.ToArray());
        Assert.Null(images[0].ImagePath);
        Assert.Equal(2, images[1].Provenance.Page);
        Assert.Equal("image/png", images[1].ImageMediaType);
        Assert.True(images[1].ImageBytes.Span.StartsWith(PngSignature));
    }

    [Fact]
    public async Task LoadAsync_Image_NearbyTextIsPageHeadingAndTextAroundTheImage()
    {
        using var temp = new TemporaryDirectory();
        var path = temp.Write("notes.pdf", TestPdfs.TwoPagesWithJpegAndPng());

        var document = await _loader.LoadAsync(path, TestChunkers.Context(temp.Path));

        var first = document.Items.First(i => i.Kind == ItemKind.Image);
        Assert.StartsWith("Chapter One: Foxes", first.Text, StringComparison.Ordinal);
        Assert.Contains("Figure 1: a fox photographed in winter.", first.Text, StringComparison.Ordinal);
        Assert.InRange(first.Text.Length, 20, 300);
    }

    [Fact]
    public async Task LoadAsync_ImageThatCannotBeConverted_ReportedWithPageAndIndexOthersKept()
    {
        using var temp = new TemporaryDirectory();
        var path = temp.Write("scan.pdf", TestPdfs.WithUnconvertibleImage());

        var document = await _loader.LoadAsync(path, TestChunkers.Context(temp.Path));

        var failure = Assert.Single(document.Failures);
        Assert.Equal(path, failure.SourcePath);
        Assert.Equal("page 1, image 1", failure.Detail);
        Assert.Contains("JPXDecode", failure.Reason, StringComparison.Ordinal);
        var image = Assert.Single(document.Items, i => i.Kind == ItemKind.Image);
        Assert.Equal(Fixtures.Jpeg, image.ImageBytes.ToArray());
        Assert.Contains(document.Items, i => i.Kind == ItemKind.TextChunk && i.Text.Contains("Scanned appendix", StringComparison.Ordinal));
    }

    [Fact]
    public async Task LoadAsync_RandomBytes_ThrowsNamingTheFile()
    {
        using var temp = new TemporaryDirectory();
        var bytes = new byte[50_000];
        new Random(11).NextBytes(bytes);
        var path = temp.Write("random.pdf", bytes);

        var error = await Assert.ThrowsAsync<DocumentLoadException>(() => _loader.LoadAsync(path, TestChunkers.Context(temp.Path)));

        Assert.Contains(path, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task LoadAsync_PdfHeaderThenRandomBytes_ThrowsWithinTheTimeLimit()
    {
        using var temp = new TemporaryDirectory();
        var bytes = new byte[50_000];
        new Random(12).NextBytes(bytes);
        "%PDF-1.7\n"u8.CopyTo(bytes);
        var path = temp.Write("noise.pdf", bytes);
        var loader = new PdfLoader(TestChunkers.Clip, new PdfLoaderOptions { StepTimeout = TimeSpan.FromSeconds(10) });
        var clock = Stopwatch.StartNew();

        var error = await Assert.ThrowsAsync<DocumentLoadException>(() => loader.LoadAsync(path, TestChunkers.Context(temp.Path)));

        Assert.Contains(path, error.Message, StringComparison.Ordinal);
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(15));
    }

    [Theory]
    [InlineData(0.02)]
    [InlineData(0.25)]
    [InlineData(0.5)]
    [InlineData(0.9)]
    public async Task LoadAsync_Truncated_ThrowsNamingTheFile(double fraction)
    {
        using var temp = new TemporaryDirectory();
        var whole = TestPdfs.TwoPagesWithJpegAndPng();
        var path = temp.Write("truncated.pdf", whole[..(int)(whole.Length * fraction)]);
        var loader = new PdfLoader(TestChunkers.Clip, new PdfLoaderOptions { StepTimeout = TimeSpan.FromSeconds(10) });

        var error = await Assert.ThrowsAsync<DocumentLoadException>(() => loader.LoadAsync(path, TestChunkers.Context(temp.Path)));

        Assert.Contains(path, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task LoadAsync_StepOverrunsTheTimeLimit_GivesUpNamingTheFile()
    {
        using var temp = new TemporaryDirectory();
        var path = temp.Write("slow.pdf", TestPdfs.TwoPagesWithJpegAndPng());
        var loader = new PdfLoader(TestChunkers.Clip, new PdfLoaderOptions { StepTimeout = TimeSpan.FromMicroseconds(1) });

        var error = await Assert.ThrowsAsync<DocumentLoadException>(() => loader.LoadAsync(path, TestChunkers.Context(temp.Path)));

        Assert.Contains(path, error.Message, StringComparison.Ordinal);
        Assert.Contains("gave up", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task LoadAsync_CutInsideTheHeader_ThrowsNamingTheFile()
    {
        using var temp = new TemporaryDirectory();
        var path = temp.Write("stub.pdf", "%PDF-1.7\n%\u00e2\u00e3\n1 0 obj\n<< /Type /Catalog"u8.ToArray());

        var error = await Assert.ThrowsAsync<DocumentLoadException>(() => _loader.LoadAsync(path, TestChunkers.Context(temp.Path)));

        Assert.Contains(path, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task LoadAsync_PasswordProtected_ThrowsSayingItIsEncrypted()
    {
        using var temp = new TemporaryDirectory();
        var path = temp.Write("locked.pdf", TestPdfs.PasswordProtected());

        var error = await Assert.ThrowsAsync<DocumentLoadException>(() => _loader.LoadAsync(path, TestChunkers.Context(temp.Path)));

        Assert.Contains(path, error.Message, StringComparison.Ordinal);
        Assert.Contains("encrypted", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task LoadAsync_LargerThanMaxFileBytes_Throws()
    {
        using var temp = new TemporaryDirectory();
        var path = temp.Write("big.pdf", TestPdfs.TextOnly("hello"));

        var error = await Assert.ThrowsAsync<DocumentLoadException>(() =>
            _loader.LoadAsync(path, TestChunkers.Context(temp.Path) with { MaxFileBytes = 100 }));

        Assert.Contains("MaxFileBytes", error.Message, StringComparison.Ordinal);
    }
}
