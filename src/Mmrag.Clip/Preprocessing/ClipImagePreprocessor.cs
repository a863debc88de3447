using System.Buffers;

namespace Mmrag.Clip.Preprocessing;

/// <summary>
/// Turns an RGB image into CLIP's <c>pixel_values</c> exactly as HuggingFace's <c>CLIPImageProcessor</c> does
/// with Pillow: bicubic resize (Pillow's fixed-point filter, bit for bit), center crop (zero padding when the
/// image is smaller than the crop), <c>v * rescale_factor</c>, <c>(x - mean) / std</c> in float32, HWC to CHW.
/// </summary>
/// <remarks>Immutable after construction and safe to use from any number of threads.</remarks>
public sealed class ClipImagePreprocessor
{
    private const int Channels = 3;

    // lut[c * 256 + v]: the float32 value channel c of level v becomes.
    private readonly float[] _lut;

    /// <summary>Creates a preprocessor for <paramref name="config"/>.</summary>
    /// <exception cref="ClipModelException">The configuration is invalid or unsupported.</exception>
    public ClipImagePreprocessor(ImagePreprocessorConfig config)
    {
        ArgumentNullException.ThrowIfNull(config);
        config.Validate();
        Config = config;
        (OutputHeight, OutputWidth) = config.DoCenterCrop
            ? (config.CropHeight, config.CropWidth)
            : (config.ResizeHeight!.Value, config.ResizeWidth!.Value);
        _lut = BuildLut(config);
    }

    /// <summary>The settings this preprocessor applies.</summary>
    public ImagePreprocessorConfig Config { get; }

    /// <summary>Height of the output (<c>pixel_values</c> dimension 2).</summary>
    public int OutputHeight { get; }

    /// <summary>Width of the output (<c>pixel_values</c> dimension 3).</summary>
    public int OutputWidth { get; }

    /// <summary>Shape of one image's <c>pixel_values</c>: (3, height, width).</summary>
    public (int Channels, int Height, int Width) OutputShape => (Channels, OutputHeight, OutputWidth);

    /// <summary>Number of floats <see cref="WritePixelValues(RgbImage, Span{float})"/> writes per image: channels x height x width.</summary>
    public int PixelCount => Channels * OutputHeight * OutputWidth;

    /// <summary>Number of bytes <see cref="ResizeAndCrop(RgbImage)"/> returns: height x width x 3.</summary>
    public int CropByteCount => OutputHeight * OutputWidth * Channels;

    /// <summary>
    /// The resized size and crop offsets for a <paramref name="width"/> x <paramref name="height"/> image:
    /// shortest edge to N with the long side <c>floor(N * long / short)</c>, or the fixed size; crop offsets
    /// <c>floor((resized - crop) / 2)</c>.
    /// </summary>
    public ResizePlan ComputeResize(int width, int height)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(width);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(height);

        int resizedWidth = width, resizedHeight = height;
        if (Config.DoResize)
        {
            if (Config.ShortestEdge is { } edge)
            {
                var (shortSide, longSide) = width <= height ? (width, height) : (height, width);
                var newLong = (int)Math.Min(int.MaxValue, (long)edge * longSide / shortSide);
                (resizedWidth, resizedHeight) = width <= height ? (edge, newLong) : (newLong, edge);
            }
            else
            {
                (resizedWidth, resizedHeight) = (Config.ResizeWidth!.Value, Config.ResizeHeight!.Value);
            }
        }

