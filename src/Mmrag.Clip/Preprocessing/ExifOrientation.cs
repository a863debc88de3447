using System.Buffers.Binary;

namespace Mmrag.Clip.Preprocessing;

/// <summary>
/// EXIF orientation (tag 0x0112): reading it from a TIFF block and applying it the way Pillow's
/// <c>ImageOps.exif_transpose</c> does. Stateless and thread-safe.
/// </summary>
internal static class ExifOrientation
{
    private const ushort OrientationTag = 0x0112;
    private const ushort ShortType = 3;

    /// <summary>The orientation in a TIFF-structured EXIF block (optionally prefixed by <c>Exif\0\0</c>), or 1.</summary>
    public static int ReadFromTiff(ReadOnlySpan<byte> tiff)
    {
        if (tiff.StartsWith("Exif\0\0"u8))
        {
            tiff = tiff[6..];
        }

        if (tiff.Length < 8)
        {
            return 1;
        }

        bool little;
        if (tiff.StartsWith("II*\0"u8))
        {
            little = true;
        }
        else if (tiff.StartsWith("MM\0*"u8))
        {
            little = false;
        }
        else
        {
            return 1;
        }

        var ifd = ReadUInt32(tiff[4..], little);
        if (ifd > (uint)(tiff.Length - 2))
        {
            return 1;
        }

        var entries = ReadUInt16(tiff[(int)ifd..], little);
        for (var i = 0; i < entries; i++)
        {
            var entry = (int)ifd + 2 + i * 12;
            if (entry + 12 > tiff.Length)
            {
                return 1;
            }

            if (ReadUInt16(tiff[entry..], little) == OrientationTag && ReadUInt16(tiff[(entry + 2)..], little) == ShortType)
            {
                var value = ReadUInt16(tiff[(entry + 8)..], little);
                return value is >= 1 and <= 8 ? value : 1;
            }
        }

        return 1;
    }

    /// <summary>Returns <paramref name="image"/> rotated/flipped for display; orientation 1 (or anything outside 1..8) returns it unchanged.</summary>
    public static RgbImage Apply(RgbImage image, int orientation)
    {
        if (orientation is < 2 or > 8)
        {
            return image;
        }

        int w = image.Width, h = image.Height;
        var swap = orientation >= 5;
        int outW = swap ? h : w, outH = swap ? w : h;

        // The source pixel shown at output (x, y) is (ax*x + bx*y + cx, ay*x + by*y + cy), per Pillow's transpose methods.
        var (ax, bx, cx, ay, by, cy) = orientation switch
        {
            2 => (-1, 0, w - 1, 0, 1, 0),          // FLIP_LEFT_RIGHT
            3 => (-1, 0, w - 1, 0, -1, h - 1),     // ROTATE_180
            4 => (1, 0, 0, 0, -1, h - 1),          // FLIP_TOP_BOTTOM
            5 => (0, 1, 0, 1, 0, 0),               // TRANSPOSE
            6 => (0, 1, 0, -1, 0, h - 1),          // ROTATE_270 (a clockwise quarter turn)
            7 => (0, -1, w - 1, -1, 0, h - 1),     // TRANSVERSE
            _ => (0, -1, w - 1, 1, 0, 0),          // 8: ROTATE_90
        };
        var stepX = (ay * w + ax) * 3;
        var stepY = (by * w + bx) * 3;
        var rowStart = (cy * w + cx) * 3;

        var src = image.Pixels;
        var dst = GC.AllocateUninitializedArray<byte>(src.Length);
        var o = 0;
        for (var y = 0; y < outH; y++, rowStart += stepY)
        {
            var s = rowStart;
            for (var x = 0; x < outW; x++, s += stepX, o += 3)
            {
                dst[o] = src[s];
                dst[o + 1] = src[s + 1];
                dst[o + 2] = src[s + 2];
            }
        }

        return new RgbImage(outW, outH, dst);
    }

    private static ushort ReadUInt16(ReadOnlySpan<byte> data, bool little) =>
        little ? BinaryPrimitives.ReadUInt16LittleEndian(data) : BinaryPrimitives.ReadUInt16BigEndian(data);

    private static uint ReadUInt32(ReadOnlySpan<byte> data, bool little) =>
        little ? BinaryPrimitives.ReadUInt32LittleEndian(data) : BinaryPrimitives.ReadUInt32BigEndian(data);
}
