namespace Mmrag.Clip.Tests.Preprocessing;

/// <summary>Writes small GIFs for tests with a real LZW encoder (giflib's code-size rules).</summary>
internal static class TestGif
{
    public sealed record Frame(int Left, int Top, int Width, int Height, byte[] Indices)
    {
        public byte[]? LocalPalette { get; init; }

        public int? TransparentIndex { get; init; }

        public bool Interlaced { get; init; }
    }

    public static byte[] Encode(int screenWidth, int screenHeight, byte[]? globalPalette, params Frame[] frames)
    {
        var gif = new List<byte>();
        gif.AddRange("GIF89a"u8.ToArray());
        AddUInt16(gif, screenWidth);
        AddUInt16(gif, screenHeight);
        gif.Add(globalPalette is null ? (byte)0 : (byte)(0x80 | (PaletteBits(globalPalette) - 1)));
        gif.Add(0); // background
        gif.Add(0); // aspect
        if (globalPalette is not null)
        {
            gif.AddRange(globalPalette);
        }

        foreach (var frame in frames)
        {
            if (frame.TransparentIndex is { } transparent)
            {
                gif.AddRange([0x21, 0xF9, 4, 1, 0, 0, (byte)transparent, 0]);
            }

            gif.Add(0x2C);
            AddUInt16(gif, frame.Left);
            AddUInt16(gif, frame.Top);
            AddUInt16(gif, frame.Width);
            AddUInt16(gif, frame.Height);
            var flags = frame.Interlaced ? 0x40 : 0;
            if (frame.LocalPalette is not null)
            {
                flags |= 0x80 | (PaletteBits(frame.LocalPalette) - 1);
            }

            gif.Add((byte)flags);
            if (frame.LocalPalette is not null)
            {
                gif.AddRange(frame.LocalPalette);
            }

            var minCodeSize = 8;
            gif.Add((byte)minCodeSize);
            var rows = frame.Interlaced ? InterlaceOrder(frame.Height) : Enumerable.Range(0, frame.Height);
            var ordered = rows.SelectMany(r => frame.Indices.Skip(r * frame.Width).Take(frame.Width)).ToArray();
            var data = Lzw(ordered, minCodeSize);
            for (var i = 0; i < data.Length; i += 255)
            {
                var length = Math.Min(255, data.Length - i);
                gif.Add((byte)length);
                gif.AddRange(data.AsSpan(i, length).ToArray());
            }

            gif.Add(0);
        }

        gif.Add(0x3B);
        return [.. gif];
    }

    private static IEnumerable<int> InterlaceOrder(int height) =>
        Enumerable.Range(0, height).Where(r => r % 8 == 0)
            .Concat(Enumerable.Range(0, height).Where(r => r % 8 == 4))
            .Concat(Enumerable.Range(0, height).Where(r => r % 4 == 2))
            .Concat(Enumerable.Range(0, height).Where(r => r % 2 == 1));

    private static int PaletteBits(byte[] palette)
    {
        var entries = palette.Length / 3;
        var bits = 1;
        while (1 << bits < entries)
        {
            bits++;
        }

        if (entries != 1 << bits)
        {
            throw new ArgumentException("Palette length must be 3 * 2^n.", nameof(palette));
        }

        return bits;
    }

    private static byte[] Lzw(byte[] indices, int minCodeSize)
    {
        int clear = 1 << minCodeSize, end = clear + 1;
        var output = new List<byte>();
        int buffer = 0, count = 0;
        var codeSize = minCodeSize + 1;
        var next = clear + 2;
        var table = new Dictionary<(int, byte), int>();

        void Emit(int code)
        {
            buffer |= code << count;
            count += codeSize;
            while (count >= 8)
            {
                output.Add((byte)buffer);
                buffer >>= 8;
                count -= 8;
            }

            // The decoder adds its entry one code later, hence the check before this code's entry is added.
            if (next >= 1 << codeSize && codeSize < 12)
            {
                codeSize++;
            }
        }

        Emit(clear);
        var prefix = (int)indices[0];
        for (var i = 1; i < indices.Length; i++)
        {
            var b = indices[i];
            if (table.TryGetValue((prefix, b), out var code))
            {
                prefix = code;
                continue;
            }

            Emit(prefix);
            if (next < 4096)
            {
                table[(prefix, b)] = next++;
            }
            else
            {
                Emit(clear);
                table.Clear();
                next = clear + 2;
                codeSize = minCodeSize + 1;
            }

            prefix = b;
        }

        Emit(prefix);
        Emit(end);
        if (count > 0)
        {
            output.Add((byte)buffer);
        }

        return [.. output];
    }

    private static void AddUInt16(List<byte> list, int value)
    {
        list.Add((byte)value);
        list.Add((byte)(value >> 8));
    }
}
