using System.Buffers.Binary;
using SkiaSharp;

namespace Mmrag.Clip.Tests.Preprocessing;

/// <summary>Forges hostile JPEGs from a small real one encoded by SkiaSharp.</summary>
internal static class TestJpeg
{
    /// <summary>A small real JPEG whose frame header (SOF) claims <paramref name="width"/> x <paramref name="height"/>.</summary>
    public static byte[] ClaimingSize(int width, int height)
    {
        using var bitmap = new SKBitmap(16, 16);
        bitmap.Erase(new SKColor(200, 100, 50));
        using var data = bitmap.Encode(SKEncodedImageFormat.Jpeg, 90);
        var jpeg = data.ToArray();
        var sof = IndexOfMarker(jpeg, 0xC0);
        BinaryPrimitives.WriteUInt16BigEndian(jpeg.AsSpan(sof + 5), (ushort)height);
        BinaryPrimitives.WriteUInt16BigEndian(jpeg.AsSpan(sof + 7), (ushort)width);
        return jpeg;
    }

    /// <summary>
    /// <paramref name="jpeg"/> with one stray byte before its first quantization table (DQT): libjpeg skips it with a
    /// warning, but a naive header walk stops there and never reaches the frame header.
    /// </summary>
    public static byte[] WithStrayByteBeforeDqt(byte[] jpeg)
    {
        var dqt = IndexOfMarker(jpeg, 0xDB);
        return [.. jpeg.AsSpan(0, dqt), 0x00, .. jpeg.AsSpan(dqt)];
    }

    private static int IndexOfMarker(byte[] jpeg, byte marker)
    {
        for (var i = 2; i + 1 < jpeg.Length; i++)
        {
            if (jpeg[i] == 0xFF && jpeg[i + 1] == marker)
            {
                return i;
            }
        }

        throw new InvalidOperationException($"No marker FF{marker:X2} in the encoded JPEG.");
    }
}
