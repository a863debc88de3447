namespace Mmrag.Clip.Preprocessing;

/// <summary>
/// A decoded image as 8-bit RGB, row-major, interleaved (HWC). Immutable by convention once built;
/// safe to share between threads for reading.
/// </summary>
public sealed class RgbImage
{
    /// <summary>Creates an image over <paramref name="pixels"/> (takes ownership; no copy).</summary>
    public RgbImage(int width, int height, byte[] pixels)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(width);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(height);
        ArgumentNullException.ThrowIfNull(pixels);
        if (pixels.LongLength != (long)width * height * 3)
        {
            throw new ArgumentException($"Expected {(long)width * height * 3} bytes for {width}x{height} RGB, got {pixels.LongLength}.", nameof(pixels));
        }

        Width = width;
        Height = height;
        Pixels = pixels;
    }

    /// <summary>Width in pixels.</summary>
    public int Width { get; }

    /// <summary>Height in pixels.</summary>
    public int Height { get; }

    /// <summary>RGB bytes, <c>Height * Width * 3</c>, row-major.</summary>
    public byte[] Pixels { get; }
}
