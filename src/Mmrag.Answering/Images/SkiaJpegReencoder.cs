using System.Globalization;
using SkiaSharp;

namespace Mmrag.Answering.Images;

/// <summary>
/// <see cref="IImageReencoder"/> on SkiaSharp: honours EXIF orientation, flattens transparency onto white, downscales
/// with mipmapped linear sampling (which, unlike Skia's cubic, antialiases) and encodes JPEG. An image over
/// <see cref="MaxSourcePixels"/> (on the dimensions Skia's codec parsed) is refused before its pixels are decoded.
/// Stateless and thread-safe.
/// </summary>
public sealed class SkiaJpegReencoder : IImageReencoder
{
    /// <summary>The default <see cref="MaxSourcePixels"/>: 40 megapixels, the server's and CLIP decoder's default too.</summary>
    public const long DefaultMaxSourcePixels = 40_000_000;

    /// <summary>The shared instance (<see cref="DefaultMaxSourcePixels"/>).</summary>
    public static SkiaJpegReencoder Instance { get; } = new();

    /// <summary>Source images with more pixels than this are refused (<see cref="InvalidDataException"/>) before decoding.</summary>
    public long MaxSourcePixels { get; init; } = DefaultMaxSourcePixels;

    /// <inheritdoc />
    public EncodedImage Reencode(ReadOnlyMemory<byte> image, int maxSide, int quality)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(maxSide, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(quality, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(quality, 100);

        using var data = SKData.CreateCopy(image.Span);
        using var codec = SKCodec.Create(data) ?? throw new InvalidDataException("Not a decodable image.");
        var sourcePixels = (long)codec.Info.Width * codec.Info.Height;
        if (sourcePixels > MaxSourcePixels)
        {
            // Decoding allocates 4 bytes per pixel (a forged 9000 x 9000 JPEG of 1 MB would take 324 MB).
            throw new InvalidDataException(string.Create(CultureInfo.InvariantCulture,
                $"The image is {codec.Info.Width}x{codec.Info.Height} ({sourcePixels:N0} pixels), more than the limit of {MaxSourcePixels:N0} pixels."));
        }

        using var decoded = SKBitmap.Decode(codec) ?? throw new InvalidDataException("The image could not be decoded.");

        var origin = codec.EncodedOrigin;
        var swap = origin is SKEncodedOrigin.LeftTop or SKEncodedOrigin.RightTop or SKEncodedOrigin.RightBottom or SKEncodedOrigin.LeftBottom;
        var (width, height) = swap ? (decoded.Height, decoded.Width) : (decoded.Width, decoded.Height);
        var scale = Math.Min(1.0, (double)maxSide / Math.Max(width, height));
        var targetWidth = Math.Max(1, (int)Math.Round(width * scale));
        var targetHeight = Math.Max(1, (int)Math.Round(height * scale));

        using var surface = SKSurface.Create(new SKImageInfo(targetWidth, targetHeight, SKColorType.Rgba8888, SKAlphaType.Premul))
            ?? throw new InvalidDataException("Could not allocate the target image.");
        var canvas = surface.Canvas;
        canvas.Clear(SKColors.White);
        canvas.Scale((float)targetWidth / width, (float)targetHeight / height);
        ApplyOrientation(canvas, origin, decoded.Width, decoded.Height);
        using (var source = SKImage.FromBitmap(decoded))
        using (var paint = new SKPaint())
        {
            canvas.DrawImage(source, 0, 0, new SKSamplingOptions(SKFilterMode.Linear, SKMipmapMode.Linear), paint);
        }

        canvas.Flush();
        using var snapshot = surface.Snapshot();
        using var encoded = snapshot.Encode(SKEncodedImageFormat.Jpeg, quality)
            ?? throw new InvalidDataException("JPEG encoding failed.");
        return new EncodedImage(encoded.ToArray(), targetWidth, targetHeight);
    }

    // Maps the stored pixels (w × h) onto the upright canvas.
    private static void ApplyOrientation(SKCanvas canvas, SKEncodedOrigin origin, int w, int h)
    {
        switch (origin)
        {
            case SKEncodedOrigin.TopRight: canvas.Translate(w, 0); canvas.Scale(-1, 1); break;
            case SKEncodedOrigin.BottomRight: canvas.Translate(w, h); canvas.RotateDegrees(180); break;
            case SKEncodedOrigin.BottomLeft: canvas.Translate(0, h); canvas.Scale(1, -1); break;
            case SKEncodedOrigin.LeftTop: canvas.RotateDegrees(90); canvas.Scale(1, -1); break;
            case SKEncodedOrigin.RightTop: canvas.Translate(h, 0); canvas.RotateDegrees(90); break;
            case SKEncodedOrigin.RightBottom: canvas.Translate(h, w); canvas.RotateDegrees(90); canvas.Scale(-1, 1); break;
            case SKEncodedOrigin.LeftBottom: canvas.Translate(0, w); canvas.RotateDegrees(-90); break;
            default: break;
        }
    }
}
