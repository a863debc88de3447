using System.Buffers;
using System.Globalization;
using SkiaSharp;

namespace Mmrag.Clip.Preprocessing;

/// <summary>
/// Decodes JPEG, PNG, WebP, GIF (first frame) and BMP into 8-bit RGB exactly as the reference
/// (Pillow's <c>Image.open(...).convert("RGB")</c>) does for lossless formats: alpha is dropped (pixels
/// are decoded unpremultiplied, so colour under zero alpha survives), palettes map through their colours
/// whatever their transparency, grey is replicated, 16-bit RGB keeps the high byte and 16-bit grey
/// follows <see cref="ImageDecodeOptions.Gray16"/>. No colour management is applied (Pillow applies none).
/// </summary>
/// <remarks>
/// SkiaSharp decodes JPEG, WebP, BMP and 8-bit PNG. 16-bit PNG and GIF are decoded by small readers of
/// our own, because Skia rounds 16-bit samples (the reference truncates or clips them) and composites the
/// first GIF frame onto transparent black (the reference keeps palette colours). The image size is checked
/// against <see cref="ImageDecodeOptions.MaxPixels"/> from the header, before any pixel buffer is allocated.
/// The instance holds no state and is safe to use from any number of threads.
/// </remarks>
public sealed class SkiaImageDecoder : IImageDecoder
{
    /// <summary>A shared instance (the decoder is stateless).</summary>
    public static SkiaImageDecoder Instance { get; } = new();

    /// <inheritdoc />
    public RgbImage Decode(ReadOnlySpan<byte> encoded, ImageDecodeOptions? options = null)
    {
        options ??= ImageDecodeOptions.Default;
        if (encoded.IsEmpty)
        {
            throw new ImageDecodeException("The image data is empty.");
        }

        RgbImage image;
        int orientation;
        if (PngFormat.HasSignature(encoded))
        {
            var header = PngFormat.ReadHeader(encoded);
            CheckSize(header.Width, header.Height, options);
            image = header.BitDepth == 16
                ? PngFormat.Decode16(encoded, header, options.Gray16)
                : DecodeWithSkia(encoded, options, out _);
            orientation = options.ApplyExifOrientation ? PngFormat.ReadExifOrientation(encoded) : 1;
        }
        else if (GifFormat.HasSignature(encoded))
        {
            image = GifFormat.DecodeFirstFrame(encoded, options);
            orientation = 1;
        }
        else
        {
            image = DecodeWithSkia(encoded, options, out var origin);
            orientation = (int)origin;
        }

        return options.ApplyExifOrientation ? ExifOrientation.Apply(image, orientation) : image;
    }

    /// <summary>Throws unless a <paramref name="width"/> x <paramref name="height"/> image is allowed by <paramref name="options"/> and fits in one array.</summary>
    internal static void CheckSize(long width, long height, ImageDecodeOptions options)
    {
        var pixels = width * height;
        if (pixels > options.MaxPixels)
        {
            throw new ImageDecodeException(string.Create(
                CultureInfo.InvariantCulture,
                $"The image is {width}x{height} ({pixels:N0} pixels), more than the limit of {options.MaxPixels:N0} pixels (ImageDecodeOptions.MaxPixels)."));
        }

        if (pixels * 4 > Array.MaxLength)
        {
            throw new ImageDecodeException($"The image is {width}x{height}, too large to decode into memory.");
        }
    }

    private static unsafe RgbImage DecodeWithSkia(ReadOnlySpan<byte> encoded, ImageDecodeOptions options, out SKEncodedOrigin origin)
    {
        fixed (byte* address = encoded)
        {
            // Wraps the caller's bytes without a copy; the codec is gone before the pin is released.
            using var data = SKData.Create((IntPtr)address, encoded.Length);
            using var codec = SKCodec.Create(data)
                ?? throw new ImageDecodeException(string.Create(
                    CultureInfo.InvariantCulture,
                    $"Unrecognised or corrupt image data ({encoded.Length:N0} bytes, starting {Preview(encoded)}); expected JPEG, PNG, WebP, GIF or BMP."));

            // Skia also reads ICO, WBMP and others the reference pipeline does not accept.
            var format = codec.EncodedFormat switch
            {
                SKEncodedImageFormat.Jpeg => "JPEG",
                SKEncodedImageFormat.Png => "PNG",
                SKEncodedImageFormat.Webp => "WebP",
                SKEncodedImageFormat.Bmp => "BMP",
                var other => throw new ImageDecodeException($"Unsupported image format {other}; expected JPEG, PNG, WebP, GIF or BMP."),
            };

            int width = codec.Info.Width, height = codec.Info.Height;
            if (width <= 0 || height <= 0)
            {
                throw new ImageDecodeException($"Corrupt {format}: invalid dimensions {width}x{height}.");
            }

            CheckSize(width, height, options);
            origin = codec.EncodedOrigin;

            // Unpremultiplied and without a colour space: no alpha multiplication, no colour conversion.
            var info = new SKImageInfo(width, height, SKColorType.Rgba8888, SKAlphaType.Unpremul);
            var rowBytes = width * 4;
            var rgbaLength = rowBytes * height;
            var rgba = ArrayPool<byte>.Shared.Rent(rgbaLength);
            try
            {
                SKCodecResult result;
                fixed (byte* pixels = rgba)
                {
                    result = codec.GetPixels(info, (IntPtr)pixels, rowBytes, SKCodecOptions.Default);
                }

                switch (result)
                {
                    case SKCodecResult.Success:
                        break;
                    case SKCodecResult.IncompleteInput:
                        throw new ImageDecodeException($"{format} data is truncated: the image ends before all its pixels.");
                    case SKCodecResult.ErrorInInput:
                        throw new ImageDecodeException($"Corrupt {format}: the decoder found an error in the image data.");
                    default:
                        throw new ImageDecodeException($"The {format} image could not be decoded ({result}).");
                }

                var rgb = GC.AllocateUninitializedArray<byte>(width * height * 3);
                DropAlpha(rgba.AsSpan(0, rgbaLength), rgb);
                return new RgbImage(width, height, rgb);
            }
            finally
            {
                ArrayPool<byte>.Shared.Return(rgba);
            }
        }
    }

    private static void DropAlpha(ReadOnlySpan<byte> rgba, Span<byte> rgb)
    {
        for (int s = 0, d = 0; d < rgb.Length; s += 4, d += 3)
        {
            rgb[d] = rgba[s];
            rgb[d + 1] = rgba[s + 1];
            rgb[d + 2] = rgba[s + 2];
        }
    }

    private static string Preview(ReadOnlySpan<byte> data) =>
        "0x" + Convert.ToHexString(data[..Math.Min(8, data.Length)]);
}
