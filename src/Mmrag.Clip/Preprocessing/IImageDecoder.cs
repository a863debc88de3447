using System.Globalization;

namespace Mmrag.Clip.Preprocessing;

/// <summary>
/// Turns encoded image bytes into 8-bit RGB pixels, converting colour the way the reference
/// (Pillow's <c>Image.convert("RGB")</c>) does. Implementations are thread-safe.
/// </summary>
public interface IImageDecoder
{
    /// <summary>Decodes <paramref name="encoded"/>; throws <see cref="ImageDecodeException"/> for unreadable or oversized input.</summary>
    RgbImage Decode(ReadOnlySpan<byte> encoded, ImageDecodeOptions? options = null);
}

/// <summary>Options for <see cref="IImageDecoder.Decode"/>.</summary>
public sealed record ImageDecodeOptions
{
    /// <summary>The default <see cref="MaxPixels"/>: 40 megapixels (e.g. 8000 x 5000), far more than CLIP's 224 x 224 needs.</summary>
    public const long DefaultMaxPixels = 40_000_000;

    /// <summary>Default options: reference behaviour, <see cref="DefaultMaxPixels"/> limit.</summary>
    public static ImageDecodeOptions Default { get; } = new();

    /// <summary>
    /// Rotate/flip per the EXIF orientation tag before anything else. Off by default because the
    /// reference <c>CLIPImageProcessor</c> does not apply it.
    /// </summary>
    public bool ApplyExifOrientation { get; init; }

    /// <summary>
    /// How 16-bit greyscale samples become 8-bit. The reference (Pillow mode <c>I</c>) clips them to 0..255,
    /// which whitens nearly every real 16-bit image; <see cref="Gray16Conversion.Scale"/> keeps the picture.
    /// </summary>
    public Gray16Conversion Gray16 { get; init; } = Gray16Conversion.ClipLikeReference;

    /// <summary>
    /// Images with more pixels than this are refused (<see cref="ImageTooLargeException"/>) on the dimensions the decoder
    /// itself parsed, before any pixel buffer is allocated. A decoded image costs about 7 bytes per pixel at its peak.
    /// </summary>
    public long MaxPixels { get; init; } = DefaultMaxPixels;

    /// <summary>
    /// Opt-in reduced-size decoding, like Pillow's <c>Image.draft(mode, size)</c>: given a JPEG's full width and height,
    /// the smallest size the decoded image may have. A JPEG at least twice that size in both dimensions is decoded at
    /// 1/2, 1/4 or 1/8 of its size (libjpeg's DCT scaling: the largest of these that keeps it at least that size), which
    /// costs a fraction of a full decode; the pixels are close to, not equal to, a full decode resized. Other formats are
    /// always decoded in full. Null (the default) decodes every pixel, as the reference does. The pixel limit
    /// (<see cref="MaxPixels"/>) applies to the full size either way.
    /// </summary>
    public Func<int, int, (int Width, int Height)>? DraftSize { get; init; }
}

/// <summary>How 16-bit greyscale samples become 8-bit.</summary>
public enum Gray16Conversion
{
    /// <summary>Clip the 16-bit value to 0..255, as Pillow's <c>I → RGB</c> conversion does (reference).</summary>
    ClipLikeReference,

    /// <summary>Keep the high byte (<c>v &gt;&gt; 8</c>), as 16-bit RGB is converted.</summary>
    Scale,
}

/// <summary>An image could not be decoded; the message names the input when it is known.</summary>
public class ImageDecodeException : Exception
{
    /// <summary>Creates the exception.</summary>
    public ImageDecodeException(string message) : base(message) { }

    /// <summary>Creates the exception with an inner cause.</summary>
    public ImageDecodeException(string message, Exception innerException) : base(message, innerException) { }

    /// <summary>Creates the exception.</summary>
    public ImageDecodeException() { }
}

/// <summary>An image has more pixels than the limit allows; thrown before its pixels are decoded.</summary>
public sealed class ImageTooLargeException : ImageDecodeException
{
    /// <summary>Creates the exception for a <paramref name="width"/> x <paramref name="height"/> image over <paramref name="maxPixels"/>.</summary>
    public ImageTooLargeException(long width, long height, long pixels, long maxPixels)
        : base(string.Create(CultureInfo.InvariantCulture,
            $"The image is {width}x{height} ({pixels:N0} pixels), more than the limit of {maxPixels:N0} pixels (MaxPixels)."))
    {
        Width = width;
        Height = height;
        Pixels = pixels;
        MaxPixels = maxPixels;
    }

    /// <summary>Creates the exception with <paramref name="message"/> (e.g. naming the file) around <paramref name="inner"/>.</summary>
    public ImageTooLargeException(string message, ImageTooLargeException inner)
        : base(message, inner)
    {
        ArgumentNullException.ThrowIfNull(inner);
        (Width, Height, Pixels, MaxPixels) = (inner.Width, inner.Height, inner.Pixels, inner.MaxPixels);
    }

    /// <summary>Creates the exception.</summary>
    public ImageTooLargeException() { }

    /// <summary>Creates the exception.</summary>
    public ImageTooLargeException(string message) : base(message) { }

    /// <summary>Creates the exception.</summary>
    public ImageTooLargeException(string message, Exception innerException) : base(message, innerException) { }

    /// <summary>Width of the canvas that was refused (for an animated GIF, the largest one any frame needs).</summary>
    public long Width { get; }

    /// <summary>Height of the canvas that was refused.</summary>
    public long Height { get; }

    /// <summary>Pixels the image would need.</summary>
    public long Pixels { get; }

    /// <summary>The limit it is over.</summary>
    public long MaxPixels { get; }
}
