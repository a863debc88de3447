using System.Buffers;
using System.Text;

namespace Mmrag.Ingestion.Loaders;

/// <summary>Text decoded from bytes, and where the bytes were not valid.</summary>
/// <param name="Text">The text; invalid UTF-8 sequences are replaced by U+FFFD.</param>
/// <param name="InvalidSequences">How many invalid sequences were replaced.</param>
/// <param name="FirstInvalidOffset">Byte offset (in the file) of the first invalid sequence, or -1.</param>
/// <param name="InvalidLines">1-based lines holding invalid sequences.</param>
internal sealed record DecodedText(string Text, int InvalidSequences, long FirstInvalidOffset, IReadOnlySet<int> InvalidLines)
{
    public bool IsValid => InvalidSequences == 0;

    public int FirstInvalidLine => InvalidLines.Count == 0 ? 0 : InvalidLines.Min();
}

/// <summary>Decodes text files: a BOM selects UTF-8/UTF-16; otherwise UTF-8, strictly, with every bad sequence located.</summary>
internal static class TextDecoding
{
    private static readonly IReadOnlySet<int> NoLines = new HashSet<int>();

    public static DecodedText Decode(ReadOnlySpan<byte> bytes)
    {
        if (bytes.StartsWith((ReadOnlySpan<byte>)[0xEF, 0xBB, 0xBF]))
        {
            return DecodeUtf8(bytes[3..], 3);
        }

        if (bytes.StartsWith((ReadOnlySpan<byte>)[0xFF, 0xFE]))
        {
            return new DecodedText(Encoding.Unicode.GetString(bytes[2..]), 0, -1, NoLines);
        }

        if (bytes.StartsWith((ReadOnlySpan<byte>)[0xFE, 0xFF]))
        {
            return new DecodedText(Encoding.BigEndianUnicode.GetString(bytes[2..]), 0, -1, NoLines);
        }

        return DecodeUtf8(bytes, 0);
    }

    private static DecodedText DecodeUtf8(ReadOnlySpan<byte> bytes, int baseOffset)
    {
        if (System.Text.Unicode.Utf8.IsValid(bytes))
        {
            return new DecodedText(Encoding.UTF8.GetString(bytes), 0, -1, NoLines);
        }

        var lines = new HashSet<int>();
        var invalid = 0;
        long first = -1;
        var line = 1;
        var position = 0;
        while (position < bytes.Length)
        {
            var status = Rune.DecodeFromUtf8(bytes[position..], out _, out var consumed);
            if (status != OperationStatus.Done)
            {
                invalid++;
                lines.Add(line);
                if (first < 0)
                {
                    first = baseOffset + position;
                }
            }
            else if (bytes[position] == (byte)'\n')
            {
                line++;
            }

            position += Math.Max(consumed, 1);
        }

        // Encoding.UTF8 replaces each maximal invalid subsequence with U+FFFD, as the scan above counts them.
        return new DecodedText(Encoding.UTF8.GetString(bytes), invalid, first, lines);
    }
}
