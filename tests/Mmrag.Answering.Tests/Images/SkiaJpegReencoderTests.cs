using Mmrag.Answering.Images;
using Mmrag.Answering.Tests.Fakes;
using SkiaSharp;

namespace Mmrag.Answering.Tests.Images;

public sealed class SkiaJpegReencoderTests
{
    [Theory]
    [InlineData(1024, 768, 512, 512, 384)]
    [InlineData(100, 1000, 512, 51, 512)]
    [InlineData(300, 200, 512, 300, 200)]
    [InlineData(2000, 300, 256, 256, 38)]
    public void Reencode_LargerThanMaxSide_DownscalesKeepingAspectAndNeverUpscales(int width, int height, int maxSide, int expectedWidth, int expectedHeight)
    {
        var result = SkiaJpegReencoder.Instance.Reencode(TestImages.Png(width, height), maxSide, 85);

        Assert.Equal((expectedWidth, expectedHeight), (result.Width, result.Height));
        Assert.Equal((expectedWidth, expectedHeight), TestImages.DecodeJpegDataUrl(TestImages.JpegDataUrlPrefix + Convert.ToBase64String(result.Jpeg)));
    }

    [Fact]
    public void Reencode_ExifOrientation6_ProducesUprightImage()
    {
        var bytes = File.ReadAllBytes(ClipFixtures.ImagePath("exif_orientation6_640x480.jpg"));
        using var stored = SKBitmap.Decode(bytes);

        var result = SkiaJpegReencoder.Instance.Reencode(bytes, 640, 95);

        Assert.Equal((480, 640), (result.Width, result.Height));
        using var upright = SKBitmap.Decode(result.Jpeg);
        // Orientation 6 is a 90° clockwise turn: the stored bottom-left corner shows at the top left.
        var expected = stored.GetPixel(2, stored.Height - 3);
        var actual = upright.GetPixel(2, 2);
        Assert.True(Math.Abs(expected.Red - actual.Red) + Math.Abs(expected.Green - actual.Green) + Math.Abs(expected.Blue - actual.Blue) < 60,
            $"expected about {expected}, got {actual}");
    }

    [Fact]
    public void Reencode_NotAnImage_ThrowsInvalidData()
    {
        Assert.Throws<InvalidDataException>(() => SkiaJpegReencoder.Instance.Reencode("not an image"u8.ToArray(), 512, 85));
    }
}
