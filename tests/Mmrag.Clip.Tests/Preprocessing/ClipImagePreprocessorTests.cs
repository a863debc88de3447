using System.Runtime.InteropServices;
using Mmrag.Clip.Preprocessing;
using Xunit.Abstractions;

namespace Mmrag.Clip.Tests.Preprocessing;

public class ClipImagePreprocessorTests(ITestOutputHelper output)
{
    private static readonly Lazy<ClipImagePreprocessor> Reference = new(() =>
        new ClipImagePreprocessor(ImagePreprocessorConfig.Load(ClipFixtures.ModelDirectory)));

    private static readonly SkiaImageDecoder Decoder = SkiaImageDecoder.Instance;

    public static TheoryData<string> AllImages => ImageManifest.Names(_ => true);

    public static TheoryData<string> LosslessImages => ImageManifest.Names(i => !i.LossySource);

    public static TheoryData<string> LossyImages => ImageManifest.Names(i => i.LossySource);

    public static TheoryData<string> ImagesWithPixelValues => ImageManifest.Names(i => i.PixelValues is not null);

    public static TheoryData<string> LosslessImagesWithPixelValues => ImageManifest.Names(i => i.PixelValues is not null && !i.LossySource);

    private static ClipImagePreprocessor Preprocessor => Reference.Value;

    [Theory]
    [MemberData(nameof(AllImages))]
    public void ComputeResize_Fixture_MatchesReferenceSizeAndOffsets(string name)
    {
        var image = ImageManifest.Get(name);

        var plan = Preprocessor.ComputeResize(image.Width, image.Height);

        Assert.Equal(new ResizePlan(image.ResizedWidth, image.ResizedHeight, image.CropLeft, image.CropTop), plan);
    }

    [Theory]
    [MemberData(nameof(LosslessImages))]
    public void ResizeAndCrop_LosslessFixture_IsBitExact(string name)
    {
        var image = ImageManifest.Get(name);

        var crop = Preprocessor.ResizeAndCrop(Decoder.Decode(image.ReadSource()));

        AssertSameBytes(ImageManifest.ReadFixture(image.CropU8), crop);
    }

    [Theory]
    [MemberData(nameof(LossyImages))]
    public void ResizeAndCrop_JpegFixture_IsBitExact(string name)
    {
        // Skia's libjpeg-turbo decodes the fixture JPEGs exactly like the reference's, so the crop is exact too.
        var image = ImageManifest.Get(name);

        var crop = Preprocessor.ResizeAndCrop(Decoder.Decode(image.ReadSource()));

        var (max, mean, differing) = Difference(ImageManifest.ReadFixture(image.CropU8), crop);
        output.WriteLine($"{name}: max abs diff {max}, mean abs diff {mean:F4}, {differing:N0} of {crop.Length:N0} bytes differ");
        Assert.True(differing == 0, $"{differing} bytes differ: max abs diff {max}, mean {mean:F4} (README tolerance for another JPEG decoder: mean < 0.5, max <= 2)");
    }

    [Fact]
    public void ResizeAndCrop_ExifOrientationApplied_MatchesTransposedReference()
    {
        var image = ImageManifest.All.Single(i => i.AltExifTransposed is not null);
        var alt = image.AltExifTransposed!;

        var decoded = Decoder.Decode(image.ReadSource(), new ImageDecodeOptions { ApplyExifOrientation = true });
        var plan = Preprocessor.ComputeResize(decoded.Width, decoded.Height);
        var crop = Preprocessor.ResizeAndCrop(decoded);

        Assert.Equal(new ResizePlan(alt.ResizedWidth, alt.ResizedHeight, alt.CropLeft, alt.CropTop), plan);
        AssertSameBytes(ImageManifest.ReadFixture(alt.CropU8), crop);
    }

