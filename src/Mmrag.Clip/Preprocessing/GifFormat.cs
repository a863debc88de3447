using System.Buffers.Binary;

namespace Mmrag.Clip.Preprocessing;

/// <summary>
/// Decodes the first frame of a GIF the way Pillow opens it and converts it to RGB. We do not use Skia
/// here because Skia composites the frame onto transparent black, losing the palette colour of the
/// transparent index and of the canvas outside the frame, both of which Pillow keeps: the canvas is
/// filled with the transparent index (or index 0), every decoded index is written (transparency is
/// ignored on the first frame) and indices map through the palette. Stateless and thread-safe.
/// </summary>
internal static class GifFormat
{
    private const int MaxCodes = 4096;

    public static bool HasSignature(ReadOnlySpan<byte> data) =>
        data.StartsWith("GIF87a"u8) || data.StartsWith("GIF89a"u8);

    public static RgbImage DecodeFirstFrame(ReadOnlySpan<byte> data, ImageDecodeOptions options)
    {
        var reader = new Reader(data, 6);
        ReadScreen(ref reader, out var screenWidth, out var screenHeight, out var globalPalette);
        if (!SkipToImage(ref reader, out var transparentIndex))
        {
            throw new ImageDecodeException("Corrupt GIF: the file has no image.");
        }

        var frame = ReadFrame(ref reader, out var localPalette);
        var palette = localPalette.IsEmpty ? globalPalette : localPalette;
        var (width, height) = Canvas(screenWidth, screenHeight, frame);
        if (width == 0 || height == 0)
        {
            throw new ImageDecodeException($"Corrupt GIF: invalid dimensions {width}x{height}.");
        }

        SkiaImageDecoder.CheckSize(width, height, options);

        var indices = new byte[width * height];
        if (transparentIndex is { } fill && fill != 0)
        {
            indices.AsSpan().Fill((byte)fill);
        }

        int minCodeSize = reader.Byte("before the image data");
        if (minCodeSize is < 1 or > 11)
        {
            throw new ImageDecodeException($"Corrupt GIF: invalid LZW code size {minCodeSize}.");
        }

        DecodeLzw(ref reader, minCodeSize, indices, width, frame.Left, frame.Top, frame.Width, frame.Height, frame.Interlaced);
        return ToRgb(indices, width, height, palette);
    }

    private readonly record struct Frame(int Left, int Top, int Width, int Height, bool Interlaced);

    private static void ReadScreen(ref Reader reader, out int width, out int height, out ReadOnlySpan<byte> globalPalette)
    {
        var header = reader.Take(7);
        width = BinaryPrimitives.ReadUInt16LittleEndian(header);
        height = BinaryPrimitives.ReadUInt16LittleEndian(header[2..]);
        var flags = header[4];
        globalPalette = (flags & 0x80) != 0 ? reader.Take(3 << ((flags & 7) + 1)) : default;
    }

    /// <summary>Skips extensions up to the next image descriptor (true) or the trailer (false); notes a transparent index.</summary>
    private static bool SkipToImage(ref Reader reader, out int? transparentIndex)
    {
        transparentIndex = null;
        while (true)
        {
            var introducer = reader.Byte("before the first image");
            if (introducer == 0x21)
            {
                var label = reader.Byte("in an extension");
                var first = true;
                while (true)
                {
                    var block = reader.Take(reader.Byte("in an extension"));
                    if (block.IsEmpty)
                    {
                        break;
                    }

                    if (first && label == 0xF9 && block.Length >= 4 && (block[0] & 1) != 0)
                    {
                        transparentIndex = block[3];
                    }

                    first = false;
                }
            }
            else if (introducer == 0x2C)
            {
                return true;
            }
            else if (introducer == 0x3B)
            {
                return false;
            }

            // Pillow skips any other byte between blocks; so do we.
        }
    }

    private static Frame ReadFrame(ref Reader reader, out ReadOnlySpan<byte> localPalette)
    {
        var descriptor = reader.Take(9);
        var flags = descriptor[8];
        localPalette = (flags & 0x80) != 0 ? reader.Take(3 << ((flags & 7) + 1)) : default;
        return new Frame(
            BinaryPrimitives.ReadUInt16LittleEndian(descriptor),
            BinaryPrimitives.ReadUInt16LittleEndian(descriptor[2..]),
            BinaryPrimitives.ReadUInt16LittleEndian(descriptor[4..]),
            BinaryPrimitives.ReadUInt16LittleEndian(descriptor[6..]),
            (flags & 0x40) != 0);
    }

    // Pillow grows the canvas when a frame extends past the logical screen.
    private static (int Width, int Height) Canvas(int screenWidth, int screenHeight, Frame frame) =>
        (Math.Max(screenWidth, frame.Left + frame.Width), Math.Max(screenHeight, frame.Top + frame.Height));

