using Mmrag.Clip.Preprocessing;

namespace Mmrag.Clip.Tests.Preprocessing;

/// <summary>Synthetic PNGs for the cases the fixtures do not cover: every 16-bit colour type, Adam7, all row filters, eXIf.</summary>
public class PngDecodingTests
{
    private static readonly SkiaImageDecoder Decoder = SkiaImageDecoder.Instance;

    [Fact]
    public void Decode_Gray16_ClipsByDefaultAndKeepsHighByteWhenScaling()
    {
        ushort[] samples = [0, 200, 255, 256, 300, 65535];
        var png = TestPng.Encode(6, 1, colorType: 0, bitDepth: 16, samples);

        var clipped = Decoder.Decode(png);
        var scaled = Decoder.Decode(png, new ImageDecodeOptions { Gray16 = Gray16Conversion.Scale });

        Assert.Equal(Grey(0, 200, 255, 255, 255, 255), clipped.Pixels);
        Assert.Equal(Grey(0, 0, 0, 1, 1, 255), scaled.Pixels);
    }

    [Fact]
    public void Decode_GrayAlpha16_KeepsHighByteOfGreyAndDropsAlpha()
    {
        ushort[] samples = [0x12FF, 0, 0xAB01, 0xFFFF];
        var png = TestPng.Encode(2, 1, colorType: 4, bitDepth: 16, samples);

        Assert.Equal(Grey(0x12, 0xAB), Decoder.Decode(png).Pixels);
    }

    [Theory]
    [InlineData(2)]
    [InlineData(6)]
    public void Decode_Colour16_KeepsHighByteAndDropsAlpha(int colorType)
    {
        var channels = colorType == 2 ? 3 : 4;
        var samples = new ushort[5 * 3 * channels];
        var random = new Random(colorType);
        for (var i = 0; i < samples.Length; i++)
        {
            samples[i] = (ushort)random.Next(65536);
        }

        var decoded = Decoder.Decode(TestPng.Encode(5, 3, colorType, 16, samples));

        var expected = new byte[5 * 3 * 3];
        for (var p = 0; p < 15; p++)
        {
            for (var c = 0; c < 3; c++)
            {
                expected[p * 3 + c] = (byte)(samples[p * channels + c] >> 8);
            }
        }

        Assert.Equal(expected, decoded.Pixels);
    }

    [Theory]
    [InlineData(0, 8)]
    [InlineData(2, 8)]
    [InlineData(4, 8)]
    [InlineData(6, 8)]
    [InlineData(0, 16)]
    [InlineData(2, 16)]
    [InlineData(4, 16)]
    [InlineData(6, 16)]
    public void Decode_Interlaced_EqualsNonInterlaced(int colorType, int bitDepth)
    {
        var channels = colorType switch { 0 => 1, 2 => 3, 4 => 2, _ => 4 };
        var (width, height) = (13, 11);
        var samples = new ushort[width * height * channels];
        var random = new Random(colorType * 100 + bitDepth);
        for (var i = 0; i < samples.Length; i++)
        {
            samples[i] = (ushort)random.Next(bitDepth == 16 ? 65536 : 256);
        }

        var options = new ImageDecodeOptions { Gray16 = Gray16Conversion.Scale };
        var plain = Decoder.Decode(TestPng.Encode(width, height, colorType, bitDepth, samples), options);
        var interlaced = Decoder.Decode(TestPng.Encode(width, height, colorType, bitDepth, samples, interlaced: true), options);

        Assert.Equal(plain.Pixels, interlaced.Pixels);
    }

    public static TheoryData<string, byte[]> ColourChunks => new()
    {
        { "gAMA", [0, 1, 134, 160] },          // gamma 1.0
        { "gAMA", [0, 0, 39, 16] },            // gamma 0.1
        { "sRGB", [0] },
        { "cHRM", new byte[32] },
    };

