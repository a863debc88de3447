using System.Buffers.Binary;
using System.IO.Compression;

namespace Mmrag.Clip.Preprocessing;

/// <summary>The fields of a PNG <c>IHDR</c> chunk.</summary>
internal readonly record struct PngHeader(int Width, int Height, int BitDepth, int ColorType, bool Interlaced);

/// <summary>
/// The parts of PNG we read ourselves beside Skia: the header (so an oversized image is refused before
/// any pixel work), the <c>eXIf</c> orientation, and a complete decoder for 16-bit images. Skia turns
/// 16-bit samples into 8 bits by rounding and cannot hand out the raw grey value, while the reference
/// keeps the high byte of 16-bit RGB/LA/RGBA and clips 16-bit grey (Pillow mode <c>I</c>) to 0..255.
/// Stateless and thread-safe.
/// </summary>
internal static class PngFormat
{
    private const int SignatureLength = 8;
    private const int ChunkOverhead = 12; // length + type + crc

    private static ReadOnlySpan<byte> Signature => [137, 80, 78, 71, 13, 10, 26, 10];

    // Adam7: x0, y0, dx, dy per pass.
    private static ReadOnlySpan<byte> Adam7 => [0, 0, 8, 8, 4, 0, 8, 8, 0, 4, 4, 8, 2, 0, 4, 4, 0, 2, 2, 4, 1, 0, 2, 2, 0, 1, 1, 2];

    public static bool HasSignature(ReadOnlySpan<byte> data) => data.StartsWith(Signature);

    /// <summary>Reads and validates <c>IHDR</c>; throws <see cref="ImageDecodeException"/> when it is missing or invalid.</summary>
    public static PngHeader ReadHeader(ReadOnlySpan<byte> data)
    {
        if (data.Length < SignatureLength + 8 + 13)
        {
            throw new ImageDecodeException("PNG data is truncated inside its header.");
        }

        var length = BinaryPrimitives.ReadUInt32BigEndian(data[SignatureLength..]);
        if (length != 13 || !data.Slice(SignatureLength + 4, 4).SequenceEqual("IHDR"u8))
        {
            throw new ImageDecodeException("Corrupt PNG: the first chunk is not a valid IHDR.");
        }

        var ihdr = data.Slice(SignatureLength + 8, 13);
        var width = BinaryPrimitives.ReadUInt32BigEndian(ihdr);
        var height = BinaryPrimitives.ReadUInt32BigEndian(ihdr[4..]);
        int bitDepth = ihdr[8], colorType = ihdr[9], compression = ihdr[10], filter = ihdr[11], interlace = ihdr[12];
        if (width == 0 || height == 0 || width > int.MaxValue || height > int.MaxValue)
        {
            throw new ImageDecodeException($"Corrupt PNG: invalid dimensions {width}x{height}.");
        }

        var validDepth = colorType switch
        {
            0 => bitDepth is 1 or 2 or 4 or 8 or 16,
            3 => bitDepth is 1 or 2 or 4 or 8,
            2 or 4 or 6 => bitDepth is 8 or 16,
            _ => false,
        };
        if (!validDepth || compression != 0 || filter != 0 || interlace > 1)
        {
            throw new ImageDecodeException(
                $"Corrupt PNG: unsupported header (colour type {colorType}, bit depth {bitDepth}, compression {compression}, filter {filter}, interlace {interlace}).");
        }

        return new PngHeader((int)width, (int)height, bitDepth, colorType, interlace == 1);
    }

