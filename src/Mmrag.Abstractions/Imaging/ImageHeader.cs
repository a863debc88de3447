using System.Buffers.Binary;

namespace Mmrag.Imaging;

/// <summary>
/// An encoded image's format and size read from its header (PNG, JPEG, GIF, BMP, WebP) without decoding any pixel and
/// without an image library, so that every part of mmrag that takes images from outside (the CLIP decoder, OCR, the web
/// loader) refuses an oversized one by the same reading before a decoder allocates its pixels. A GIF is read frame by
/// frame: a frame may extend past the logical screen, and decoders grow their canvas to it, so a small screen cannot
/// hide a huge frame. Immutable and thread-safe.
/// </summary>
/// <param name="Format">"JPEG", "PNG", "WebP", "GIF" or "BMP".</param>
/// <param name="Width">Width of the decoded image (for a GIF, the canvas its first frame needs).</param>
/// <param name="Height">Height of the decoded image.</param>
/// <param name="FrameCount">Frames (1 for still images; for a GIF, the frames found before its end or a cut).</param>
/// <param name="CanvasWidth">Width of the largest canvas any frame needs.</param>
/// <param name="CanvasHeight">Height of that canvas.</param>
public sealed record ImageHeader(string Format, int Width, int Height, int FrameCount, int CanvasWidth, int CanvasHeight)
{
    private static ReadOnlySpan<byte> PngSignature => [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A];

    /// <summary>Width × height of the decoded image.</summary>
    public long Pixels => (long)Width * Height;

    /// <summary>Pixels of the largest canvas any frame needs (at least <see cref="Pixels"/>): what pixel limits are checked against.</summary>
    public long CanvasPixels => Math.Max(Pixels, (long)CanvasWidth * CanvasHeight);

    /// <summary>
    /// The header of <paramref name="encoded"/>, or null when it is not one of the five formats, is cut before its size,
    /// or declares a width or height that is not positive.
    /// </summary>
    public static ImageHeader? Read(ReadOnlySpan<byte> encoded)
    {
        if (encoded.Length >= 24 && encoded.StartsWith(PngSignature) && encoded.Slice(12, 4).SequenceEqual("IHDR"u8))
        {
            return Still("PNG", BinaryPrimitives.ReadInt32BigEndian(encoded[16..]), BinaryPrimitives.ReadInt32BigEndian(encoded[20..]));
        }

        if (encoded.StartsWith("GIF87a"u8) || encoded.StartsWith("GIF89a"u8))
        {
            return Gif(encoded);
        }

        if (encoded.Length >= 26 && encoded[0] == (byte)'B' && encoded[1] == (byte)'M')
        {
            return Bmp(encoded);
        }

        if (encoded.Length >= 30 && encoded.StartsWith("RIFF"u8) && encoded.Slice(8, 4).SequenceEqual("WEBP"u8))
        {
            return WebP(encoded);
        }

        return encoded.Length >= 4 && encoded[0] == 0xFF && encoded[1] == 0xD8 ? Jpeg(encoded) : null;
    }

    private static ImageHeader? Bmp(ReadOnlySpan<byte> bytes)
    {
        // An OS/2 core header (12 bytes) holds 16-bit sizes; the others 32-bit ones, where a negative height means
        // the rows are stored top-down.
        return BinaryPrimitives.ReadUInt32LittleEndian(bytes[14..]) == 12
            ? Still("BMP", BinaryPrimitives.ReadUInt16LittleEndian(bytes[18..]), BinaryPrimitives.ReadUInt16LittleEndian(bytes[20..]))
            : Still("BMP", BinaryPrimitives.ReadInt32LittleEndian(bytes[18..]), Math.Abs((long)BinaryPrimitives.ReadInt32LittleEndian(bytes[22..])));
    }