    [Fact]
    public void ResizeAndCrop_Gray16Scaled_MatchesScaledReference()
    {
        var image = ImageManifest.All.Single(i => i.AltScaled16Bit is not null);

        var decoded = Decoder.Decode(image.ReadSource(), new ImageDecodeOptions { Gray16 = Gray16Conversion.Scale });

        AssertSameBytes(ImageManifest.ReadFixture(image.AltScaled16Bit!.CropU8), Preprocessor.ResizeAndCrop(decoded));
    }

    [Fact]
    public void NormalizationTable_MatchesReferenceLutBitForBit()
    {
        var expected = MemoryMarshal.Cast<byte, float>(ImageManifest.ReadFixture("expected/normalize_lut.f32.bin"));

        AssertSameFloats(expected, Preprocessor.NormalizationTable);
    }

    [Theory]
    [MemberData(nameof(ImagesWithPixelValues))]
    public void WritePixelValues_ReferenceCrop_IsBitExact(string name)
    {
        var image = ImageManifest.Get(name);
        var values = new float[Preprocessor.PixelCount];

        Preprocessor.WritePixelValues(ImageManifest.ReadFixture(image.CropU8), values);

        AssertSameFloats(MemoryMarshal.Cast<byte, float>(ImageManifest.ReadFixture(image.PixelValues!)), values);
    }

    [Theory]
    [MemberData(nameof(LosslessImagesWithPixelValues))]
    public void WritePixelValues_LosslessFixtureFile_IsBitExact(string name)
    {
        var image = ImageManifest.Get(name);
        var values = new float[Preprocessor.PixelCount + 5];
        values.AsSpan().Fill(float.NaN);

        Preprocessor.WritePixelValues(Decoder.Decode(image.ReadSource()), values);

        AssertSameFloats(MemoryMarshal.Cast<byte, float>(ImageManifest.ReadFixture(image.PixelValues!)), values.AsSpan(0, Preprocessor.PixelCount));
        Assert.All(values[Preprocessor.PixelCount..], v => Assert.True(float.IsNaN(v)));
    }

    [Fact]
    public void OutputShape_ReferenceConfig_Is3x224x224()
    {
        Assert.Equal((3, 224, 224), Preprocessor.OutputShape);
        Assert.Equal(3 * 224 * 224, Preprocessor.PixelCount);
        Assert.Equal(224 * 224 * 3, Preprocessor.CropByteCount);
    }

    [Theory]
    [InlineData(100, 100, -62, -62)]
    [InlineData(101, 100, -62, -62)] // odd excess: HF pads ceil(123 / 2) = 62 before, 61 after
    [InlineData(300, 50, 38, -87)]   // wider than the crop and shorter than it
    public void ResizeAndCrop_ImageSmallerThanCrop_PadsWithZerosLikeHuggingFace(int width, int height, int cropLeft, int cropTop)
    {
        var preprocessor = new ClipImagePreprocessor(ImagePreprocessorConfig.ClipDefault with { DoResize = false });
        var source = TestImages.Random(width, height, seed: width + height);

        var crop = preprocessor.ResizeAndCrop(source);

        Assert.Equal(new ResizePlan(width, height, cropLeft, cropTop), preprocessor.ComputeResize(width, height));
        for (var y = 0; y < 224; y++)
        {
            for (var x = 0; x < 224; x++)
            {
                int sx = x + cropLeft, sy = y + cropTop;
                var inside = sx >= 0 && sx < width && sy >= 0 && sy < height;
                for (var c = 0; c < 3; c++)
                {
                    var expected = inside ? source.Pixels[(sy * width + sx) * 3 + c] : (byte)0;
                    Assert.Equal(expected, crop[(y * 224 + x) * 3 + c]);
                }
            }
        }
    }