    /// <summary>EXIF orientation (1..8) from an <c>eXIf</c> chunk, or 1 when there is none or it cannot be read.</summary>
    public static int ReadExifOrientation(ReadOnlySpan<byte> data)
    {
        var offset = SignatureLength;
        while (offset + ChunkOverhead <= data.Length)
        {
            var length = BinaryPrimitives.ReadUInt32BigEndian(data[offset..]);
            if (length > (uint)(data.Length - offset - ChunkOverhead))
            {
                return 1;
            }

            var type = data.Slice(offset + 4, 4);
            if (type.SequenceEqual("eXIf"u8))
            {
                return ExifOrientation.ReadFromTiff(data.Slice(offset + 8, (int)length));
            }

            if (type.SequenceEqual("IEND"u8))
            {
                return 1;
            }

            offset += ChunkOverhead + (int)length;
        }

        return 1;
    }

    /// <summary>Decodes a 16-bit PNG to RGB the way Pillow opens and converts it.</summary>
    public static RgbImage Decode16(ReadOnlySpan<byte> data, PngHeader header, Gray16Conversion gray16)
    {
        if (header.BitDepth != 16)
        {
            throw new ArgumentException("Only 16-bit PNGs are decoded here.", nameof(header));
        }

        var channels = header.ColorType switch
        {
            0 => 1,
            2 => 3,
            4 => 2,
            6 => 4,
            _ => throw new ImageDecodeException($"Corrupt PNG: colour type {header.ColorType} cannot have 16-bit samples."),
        };
        var bytesPerPixel = channels * 2;

        using var compressed = new MemoryStream();
        CollectImageData(data, compressed);
        compressed.Position = 0;

        var width = header.Width;
        var pixels = GC.AllocateUninitializedArray<byte>(checked(width * header.Height * 3));
        var rowCapacity = checked(width * bytesPerPixel);
        var current = new byte[rowCapacity + 1];
        var previous = new byte[rowCapacity + 1];

        try
        {
            using var inflater = new ZLibStream(compressed, CompressionMode.Decompress);
            var passes = header.Interlaced ? 7 : 1;
            for (var pass = 0; pass < passes; pass++)
            {
                int x0 = 0, y0 = 0, dx = 1, dy = 1;
                if (header.Interlaced)
                {
                    var p = Adam7.Slice(pass * 4, 4);
                    (x0, y0, dx, dy) = (p[0], p[1], p[2], p[3]);
                }

                var passWidth = (width - x0 + dx - 1) / dx;
                var passHeight = (header.Height - y0 + dy - 1) / dy;
                if (passWidth <= 0 || passHeight <= 0)
                {
                    continue;
                }

                var rowBytes = passWidth * bytesPerPixel;
                Array.Clear(previous);
                for (var row = 0; row < passHeight; row++)
                {
                    var line = current.AsSpan(0, rowBytes + 1);
                    inflater.ReadExactly(line);
                    Unfilter(line[0], line[1..], previous.AsSpan(1, rowBytes), bytesPerPixel);
                    WriteRow(line[1..], header.ColorType, gray16, pixels.AsSpan(((y0 + row * dy) * width + x0) * 3), dx, passWidth);
                    (current, previous) = (previous, current);
                }
            }
        }
        catch (EndOfStreamException ex)
        {
            throw new ImageDecodeException("PNG data is truncated: the compressed image data ends early.", ex);
        }
        catch (InvalidDataException ex)
        {
            throw new ImageDecodeException("Corrupt PNG: the compressed image data is invalid.", ex);
        }

        return new RgbImage(width, header.Height, pixels);
    }

    private static void CollectImageData(ReadOnlySpan<byte> data, MemoryStream destination)
    {
        var offset = SignatureLength;
        while (true)
        {
            if (offset + ChunkOverhead > data.Length)
            {
                if (destination.Length > 0)
                {
                    return; // No IEND; let the inflater decide whether the image data is complete.
                }

                throw new ImageDecodeException("PNG data is truncated before its image data.");
            }

            var length = BinaryPrimitives.ReadUInt32BigEndian(data[offset..]);
            var type = data.Slice(offset + 4, 4);
            if (length > (uint)(data.Length - offset - ChunkOverhead))
            {
                if (type.SequenceEqual("IDAT"u8))
                {
                    // A cut file: keep what is there; the inflater reports the missing rows.
                    destination.Write(data[(offset + 8)..]);
                    return;
                }

                throw new ImageDecodeException($"PNG data is truncated inside a '{ChunkName(type)}' chunk.");
            }

            if (type.SequenceEqual("IDAT"u8))
            {
                destination.Write(data.Slice(offset + 8, (int)length));
            }
            else if (type.SequenceEqual("IEND"u8))
            {
                if (destination.Length == 0)
                {
                    throw new ImageDecodeException("Corrupt PNG: no image data (IDAT) before IEND.");
                }

                return;
            }

            offset += ChunkOverhead + (int)length;
        }
    }

