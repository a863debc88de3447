using System.Buffers.Binary;

namespace Mmrag.Ingestion.Tests.Support;

/// <summary>GIFs that declare more than their logical screen: a few dozen bytes that a decoder would grow into a huge canvas.</summary>
internal static class ForgedGifs
{
    /// <summary>
    /// A well-formed GIF with a 10 × 10 logical screen and one frame of <paramref name="frameWidth"/> × <paramref name="frameHeight"/>
    /// whose image data holds a single pixel (decoders size their canvas by the frame, not by the data).
    /// </summary>
    public static byte[] FrameLargerThanScreen(int frameWidth, int frameHeight)
    {
        var gif = new byte[13 + 6 + 10 + 1 + 3 + 1 + 1];
        "GIF89a"u8.CopyTo(gif);
        BinaryPrimitives.WriteUInt16LittleEndian(gif.AsSpan(6), 10);
        BinaryPrimitives.WriteUInt16LittleEndian(gif.AsSpan(8), 10);
        gif[10] = 0x80; // A global palette of two colours (black, white).
        gif[16] = gif[17] = gif[18] = 0xFF;
        var at = 19;
        gif[at] = 0x2C;
        BinaryPrimitives.WriteUInt16LittleEndian(gif.AsSpan(at + 5), (ushort)frameWidth);
        BinaryPrimitives.WriteUInt16LittleEndian(gif.AsSpan(at + 7), (ushort)frameHeight);
        at += 10;
        gif[at++] = 2; // LZW code size; then clear (4), index 0, end (5) in 3-bit codes.
        gif[at++] = 2;
        gif[at++] = 0x44;
        gif[at++] = 0x01;
        gif[at++] = 0;
        gif[at] = 0x3B;
        return gif;
    }
}
