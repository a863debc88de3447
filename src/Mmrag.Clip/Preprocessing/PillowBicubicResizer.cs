using System.Buffers;
using System.Collections.Concurrent;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Mmrag.Clip.Preprocessing;

/// <summary>
/// Pillow's <c>Image.resize(..., BICUBIC)</c> for 8-bit RGB, bit for bit (<c>libImaging/Resample.c</c>):
/// separable, 22-bit fixed-point coefficients, horizontal pass first (only when the width changes) with its
/// result clamped to bytes, then the vertical pass (only when the height changes). Can compute just a
/// rectangle of the output, touching only the source rows and output columns that rectangle needs; the
/// pixels are the same as those of the full resize. The horizontal pass (most of the work when downscaling)
/// uses 128-bit integer vectors where available and the vertical pass 256-bit ones: the same 32-bit products and
/// sums, so the same bytes.
/// Thread-safe.
/// </summary>
internal static class PillowBicubicResizer
{
    private const int PrecisionBits = 32 - 8 - 2;
    private const int MaxCachedTables = 64;

    private static readonly ConcurrentDictionary<(int In, int Out, int First, int Count), ResampleCoefficients> Cache = new();

    /// <summary>The widest integer vectors the passes use on this machine, in bits (0: scalar only).</summary>
    internal static int DefaultVectorBits { get; } =
        Avx512F.IsSupported ? 512 : Avx2.IsSupported ? 256 : Vector128.IsHardwareAccelerated ? 128 : 0;

    /// <summary>Resizes the whole image.</summary>
    public static RgbImage Resize(RgbImage source, int width, int height) => Resize(source, width, height, DefaultVectorBits);

    /// <summary>Resizes the whole image with vectors of at most <paramref name="vectorBits"/> (tests compare the widths).</summary>
    internal static RgbImage Resize(RgbImage source, int width, int height, int vectorBits)
    {
        ArgumentNullException.ThrowIfNull(source);
        var pixels = GC.AllocateUninitializedArray<byte>(checked(width * height * 3));
        ResizeRegion(source.Pixels, source.Width, source.Height, width, height, 0, 0, width, height, pixels, width * 3, vectorBits);
        return new RgbImage(width, height, pixels);
    }

    /// <summary>
    /// Writes the pixels <c>[left, left + regionWidth) x [top, top + regionHeight)</c> of <paramref name="source"/>
    /// resized to <paramref name="targetWidth"/> x <paramref name="targetHeight"/> into <paramref name="destination"/>,
    /// one region row every <paramref name="destinationStride"/> bytes.
    /// </summary>
    public static void ResizeRegion(
        ReadOnlySpan<byte> source, int sourceWidth, int sourceHeight,
        int targetWidth, int targetHeight,
        int left, int top, int regionWidth, int regionHeight,
        Span<byte> destination, int destinationStride) =>
        ResizeRegion(source, sourceWidth, sourceHeight, targetWidth, targetHeight, left, top, regionWidth, regionHeight, destination, destinationStride,
            DefaultVectorBits);

    private static void ResizeRegion(
        ReadOnlySpan<byte> source, int sourceWidth, int sourceHeight,
        int targetWidth, int targetHeight,
        int left, int top, int regionWidth, int regionHeight,
        Span<byte> destination, int destinationStride, int vectorBits)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(sourceWidth);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(sourceHeight);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(targetWidth);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(targetHeight);
        ArgumentOutOfRangeException.ThrowIfLessThan(source.Length, sourceWidth * sourceHeight * 3, nameof(source));
        if (left < 0 || top < 0 || regionWidth <= 0 || regionHeight <= 0 || left + regionWidth > targetWidth || top + regionHeight > targetHeight)
        {
            throw new ArgumentOutOfRangeException(nameof(left), $"Region {regionWidth}x{regionHeight} at ({left},{top}) is outside the {targetWidth}x{targetHeight} output.");
        }

        ArgumentOutOfRangeException.ThrowIfLessThan(destinationStride, regionWidth * 3);
        ArgumentOutOfRangeException.ThrowIfLessThan(destination.Length, (regionHeight - 1) * destinationStride + regionWidth * 3, nameof(destination));

        var sourceStride = sourceWidth * 3;
        var horizontal = targetWidth != sourceWidth ? GetCoefficients(sourceWidth, targetWidth, left, regionWidth) : null;
        var vertical = targetHeight != sourceHeight ? GetCoefficients(sourceHeight, targetHeight, top, regionHeight) : null;

