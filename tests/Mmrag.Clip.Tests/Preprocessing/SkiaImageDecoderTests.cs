using System.Security.Cryptography;
using Mmrag.Clip.Preprocessing;
using Xunit.Abstractions;

namespace Mmrag.Clip.Tests.Preprocessing;

public class SkiaImageDecoderTests(ITestOutputHelper output)
{
    private static readonly SkiaImageDecoder Decoder = SkiaImageDecoder.Instance;

    public static TheoryData<string> AllImages => ImageManifest.Names(_ => true);

    public static TheoryData<string> LosslessImages => ImageManifest.Names(i => !i.LossySource);

    public static TheoryData<string> LossyImages => ImageManifest.Names(i => i.LossySource);

    [Theory]
    [MemberData(nameof(LosslessImages))]
    public void Decode_LosslessFixture_MatchesReferenceRgbHash(string name)
    {
        var image = ImageManifest.Get(name);

        var decoded = Decoder.Decode(image.ReadSource());

        Assert.Equal((image.Width, image.Height), (decoded.Width, decoded.Height));
        Assert.Equal(image.DecodedRgbSha256, Convert.ToHexStringLower(SHA256.HashData(decoded.Pixels)));
    }

    [Theory]
    [MemberData(nameof(LossyImages))]
    public void Decode_JpegFixture_MatchesReferenceRgbHash(string name)
    {
        // The reference is libjpeg-turbo (ISLOW IDCT, fancy upsampling), which is also what Skia uses: measured
        // identical on every fixture JPEG. A mismatch here means a different libjpeg-turbo; the README then
        // allows a small difference (crop mean abs diff < 0.5, max <= 2), which the means below help judge.
        var image = ImageManifest.Get(name);

        var decoded = Decoder.Decode(image.ReadSource());

        var means = ChannelMeans(decoded);
        output.WriteLine($"{name}: channel means {string.Join(", ", means.Select(m => m.ToString("F4")))} vs reference {string.Join(", ", image.DecodedRgbMean.Select(m => m.ToString("F4")))}");
        Assert.Equal((image.Width, image.Height), (decoded.Width, decoded.Height));
        Assert.Equal(image.DecodedRgbSha256, Convert.ToHexStringLower(SHA256.HashData(decoded.Pixels)));
    }

    [Fact]
    public void Decode_Gray16WithScale_KeepsHighByte()
    {
        var image = ImageManifest.All.Single(i => i.Quirk == "pillow_16bit_gray_clips");
        var bytes = image.ReadSource();

        var clipped = Decoder.Decode(bytes);
        var scaled = Decoder.Decode(bytes, new ImageDecodeOptions { Gray16 = Gray16Conversion.Scale });

        Assert.Equal(image.DecodedRgbSha256, Convert.ToHexStringLower(SHA256.HashData(clipped.Pixels)));
        Assert.NotEqual(clipped.Pixels, scaled.Pixels);
        Assert.Contains(scaled.Pixels, v => v is > 0 and < 255);
    }

    [Fact]
    public void Decode_ExifOrientationApplied_ReturnsDisplayedSize()
    {
        var image = ImageManifest.All.Single(i => i.AltExifTransposed is not null);
        var bytes = image.ReadSource();

        var raw = Decoder.Decode(bytes);
        var oriented = Decoder.Decode(bytes, new ImageDecodeOptions { ApplyExifOrientation = true });

        Assert.Equal((image.Width, image.Height), (raw.Width, raw.Height));
        Assert.Equal((image.AltExifTransposed!.Width, image.AltExifTransposed.Height), (oriented.Width, oriented.Height));
        // Orientation 6 is a clockwise quarter turn: the top-left displayed pixel is the stored bottom-left one.
        Assert.Equal(raw.Pixels.AsSpan((raw.Height - 1) * raw.Width * 3, 3).ToArray(), oriented.Pixels.AsSpan(0, 3).ToArray());
    }

