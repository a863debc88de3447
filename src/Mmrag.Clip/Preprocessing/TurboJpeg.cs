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

    // TJFLAG_ACCURATEDCT | TJFLAG_STOPONWARNING | TJFLAG_LIMITSCANS: the reference's IDCT; a warning ends the decode rather
    // than leaving a partly decoded image; a progressive JPEG of over 500 scans (a known way to make a small file cost
    // minutes) is declined early. A declined JPEG is then decoded by Skia exactly as before this decoder existed (which
    // has no scan limit; the file's time limit bounds it), so a bad JPEG costs at most the declined start on top.
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
        using var decompressor = Decompressor.Open();
        if (!decompressor.TryReadSize(encoded, checkSize, out int width, out int height))
        {
            return false;
        }

        var pixels = GC.AllocateUninitializedArray<byte>(width * height * 3);
        if (!decompressor.Decompress(encoded, pixels, width, height))
        {
            return false;
        }

        image = new RgbImage(width, height, pixels);
        return true;
    }

    /// <summary>
    /// Like <see cref="TryDecode"/>, into native memory the caller disposes (<see cref="DecodeBuffer"/>): for a decode
    /// whose pixels are resized and dropped.
    /// </summary>
    public static bool TryDecodeToBuffer(ReadOnlySpan<byte> encoded, Action<int, int> checkSize, out DecodeBuffer image)
    {
        image = default;
        using var decompressor = Decompressor.Open();
        if (!decompressor.TryReadSize(encoded, checkSize, out int width, out int height))
        {
            return false;
        }

        var buffer = DecodeBuffer.Allocate(width, height);
        if (!decompressor.Decompress(encoded, buffer.Pixels, width, height))
        {
            buffer.Dispose();
            return false;
        }

        image = buffer;
        return true;
    }

    /// <summary>One TurboJPEG decompressor for one decode (a handle is not thread-safe; making one is cheap).</summary>
    private readonly ref struct Decompressor
    {
        private readonly Api? _api;
        private readonly nint _handle;

        private Decompressor(Api? api, nint handle)
        {
            _api = api;
            _handle = handle;
        }

        /// <summary>A decompressor, or a closed one (every call false) when the library is missing or refuses.</summary>
        public static Decompressor Open() => Library is { } api ? new Decompressor(api, api.InitDecompress()) : default;

        /// <summary>
        /// The size libjpeg parsed from the frame header, passed to <paramref name="checkSize"/> (which throws to refuse);
        /// false when there is no such header, the JPEG is not one this decoder takes, or its pixels would not fit one array.
        /// </summary>
        public bool TryReadSize(ReadOnlySpan<byte> encoded, Action<int, int> checkSize, out int width, out int height)
        {
            width = height = 0;
            if (_api is null || _handle == 0)
            {
                return false;
            }

            int w, h, subsampling, colorspace;
            fixed (byte* source = encoded)
            {
                if (_api.DecompressHeader(_handle, source, (nuint)encoded.Length, &w, &h, &subsampling, &colorspace) != 0
                    || w <= 0 || h <= 0 || colorspace is not (ColorspaceYCbCr or ColorspaceGray or ColorspaceRgb))
                {
                    return false;
                }
            }

            checkSize(w, h);
            (width, height) = (w, h);
            return (long)w * h * 3 <= Array.MaxLength;
        }

        /// <summary>Decodes into <paramref name="destination"/> (width x height x 3 bytes); false on any error or warning.</summary>
        public bool Decompress(ReadOnlySpan<byte> encoded, Span<byte> destination, int width, int height)
        {
            fixed (byte* source = encoded)
            fixed (byte* pixels = destination)
            {
                return _api!.Decompress(_handle, source, (nuint)encoded.Length, pixels, width, width * 3, height, PixelFormatRgb, DecodeFlags) == 0;
            }
        }

        public void Dispose()
        {
            if (_api is not null && _handle != 0)
            {
                _api.Destroy(_handle);
            }
        }
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
