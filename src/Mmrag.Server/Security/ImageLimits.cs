using System.Buffers.Binary;

namespace Mmrag.Server.Security;

/// <summary>Reads an image's size from its header (PNG, JPEG, GIF, BMP, WebP) to refuse huge images before decoding them.</summary>
internal static class ImageLimits
{
    private static ReadOnlySpan<byte> PngSignature => [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A];

    /// <summary>Width × height from the header, or null when the format is not recognised.</summary>
    public static long? PixelCount(ReadOnlySpan<byte> data)
    {
        if (data.Length >= 24 && data[..8].SequenceEqual(PngSignature))
        {
            return (long)BinaryPrimitives.ReadUInt32BigEndian(data[16..]) * BinaryPrimitives.ReadUInt32BigEndian(data[20..]);
        }

        if (data.Length >= 10 && (data[..6].SequenceEqual("GIF87a"u8) || data[..6].SequenceEqual("GIF89a"u8)))
        {
            return (long)BinaryPrimitives.ReadUInt16LittleEndian(data[6..]) * BinaryPrimitives.ReadUInt16LittleEndian(data[8..]);
        }

        if (data.Length >= 26 && data[0] == 'B' && data[1] == 'M')
        {
            return Math.Abs((long)BinaryPrimitives.ReadInt32LittleEndian(data[18..]) * BinaryPrimitives.ReadInt32LittleEndian(data[22..]));
        }

        if (data.Length >= 30 && data[..4].SequenceEqual("RIFF"u8) && data[8..12].SequenceEqual("WEBP"u8))
        {
            var chunk = data[12..16];
            if (chunk.SequenceEqual("VP8X"u8))
            {
                long w = 1 + (data[24] | (data[25] << 8) | (data[26] << 16));
                long h = 1 + (data[27] | (data[28] << 8) | (data[29] << 16));
                return w * h;
            }

            if (chunk.SequenceEqual("VP8 "u8))
            {
                return (long)(BinaryPrimitives.ReadUInt16LittleEndian(data[26..]) & 0x3FFF) * (BinaryPrimitives.ReadUInt16LittleEndian(data[28..]) & 0x3FFF);
            }

            if (chunk.SequenceEqual("VP8L"u8) && data.Length >= 25)
            {
                var bits = BinaryPrimitives.ReadUInt32LittleEndian(data[21..]);
                return (long)((bits & 0x3FFF) + 1) * (((bits >> 14) & 0x3FFF) + 1);
            }

            return null;
        }

        if (data.Length >= 4 && data[0] == 0xFF && data[1] == 0xD8)
        {
            var i = 2;
            while (i + 9 < data.Length)
            {
                if (data[i] != 0xFF)
                {
                    return null;
                }

                var marker = data[i + 1];
                if (marker == 0xFF)
                {
                    i++;
                    continue;
                }

                var length = BinaryPrimitives.ReadUInt16BigEndian(data[(i + 2)..]);
                var isFrame = marker is >= 0xC0 and <= 0xCF and not 0xC4 and not 0xC8 and not 0xCC;
                if (isFrame)
                {
                    return (long)BinaryPrimitives.ReadUInt16BigEndian(data[(i + 5)..]) * BinaryPrimitives.ReadUInt16BigEndian(data[(i + 7)..]);
                }

                i += 2 + length;
            }
        }

        return null;
    }
}