    [Fact]
    public void Decode_EmptyInput_Throws()
    {
        var ex = Assert.Throws<ImageDecodeException>(() => Decoder.Decode(ReadOnlySpan<byte>.Empty));
        Assert.Contains("empty", ex.Message, StringComparison.OrdinalIgnoreCase);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(16)]
    [InlineData(4096)]
    public void Decode_RandomBytes_ThrowsUnrecognised(int length)
    {
        var bytes = new byte[length];
        new Random(20241123 + length).NextBytes(bytes);

        var ex = Assert.Throws<ImageDecodeException>(() => Decoder.Decode(bytes));
        output.WriteLine(ex.Message);
    }

    [Theory]
    [MemberData(nameof(AllImages))]
    public void Decode_FixtureCutShort_ThrowsTruncatedOrCorrupt(string name)
    {
        // 40 %, not half: a cut after the first GIF frame still decodes (below), as in Pillow.
        var bytes = ImageManifest.Get(name).ReadSource();

        var ex = Assert.Throws<ImageDecodeException>(() => Decoder.Decode(bytes.AsSpan(0, bytes.Length * 2 / 5)));
        output.WriteLine(ex.Message);
    }

    [Fact]
    public void Decode_AnimatedGifCutAfterFirstFrame_DecodesTheFirstFrame()
    {
        var image = ImageManifest.All.First(i => i.Format == "GIF" && i.Name.StartsWith("animated", StringComparison.Ordinal));
        var bytes = image.ReadSource();

        var decoded = Decoder.Decode(bytes.AsSpan(0, bytes.Length / 2));

        Assert.Equal(image.DecodedRgbSha256, Convert.ToHexStringLower(SHA256.HashData(decoded.Pixels)));
    }

