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
    /// <summary>Default options: reference behaviour, 100 megapixel limit.</summary>
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

    /// <summary>Images with more pixels than this are refused before their pixels are decoded.</summary>
    public long MaxPixels { get; init; } = 100_000_000;
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
public sealed class ImageDecodeException : Exception
{
    /// <summary>Creates the exception.</summary>
    public ImageDecodeException(string message) : base(message) { }

    /// <summary>Creates the exception with an inner cause.</summary>
    public ImageDecodeException(string message, Exception innerException) : base(message, innerException) { }

    /// <summary>Creates the exception.</summary>
    public ImageDecodeException() { }
}