    [Fact]
    public void ResizeAndCrop_FixedSizeSmallerThanCrop_ResizesThenPads()
    {
        var config = ImagePreprocessorConfig.ClipDefault with { ShortestEdge = null, ResizeHeight = 100, ResizeWidth = 150 };
        var preprocessor = new ClipImagePreprocessor(config);
        var source = TestImages.Random(640, 480, seed: 3);

        var crop = preprocessor.ResizeAndCrop(source);

        var resized = PillowBicubicResizer.Resize(source, 150, 100);
        Assert.Equal(new ResizePlan(150, 100, -37, -62), preprocessor.ComputeResize(640, 480));
        for (var y = 0; y < 224; y++)
        {
            for (var x = 0; x < 224; x++)
            {
                int sx = x - 37, sy = y - 62;
                var inside = sx is >= 0 and < 150 && sy is >= 0 and < 100;
                Assert.Equal(inside ? resized.Pixels[(sy * 150 + sx) * 3] : 0, crop[(y * 224 + x) * 3]);
            }
        }

        var values = new float[preprocessor.PixelCount];
        preprocessor.WritePixelValues(source, values);
        Assert.Equal(preprocessor.NormalizationTable[0], values[0]); // padding is level 0 before normalization
    }

    [Fact]
    public void Constructor_NoCropAndFixedSize_OutputsTheFixedSize()
    {
        var config = ImagePreprocessorConfig.ClipDefault with { ShortestEdge = null, ResizeHeight = 32, ResizeWidth = 48, DoCenterCrop = false };

        var preprocessor = new ClipImagePreprocessor(config);

        Assert.Equal((3, 32, 48), preprocessor.OutputShape);
        Assert.Equal(PillowBicubicResizer.Resize(TestImages.Random(90, 70, 1), 48, 32).Pixels, preprocessor.ResizeAndCrop(TestImages.Random(90, 70, 1)));
    }

    [Fact]
    public void Constructor_NoCropWithShortestEdge_ThrowsNamingTheKey()
    {
        var ex = Assert.Throws<ClipModelException>(() => new ClipImagePreprocessor(ImagePreprocessorConfig.ClipDefault with { DoCenterCrop = false }));

        Assert.Contains("do_center_crop", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void WritePixelValues_ConcurrentCalls_GiveTheSameResults()
    {
        var images = ImageManifest.All.Where(i => !i.LossySource).Take(4).Select(i => Decoder.Decode(i.ReadSource())).ToArray();
        var expected = images.Select(i => Preprocessor.ResizeAndCrop(i)).ToArray();
        var failures = 0;

        Parallel.For(0, images.Length * 4, new ParallelOptions { MaxDegreeOfParallelism = 4 }, i =>
        {
            if (!Preprocessor.ResizeAndCrop(images[i % images.Length]).AsSpan().SequenceEqual(expected[i % images.Length]))
            {
                Interlocked.Increment(ref failures);
            }
        });

        Assert.Equal(0, failures);
    }

    private static (int Max, double Mean, int Differing) Difference(byte[] expected, byte[] actual)
    {
        Assert.Equal(expected.Length, actual.Length);
        int max = 0, differing = 0;
        long sum = 0;
        for (var i = 0; i < expected.Length; i++)
        {
            var d = Math.Abs(expected[i] - actual[i]);
            max = Math.Max(max, d);
            sum += d;
            differing += d > 0 ? 1 : 0;
        }

        return (max, (double)sum / expected.Length, differing);
    }

    private static void AssertSameBytes(byte[] expected, byte[] actual)
    {
        var (max, _, differing) = Difference(expected, actual);
        Assert.True(differing == 0, $"{differing} bytes differ, max abs diff {max}");
    }

    private static void AssertSameFloats(ReadOnlySpan<float> expected, ReadOnlySpan<float> actual)
    {
        Assert.Equal(expected.Length, actual.Length);
        var first = -1;
        var differing = 0;
        for (var i = 0; i < expected.Length; i++)
        {
            if (BitConverter.SingleToInt32Bits(expected[i]) != BitConverter.SingleToInt32Bits(actual[i]))
            {
                differing++;
                first = first < 0 ? i : first;
            }
        }

        Assert.True(differing == 0, $"{differing} values differ; first at {first}");
    }
}