    private static ImageHeader? WebP(ReadOnlySpan<byte> bytes)
    {
        var chunk = bytes.Slice(12, 4);
        if (chunk.SequenceEqual("VP8X"u8))
        {
            // The canvas every frame of an animated WebP is drawn on.
            var width = 1 + (bytes[24] | (bytes[25] << 8) | (bytes[26] << 16));
            var height = 1 + (bytes[27] | (bytes[28] << 8) | (bytes[29] << 16));
            return Still("WebP", width, height);
        }

        if (chunk.SequenceEqual("VP8L"u8) && bytes[20] == 0x2F)
        {
            var bits = BinaryPrimitives.ReadUInt32LittleEndian(bytes[21..]);
            return Still("WebP", (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1);
        }

        if (chunk.SequenceEqual("VP8 "u8))
        {
            return Still("WebP", BinaryPrimitives.ReadUInt16LittleEndian(bytes[26..]) & 0x3FFF, BinaryPrimitives.ReadUInt16LittleEndian(bytes[28..]) & 0x3FFF);
        }

        return null;
    }

    /// <summary>
    /// Walks the JPEG markers to the first start-of-frame, which holds the size. Bytes that are not a marker where one
    /// is due are skipped up to the next <c>0xFF</c>, as libjpeg does (with a warning) when it decodes the file: a stray
    /// byte must not hide the frame header from this reading while the decoder still finds it.
    /// </summary>
    private static ImageHeader? Jpeg(ReadOnlySpan<byte> bytes)
    {
        var at = 2;
        while (true)
        {
            var next = bytes[at..].IndexOf((byte)0xFF);
            if (next < 0)
            {
                return null;
            }

            at += next;
            while (at < bytes.Length && bytes[at] == 0xFF)
            {
                at++; // Fill bytes.
            }

            if (at >= bytes.Length)
            {
                return null;
            }

            var marker = bytes[at++];
            if (marker is 0x00 or 0x01 or (>= 0xD0 and <= 0xD7))
            {
                continue; // A stuffed zero, TEM or a restart marker: no segment follows.
            }

            if (marker is 0xD9 or 0xDA || at + 2 > bytes.Length)
            {
                return null; // The image ends, or its scan starts, before any frame header.
            }

            // SOF0..SOF15, except DHT (C4), JPG (C8) and DAC (CC): length (2), precision (1), height (2), width (2).
            if (marker is >= 0xC0 and <= 0xCF and not 0xC4 and not 0xC8 and not 0xCC)
            {
                return at + 7 <= bytes.Length
                    ? Still("JPEG", BinaryPrimitives.ReadUInt16BigEndian(bytes[(at + 5)..]), BinaryPrimitives.ReadUInt16BigEndian(bytes[(at + 3)..]))
                    : null;
            }

            var length = BinaryPrimitives.ReadUInt16BigEndian(bytes[at..]);
            if (length < 2 || at + length > bytes.Length)
            {
                return null;
            }

            at += length;
        }
    }

    /// <summary>
    /// The logical screen grown by every frame's rectangle (decoders such as Pillow and giflib size their canvas by
    /// it). A file cut after its first frame still counts the frames seen, as the decoders still show the first one.
    /// </summary>
    private static ImageHeader? Gif(ReadOnlySpan<byte> bytes)
    {
        if (bytes.Length < 13)
        {
            return null;
        }

        int screenWidth = BinaryPrimitives.ReadUInt16LittleEndian(bytes[6..]), screenHeight = BinaryPrimitives.ReadUInt16LittleEndian(bytes[8..]);
        var at = 13 + PaletteLength(bytes[10]);
        int frames = 0, width = 0, height = 0, largestWidth = 0, largestHeight = 0;
        while (at < bytes.Length)
        {
            var introducer = bytes[at++];
            if (introducer == 0x3B)
            {
                break; // The trailer.
            }

            if (introducer == 0x21)
            {
                at = SkipSubBlocks(bytes, at + 1); // After the extension's label.
                continue;
            }

            if (introducer != 0x2C)
            {
                continue; // Pillow skips any other byte between blocks; so do we.
            }

            if (at + 9 > bytes.Length)
            {
                break;
            }

            var descriptor = bytes.Slice(at, 9);
            var canvasWidth = Math.Max(screenWidth, BinaryPrimitives.ReadUInt16LittleEndian(descriptor) + BinaryPrimitives.ReadUInt16LittleEndian(descriptor[4..]));
            var canvasHeight = Math.Max(screenHeight, BinaryPrimitives.ReadUInt16LittleEndian(descriptor[2..]) + BinaryPrimitives.ReadUInt16LittleEndian(descriptor[6..]));
            if (frames++ == 0)
            {
                (width, height) = (canvasWidth, canvasHeight);
            }

            if ((long)canvasWidth * canvasHeight > (long)largestWidth * largestHeight)
            {
                (largestWidth, largestHeight) = (canvasWidth, canvasHeight);
            }

            // The local palette, the LZW code size, then the image data's sub-blocks.
            at = SkipSubBlocks(bytes, at + 9 + PaletteLength(descriptor[8]) + 1);
        }

        return frames == 0 || width == 0 || height == 0 ? null : new ImageHeader("GIF", width, height, frames, largestWidth, largestHeight);
    }

    private static int PaletteLength(byte flags) => (flags & 0x80) != 0 ? 3 << ((flags & 7) + 1) : 0;

    /// <summary>The position after the sub-blocks starting at <paramref name="at"/> (past the end when they are cut).</summary>
    private static int SkipSubBlocks(ReadOnlySpan<byte> bytes, int at)
    {
        while (at < bytes.Length)
        {
            var size = bytes[at++];
            if (size == 0)
            {
                return at;
            }

            if (size > bytes.Length - at)
            {
                break;
            }

            at += size;
        }

        return int.MaxValue;
    }

    // long: a forged BMP height of int.MinValue has no positive int.
    private static ImageHeader? Still(string format, long width, long height) =>
        width is > 0 and <= int.MaxValue && height is > 0 and <= int.MaxValue
            ? new ImageHeader(format, (int)width, (int)height, 1, (int)width, (int)height)
            : null;
}
