using System.Security.Cryptography;
using Mmrag.Clip.Preprocessing;
using SkiaSharp;

namespace Mmrag.Clip.Tests.Preprocessing;

public class TurboJpegTests
{
    public static TheoryData<string> FixtureJpegs => ImageManifest.Names(i => i.LossySource);

    [TurboJpegTheory]
    [MemberData(nameof(FixtureJpegs))]
    public void TryDecode_FixtureJpeg_MatchesReferenceRgbHash(string name)
    {
        var image = ImageManifest.Get(name);

        Assert.True(TurboJpeg.TryDecode(image.ReadSource(), static (_, _) => { }, out var decoded));

        Assert.Equal((image.Width, image.Height), (decoded!.Width, decoded.Height));
        Assert.Equal(image.DecodedRgbSha256, Convert.ToHexStringLower(SHA256.HashData(decoded.Pixels)));
    }

    [TurboJpegTheory]
    [InlineData(1, 1, SKJpegEncoderDownsample.Downsample420, 90)]
    [InlineData(17, 9, SKJpegEncoderDownsample.Downsample420, 75)]
    [InlineData(333, 7, SKJpegEncoderDownsample.Downsample422, 95)]
    [InlineData(7, 333, SKJpegEncoderDownsample.Downsample444, 50)]
    [InlineData(1024, 768, SKJpegEncoderDownsample.Downsample420, 90)]
    [InlineData(641, 479, SKJpegEncoderDownsample.Downsample422, 100)]
    [InlineData(255, 257, SKJpegEncoderDownsample.Downsample444, 10)]
    public void TryDecode_GeneratedColourJpeg_SameBytesAsTheSkiaDecode(int width, int height, SKJpegEncoderDownsample subsampling, int quality)
    {
        var jpeg = Encode(TestJpeg.Photo(width, height, seed: width * 31 + height), SKColorType.Rgba8888, subsampling, quality);

        AssertSameAsSkia(jpeg, width, height);
    }

    [TurboJpegTheory]
    [InlineData(1, 1)]
    [InlineData(250, 250)]
    [InlineData(301, 199)]
    public void TryDecode_GeneratedGreyJpeg_SameBytesAsTheSkiaDecode(int width, int height)
    {
        var jpeg = Encode(TestJpeg.Photo(width, height, seed: height), SKColorType.Gray8, SKJpegEncoderDownsample.Downsample444, 85);

        AssertSameAsSkia(jpeg, width, height);
    }

    [TurboJpegFact]
    public void TryDecode_TruncatedJpeg_DeclinesSoTheSkiaDecodeReportsIt()
    {
        var jpeg = TestJpeg.Photo(320, 240, seed: 5);

        Assert.False(TurboJpeg.TryDecode(jpeg.AsSpan(0, jpeg.Length / 2), static (_, _) => { }, out _));
        var ex = Assert.Throws<ImageDecodeException>(() => SkiaImageDecoder.Instance.Decode(jpeg.AsSpan(0, jpeg.Length / 2)));
        Assert.Contains("truncated", ex.Message, StringComparison.Ordinal);
    }

    [TurboJpegFact]
    public void TryDecode_SizeRefused_ThrowsBeforeDecoding()
    {
        var jpeg = TestJpeg.ClaimingSize(60_000, 60_000);
        var seen = (0, 0);

        Assert.Throws<ImageTooLargeException>(() => TurboJpeg.TryDecode(jpeg, (w, h) =>
        {
            seen = (w, h);
            throw new ImageTooLargeException(w, h, (long)w * h, 1);
        }, out _));
        Assert.Equal((60_000, 60_000), seen);
    }

    [TurboJpegTheory]
    [InlineData(800, 600)]
    [InlineData(2100, 1500)]
    [InlineData(300, 2000)]
    public void PreprocessImage_JpegDecodedIntoNativeMemory_SamePixelValuesAsTheSkiaDecode(int width, int height)
    {
        // 2100x1500 is a 9 MB decode, in huge-page memory; 800x600 an ordinary allocation.
        var model = Inference.SharedModel.Instance;
        var jpeg = TestJpeg.Photo(width, height, seed: width + height);
        var expected = new float[model.PixelValuesLength];
        model.ImagePreprocessor.WritePixelValues(SkiaImageDecoder.DecodeWithSkia(jpeg, ImageDecodeOptions.Default, out _), expected);

        Assert.True(SkiaImageDecoder.TryDecodeJpeg(jpeg, ImageDecodeOptions.Default, out var decoded));
        decoded.Dispose();
        var actual = new float[model.PixelValuesLength];
        model.PreprocessImage(jpeg, actual);

        Assert.Equal(expected, actual);
    }

    [TurboJpegFact]
    public void TryDecodeJpeg_OrientationOrDraftAsked_LeftToTheDecoder()
    {
        var jpeg = TestJpeg.Photo(64, 48, seed: 1);

        Assert.False(SkiaImageDecoder.TryDecodeJpeg(jpeg, new ImageDecodeOptions { ApplyExifOrientation = true }, out _));
        Assert.False(SkiaImageDecoder.TryDecodeJpeg(jpeg, new ImageDecodeOptions { DraftSize = static (w, h) => (w / 2, h / 2) }, out _));
    }

    private static void AssertSameAsSkia(byte[] jpeg, int width, int height)
    {
        var skia = SkiaImageDecoder.DecodeWithSkia(jpeg, ImageDecodeOptions.Default, out _);

        Assert.True(TurboJpeg.TryDecode(jpeg, static (_, _) => { }, out var turbo));

        Assert.Equal((width, height), (turbo!.Width, turbo.Height));
        Assert.Equal(skia.Pixels, turbo.Pixels);
        Assert.Equal(skia.Pixels, SkiaImageDecoder.Instance.Decode(jpeg).Pixels);
    }

    /// <summary>Re-encodes a JPEG's pixels (decoded by Skia) with the given colour type, chroma subsampling and quality.</summary>
    private static byte[] Encode(byte[] source, SKColorType colorType, SKJpegEncoderDownsample subsampling, int quality)
    {
        using var decoded = SKBitmap.Decode(source);
        using var converted = new SKBitmap(decoded.Width, decoded.Height, colorType, SKAlphaType.Opaque);
        Assert.True(decoded.CopyTo(converted, colorType));
        using var pixmap = converted.PeekPixels();
        using var data = pixmap.Encode(new SKJpegEncoderOptions(quality, subsampling, SKJpegEncoderAlphaOption.Ignore));
        return data?.ToArray() ?? throw new InvalidOperationException("Skia could not encode the JPEG.");
    }
}

/// <summary>
/// A test of the system's libjpeg-turbo (<c>apt-get install libturbojpeg0</c>): skipped with a message where it is not
/// installed, but run (and failing) when <c>CI=true</c>, so CI cannot pass on the Skia fallback alone.
/// </summary>
public sealed class TurboJpegFactAttribute : FactAttribute
{
    public TurboJpegFactAttribute()
    {
        Skip = TurboJpegTheoryAttribute.UnavailableReason;
    }
}

/// <summary>The theory form of <see cref="TurboJpegFactAttribute"/>.</summary>
public sealed class TurboJpegTheoryAttribute : TheoryAttribute
{
    public TurboJpegTheoryAttribute()
    {
        Skip = UnavailableReason;
    }

    internal static string? UnavailableReason =>
        TurboJpeg.IsAvailable || string.Equals(Environment.GetEnvironmentVariable("CI"), "true", StringComparison.OrdinalIgnoreCase) ? null
        : "libturbojpeg.so.0 not found: install it with 'apt-get install -y libturbojpeg0' (in CI this test fails instead).";
}
