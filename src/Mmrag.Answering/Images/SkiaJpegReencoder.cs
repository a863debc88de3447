using SkiaSharp;

namespace Mmrag.Answering.Images;

/// <summary>
/// <see cref="IImageReencoder"/> on SkiaSharp: honours EXIF orientation, flattens transparency onto white, downscales
/// with mipmapped linear sampling (which, unlike Skia's cubic, antialiases) and encodes JPEG. Stateless and thread-safe.
/// </summary>
public sealed class SkiaJpegReencoder : IImageReencoder
{
    /// <summary>The shared instance.</summary>
    public static SkiaJpegReencoder Instance { get; } = new();

    /// <inheritdoc />
    public EncodedImage Reencode(ReadOnlyMemory<byte> image, int maxSide, int quality)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(maxSide, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(quality, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(quality, 100);

        using var data = SKData.CreateCopy(image.Span);
        using var codec = SKCodec.Create(data) ?? throw new InvalidDataException("Not a decodable image.");
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
