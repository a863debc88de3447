using System.Runtime.InteropServices;

namespace Mmrag.Clip.Preprocessing;

/// <summary>
/// A decoded RGB image in native memory, freed when disposed: what the JPEG → pixel values path decodes into when it
/// needs no <see cref="RgbImage"/> afterwards. A photo's buffer is tens of megabytes (36 MB at 4000x3000), and a fresh
/// one costs a page fault per 4 KiB page on first write: on the virtual machines this project is measured on, that
/// was 95–160 ms for a 4000x3000 decode of 35 ms. On Linux a buffer of 2 MiB or more asks for transparent huge pages
/// (<c>madvise(MADV_HUGEPAGE)</c>), so it faults once per 2 MiB, and nothing is kept after the call.
/// </summary>
internal unsafe ref struct DecodeBuffer
{
    private const nuint HugePage = 2 << 20;
    private const int MadviseHugePage = 14; // MADV_HUGEPAGE

    private byte* _pixels;
    private readonly bool _aligned;

    private DecodeBuffer(byte* pixels, bool aligned, int width, int height)
    {
        _pixels = pixels;
        _aligned = aligned;
        Width = width;
        Height = height;
    }

    public int Width { get; }

    public int Height { get; }

    /// <summary>The pixels, <c>Height * Width * 3</c> bytes, row-major RGB.</summary>
    public readonly Span<byte> Pixels => new(_pixels, Width * Height * 3);

    /// <summary>A buffer for a <paramref name="width"/> x <paramref name="height"/> RGB image (its size checked by the caller).</summary>
    public static DecodeBuffer Allocate(int width, int height)
    {
        var bytes = (nuint)width * (nuint)height * 3;
        if (bytes < HugePage)
        {
            return new DecodeBuffer((byte*)NativeMemory.Alloc(bytes), aligned: false, width, height);
        }

        var size = (bytes + HugePage - 1) & ~(HugePage - 1);
        var pixels = (byte*)NativeMemory.AlignedAlloc(size, HugePage);
        if (OperatingSystem.IsLinux())
        {
            // Advice only: where transparent huge pages are off, the pages are ordinary ones, as without it.
            _ = Madvise(pixels, size, MadviseHugePage);
        }

        return new DecodeBuffer(pixels, aligned: true, width, height);
    }

    public void Dispose()
    {
        if (_pixels is null)
        {
            return;
        }

        if (_aligned)
        {
            NativeMemory.AlignedFree(_pixels);
        }
        else
        {
            NativeMemory.Free(_pixels);
        }

        _pixels = null;
    }

    [DllImport("libc", EntryPoint = "madvise")]
    private static extern int Madvise(void* address, nuint length, int advice);
}