    [Theory]
    [MemberData(nameof(AllImages))]
    public void Decode_FixtureOverPixelLimit_ThrowsNamingTheLimit(string name)
    {
        var image = ImageManifest.Get(name);
        var options = new ImageDecodeOptions { MaxPixels = (long)image.Width * image.Height - 1 };

        var ex = Assert.Throws<ImageTooLargeException>(() => Decoder.Decode(image.ReadSource(), options));
        Assert.Contains("MaxPixels", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Decode_PngHeaderClaiming60000x60000_ThrowsBeforeAllocating()
    {
        var png = TestPng.HeaderOnly(60000, 60000);

        var before = GC.GetAllocatedBytesForCurrentThread();
        var ex = Assert.Throws<ImageTooLargeException>(() => Decoder.Decode(png));
        var allocated = GC.GetAllocatedBytesForCurrentThread() - before;

        Assert.Contains("60000x60000", ex.Message, StringComparison.Ordinal);
        Assert.Contains("MaxPixels", ex.Message, StringComparison.Ordinal);
        Assert.True(allocated < 1_000_000, $"allocated {allocated:N0} bytes");
    }

    public static TheoryData<string, byte[]> FormatsSkiaReadsButTheReferenceDoesNot()
    {
        var png = ImageManifest.All.First(i => i.Format == "PNG" && i.Width * i.Height < 100).ReadSource();
        var ico = new List<byte> { 0, 0, 1, 0, 1, 0, 1, 1, 0, 0, 1, 0, 32, 0 };
        ico.AddRange(BitConverter.GetBytes(png.Length));
        ico.AddRange(BitConverter.GetBytes(22));
        ico.AddRange(png);
        return new TheoryData<string, byte[]>
        {
            { "Ico", ico.ToArray() },
            { "Wbmp", [0, 0, 1, 1, 0x80] },
        };
    }

    [Theory]
    [MemberData(nameof(FormatsSkiaReadsButTheReferenceDoesNot))]
    public void Decode_FormatOutsideTheReference_ThrowsUnsupported(string format, byte[] bytes)
    {
        var ex = Assert.Throws<ImageDecodeException>(() => Decoder.Decode(bytes));

        Assert.Contains($"Unsupported image format {format}", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void DecodeFile_MissingFile_MessageNamesTheFile()
    {
        var path = Path.Combine(Path.GetTempPath(), $"mmrag-missing-{Guid.NewGuid():N}.png");

        var ex = Assert.Throws<ImageDecodeException>(() => Decoder.DecodeFile(path));

        Assert.Contains(path, ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void DecodeFile_CorruptFile_MessageNamesTheFileAndTheProblem()
    {
        var path = Path.Combine(Path.GetTempPath(), $"mmrag-corrupt-{Guid.NewGuid():N}.png");
        var bytes = ImageManifest.All.First(i => i.Format == "PNG").ReadSource();
        File.WriteAllBytes(path, bytes.AsSpan(0, bytes.Length / 2).ToArray());
        try
        {
            var ex = Assert.Throws<ImageDecodeException>(() => Decoder.DecodeFile(path));

            Assert.Contains(path, ex.Message, StringComparison.Ordinal);
            Assert.Contains("truncated", ex.Message, StringComparison.OrdinalIgnoreCase);
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Fact]
    public void DecodeFile_Fixture_EqualsDecodeOfBytes()
    {
        var image = ImageManifest.All.First();

        var fromFile = Decoder.DecodeFile(ClipFixtures.PathOf(image.File));

        Assert.Equal(Decoder.Decode(image.ReadSource()).Pixels, fromFile.Pixels);
    }

    [Fact]
    public void Decode_ConcurrentCalls_GiveTheSameResults()
    {
        var images = ImageManifest.All.Where(i => !i.LossySource).Take(6).Select(i => (i.DecodedRgbSha256, Bytes: i.ReadSource())).ToArray();
        var failures = 0;

        Parallel.For(0, images.Length * 4, new ParallelOptions { MaxDegreeOfParallelism = 4 }, i =>
        {
            var (sha, bytes) = images[i % images.Length];
            if (Convert.ToHexStringLower(SHA256.HashData(Decoder.Decode(bytes).Pixels)) != sha)
            {
                Interlocked.Increment(ref failures);
            }
        });

        Assert.Equal(0, failures);
    }

    [Theory]
    [InlineData(280, 224, 500, 400)] // 1000/280 = 3, 800/224 = 3: Pillow's draft takes 1/2
    [InlineData(125, 100, 125, 100)] // 8 and 8: 1/8
    [InlineData(250, 150, 250, 200)] // min(4, 5) = 4: 1/4
    public void Decode_JpegWithDraftSize_DecodesAtTheDctScalePillowChooses(int wantedWidth, int wantedHeight, int width, int height)
    {
        var jpeg = TestJpeg.Photo(1000, 800, seed: 1);

        var decoded = Decoder.Decode(jpeg, new ImageDecodeOptions { DraftSize = (_, _) => (wantedWidth, wantedHeight) });

        Assert.Equal((width, height), (decoded.Width, decoded.Height));
    }

    [Fact]
    public void Decode_JpegLessThanTwiceTheDraftSize_DecodesEveryPixel()
    {
        var jpeg = TestJpeg.Photo(1000, 800, seed: 2);

        var drafted = Decoder.Decode(jpeg, new ImageDecodeOptions { DraftSize = (_, _) => (501, 224) });

        Assert.Equal((1000, 800), (drafted.Width, drafted.Height));
        Assert.Equal(Decoder.Decode(jpeg).Pixels, drafted.Pixels);
    }

    [Fact]
    public void Decode_PngWithDraftSize_DecodesEveryPixel()
    {
        var image = ImageManifest.All.First(i => !i.LossySource && i.Width >= 448 && i.Height >= 448);

        var decoded = Decoder.Decode(image.ReadSource(), new ImageDecodeOptions { DraftSize = (_, _) => (224, 224) });

        Assert.Equal((image.Width, image.Height), (decoded.Width, decoded.Height));
    }

    [Fact]
    public void Decode_JpegWithDraftSize_StillRefusedOnItsFullSize()
    {
        var jpeg = TestJpeg.Photo(1000, 800, seed: 3);

        Assert.Throws<ImageTooLargeException>(() =>
            Decoder.Decode(jpeg, new ImageDecodeOptions { DraftSize = (_, _) => (125, 100), MaxPixels = 500_000 }));
    }

    private static double[] ChannelMeans(RgbImage image)
    {
        var sums = new long[3];
        for (var i = 0; i < image.Pixels.Length; i++)
        {
            sums[i % 3] += image.Pixels[i];
        }

        var count = (double)image.Width * image.Height;
        return [sums[0] / count, sums[1] / count, sums[2] / count];
    }
}
