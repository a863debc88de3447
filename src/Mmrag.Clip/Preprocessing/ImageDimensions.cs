using Mmrag.Imaging;

namespace Mmrag.Clip.Preprocessing;

/// <summary>
/// The size of an encoded image as the decoders see it, read without decoding any pixel: for JPEG, WebP and BMP from
/// SkiaSharp's codec after it parsed the stream (so a stray byte before a marker cannot hide the frame header), for
/// PNG from <c>IHDR</c>, for GIF from the logical screen and every frame's rectangle (<see cref="ImageHeader"/>, the
/// reader OCR and the web loader check images with). Call <see cref="Check"/> (or
/// <see cref="CheckFile"/>) on untrusted images before keeping or decoding them; the decoder applies the same limit.
/// Immutable and thread-safe.
/// </summary>
/// <param name="Format">"JPEG", "PNG", "WebP", "GIF" or "BMP".</param>
/// <param name="Width">Width of the decoded image (for a GIF, the first frame's canvas).</param>
/// <param name="Height">Height of the decoded image.</param>
/// <param name="FrameCount">Frames (1 for still images).</param>
/// <param name="CanvasWidth">Width of the largest canvas any frame needs (a GIF frame may extend past its logical screen).</param>
/// <param name="CanvasHeight">Height of that canvas.</param>
public sealed record ImageDimensions(string Format, int Width, int Height, int FrameCount, int CanvasWidth, int CanvasHeight)
{
    /// <summary>Width × height of the decoded image.</summary>
    public long Pixels => (long)Width * Height;

    /// <summary>Pixels of the largest canvas any frame needs (at least <see cref="Pixels"/>); what limits are checked against.</summary>
    public long CanvasPixels => Math.Max(Pixels, (long)CanvasWidth * CanvasHeight);

    /// <summary>Reads the dimensions of <paramref name="encoded"/>.</summary>
    /// <exception cref="ImageDecodeException">The data is not a JPEG, PNG, WebP, GIF or BMP image, or its header is corrupt.</exception>
    public static ImageDimensions Read(ReadOnlySpan<byte> encoded)
    {
        if (encoded.IsEmpty)
        {
            throw new ImageDecodeException("The image data is empty.");
        }

        if (PngFormat.HasSignature(encoded))
        {
            var header = PngFormat.ReadHeader(encoded);
            return new ImageDimensions("PNG", header.Width, header.Height, 1, header.Width, header.Height);
        }

        if (!GifFormat.HasSignature(encoded))
        {
            return SkiaImageDecoder.ReadDimensions(encoded);
        }

        var gif = ImageHeader.Read(encoded) ?? throw new ImageDecodeException("Corrupt GIF: the file has no image of a positive size.");
        return new ImageDimensions("GIF", gif.Width, gif.Height, gif.FrameCount, gif.CanvasWidth, gif.CanvasHeight);
    }

    /// <summary>Reads the dimensions of <paramref name="encoded"/> and refuses an image over <paramref name="maxPixels"/>.</summary>
    /// <exception cref="ImageTooLargeException">Any frame needs more than <paramref name="maxPixels"/> pixels.</exception>
    /// <exception cref="ImageDecodeException">The data is not a readable image.</exception>
    public static ImageDimensions Check(ReadOnlySpan<byte> encoded, long maxPixels = ImageDecodeOptions.DefaultMaxPixels)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(maxPixels);
        var dimensions = Read(encoded);
        if (dimensions.CanvasPixels > maxPixels)
        {
            var (width, height) = dimensions.Pixels >= (long)dimensions.CanvasWidth * dimensions.CanvasHeight
                ? (dimensions.Width, dimensions.Height)
                : (dimensions.CanvasWidth, dimensions.CanvasHeight);
            throw new ImageTooLargeException(width, height, dimensions.CanvasPixels, maxPixels);
        }

        return dimensions;
    }

    /// <summary><see cref="Check"/> on the file at <paramref name="path"/>; errors name the file.</summary>
    /// <exception cref="ImageTooLargeException">The image is over <paramref name="maxPixels"/>.</exception>
    /// <exception cref="ImageDecodeException">The file cannot be read or is not a readable image.</exception>
    public static ImageDimensions CheckFile(string path, long maxPixels = ImageDecodeOptions.DefaultMaxPixels)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        var bytes = ImageDecoderExtensions.ReadImageFile(path);
        try
        {
            return Check(bytes, maxPixels);
        }
        catch (ImageTooLargeException ex)
        {
            throw new ImageTooLargeException($"Image file '{path}': {ex.Message}", ex);
        }
        catch (ImageDecodeException ex)
        {
            throw new ImageDecodeException($"Cannot read image file '{path}': {ex.Message}", ex);
        }
    }
}
