using System.Globalization;
using System.Runtime.InteropServices;
using Mmrag.Imaging;
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
/// SkiaSharp decodes JPEG, WebP, BMP and 8-bit PNG. A JPEG is first offered to the system's libjpeg-turbo
/// (<see cref="TurboJpeg"/>, the same pixels about six times faster), and decoded by Skia when that library is missing
/// or does not take it. 16-bit PNG and GIF are decoded by small readers of
/// our own, because Skia rounds 16-bit samples (the reference truncates or clips them) and composites the
/// first GIF frame onto transparent black (the reference keeps palette colours). The image size is checked
/// against <see cref="ImageDecodeOptions.MaxPixels"/> on the dimensions the decoder itself parsed (Skia's codec, the
/// PNG header, the GIF canvas grown by the first frame), before any pixel buffer is allocated; an image over it is an
/// <see cref="ImageTooLargeException"/>. No decoded buffer is kept after the call.
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
        else if (options.DraftSize is null && IsJpeg(encoded)
            && TurboJpeg.TryDecode(encoded, (width, height) => CheckSize(width, height, options), out var decoded))
        {
            image = decoded!;
            orientation = options.ApplyExifOrientation ? (int)ReadOrigin(encoded) : 1;
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
            throw new ImageTooLargeException(width, height, pixels, options.MaxPixels);
        }

        if (pixels * 4 > Array.MaxLength)
        {
            throw new ImageDecodeException($"The image is {width}x{height}, too large to decode into memory.");
        }
    }

    /// <summary>
    /// Decodes a JPEG that <see cref="TurboJpeg"/> takes, under <paramref name="options"/>, into native memory the caller
    /// disposes; false (nothing decoded) for anything else, which <see cref="Decode"/> handles. Only plain decodes go
    /// this way: no draft size, no EXIF orientation.
    /// </summary>
    internal static bool TryDecodeJpeg(ReadOnlySpan<byte> encoded, ImageDecodeOptions options, out DecodeBuffer image)
    {
        image = default;
        return options.DraftSize is null && !options.ApplyExifOrientation && IsJpeg(encoded)
            && TurboJpeg.TryDecodeToBuffer(encoded, (width, height) => CheckSize(width, height, options), out image);
    }

    private static bool IsJpeg(ReadOnlySpan<byte> encoded) => encoded.StartsWith((ReadOnlySpan<byte>)[0xFF, 0xD8, 0xFF]);

    /// <summary>The EXIF orientation as Skia's codec reads it, so that both JPEG decoders turn an image the same way.</summary>
    private static SKEncodedOrigin ReadOrigin(ReadOnlySpan<byte> encoded) => WithCodec(encoded, static (codec, _) => codec.EncodedOrigin);

    /// <summary>The dimensions Skia's codec parsed from a JPEG, WebP or BMP (or 8-bit PNG) stream, decoding no pixels.</summary>
    internal static ImageHeader ReadDimensions(ReadOnlySpan<byte> encoded) =>
        WithCodec(encoded, static (codec, format) =>
        {
            // An animated WebP's frames are drawn on the canvas Info describes.
            var frames = Math.Max(1, codec.FrameCount);
            return new ImageHeader(format, codec.Info.Width, codec.Info.Height, frames, codec.Info.Width, codec.Info.Height);
        });

    /// <summary>
    /// Opens a Skia codec over <paramref name="encoded"/> (without a copy), checks the format and the dimensions it
    /// parsed, and runs <paramref name="use"/> while the bytes are pinned.
    /// </summary>
    private static unsafe T WithCodec<T>(ReadOnlySpan<byte> encoded, Func<SKCodec, string, T> use)
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

            return use(codec, format);
        }
    }

    internal static RgbImage DecodeWithSkia(ReadOnlySpan<byte> encoded, ImageDecodeOptions options, out SKEncodedOrigin origin)
    {
        var (image, encodedOrigin) = WithCodec(encoded, (codec, format) =>
        {
            // The codec's dimensions are those it parsed from the stream (libjpeg-turbo skips stray bytes to the
            // real frame header), so this is the size it would allocate, whatever a quick header scan says.
            int width = codec.Info.Width, height = codec.Info.Height;
            CheckSize(width, height, options);
            (width, height) = DraftDimensions(codec, options, width, height);
            return (DecodePixels(codec, format, width, height), codec.EncodedOrigin);
        });
        origin = encodedOrigin;
        return image;
    }

    /// <summary>
    /// The size to decode at: the full size, or for a JPEG with <see cref="ImageDecodeOptions.DraftSize"/> the largest
    /// DCT reduction (1/2, 1/4, 1/8) that keeps it at least the requested size, chosen as Pillow's <c>JpegImageFile.draft</c>
    /// chooses it (<c>min(width // w, height // h)</c>); libjpeg rounds the reduced size up, as Pillow does.
    /// </summary>
    private static (int Width, int Height) DraftDimensions(SKCodec codec, ImageDecodeOptions options, int width, int height)
    {
        if (options.DraftSize is not { } draft || codec.EncodedFormat != SKEncodedImageFormat.Jpeg)
        {
            return (width, height);
        }

        var (wanted, wantedHeight) = draft(width, height);
        if (wanted <= 0 || wantedHeight <= 0)
        {
            return (width, height);
        }

        var scale = Math.Min(width / wanted, height / wantedHeight);
        var reduce = scale >= 8 ? 8 : scale >= 4 ? 4 : scale >= 2 ? 2 : 1;
        if (reduce == 1)
        {
            return (width, height);
        }

        // Skia picks the smallest n/8 scale at or above the one asked for, so 1/reduce is exact.
        var scaled = codec.GetScaledDimensions(1f / reduce);
        return scaled.Width == (width + reduce - 1) / reduce && scaled.Height == (height + reduce - 1) / reduce
            ? (scaled.Width, scaled.Height)
            : (width, height);
    }

    private static unsafe RgbImage DecodePixels(SKCodec codec, string format, int width, int height)
    {
        // Unpremultiplied and without a colour space: no alpha multiplication, no colour conversion.
        var info = new SKImageInfo(width, height, SKColorType.Rgba8888, SKAlphaType.Unpremul);
        var rowBytes = width * 4;
        var rgbaLength = (nuint)rowBytes * (nuint)height;

        // Native memory, freed on the way out: a pooled array this size would stay in the pool for the process's
        // life (ArrayPool.Shared keeps arrays up to 1 GB, rounded up to a power of two), so a burst of large images
        // kept gigabytes. The RGB result is an ordinary array the GC takes back.
        var rgba = (byte*)NativeMemory.Alloc(rgbaLength);
        try
        {
            var result = codec.GetPixels(info, (IntPtr)rgba, rowBytes, SKCodecOptions.Default);
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
            DropAlpha(new ReadOnlySpan<byte>(rgba, checked((int)rgbaLength)), rgb);
            return new RgbImage(width, height, rgb);
        }
        finally
        {
            NativeMemory.Free(rgba);
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
