using System.Buffers.Binary;
using System.IO.Compression;

namespace Mmrag.Clip.Tests.Preprocessing;

/// <summary>Writes small PNGs for tests: any colour type, 8 or 16 bits, all five row filters, optional Adam7 and eXIf.</summary>
internal static class TestPng
{
    private static readonly uint[] CrcTable = BuildCrcTable();

    /// <summary>
    /// Encodes <paramref name="samples"/> (row-major, <paramref name="channels"/> per pixel, values within the bit depth).
    /// Row filters cycle through None, Sub, Up, Average, Paeth so a decoder must undo all of them.
    /// </summary>
    public static byte[] Encode(
        int width, int height, int colorType, int bitDepth, ushort[] samples,
        bool interlaced = false, byte[]? exif = null, IEnumerable<(string Type, byte[] Data)>? extraChunks = null)
    {
        var channels = colorType switch { 0 => 1, 2 => 3, 4 => 2, 6 => 4, _ => throw new ArgumentOutOfRangeException(nameof(colorType)) };
        var bytesPerSample = bitDepth / 8;
        var bpp = channels * bytesPerSample;

        using var raw = new MemoryStream();
        var filterIndex = 0;
        var passes = interlaced
            ? new[] { (0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2) }
            : new[] { (0, 0, 1, 1) };
        foreach (var (x0, y0, dx, dy) in passes)
        {
            var passWidth = (width - x0 + dx - 1) / dx;
            var passHeight = (height - y0 + dy - 1) / dy;
            if (passWidth <= 0 || passHeight <= 0)
            {
                continue;
            }

            var previous = new byte[passWidth * bpp];
            for (var r = 0; r < passHeight; r++)
            {
                var line = new byte[passWidth * bpp];
                var y = y0 + r * dy;
                for (var i = 0; i < passWidth; i++)
                {
                    var x = x0 + i * dx;
                    for (var c = 0; c < channels; c++)
                    {
                        var v = samples[(y * width + x) * channels + c];
                        if (bytesPerSample == 2)
                        {
                            BinaryPrimitives.WriteUInt16BigEndian(line.AsSpan((i * channels + c) * 2), v);
                        }
                        else
                        {
                            line[i * channels + c] = (byte)v;
                        }
                    }
                }

                var filter = (byte)(filterIndex++ % 5);
                raw.WriteByte(filter);
                raw.Write(Filter(filter, line, previous, bpp));
                previous = line;
            }
        }

        using var compressed = new MemoryStream();
        using (var zlib = new ZLibStream(compressed, CompressionLevel.Optimal, leaveOpen: true))
        {
            zlib.Write(raw.ToArray());
        }

        var ihdr = new byte[13];
        BinaryPrimitives.WriteUInt32BigEndian(ihdr, (uint)width);
        BinaryPrimitives.WriteUInt32BigEndian(ihdr.AsSpan(4), (uint)height);
        ihdr[8] = (byte)bitDepth;
        ihdr[9] = (byte)colorType;
        ihdr[12] = interlaced ? (byte)1 : (byte)0;

        var png = new List<byte>([137, 80, 78, 71, 13, 10, 26, 10]);
        png.AddRange(Chunk("IHDR", ihdr));
        if (exif is not null)
        {
            png.AddRange(Chunk("eXIf", exif));
        }

        foreach (var (type, chunkData) in extraChunks ?? [])
        {
            png.AddRange(Chunk(type, chunkData));
        }

        // Two IDAT chunks, so the decoder has to join them.
        var data = compressed.ToArray();
        png.AddRange(Chunk("IDAT", data[..(data.Length / 2)]));
        png.AddRange(Chunk("IDAT", data[(data.Length / 2)..]));
        png.AddRange(Chunk("IEND", []));
        return [.. png];
    }

    /// <summary>A PNG signature and an 8-bit RGB <c>IHDR</c> claiming <paramref name="width"/> x <paramref name="height"/>, nothing else.</summary>
    public static byte[] HeaderOnly(uint width, uint height)
    {
        var ihdr = new byte[13];
        BinaryPrimitives.WriteUInt32BigEndian(ihdr, width);
        BinaryPrimitives.WriteUInt32BigEndian(ihdr.AsSpan(4), height);
        ihdr[8] = 8; // bit depth
        ihdr[9] = 2; // RGB
        return [137, 80, 78, 71, 13, 10, 26, 10, .. Chunk("IHDR", ihdr)];
    }

    public static byte[] Chunk(string type, byte[] data)
    {
        var chunk = new byte[12 + data.Length];
        BinaryPrimitives.WriteUInt32BigEndian(chunk, (uint)data.Length);
        for (var i = 0; i < 4; i++)
        {
            chunk[4 + i] = (byte)type[i];
        }

        data.CopyTo(chunk, 8);
        BinaryPrimitives.WriteUInt32BigEndian(chunk.AsSpan(8 + data.Length), Crc(chunk.AsSpan(4, 4 + data.Length)));
        return chunk;
    }

    /// <summary>A big-endian TIFF block with one IFD0 entry: Orientation = <paramref name="orientation"/>.</summary>
    public static byte[] ExifWithOrientation(int orientation)
    {
        var tiff = new byte[8 + 2 + 12 + 4];
        "MM\0*"u8.CopyTo(tiff);
        BinaryPrimitives.WriteUInt32BigEndian(tiff.AsSpan(4), 8);
        BinaryPrimitives.WriteUInt16BigEndian(tiff.AsSpan(8), 1);
        BinaryPrimitives.WriteUInt16BigEndian(tiff.AsSpan(10), 0x0112);
        BinaryPrimitives.WriteUInt16BigEndian(tiff.AsSpan(12), 3);
        BinaryPrimitives.WriteUInt32BigEndian(tiff.AsSpan(14), 1);
        BinaryPrimitives.WriteUInt16BigEndian(tiff.AsSpan(18), (ushort)orientation);
        return tiff;
    }

    private static byte[] Filter(byte filter, byte[] line, byte[] previous, int bpp)
    {
        var output = new byte[line.Length];
        for (var i = 0; i < line.Length; i++)
        {
            int a = i >= bpp ? line[i - bpp] : 0, b = previous[i], c = i >= bpp ? previous[i - bpp] : 0;
            var predictor = filter switch
            {
                0 => 0,
                1 => a,
                2 => b,
                3 => (a + b) >> 1,
                _ => Paeth(a, b, c),
            };
            output[i] = (byte)(line[i] - predictor);
        }

        return output;
    }

    private static int Paeth(int a, int b, int c)
    {
        var p = a + b - c;
        int pa = Math.Abs(p - a), pb = Math.Abs(p - b), pc = Math.Abs(p - c);
        return pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
    }

    private static uint Crc(ReadOnlySpan<byte> data)
    {
        var crc = 0xFFFFFFFFu;
        foreach (var b in data)
        {
            crc = CrcTable[(crc ^ b) & 0xFF] ^ (crc >> 8);
        }

        return crc ^ 0xFFFFFFFFu;
    }

    private static uint[] BuildCrcTable()
    {
        var table = new uint[256];
        for (var n = 0u; n < 256; n++)
        {
            var c = n;
            for (var k = 0; k < 8; k++)
            {
                c = (c & 1) != 0 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
            }

            table[n] = c;
        }

        return table;
    }
}
