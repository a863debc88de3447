using System.Runtime.InteropServices;

namespace Mmrag.Clip.Preprocessing;

/// <summary>
/// Baseline and progressive 8-bit JPEG decoding through the system's libjpeg-turbo (its TurboJPEG API,
/// <c>libturbojpeg.so.0</c>), which runs the SIMD kernels. The decode is libjpeg's accurate integer IDCT with fancy
/// upsampling, as SkiaSharp's bundled libjpeg-turbo and Pillow decode; libjpeg-turbo's SIMD kernels give the same
/// bytes as its C ones, so the pixels equal the Skia decode's (tests compare them). It is about six times faster than the
/// bundled decoder on the machines this project is measured on, because that one is built without SIMD.
/// </summary>
/// <remarks>
/// Only the plain cases are taken: YCbCr, RGB and greyscale JPEGs that decode without a single warning. Anything else
/// (CMYK, 12-bit, a truncated or corrupt stream, more than 500 progressive scans, a library that is not installed)
/// returns false, and the caller decodes with Skia, whose errors and colour handling stay the reference path's.
/// Thread-safe: each call uses its own decompressor.
/// </remarks>
internal static unsafe class TurboJpeg
{
    private const int PixelFormatRgb = 0; // TJPF_RGB
    private const int ColorspaceRgb = 0; // TJCS_RGB
    private const int ColorspaceYCbCr = 1; // TJCS_YCbCr
    private const int ColorspaceGray = 2; // TJCS_GRAY

    // TJFLAG_ACCURATEDCT | TJFLAG_STOPONWARNING | TJFLAG_LIMITSCANS: the reference's IDCT, no partly decoded image, and a
    // progressive JPEG of thousands of tiny scans (a known way to make a small file cost minutes) is left to Skia's checks.
    private const int DecodeFlags = 4096 | 8192 | 32768;

    private static readonly Api? Library = Load();

    /// <summary>Whether the system's libturbojpeg was found and is used for JPEGs.</summary>
    public static bool IsAvailable => Library is not null;

    /// <summary>
    /// Decodes <paramref name="encoded"/> to RGB when it is a JPEG this decoder takes (see the remarks); the size is
    /// checked by <paramref name="checkSize"/> before any pixel buffer is allocated (it throws to refuse).
    /// </summary>
    public static bool TryDecode(ReadOnlySpan<byte> encoded, Action<int, int> checkSize, out RgbImage? image)
    {
        image = null;
        if (!TryDecodeToBuffer(encoded, checkSize, out var decoded))
        {
            return false;
        }

        using (decoded)
        {
            image = new RgbImage(decoded.Width, decoded.Height, decoded.Pixels.ToArray());
            return true;
        }
    }

    /// <summary>
    /// Like <see cref="TryDecode"/>, into native memory the caller disposes (<see cref="DecodeBuffer"/>): for a decode
    /// whose pixels are resized and dropped.
    /// </summary>
    public static bool TryDecodeToBuffer(ReadOnlySpan<byte> encoded, Action<int, int> checkSize, out DecodeBuffer image)
    {
        image = default;
        if (Library is not { } api)
        {
            return false;
        }

        nint handle = api.InitDecompress();
        if (handle == 0)
        {
            return false;
        }

        try
        {
            if (!ReadHeader(api, handle, encoded, out int width, out int height))
            {
                return false;
            }

            checkSize(width, height);
            if ((long)width * height * 3 > Array.MaxLength)
            {
                return false;
            }

            var buffer = DecodeBuffer.Allocate(width, height);
            fixed (byte* source = encoded)
            fixed (byte* destination = buffer.Pixels)
            {
                if (api.Decompress(handle, source, (nuint)encoded.Length, destination, width, width * 3, height, PixelFormatRgb, DecodeFlags) != 0)
                {
                    buffer.Dispose();
                    return false;
                }
            }

            image = buffer;
            return true;
        }
        finally
        {
            api.Destroy(handle);
        }
    }

    private static bool ReadHeader(Api api, nint handle, ReadOnlySpan<byte> encoded, out int width, out int height)
    {
        int w, h, subsampling, colorspace;
        fixed (byte* source = encoded)
        {
            if (api.DecompressHeader(handle, source, (nuint)encoded.Length, &w, &h, &subsampling, &colorspace) != 0)
            {
                width = height = 0;
                return false;
            }
        }

        (width, height) = (w, h);
        return w > 0 && h > 0 && colorspace is ColorspaceYCbCr or ColorspaceGray or ColorspaceRgb;
    }

    private static Api? Load()
    {
        // The TurboJPEG API passes sizes as C `unsigned long`, pointer-sized only where long is 64-bit (not Windows).
        if (OperatingSystem.IsWindows() || !Environment.Is64BitProcess)
        {
            return null;
        }

        foreach (var name in new[] { "libturbojpeg.so.0", "libturbojpeg.0.dylib", "libturbojpeg.dylib" })
        {
            if (!NativeLibrary.TryLoad(name, out nint library))
            {
                continue;
            }

            if (NativeLibrary.TryGetExport(library, "tjInitDecompress", out nint init)
                && NativeLibrary.TryGetExport(library, "tjDecompressHeader3", out nint header)
                && NativeLibrary.TryGetExport(library, "tjDecompress2", out nint decompress)
                && NativeLibrary.TryGetExport(library, "tjDestroy", out nint destroy))
            {
                return new Api(
                    (delegate* unmanaged<nint>)init,
                    (delegate* unmanaged<nint, byte*, nuint, int*, int*, int*, int*, int>)header,
                    (delegate* unmanaged<nint, byte*, nuint, byte*, int, int, int, int, int, int>)decompress,
                    (delegate* unmanaged<nint, int>)destroy);
            }

            NativeLibrary.Free(library);
        }

        return null;
    }

    private sealed class Api(
        delegate* unmanaged<nint> initDecompress,
        delegate* unmanaged<nint, byte*, nuint, int*, int*, int*, int*, int> decompressHeader,
        delegate* unmanaged<nint, byte*, nuint, byte*, int, int, int, int, int, int> decompress,
        delegate* unmanaged<nint, int> destroy)
    {
        public nint InitDecompress() => initDecompress();

        public int DecompressHeader(nint handle, byte* source, nuint size, int* width, int* height, int* subsampling, int* colorspace) =>
            decompressHeader(handle, source, size, width, height, subsampling, colorspace);

        public int Decompress(nint handle, byte* source, nuint size, byte* destination, int width, int pitch, int height, int pixelFormat, int flags) =>
            decompress(handle, source, size, destination, width, pitch, height, pixelFormat, flags);

        public void Destroy(nint handle) => destroy(handle);
    }
}