        // Source rows the vertical pass reads (or the region rows themselves when there is no vertical pass).
        int firstRow = top, endRow = top + regionHeight;
        if (vertical is not null)
        {
            firstRow = int.MaxValue;
            endRow = 0;
            for (var y = 0; y < regionHeight; y++)
            {
                firstRow = Math.Min(firstRow, vertical.Start[y]);
                endRow = Math.Max(endRow, vertical.Start[y] + vertical.Count[y]);
            }
        }

        if (horizontal is null && vertical is null)
        {
            for (var y = 0; y < regionHeight; y++)
            {
                source.Slice((top + y) * sourceStride + left * 3, regionWidth * 3).CopyTo(destination[(y * destinationStride)..]);
            }

            return;
        }

        if (horizontal is null)
        {
            // Vertical only: read the region's columns straight from the source.
            VerticalPass(source[(left * 3)..], sourceStride, 0, vertical!, regionHeight, regionWidth, destination, destinationStride, vectorBits);
            return;
        }

        if (vertical is null)
        {
            for (var y = 0; y < regionHeight; y++)
            {
                HorizontalRow(source.Slice((top + y) * sourceStride, sourceStride), horizontal, destination.Slice(y * destinationStride, regionWidth * 3), vectorBits);
            }

            return;
        }