    [Theory]
    [MemberData(nameof(ColourChunks))]
    public void Decode_PngWithColourChunk_ReturnsTheStoredSamples(string chunk, byte[] data)
    {
        // Pillow applies no colour management, so neither may we (Skia would, given a target colour space).
        ushort[] samples = [0, 64, 128, 192, 255, 30];
        foreach (var bitDepth in new[] { 8, 16 })
        {
            var stored = bitDepth == 16 ? samples.Select(v => (ushort)(v * 257)).ToArray() : samples;
            var png = TestPng.Encode(2, 1, colorType: 2, bitDepth, stored, extraChunks: [(chunk, data)]);

            Assert.Equal(samples.Select(v => (byte)v).ToArray(), Decoder.Decode(png).Pixels);
        }
    }

    [Fact]
    public void Decode_RgbaUnderZeroAlpha_KeepsTheColour()
    {
        ushort[] samples = [10, 20, 30, 0, 200, 100, 50, 0];
        var png = TestPng.Encode(2, 1, colorType: 6, bitDepth: 8, samples);

        Assert.Equal(new byte[] { 10, 20, 30, 200, 100, 50 }, Decoder.Decode(png).Pixels);
    }

    public static TheoryData<int, int> OrientationsAndDepths()
    {
        var data = new TheoryData<int, int>();
        for (var orientation = 1; orientation <= 8; orientation++)
        {
            data.Add(orientation, 8);
            data.Add(orientation, 16);
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(OrientationsAndDepths))]
    public void Decode_PngWithExifOrientation_AppliesItOnlyWhenAsked(int orientation, int bitDepth)
    {
        // 3x2 image "a b c / d e f", one grey level per pixel.
        ushort[] levels = [10, 20, 30, 40, 50, 60];
        var samples = bitDepth == 16 ? levels.Select(v => (ushort)(v << 8)).ToArray() : levels;
        var png = TestPng.Encode(3, 2, colorType: 0, bitDepth, samples, exif: TestPng.ExifWithOrientation(orientation));
        var options = new ImageDecodeOptions { Gray16 = Gray16Conversion.Scale };

        var stored = Decoder.Decode(png, options);
        var displayed = Decoder.Decode(png, options with { ApplyExifOrientation = true });

        Assert.Equal(Grey(10, 20, 30, 40, 50, 60), stored.Pixels);
        var (width, expected) = ExpectedDisplay(orientation);
        Assert.Equal(width, displayed.Width);
        Assert.Equal(Grey(expected), displayed.Pixels);
    }

    // Pillow's exif_transpose of "a b c / d e f" (a = 10 ... f = 60), derived by hand from the EXIF definitions.
    private static (int Width, byte[] Pixels) ExpectedDisplay(int orientation) => orientation switch
    {
        1 => (3, [10, 20, 30, 40, 50, 60]),
        2 => (3, [30, 20, 10, 60, 50, 40]), // mirrored
        3 => (3, [60, 50, 40, 30, 20, 10]), // rotated 180
        4 => (3, [40, 50, 60, 10, 20, 30]), // flipped
        5 => (2, [10, 40, 20, 50, 30, 60]), // transposed
        6 => (2, [40, 10, 50, 20, 60, 30]), // rotated 90 clockwise
        7 => (2, [60, 30, 50, 20, 40, 10]), // transversed
        _ => (2, [30, 60, 20, 50, 10, 40]), // rotated 90 counter-clockwise
    };

    [Fact]
    public void Decode_Png16CutInsideImageData_ThrowsTruncated()
    {
        var samples = new ushort[64 * 64 * 3];
        new Random(7).NextBytes(System.Runtime.InteropServices.MemoryMarshal.AsBytes(samples.AsSpan()));
        var png = TestPng.Encode(64, 64, 2, 16, samples);

        var ex = Assert.Throws<ImageDecodeException>(() => Decoder.Decode(png.AsSpan(0, png.Length * 2 / 3)));

        Assert.Contains("truncated", ex.Message, StringComparison.OrdinalIgnoreCase);
    }

    [Fact]
    public void Decode_Png16WithBrokenCompressedData_ThrowsCorrupt()
    {
        var samples = new ushort[16 * 16];
        var png = TestPng.Encode(16, 16, 0, 16, samples);
        var idat = png.AsSpan().IndexOf("IDAT"u8);
        png.AsSpan(idat + 4, 8).Fill(0xFF);

        Assert.Throws<ImageDecodeException>(() => Decoder.Decode(png));
    }

    private static byte[] Grey(params byte[] levels) => levels.SelectMany(v => new[] { v, v, v }).ToArray();
}
