using Mmrag.Clip.Preprocessing;

namespace Mmrag.Clip.Tests.Preprocessing;

/// <summary>Pixel limits on the dimensions the decoders really use, whatever a quick header scan would say.</summary>
public class ImageDimensionsTests
{
    private static readonly SkiaImageDecoder Decoder = SkiaImageDecoder.Instance;

    private static readonly byte[] TwoColours = [255, 0, 0, 0, 0, 255];

    [Fact]
    public void Read_EveryFixtureImage_GivesTheDecodedSize()
    {
        foreach (var image in ImageManifest.All)
        {
            var dimensions = ImageDimensions.Read(image.ReadSource());

            Assert.Equal((image.Name, image.Width, image.Height), (image.Name, dimensions.Width, dimensions.Height));
            Assert.Equal(image.Format, dimensions.Format, StringComparer.OrdinalIgnoreCase);
            Assert.Equal(dimensions.Pixels, dimensions.CanvasPixels);
        }
    }

    [Fact]
    public void Read_ForgedJpegWithStrayByteBeforeDqt_GivesTheFrameHeaderSize()
    {
        var jpeg = TestJpeg.WithStrayByteBeforeDqt(TestJpeg.ClaimingSize(9000, 9000));

        var dimensions = ImageDimensions.Read(jpeg);

        Assert.Equal(("JPEG", 9000, 9000), (dimensions.Format, dimensions.Width, dimensions.Height));
        var error = Assert.Throws<ImageTooLargeException>(() => ImageDimensions.Check(jpeg, 40_000_000));
        Assert.Equal(81_000_000, error.Pixels);
        Assert.Contains("40,000,000", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Decode_ForgedJpegWithStrayByteBeforeDqt_RefusedWithoutAllocatingItsPixels()
    {
        // 9000 x 9000 in a few hundred bytes: decoding would take 324 MB of RGBA and 243 MB of RGB.
        var jpeg = TestJpeg.WithStrayByteBeforeDqt(TestJpeg.ClaimingSize(9000, 9000));

        var before = GC.GetAllocatedBytesForCurrentThread();
        var error = Assert.Throws<ImageTooLargeException>(() => Decoder.Decode(jpeg));
        var allocated = GC.GetAllocatedBytesForCurrentThread() - before;

        Assert.Equal(ImageDecodeOptions.DefaultMaxPixels, error.MaxPixels);
        Assert.Contains("9000x9000", error.Message, StringComparison.Ordinal);
        Assert.True(allocated < 4_000_000, $"allocated {allocated:N0} bytes");
    }

    [Fact]
    public void Decode_ImageUnderTheLimit_KeepsNoPooledPixelBuffer()
    {
        // A 3000 x 3000 JPEG (9 Mpx): its RGBA buffer (36 MB) used to be rented from ArrayPool.Shared, which keeps
        // arrays that size for the life of the process; now the only managed allocation is the RGB result.
        using var bitmap = new SkiaSharp.SKBitmap(3000, 3000);
        bitmap.Erase(new SkiaSharp.SKColor(10, 20, 30));
        using var data = bitmap.Encode(SkiaSharp.SKEncodedImageFormat.Jpeg, 50);
        var jpeg = data.ToArray();

        var before = GC.GetAllocatedBytesForCurrentThread();
        var image = Decoder.Decode(jpeg);
        var allocated = GC.GetAllocatedBytesForCurrentThread() - before;

        Assert.Equal((3000, 3000), (image.Width, image.Height));
        Assert.True(allocated < 3000L * 3000 * 3 + 1_000_000, $"allocated {allocated:N0} bytes");
    }

    [Fact]
    public void Check_GifFrameLargerThanItsLogicalScreen_IsCheckedByTheFrame()
    {
        // A 1 x 1 logical screen with a 9000 x 9000 first frame: the decoder's canvas grows to the frame.
        var gif = TestGif.Encode(1, 1, TwoColours, new TestGif.Frame(0, 0, 9000, 9000, [1]));

        var dimensions = ImageDimensions.Read(gif);
        Assert.Equal((9000, 9000), (dimensions.Width, dimensions.Height));
        Assert.Throws<ImageTooLargeException>(() => ImageDimensions.Check(gif, 40_000_000));

        var before = GC.GetAllocatedBytesForCurrentThread();
        Assert.Throws<ImageTooLargeException>(() => Decoder.Decode(gif));
        Assert.True(GC.GetAllocatedBytesForCurrentThread() - before < 4_000_000);
    }

    [Fact]
    public void Check_GifLaterFrameLargerThanItsLogicalScreen_IsCheckedByThatFrame()
    {
        var gif = TestGif.Encode(2, 2, TwoColours,
            new TestGif.Frame(0, 0, 2, 2, [0, 1, 1, 0]),
            new TestGif.Frame(100, 100, 8000, 8000, [1]));

        var dimensions = ImageDimensions.Read(gif);

        Assert.Equal((2, 2, 2), (dimensions.Width, dimensions.Height, dimensions.FrameCount));
        Assert.Equal((8100, 8100), (dimensions.CanvasWidth, dimensions.CanvasHeight));
        var error = Assert.Throws<ImageTooLargeException>(() => ImageDimensions.Check(gif, 40_000_000));
        Assert.Contains("8100x8100", error.Message, StringComparison.Ordinal);
        Assert.Equal(4, ImageDimensions.Check(gif, 100_000_000).Pixels);
    }

    [Fact]
    public void Check_PngHeaderClaiming100Megapixels_ThrowsImageTooLarge()
    {
        var error = Assert.Throws<ImageTooLargeException>(() => ImageDimensions.Check(TestPng.HeaderOnly(10_000, 10_000)));

        Assert.Equal(100_000_000, error.Pixels);
    }

    [Fact]
    public void Check_NotAnImage_ThrowsImageDecodeException()
    {
        var error = Assert.Throws<ImageDecodeException>(() => ImageDimensions.Check("not an image at all"u8));
        Assert.IsNotType<ImageTooLargeException>(error);
    }

    [Fact]
    public void CheckFile_ForgedJpeg_ThrowsImageTooLargeNamingTheFile()
    {
        using var folder = new TemporaryDirectory();
        var path = Path.Combine(folder.Path, "huge.jpg");
        File.WriteAllBytes(path, TestJpeg.WithStrayByteBeforeDqt(TestJpeg.ClaimingSize(9000, 9000)));

        var error = Assert.Throws<ImageTooLargeException>(() => ImageDimensions.CheckFile(path));
        Assert.Contains("huge.jpg", error.Message, StringComparison.Ordinal);

        var decodeError = Assert.Throws<ImageTooLargeException>(() => Decoder.DecodeFile(path));
        Assert.Contains("huge.jpg", decodeError.Message, StringComparison.Ordinal);
    }
}