        var rowBytes = regionWidth * 3;
        var rows = endRow - firstRow;
        var intermediate = ArrayPool<byte>.Shared.Rent(rows * rowBytes);
        try
        {
            for (var r = 0; r < rows; r++)
            {
                HorizontalRow(source.Slice((firstRow + r) * sourceStride, sourceStride), horizontal, intermediate.AsSpan(r * rowBytes, rowBytes), vectorBits);
            }

            VerticalPass(intermediate, rowBytes, firstRow, vertical, regionHeight, regionWidth, destination, destinationStride, vectorBits);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(intermediate);
        }
    }

    /// <summary>
    /// Pillow's <c>precompute_coeffs</c> + <c>normalize_coeffs_8bpc</c> for output indices
    /// <c>[first, first + count)</c> of one axis, cached (a crop of the same-sized images needs the same ones).
    /// </summary>
    internal static ResampleCoefficients GetCoefficients(int inSize, int outSize, int first, int count)
    {
        var key = (inSize, outSize, first, count);
        if (Cache.TryGetValue(key, out var cached))
        {
            return cached;
        }

        var computed = ResampleCoefficients.Compute(inSize, outSize, first, count);
        if (Cache.Count >= MaxCachedTables)
        {
            Cache.Clear(); // Image sizes vary without bound; keep the cache small rather than clever.
        }

        Cache[key] = computed;
        return computed;
    }

    // One row through the horizontal filter, for the output columns c covers.
    private static unsafe void HorizontalRow(ReadOnlySpan<byte> sourceRow, ResampleCoefficients c, Span<byte> destination, int vectorBits)
    {
        const int Half = 1 << (PrecisionBits - 1);
        var ksize = c.KernelSize;
        // The wide paths take several taps per step: the step's bytes (3 per tap, then one or two spare) are zero-extended
        // to one 32-bit lane each and multiplied by the tap's weight repeated over its three lanes (zero in the spare
        // lanes), so each lane holds one channel's products and the lanes of a channel are added at the end.
        var wide = vectorBits >= 512 && Avx512F.IsSupported ? 512 : vectorBits >= 256 && Avx2.IsSupported ? 256 : 0;
        var (group, lanes) = wide == 512 ? (5, 16) : (2, 8);
        var grouped = wide > 0 ? c.GroupedWeights(group, lanes) : null;
        var steps = (ksize + group - 1) / group;
        fixed (byte* src = sourceRow)
        fixed (byte* dst = destination)
        fixed (int* weights = c.Weights)
        fixed (int* groupWeights = grouped)
        {
            var end = src + sourceRow.Length;
            var o = dst;
            for (var x = 0; x < c.Start.Length; x++, o += 3)
            {
                var k = weights + x * ksize;
                var p = src + c.Start[x] * 3;
                var n = c.Count[x];
                int s0 = Half, s1 = Half, s2 = Half, t = 0;
                if (wide > 0)
                {
                    // A step reads `lanes` bytes, which must stay inside the row; the taps left over go to the loops below.
                    var stepBytes = group * 3;
                    var fit = end - p >= lanes ? (int)((end - p - lanes) / stepBytes) + 1 : 0;
                    var full = Math.Min(n / group, fit);
                    var w = groupWeights + ((nint)x * steps * lanes);
                    if (wide == 512)
                    {
                        var sum = Vector512<int>.Zero;
                        for (var j = 0; j < full; j++, p += stepBytes, w += lanes)
                        {
                            sum += Avx512F.ConvertToVector512Int32(Vector128.Load(p)).AsInt32() * Vector512.Load(w);
                        }

                        s0 += sum.GetElement(0) + sum.GetElement(3) + sum.GetElement(6) + sum.GetElement(9) + sum.GetElement(12);
                        s1 += sum.GetElement(1) + sum.GetElement(4) + sum.GetElement(7) + sum.GetElement(10) + sum.GetElement(13);
                        s2 += sum.GetElement(2) + sum.GetElement(5) + sum.GetElement(8) + sum.GetElement(11) + sum.GetElement(14);
                    }
                    else
                    {
                        var sum = Vector256<int>.Zero;
                        for (var j = 0; j < full; j++, p += stepBytes, w += lanes)
                        {
                            sum += Avx2.ConvertToVector256Int32(Vector128.CreateScalarUnsafe(Unsafe.ReadUnaligned<ulong>(p)).AsByte()) * Vector256.Load(w);
                        }

                        s0 += sum.GetElement(0) + sum.GetElement(3);
                        s1 += sum.GetElement(1) + sum.GetElement(4);
                        s2 += sum.GetElement(2) + sum.GetElement(5);
                    }

                    t = full * group;
                }

                if (vectorBits >= 128 && Vector128.IsHardwareAccelerated)
                {
                    // One pixel per step as (r, g, b, next byte) in four int lanes; the fourth lane is ignored.
                    // A 4-byte load must stay inside the row, so the row's last pixel goes to the scalar loop.
                    var taps = p + (n - t) * 3 < end ? n : n - 1;
                    var sum = Vector128<int>.Zero;
                    for (; t < taps; t++, p += 3)
                    {
                        var pixel = Vector128.CreateScalarUnsafe(Unsafe.ReadUnaligned<uint>(p)).AsByte();
                        sum += Vector128.WidenLower(Vector128.WidenLower(pixel)).AsInt32() * k[t];
                    }

                    s0 += sum.GetElement(0);
                    s1 += sum.GetElement(1);
                    s2 += sum.GetElement(2);
                }

                for (; t < n; t++, p += 3)
                {
                    var w = k[t];
                    s0 += p[0] * w;
                    s1 += p[1] * w;
                    s2 += p[2] * w;
                }

                o[0] = Clip8(s0);
                o[1] = Clip8(s1);
                o[2] = Clip8(s2);
            }
        }
    }

    private static unsafe void VerticalPass(
        ReadOnlySpan<byte> input, int inputStride, int inputFirstRow, ResampleCoefficients c,
        int regionHeight, int regionWidth, Span<byte> destination, int destinationStride, int vectorBits)
    {
        const int Half = 1 << (PrecisionBits - 1);
        var rowBytes = regionWidth * 3;
        var vectors = vectorBits >= 256 && Vector256.IsHardwareAccelerated;
        var sums = ArrayPool<int>.Shared.Rent(rowBytes);
        try
        {
            fixed (byte* src = input)
            fixed (byte* dst = destination)
            fixed (int* acc = sums)
            fixed (int* weights = c.Weights)
            {
                for (var y = 0; y < regionHeight; y++)
                {
                    var k = weights + y * c.KernelSize;
                    new Span<int>(acc, rowBytes).Fill(Half);

                    // Row by row over the taps: each pass is a straight multiply-add over the row.
                    for (int t = 0, n = c.Count[y]; t < n; t++)
                    {
                        var w = k[t];
                        var row = src + (c.Start[y] + t - inputFirstRow) * inputStride;
                        var i = vectors ? MultiplyAddBytes(row, w, acc, rowBytes) : 0;
                        for (; i < rowBytes; i++)
                        {
                            acc[i] += row[i] * w;
                        }
                    }

                    var o = dst + y * destinationStride;
                    for (var i = 0; i < rowBytes; i++)
                    {
                        o[i] = Clip8(acc[i]);
                    }
                }
            }
        }
        finally
        {
            ArrayPool<int>.Shared.Return(sums);
        }
    }

    /// <summary>
    /// <c>acc[i] += row[i] * weight</c> for the leading multiple of 16 of <paramref name="length"/> bytes, 16 at a time as
    /// 32-bit lanes (the scalar loop's products and sums, so the same bytes); returns how many it did.
    /// </summary>
    private static unsafe int MultiplyAddBytes(byte* row, int weight, int* acc, int length)
    {
        var i = 0;
        for (; i + 16 <= length; i += 16)
        {
            var widened = Vector256.WidenLower(Vector128.Load(row + i).ToVector256Unsafe());
            Vector256.Store(Vector256.Load(acc + i) + (Vector256.WidenLower(widened).AsInt32() * weight), acc + i);
            Vector256.Store(Vector256.Load(acc + i + 8) + (Vector256.WidenUpper(widened).AsInt32() * weight), acc + i + 8);
        }

        return i;
    }

    private static byte Clip8(int value)
    {
        var v = value >> PrecisionBits;
        return v < 0 ? (byte)0 : v > 255 ? (byte)255 : (byte)v;
    }
}