        // Python's (resized - crop) // 2: an arithmetic shift floors negative values too.
        return new ResizePlan(resizedWidth, resizedHeight, (resizedWidth - OutputWidth) >> 1, (resizedHeight - OutputHeight) >> 1);
    }

    /// <summary>The resized and cropped image as HWC RGB bytes (<see cref="CropByteCount"/> long), before rescaling.</summary>
    public byte[] ResizeAndCrop(RgbImage image)
    {
        ArgumentNullException.ThrowIfNull(image);
        var crop = new byte[CropByteCount];
        ResizeAndCrop(image, crop);
        return crop;
    }

    /// <summary>Writes the resized and cropped image as HWC RGB bytes into <paramref name="destinationHwc"/> (at least <see cref="CropByteCount"/> long).</summary>
    public void ResizeAndCrop(RgbImage image, Span<byte> destinationHwc)
    {
        ArgumentNullException.ThrowIfNull(image);
        ResizeAndCrop(image.Pixels, image.Width, image.Height, destinationHwc);
    }

    /// <summary>Like <see cref="ResizeAndCrop(RgbImage, Span{byte})"/> for a <paramref name="width"/> x <paramref name="height"/> RGB image held elsewhere.</summary>
    internal void ResizeAndCrop(ReadOnlySpan<byte> pixels, int width, int height, Span<byte> destinationHwc)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(destinationHwc.Length, CropByteCount, nameof(destinationHwc));

        var plan = ComputeResize(width, height);
        var stride = OutputWidth * Channels;

        // The part of the output window that lies inside the resized image; the rest is zero padding.
        var x0 = Math.Max(plan.CropLeft, 0);
        var y0 = Math.Max(plan.CropTop, 0);
        var x1 = Math.Min(plan.CropLeft + OutputWidth, plan.ResizedWidth);
        var y1 = Math.Min(plan.CropTop + OutputHeight, plan.ResizedHeight);
        var output = destinationHwc[..CropByteCount];
        if (x1 - x0 < OutputWidth || y1 - y0 < OutputHeight)
        {
            output.Clear();
        }

        var target = output[((y0 - plan.CropTop) * stride + (x0 - plan.CropLeft) * Channels)..];
        PillowBicubicResizer.ResizeRegion(
            pixels, width, height,
            plan.ResizedWidth, plan.ResizedHeight,
            x0, y0, x1 - x0, y1 - y0,
            target, stride);
    }

    /// <summary>Writes this image's <c>pixel_values</c> (CHW float32, <see cref="PixelCount"/> values) into <paramref name="destinationChw"/>.</summary>
    public void WritePixelValues(RgbImage image, Span<float> destinationChw)
    {
        ArgumentNullException.ThrowIfNull(image);
        WritePixelValues(image.Pixels, image.Width, image.Height, destinationChw);
    }

    /// <summary>Like <see cref="WritePixelValues(RgbImage, Span{float})"/> for a <paramref name="width"/> x <paramref name="height"/> RGB image held elsewhere.</summary>
    internal void WritePixelValues(ReadOnlySpan<byte> pixels, int width, int height, Span<float> destinationChw)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(destinationChw.Length, PixelCount, nameof(destinationChw));

        var crop = ArrayPool<byte>.Shared.Rent(CropByteCount);
        try
        {
            ResizeAndCrop(pixels, width, height, crop);
            WritePixelValues(crop.AsSpan(0, CropByteCount), destinationChw);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(crop);
        }
    }

    /// <summary>Rescales and normalizes an already cropped HWC RGB image (<see cref="CropByteCount"/> bytes) into CHW float32.</summary>
    public void WritePixelValues(ReadOnlySpan<byte> cropHwc, Span<float> destinationChw)
    {
        ArgumentOutOfRangeException.ThrowIfNotEqual(cropHwc.Length, CropByteCount, nameof(cropHwc));
        ArgumentOutOfRangeException.ThrowIfLessThan(destinationChw.Length, PixelCount, nameof(destinationChw));

        var plane = OutputHeight * OutputWidth;
        var lut = _lut.AsSpan();
        var red = destinationChw[..plane];
        var green = destinationChw.Slice(plane, plane);
        var blue = destinationChw.Slice(2 * plane, plane);
        var lutRed = lut[..256];
        var lutGreen = lut.Slice(256, 256);
        var lutBlue = lut.Slice(512, 256);
        for (int i = 0, s = 0; i < plane; i++, s += 3)
        {
            red[i] = lutRed[cropHwc[s]];
            green[i] = lutGreen[cropHwc[s + 1]];
            blue[i] = lutBlue[cropHwc[s + 2]];
        }
    }

    /// <summary>The 3 x 256 float32 table of normalized values (channel-major).</summary>
    internal ReadOnlySpan<float> NormalizationTable => _lut;

    private static float[] BuildLut(ImagePreprocessorConfig config)
    {
        var lut = new float[Channels * 256];
        for (var c = 0; c < Channels; c++)
        {
            var mean = (float)config.ImageMean[c];
            var std = (float)config.ImageStd[c];
            for (var v = 0; v < 256; v++)
            {
                // HF: uint8 -> float64 * rescale_factor -> float32; then float32 (x - mean) / std.
                var x = config.DoRescale ? (float)(v * config.RescaleFactor) : v;
                lut[c * 256 + v] = config.DoNormalize ? (x - mean) / std : x;
            }
        }

        return lut;
    }
}
