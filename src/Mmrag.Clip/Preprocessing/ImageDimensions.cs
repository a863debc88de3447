using Mmrag.Imaging;

namespace Mmrag.Clip.Preprocessing;

/// <summary>
/// The size of an encoded image as the decoders see it (an <see cref="ImageHeader"/>), read without decoding any pixel:
/// for JPEG, WebP and BMP from SkiaSharp's codec after it parsed the stream (so a stray byte before a marker cannot
/// hide the frame header), for PNG from <c>IHDR</c>, for GIF from the logical screen and every frame's rectangle
/// (<see cref="ImageHeader.Read"/>, the reader OCR and the web loader check images with). Call <see cref="Check"/> (or
/// <see cref="CheckFile"/>) on untrusted images before keeping or decoding them; the decoder applies the same limit.
/// </summary>
public static class ImageDimensions
{
    /// <summary>Reads the dimensions of <paramref name="encoded"/>.</summary>
    /// <exception cref="ImageDecodeException">The data is not a JPEG, PNG, WebP, GIF or BMP image, or its header is corrupt.</exception>
    public static ImageHeader Read(ReadOnlySpan<byte> encoded)
    {
        if (encoded.IsEmpty)
        {
            throw new ImageDecodeException("The image data is empty.");
        }

        if (PngFormat.HasSignature(encoded))
        {
            var header = PngFormat.ReadHeader(encoded);
            return new ImageHeader("PNG", header.Width, header.Height, 1, header.Width, header.Height);
        }

        if (!GifFormat.HasSignature(encoded))
        {
            return SkiaImageDecoder.ReadDimensions(encoded);
        }

        return ImageHeader.Read(encoded) ?? throw new ImageDecodeException("Corrupt GIF: the file has no image of a positive size.");
    }

    /// <summary>Reads the dimensions of <paramref name="encoded"/> and refuses an image over <paramref name="maxPixels"/>.</summary>
    /// <exception cref="ImageTooLargeException">Any frame needs more than <paramref name="maxPixels"/> pixels.</exception>
    /// <exception cref="ImageDecodeException">The data is not a readable image.</exception>
    public static ImageHeader Check(ReadOnlySpan<byte> encoded, long maxPixels = ImageDecodeOptions.DefaultMaxPixels)
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
    public static ImageHeader CheckFile(string path, long maxPixels = ImageDecodeOptions.DefaultMaxPixels)
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
