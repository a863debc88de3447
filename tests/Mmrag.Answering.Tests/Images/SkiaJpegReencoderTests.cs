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

    [Fact]
    public void Reencode_ForgedJpegClaiming9000x9000_RefusedBeforeDecoding()
    {
        // A 16 x 16 JPEG whose frame header says 9000 x 9000, with a stray byte before its quantization table (which
        // hides the frame header from a naive scan): Skia would decode it into 324 MB.
        using var bitmap = new SKBitmap(16, 16);
        bitmap.Erase(SKColors.Orange);
        using var encoded = bitmap.Encode(SKEncodedImageFormat.Jpeg, 90);
        var jpeg = encoded.ToArray().ToList();
        var sof = Marker(jpeg, 0xC0);
        jpeg[sof + 5] = jpeg[sof + 7] = 0x23;
        jpeg[sof + 6] = jpeg[sof + 8] = 0x28;
        jpeg.Insert(Marker(jpeg, 0xDB), 0x00);

        var error = Assert.Throws<InvalidDataException>(() => SkiaJpegReencoder.Instance.Reencode(jpeg.ToArray(), 512, 85));

        Assert.Contains("9000x9000", error.Message, StringComparison.Ordinal);
        Assert.Contains("40,000,000", error.Message, StringComparison.Ordinal);
        Assert.Equal(4, new SkiaJpegReencoder { MaxSourcePixels = 16 * 16 }.Reencode(TestImages.Png(16, 16), 2, 85).Pixels);
        Assert.Throws<InvalidDataException>(() => new SkiaJpegReencoder { MaxSourcePixels = 16 * 16 - 1 }.Reencode(TestImages.Png(16, 16), 2, 85));

        static int Marker(List<byte> bytes, byte marker) =>
            Enumerable.Range(2, bytes.Count - 3).First(i => bytes[i] == 0xFF && bytes[i + 1] == marker);
    }
}