    private static void DecodeLzw(
        ref Reader reader, int minCodeSize, byte[] canvas, int canvasWidth, int left, int top, int frameWidth, int frameHeight, bool interlaced)
    {
        var total = (long)frameWidth * frameHeight;
        if (total == 0)
        {
            return;
        }

        var prefix = new short[MaxCodes];
        var suffix = new byte[MaxCodes];
        var stack = new byte[MaxCodes + 1];
        for (var i = 0; i < 1 << minCodeSize; i++)
        {
            suffix[i] = (byte)i;
            prefix[i] = -1;
        }

        int clear = 1 << minCodeSize, end = clear + 1;
        var next = clear + 2;
        var codeSize = minCodeSize + 1;
        var previous = -1;

        var bits = default(BitReader);
        int x = 0, row = 0, y = 0;
        long written = 0;
        while (written < total)
        {
            var code = bits.Read(ref reader, codeSize);
            if (code < 0)
            {
                return; // The image data ended (properly terminated) before the frame was full: the rest keeps the fill.
            }

            if (code == clear)
            {
                next = clear + 2;
                codeSize = minCodeSize + 1;
                previous = -1;
                continue;
            }

            if (code == end)
            {
                return;
            }

            if (code > next || (previous < 0 && code >= clear))
            {
                throw new ImageDecodeException($"Corrupt GIF: LZW code {code} is not defined.");
            }

            // The string for code (or, in the KwKwK case code == next, for previous): walk the chain backwards.
            var length = 0;
            for (var walk = code == next ? previous : code; walk >= 0; walk = prefix[walk])
            {
                stack[length++] = suffix[walk];
            }

            stack.AsSpan(0, length).Reverse();
            if (code == next)
            {
                stack[length++] = stack[0];
            }

            if (previous >= 0 && next < MaxCodes)
            {
                prefix[next] = (short)previous;
                suffix[next] = stack[0];
                next++;
                if (next == 1 << codeSize && codeSize < 12)
                {
                    codeSize++;
                }
            }

            previous = code;
            for (var i = 0; i < length && written < total; i++, written++)
            {
                canvas[(top + y) * canvasWidth + left + x] = stack[i];
                if (++x == frameWidth)
                {
                    x = 0;
                    row++;
                    y = interlaced ? InterlacedRow(row, frameHeight) : row;
                }
            }
        }
    }

    // Row order of an interlaced GIF: every 8th row from 0, every 8th from 4, every 4th from 2, every 2nd from 1.
    private static int InterlacedRow(int rowIndex, int height)
    {
        ReadOnlySpan<int> starts = [0, 4, 2, 1];
        ReadOnlySpan<int> steps = [8, 8, 4, 2];
        var remaining = rowIndex;
        for (var pass = 0; pass < 4; pass++)
        {
            var rowsInPass = starts[pass] >= height ? 0 : (height - starts[pass] + steps[pass] - 1) / steps[pass];
            if (remaining < rowsInPass)
            {
                return starts[pass] + remaining * steps[pass];
            }

            remaining -= rowsInPass;
        }

        return height; // Past the end; the caller stops writing.
    }

    private static RgbImage ToRgb(byte[] indices, int width, int height, ReadOnlySpan<byte> palette)
    {
        // Pillow's palette starts as a grey ramp and the file's entries overwrite its beginning;
        // a GIF without any palette is mode "L", where the index is the grey level: the same ramp.
        Span<byte> table = stackalloc byte[256 * 3];
        for (var i = 0; i < 256; i++)
        {
            table[i * 3] = table[i * 3 + 1] = table[i * 3 + 2] = (byte)i;
        }

        palette[..Math.Min(palette.Length, table.Length)].CopyTo(table);
        var rgb = GC.AllocateUninitializedArray<byte>(checked(width * height * 3));
        for (int i = 0, o = 0; i < indices.Length; i++, o += 3)
        {
            var t = indices[i] * 3;
            rgb[o] = table[t];
            rgb[o + 1] = table[t + 1];
            rgb[o + 2] = table[t + 2];
        }

        return new RgbImage(width, height, rgb);
    }

    /// <summary>A cursor over the file that reports a cut file as truncated.</summary>
    private ref struct Reader(ReadOnlySpan<byte> data, int position)
    {
        private readonly ReadOnlySpan<byte> _data = data;
        private int _position = position;

        public byte Byte(string where)
        {
            if (_position >= _data.Length)
            {
                throw new ImageDecodeException($"GIF data is truncated {where}.");
            }

            return _data[_position++];
        }

        public ReadOnlySpan<byte> Take(int count)
        {
            if (count > _data.Length - _position)
            {
                throw new ImageDecodeException("GIF data is truncated.");
            }

            var span = _data.Slice(_position, count);
            _position += count;
            return span;
        }
    }

    /// <summary>Reads little-endian LZW codes across the image data's length-prefixed sub-blocks.</summary>
    private struct BitReader
    {
        private int _blockLeft;
        private int _buffer;
        private int _count;
        private bool _ended;

        /// <summary>The next code, or -1 when the sub-blocks end (a zero-length block) first.</summary>
        public int Read(ref Reader reader, int size)
        {
            while (_count < size)
            {
                if (_ended)
                {
                    return -1;
                }

                if (_blockLeft == 0)
                {
                    _blockLeft = reader.Byte("inside the image data");
                    if (_blockLeft == 0)
                    {
                        _ended = true;
                        return -1;
                    }
                }

                _buffer |= reader.Byte("inside the image data") << _count;
                _count += 8;
                _blockLeft--;
            }

            var code = _buffer & ((1 << size) - 1);
            _buffer >>= size;
            _count -= size;
            return code;
        }
    }
}
