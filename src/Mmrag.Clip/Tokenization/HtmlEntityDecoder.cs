using System.Globalization;
using System.Text;
using System.Text.Json;

namespace Mmrag.Clip.Tokenization;

/// <summary>
/// Decodes HTML character references the way Python's <c>html.unescape</c> does (the HTML5 rules):
/// all 2,231 named references, legacy names without a semicolon, the longest-prefix rule for unknown names,
/// numeric references with or without a semicolon, and the replacement table for invalid code points.
/// .NET's <c>WebUtility.HtmlDecode</c> knows only the HTML 4 names and requires the semicolon, so it would
/// tokenize <c>R&amp;D &amp;copy 2024</c> differently from the reference.
/// </summary>
internal static class HtmlEntityDecoder
{
    private static readonly Lazy<Tables> Data = new(LoadTables);

    public static string Unescape(string text)
    {
        var first = text.IndexOf('&', StringComparison.Ordinal);
        if (first < 0)
        {
            return text;
        }

        var tables = Data.Value;
        var builder = new StringBuilder(text.Length);
        builder.Append(text, 0, first);
        var i = first;
        while (i < text.Length)
        {
            var c = text[i];
            if (c != '&')
            {
                builder.Append(c);
                i++;
                continue;
            }

            var consumed = TryDecodeReference(text, i, tables, builder);
            if (consumed == 0)
            {
                builder.Append('&');
                i++;
            }
            else
            {
                i += consumed;
            }
        }

        return builder.ToString();
    }

    // Returns the number of characters consumed (including '&'), or 0 when nothing matches the reference pattern.
    private static int TryDecodeReference(string text, int ampersand, Tables tables, StringBuilder output)
    {
        var start = ampersand + 1;
        if (start >= text.Length)
        {
            return 0;
        }

        if (text[start] == '#')
        {
            return DecodeNumeric(text, ampersand, tables, output);
        }

        // Python: [^\t\n\f <&#;]{1,32};?
        var end = start;
        while (end < text.Length && end - start < 32 && !IsNameTerminator(text[end]))
        {
            end++;
        }

        if (end == start)
        {
            return 0;
        }

        var hasSemicolon = end < text.Length && text[end] == ';';
        var name = hasSemicolon ? text.Substring(start, end - start + 1) : text[start..end];
        if (tables.Named.TryGetValue(name, out var replacement))
        {
            output.Append(replacement);
            return 1 + name.Length;
        }

        // Longest prefix (at least two characters) that is a known name, rest kept verbatim.
        for (var length = name.Length - 1; length > 1; length--)
        {
            if (tables.Named.TryGetValue(name[..length], out replacement))
            {
                output.Append(replacement).Append(name, length, name.Length - length);
                return 1 + name.Length;
            }
        }

        output.Append('&').Append(name);
        return 1 + name.Length;
    }

    private static bool IsNameTerminator(char c) => c is '\t' or '\n' or '\f' or ' ' or '<' or '&' or '#' or ';';

    private static int DecodeNumeric(string text, int ampersand, Tables tables, StringBuilder output)
    {
        var position = ampersand + 2;
        var hex = position < text.Length && (text[position] == 'x' || text[position] == 'X');
        if (hex)
        {
            position++;
        }

        var digitsStart = position;
        while (position < text.Length && (hex ? char.IsAsciiHexDigit(text[position]) : char.IsAsciiDigit(text[position])))
        {
            position++;
        }

        if (position == digitsStart)
        {
            return 0;
        }

        var digits = text.AsSpan(digitsStart, position - digitsStart);
        if (position < text.Length && text[position] == ';')
        {
            position++;
        }

        // Python parses arbitrarily long numbers; anything past 0x10FFFF becomes U+FFFD, so saturate.
        var number = ParseSaturated(digits, hex ? 16 : 10);
        if (tables.InvalidCharacterReferences.TryGetValue(number, out var replacement))
        {
            output.Append(replacement);
        }
        else if (number is >= 0xD800 and <= 0xDFFF || number > 0x10FFFF)
        {
            output.Append('\uFFFD');
        }
        else if (!tables.InvalidCodePoints.Contains(number))
        {
            output.Append(char.ConvertFromUtf32((int)number));
        }

        return position - ampersand;
    }

    private static long ParseSaturated(ReadOnlySpan<char> digits, int radix)
    {
        long value = 0;
        foreach (var c in digits)
        {
            var digit = c <= '9' ? c - '0' : (char.ToLowerInvariant(c) - 'a') + 10;
            value = value * radix + digit;
            if (value > 0x10FFFF)
            {
                return 0x110000;
            }
        }

        return value;
    }

    private static Tables LoadTables()
    {
        using var stream = typeof(HtmlEntityDecoder).Assembly.GetManifestResourceStream("Mmrag.Clip.Tokenization.html5-entities.json")
            ?? throw new InvalidOperationException("Embedded resource html5-entities.json is missing from Mmrag.Clip.");
        using var document = JsonDocument.Parse(stream);
        var root = document.RootElement;
        var named = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var property in root.GetProperty("named").EnumerateObject())
        {
            named[property.Name] = property.Value.GetString()!;
        }

        var invalidReferences = new Dictionary<long, string>();
        foreach (var property in root.GetProperty("invalid_charrefs").EnumerateObject())
        {
            invalidReferences[long.Parse(property.Name, CultureInfo.InvariantCulture)] = property.Value.GetString()!;
        }

        var invalidCodePoints = new HashSet<long>();
        foreach (var element in root.GetProperty("invalid_codepoints").EnumerateArray())
        {
            invalidCodePoints.Add(element.GetInt64());
        }

        return new Tables(named, invalidReferences, invalidCodePoints);
    }

    private sealed record Tables(
        Dictionary<string, string> Named,
        Dictionary<long, string> InvalidCharacterReferences,
        HashSet<long> InvalidCodePoints);
}