/// <summary>
/// Integer resampling coefficients for a run of output indices of one axis: input window and 22-bit
/// weights per output index (entry <c>i</c> is output index <c>first + i</c>).
/// </summary>
internal sealed class ResampleCoefficients
{
    private GroupedLayout? _grouped;

    private ResampleCoefficients(int kernelSize, int[] start, int[] count, int[] weights)
    {
        KernelSize = kernelSize;
        Start = start;
        Count = count;
        Weights = weights;
    }

    /// <summary>Row length of <see cref="Weights"/> (the widest possible window).</summary>
    public int KernelSize { get; }

    /// <summary>First input index per output index of the run.</summary>
    public int[] Start { get; }

    /// <summary>Number of input samples per output index.</summary>
    public int[] Count { get; }

    /// <summary><see cref="KernelSize"/> fixed-point weights per output index (zero beyond <see cref="Count"/>).</summary>
    public int[] Weights { get; }

    /// <summary>
    /// The weights laid out for the horizontal pass's wide steps (<see cref="PillowBicubicResizer"/>): per output index,
    /// <c>ceil(KernelSize / group)</c> blocks of <paramref name="lanes"/> ints, each holding <paramref name="group"/> taps'
    /// weights three times (once per channel) and zeros in the spare lanes. Built once per layout and kept.
    /// </summary>
    public int[] GroupedWeights(int group, int lanes)
    {
        var cached = Volatile.Read(ref _grouped);
        if (cached is not null && cached.Group == group)
        {
            return cached.Weights;
        }

        var steps = (KernelSize + group - 1) / group;
        var grouped = new int[Start.Length * steps * lanes];
        for (var x = 0; x < Start.Length; x++)
        {
            for (var t = 0; t < KernelSize; t++)
            {
                var at = (((x * steps) + (t / group)) * lanes) + ((t % group) * 3);
                grouped[at] = grouped[at + 1] = grouped[at + 2] = Weights[(x * KernelSize) + t];
            }
        }

        Volatile.Write(ref _grouped, new GroupedLayout(group, grouped));
        return grouped;
    }

    private sealed record GroupedLayout(int Group, int[] Weights);

    public static ResampleCoefficients Compute(int inSize, int outSize, int first, int runLength)
    {
        const double Support = 2.0; // bicubic
        var scale = (double)inSize / outSize;
        var filterScale = scale < 1.0 ? 1.0 : scale;
        var support = Support * filterScale;
        var kernelSize = (int)Math.Ceiling(support) * 2 + 1;

        var start = new int[runLength];
        var count = new int[runLength];
        var weights = new int[runLength * kernelSize];
        var k = new double[kernelSize];
        for (var i = 0; i < runLength; i++)
        {
            var xx = first + i;
            var center = (xx + 0.5) * scale;
            var ww = 0.0;
            var ss = 1.0 / filterScale;
            var xmin = (int)(center - support + 0.5);
            if (xmin < 0)
            {
                xmin = 0;
            }

            var xmax = (int)(center + support + 0.5);
            if (xmax > inSize)
            {
                xmax = inSize;
            }

            xmax -= xmin;
            for (var x = 0; x < xmax; x++)
            {
                var w = Bicubic((x + xmin - center + 0.5) * ss);
                k[x] = w;
                ww += w;
            }

            for (var x = 0; x < xmax; x++)
            {
                if (ww != 0.0)
                {
                    k[x] /= ww;
                }

                // normalize_coeffs_8bpc: round half away from zero, then truncate.
                weights[i * kernelSize + x] = k[x] < 0
                    ? (int)(-0.5 + k[x] * (1 << 22))
                    : (int)(0.5 + k[x] * (1 << 22));
            }

            start[i] = xmin;
            count[i] = xmax;
        }

        return new ResampleCoefficients(kernelSize, start, count, weights);
    }

    // Keys cubic with a = -0.5, evaluated in Pillow's operation order so the doubles match.
    private static double Bicubic(double x)
    {
        const double A = -0.5;
        if (x < 0.0)
        {
            x = -x;
        }

        if (x < 1.0)
        {
            return ((A + 2.0) * x - (A + 3.0)) * x * x + 1;
        }

        if (x < 2.0)
        {
            return (((x - 5) * x + 8) * x - 4) * A;
        }

        return 0.0;
    }
}
