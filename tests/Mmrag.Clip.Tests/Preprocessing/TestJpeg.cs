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
    /// A photo-like JPEG at quality 90: smooth colour waves whose phases come from <paramref name="seed"/>, a few hard-edged
    /// discs, and a little noise (what DCT scaling has to get right: gradients, edges and fine grain).
    /// </summary>
    public static byte[] Photo(int width, int height, int seed)
    {
        var random = new Random(seed);
        var phases = Enumerable.Range(0, 6).Select(_ => random.NextDouble() * Math.Tau).ToArray();
        var discs = Enumerable.Range(0, 8).Select(_ => (X: random.Next(width), Y: random.Next(height), R: random.Next(width / 20, width / 5), Shade: (byte)random.Next(256))).ToArray();
        using var bitmap = new SKBitmap(width, height, SKColorType.Rgba8888, SKAlphaType.Opaque);
        var pixels = new byte[width * height * 4];
        for (var y = 0; y < height; y++)
        {
            for (var x = 0; x < width; x++)
            {
                var (u, v) = ((double)x / width, (double)y / height);
                var o = (y * width + x) * 4;
                for (var c = 0; c < 3; c++)
                {
                    var level = 128 + 100 * Math.Sin((3 + c) * u + (2 + c) * v + phases[c]) * Math.Cos((2 * u) - v + phases[c + 3]);
                    pixels[o + c] = (byte)Math.Clamp(level + random.Next(-6, 7), 0, 255);
                }

                pixels[o + 3] = 255;
                foreach (var (cx, cy, r, shade) in discs)
                {
                    if (((long)(x - cx) * (x - cx)) + ((long)(y - cy) * (y - cy)) < (long)r * r)
                    {
                        pixels[o] = shade;
                    }
                }
            }
        }

        System.Runtime.InteropServices.Marshal.Copy(pixels, 0, bitmap.GetPixels(), pixels.Length);
        using var data = bitmap.Encode(SKEncodedImageFormat.Jpeg, 90);
        return data.ToArray();
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