    private static string ChunkName(ReadOnlySpan<byte> type)
    {
        Span<char> name = stackalloc char[4];
        for (var i = 0; i < 4; i++)
        {
            name[i] = type[i] is >= 32 and < 127 ? (char)type[i] : '?';
        }

        return new string(name);
    }

    private static void Unfilter(byte filter, Span<byte> row, ReadOnlySpan<byte> previous, int bpp)
    {
        switch (filter)
        {
            case 0:
                break;
            case 1:
                for (var i = bpp; i < row.Length; i++)
                {
                    row[i] += row[i - bpp];
                }

                break;
            case 2:
                for (var i = 0; i < row.Length; i++)
                {
                    row[i] += previous[i];
                }

                break;
            case 3:
                for (var i = 0; i < bpp; i++)
                {
                    row[i] += (byte)(previous[i] >> 1);
                }

                for (var i = bpp; i < row.Length; i++)
                {
                    row[i] += (byte)((row[i - bpp] + previous[i]) >> 1);
                }

                break;
            case 4:
                for (var i = 0; i < bpp; i++)
                {
                    row[i] += previous[i]; // Paeth with a = c = 0 picks b.
                }

                for (var i = bpp; i < row.Length; i++)
                {
                    row[i] += Paeth(row[i - bpp], previous[i], previous[i - bpp]);
                }

                break;
            default:
                throw new ImageDecodeException($"Corrupt PNG: unknown row filter type {filter}.");
        }
    }

    private static byte Paeth(byte a, byte b, byte c)
    {
        var p = a + b - c;
        var pa = Math.Abs(p - a);
        var pb = Math.Abs(p - b);
        var pc = Math.Abs(p - c);
        return pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
    }

    private static void WriteRow(ReadOnlySpan<byte> samples, int colorType, Gray16Conversion gray16, Span<byte> destination, int step, int count)
    {
        var stride = step * 3;
        switch (colorType)
        {
            case 0:
                for (var i = 0; i < count; i++)
                {
                    byte v;
                    if (gray16 == Gray16Conversion.Scale)
                    {
                        v = samples[i * 2];
                    }
                    else
                    {
                        // Pillow opens 16-bit grey as 32-bit mode "I"; I -> RGB clips to 0..255.
                        var full = (samples[i * 2] << 8) | samples[i * 2 + 1];
                        v = (byte)Math.Min(full, 255);
                    }

                    var o = i * stride;
                    destination[o] = destination[o + 1] = destination[o + 2] = v;
                }

                break;
            case 4:
                for (var i = 0; i < count; i++)
                {
                    var o = i * stride;
                    destination[o] = destination[o + 1] = destination[o + 2] = samples[i * 4];
                }

                break;
            case 2:
            case 6:
                var bytesPerPixel = colorType == 2 ? 6 : 8;
                for (var i = 0; i < count; i++)
                {
                    var s = i * bytesPerPixel;
                    var o = i * stride;
                    destination[o] = samples[s];
                    destination[o + 1] = samples[s + 2];
                    destination[o + 2] = samples[s + 4];
                }

                break;
            default:
                throw new ImageDecodeException($"Corrupt PNG: colour type {colorType} cannot have 16-bit samples.");
        }
    }
}
