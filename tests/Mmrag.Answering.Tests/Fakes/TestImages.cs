using SkiaSharp;

namespace Mmrag.Answering.Tests.Fakes;

/// <summary>Decodes what went over the wire.</summary>
internal static class TestImages
{
    public const string JpegDataUrlPrefix = "data:image/jpeg;base64,";

    /// <summary>Decodes a <c>data:image/jpeg;base64,…</c> URL; asserts it is a JPEG and returns its size.</summary>
    public static (int Width, int Height) DecodeJpegDataUrl(string url)
    {
        Assert.StartsWith(JpegDataUrlPrefix, url, StringComparison.Ordinal);
        var bytes = Convert.FromBase64String(url[JpegDataUrlPrefix.Length..]);
        Assert.True(bytes is [0xFF, 0xD8, 0xFF, ..], "the data URL does not hold a JPEG");
        using var codec = SKCodec.Create(new MemoryStream(bytes));
        Assert.NotNull(codec);
        Assert.Equal(SKEncodedImageFormat.Jpeg, codec.EncodedFormat);
        return (codec.Info.Width, codec.Info.Height);
    }

    /// <summary>A PNG of the given size with a pattern that depends on <paramref name="seed"/>.</summary>
    public static byte[] Png(int width, int height, int seed = 1)
    {
        using var bitmap = new SKBitmap(width, height);
        for (var y = 0; y < height; y++)
        {
            for (var x = 0; x < width; x++)
            {
                bitmap.SetPixel(x, y, new SKColor((byte)((x * seed) % 256), (byte)((y * 3) % 256), (byte)((x + y + (seed * 50)) % 256)));
            }
        }

        using var image = SKImage.FromBitmap(bitmap);
        using var data = image.Encode(SKEncodedImageFormat.Png, 100);
        return data.ToArray();
    }

    /// <summary>The size an image of <paramref name="width"/> × <paramref name="height"/> is sent at.</summary>
    public static (int Width, int Height) Expected(int width, int height, int maxSide)
    {
        var scale = Math.Min(1.0, (double)maxSide / Math.Max(width, height));
        return (Math.Max(1, (int)Math.Round(width * scale)), Math.Max(1, (int)Math.Round(height * scale)));
    }
}
