using Mmrag.Clip.Preprocessing;

namespace Mmrag.Clip.Tests.Preprocessing;

internal static class TestImages
{
    /// <summary>A seeded noise image: the hardest case for a resampler to get exactly right.</summary>
    public static RgbImage Random(int width, int height, int seed)
    {
        var pixels = new byte[width * height * 3];
        new Random(seed).NextBytes(pixels);
        return new RgbImage(width, height, pixels);
    }
}
