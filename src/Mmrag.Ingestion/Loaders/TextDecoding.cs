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

/// <summary>
/// Decodes a stream of text block by block, as <see cref="TextDecoding.Decode"/> decodes bytes: a BOM selects
/// UTF-8/UTF-16, otherwise strict UTF-8 with each invalid sequence replaced by U+FFFD and counted (the first one
/// located by byte offset and line). Only one block is held at a time, so a file of any size decodes in bounded memory.
/// </summary>
internal sealed class TextStreamDecoder(Stream stream)
{
    private const int BlockBytes = 1 << 16;

    private readonly byte[] _buffer = new byte[BlockBytes + 4];
    private readonly char[] _chars = new char[BlockBytes + 8];
    private int _carried;
    private long _offset;
    private int _lines = 1;
    private bool _started;
    private bool _done;
    private Decoder? _utf16;

    /// <summary>Invalid UTF-8 sequences replaced so far.</summary>
    public int InvalidSequences { get; private set; }

    /// <summary>Byte offset of the first invalid sequence, or -1.</summary>
    public long FirstInvalidOffset { get; private set; } = -1;

    /// <summary>1-based line of the first invalid sequence, or 0.</summary>
    public int FirstInvalidLine { get; private set; }

    /// <summary>Bytes read from the stream so far.</summary>
    public long BytesRead { get; private set; }

    /// <summary>The next block of text, or null at the end of the stream.</summary>
    public async Task<string?> ReadAsync(CancellationToken cancellationToken)
    {
        while (!_done)
        {
            var read = await stream.ReadAsync(_buffer.AsMemory(_carried, BlockBytes), cancellationToken).ConfigureAwait(false);
            BytesRead += read;
            var final = read == 0;
            var length = _carried + read;
            var start = 0;
            if (!_started)
            {
                if (length < 3 && !final)
                {
                    _carried = length;
                    continue;
                }

                _started = true;
                start = Preamble(_buffer.AsSpan(0, length));
                _offset = start;
            }

            var text = _utf16 is not null ? DecodeUtf16(start, length, final) : DecodeUtf8(start, length, final);
            _done = final;
            if (text.Length > 0)
            {
                return text;
            }
        }

        return null;
    }

    private int Preamble(ReadOnlySpan<byte> bytes)
    {
        if (bytes.StartsWith((ReadOnlySpan<byte>)[0xEF, 0xBB, 0xBF]))
        {
            return 3;
        }

        if (bytes.StartsWith((ReadOnlySpan<byte>)[0xFF, 0xFE]))
        {
            _utf16 = Encoding.Unicode.GetDecoder();
            return 2;
        }

        if (bytes.StartsWith((ReadOnlySpan<byte>)[0xFE, 0xFF]))
        {
            _utf16 = Encoding.BigEndianUnicode.GetDecoder();
            return 2;
        }

        return 0;
    }

    private string DecodeUtf16(int start, int length, bool final)
    {
        _carried = 0;
        var count = _utf16!.GetChars(_buffer, start, length - start, _chars, 0, final);
        return new string(_chars, 0, count);
    }

    private string DecodeUtf8(int start, int length, bool final)
    {
        var bytes = _buffer.AsSpan(start, length - start);
        var output = new StringBuilder(bytes.Length);
        var position = 0;
        while (position < bytes.Length)
        {
            var status = System.Text.Unicode.Utf8.ToUtf16(bytes[position..], _chars, out var consumed, out var written,
                replaceInvalidSequences: false, isFinalBlock: final);
            output.Append(_chars, 0, written);
            position += consumed;
            if (status == OperationStatus.InvalidData)
            {
                InvalidSequences++;
                if (FirstInvalidOffset < 0)
                {
                    FirstInvalidOffset = _offset + position;
                    FirstInvalidLine = _lines + CountLines(output);
                }

                Rune.DecodeFromUtf8(bytes[position..], out _, out var invalid);
                output.Append('\uFFFD');
                position += Math.Max(invalid, 1);
            }
            else if (status == OperationStatus.NeedMoreData)
            {
                break;
            }
        }

        // An incomplete sequence at the end of the block waits for the next one.
        var rest = bytes.Length - position;
        bytes[position..].CopyTo(_buffer);
        _carried = rest;
        _offset += position;
        var text = output.ToString();
        _lines += CountLines(text);
        return text;
    }

    private static int CountLines(StringBuilder text)
    {
        var lines = 0;
        foreach (var chunk in text.GetChunks())
        {
            lines += chunk.Span.Count('\n');
        }

        return lines;
    }

    private static int CountLines(string text) => text.AsSpan().Count('\n');
}
