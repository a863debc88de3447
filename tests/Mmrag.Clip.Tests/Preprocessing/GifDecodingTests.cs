using Mmrag.Clip.Preprocessing;
using SkiaSharp;

namespace Mmrag.Clip.Tests.Preprocessing;

/// <summary>The first-frame GIF reader on synthetic files: Pillow's canvas rules, interlacing, long LZW streams.</summary>
public class GifDecodingTests
{
    private static readonly SkiaImageDecoder Decoder = SkiaImageDecoder.Instance;

    private static readonly byte[] FourColours = [255, 0, 0, 0, 255, 0, 0, 0, 255, 9, 8, 7];

    [Fact]
    public void Decode_TransparentFrameSmallerThanScreen_KeepsPaletteColourOfTransparentIndex()
    {
        // 4x3 screen, 2x2 frame at (1,1) with transparent index 2 (blue); Pillow fills the canvas with index 2.
        var gif = TestGif.Encode(4, 3, FourColours, new TestGif.Frame(1, 1, 2, 2, [2, 1, 0, 3]) { TransparentIndex = 2 });

        var image = Decoder.Decode(gif);

        byte[] b = [0, 0, 255], g = [0, 255, 0], r = [255, 0, 0], x = [9, 8, 7];
        byte[][] expected = [b, b, b, b, b, b, g, b, b, r, x, b];
        Assert.Equal((4, 3), (image.Width, image.Height));
        Assert.Equal(expected.SelectMany(p => p).ToArray(), image.Pixels);
    }

    [Fact]
    public void Decode_OpaqueFrameSmallerThanScreen_FillsWithIndexZero()
    {
        var gif = TestGif.Encode(3, 1, FourColours, new TestGif.Frame(2, 0, 1, 1, [3]));

        Assert.Equal(new byte[] { 255, 0, 0, 255, 0, 0, 9, 8, 7 }, Decoder.Decode(gif).Pixels);
    }

    [Fact]
    public void Decode_FrameLargerThanScreen_GrowsTheCanvas()
    {
        var gif = TestGif.Encode(1, 1, FourColours, new TestGif.Frame(1, 0, 1, 2, [1, 3]));

        var image = Decoder.Decode(gif);

        Assert.Equal((2, 2), (image.Width, image.Height));
        Assert.Equal(new byte[] { 255, 0, 0, 0, 255, 0, 255, 0, 0, 9, 8, 7 }, image.Pixels);
    }

    [Fact]
    public void Decode_LocalPalette_WinsOverGlobal()
    {
        byte[] local = [1, 2, 3, 4, 5, 6];
        var gif = TestGif.Encode(2, 1, FourColours, new TestGif.Frame(0, 0, 2, 1, [1, 0]) { LocalPalette = local });

        Assert.Equal(new byte[] { 4, 5, 6, 1, 2, 3 }, Decoder.Decode(gif).Pixels);
    }

    [Fact]
    public void Decode_NoPalette_UsesIndexAsGrey()
    {
        var gif = TestGif.Encode(2, 1, null, new TestGif.Frame(0, 0, 2, 1, [7, 200]));

        Assert.Equal(new byte[] { 7, 7, 7, 200, 200, 200 }, Decoder.Decode(gif).Pixels);
    }

    [Theory]
    [InlineData(1, 1)]
    [InlineData(7, 13)]
    [InlineData(31, 9)]
    public void Decode_Interlaced_EqualsNonInterlaced(int width, int height)
    {
        var indices = RandomIndices(width * height, 4, seed: width * height);

        var plain = Decoder.Decode(TestGif.Encode(width, height, FourColours, new TestGif.Frame(0, 0, width, height, indices)));
        var interlaced = Decoder.Decode(TestGif.Encode(width, height, FourColours, new TestGif.Frame(0, 0, width, height, indices) { Interlaced = true }));

        Assert.Equal(plain.Pixels, interlaced.Pixels);
    }

    [Theory]
    [InlineData(4, 1)]     // long runs: the KwKwK case over and over
    [InlineData(256, 2)]   // random bytes: the table fills up and is cleared
    [InlineData(3, 3)]
    public void Decode_OpaqueGif_MatchesSkia(int colours, int seed)
    {
        var palette = new byte[256 * 3];
        new Random(seed).NextBytes(palette);
        var (width, height) = (160, 120);
        var indices = colours == 4
            ? Enumerable.Range(0, width * height).Select(i => (byte)(i / 1000 % 4)).ToArray()
            : RandomIndices(width * height, colours, seed);
        var gif = TestGif.Encode(width, height, palette, new TestGif.Frame(0, 0, width, height, indices));

        var ours = Decoder.Decode(gif);
        using var skia = SKBitmap.Decode(gif, new SKImageInfo(width, height, SKColorType.Rgba8888, SKAlphaType.Unpremul));

        var expected = new byte[width * height * 3];
        var rgba = skia.GetPixelSpan();
        for (var i = 0; i < width * height; i++)
        {
            expected[i * 3] = rgba[i * 4];
            expected[i * 3 + 1] = rgba[i * 4 + 1];
            expected[i * 3 + 2] = rgba[i * 4 + 2];
        }

        Assert.Equal(expected, ours.Pixels);
    }

    [Fact]
    public void Decode_GifWithoutImage_Throws()
    {
        var gif = TestGif.Encode(2, 2, FourColours);

        var ex = Assert.Throws<ImageDecodeException>(() => Decoder.Decode(gif));
        Assert.Contains("no image", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Decode_UndefinedLzwCode_ThrowsCorrupt()
    {
        // Image data: one sub-block with code 0b111 (7) right after a clear: 2-bit palette, code size 3, next code is 6.
        byte[] gif = [.. "GIF89a"u8, 1, 0, 1, 0, 0x81, 0, 0, .. FourColours, 0x2C, 0, 0, 0, 0, 1, 0, 1, 0, 0, 2, 1, 0b00111100, 0, 0x3B];

        var ex = Assert.Throws<ImageDecodeException>(() => Decoder.Decode(gif));
        Assert.Contains("LZW", ex.Message, StringComparison.Ordinal);
    }

    private static byte[] RandomIndices(int count, int colours, int seed)
    {
        var random = new Random(seed);
        return Enumerable.Range(0, count).Select(_ => (byte)random.Next(colours)).ToArray();
    }
}
