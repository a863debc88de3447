using Mmrag.Clip.Preprocessing;

namespace Mmrag.Clip.Tests.Preprocessing;

public class PillowBicubicResizerTests
{
    [Theory]
    [InlineData(640, 480, 298, 224)]   // both passes, downscale
    [InlineData(50, 40, 224, 179)]     // both passes, upscale
    [InlineData(224, 500, 224, 224)]   // vertical only
    [InlineData(500, 224, 224, 224)]   // horizontal only
    [InlineData(31, 17, 31, 17)]       // no resampling
    public void ResizeRegion_AnyRectangle_EqualsThatPartOfTheFullResize(int sourceWidth, int sourceHeight, int width, int height)
    {
        var source = TestImages.Random(sourceWidth, sourceHeight, seed: sourceWidth * sourceHeight);
        var full = PillowBicubicResizer.Resize(source, width, height);
        var random = new Random(width + height);

        for (var trial = 0; trial < 8; trial++)
        {
            var left = random.Next(width);
            var top = random.Next(height);
            var regionWidth = random.Next(1, width - left + 1);
            var regionHeight = random.Next(1, height - top + 1);
            var stride = regionWidth * 3 + 5;
            var region = new byte[(regionHeight - 1) * stride + regionWidth * 3];

            PillowBicubicResizer.ResizeRegion(source.Pixels, sourceWidth, sourceHeight, width, height, left, top, regionWidth, regionHeight, region, stride);

            for (var y = 0; y < regionHeight; y++)
            {
                var expected = full.Pixels.AsSpan(((top + y) * width + left) * 3, regionWidth * 3);
                Assert.True(expected.SequenceEqual(region.AsSpan(y * stride, regionWidth * 3)), $"row {y} of region ({left},{top}) {regionWidth}x{regionHeight}");
            }
        }
    }

    [Theory]
    [InlineData(640, 480, 298, 224)]
    [InlineData(7, 5, 224, 160)]
    [InlineData(3000, 40, 224, 3)]
    [InlineData(640, 480, 640, 224)]
    [InlineData(37, 500, 37, 100)]
    [InlineData(5, 3000, 5, 224)]
    [InlineData(1024, 768, 298, 224)]
    [InlineData(4000, 60, 298, 20)]
    [InlineData(16, 16, 3, 3)]
    [InlineData(6, 2, 1, 1)]
    public void Resize_EveryVectorWidth_GivesTheScalarBytes(int sourceWidth, int sourceHeight, int width, int height)
    {
        var source = TestImages.Random(sourceWidth, sourceHeight, seed: sourceWidth + sourceHeight);

        var scalar = PillowBicubicResizer.Resize(source, width, height, vectorBits: 0);

        // Widths the machine lacks fall back to the next narrower path, so each runs what this machine can.
        foreach (var bits in new[] { 128, 256, 512 })
        {
            Assert.True(scalar.Pixels.AsSpan().SequenceEqual(PillowBicubicResizer.Resize(source, width, height, bits).Pixels), $"{bits}-bit vectors");
        }
    }

    [Theory]
    [InlineData(640, 298)]
    [InlineData(1, 224)]
    [InlineData(4000, 224)]
    [InlineData(225, 224)]
    public void GetCoefficients_EveryOutputIndex_SumsToOneInFixedPoint(int inSize, int outSize)
    {
        var c = PillowBicubicResizer.GetCoefficients(inSize, outSize, 0, outSize);

        for (var i = 0; i < outSize; i++)
        {
            Assert.InRange(c.Start[i], 0, inSize - 1);
            Assert.InRange(c.Start[i] + c.Count[i], 1, inSize);
            var sum = c.Weights.AsSpan(i * c.KernelSize, c.Count[i]).ToArray().Sum();
            Assert.InRange(sum, (1 << 22) - c.Count[i], (1 << 22) + c.Count[i]);
        }
    }

    [Fact]
    public void Resize_SolidColour_StaysSolid()
    {
        var pixels = new byte[37 * 23 * 3];
        for (var i = 0; i < pixels.Length; i += 3)
        {
            (pixels[i], pixels[i + 1], pixels[i + 2]) = ((byte)200, (byte)7, (byte)255);
        }

        var resized = PillowBicubicResizer.Resize(new RgbImage(37, 23, pixels), 101, 9);

        for (var i = 0; i < resized.Pixels.Length; i += 3)
        {
            Assert.Equal((200, 7, 255), (resized.Pixels[i], resized.Pixels[i + 1], resized.Pixels[i + 2]));
        }
    }
}
