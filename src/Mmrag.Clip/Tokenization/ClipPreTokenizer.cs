using System.Globalization;
using System.Text;

namespace Mmrag.Clip.Tokenization;

/// <summary>
/// Splits normalized text like CLIP's pattern
/// <c>&lt;|startoftext|&gt;|&lt;|endoftext|&gt;|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+</c>,
/// scanning by code point: .NET's <c>Regex</c> classifies UTF-16 code units, so a supplementary-plane ideograph
/// (two surrogates, category Cs) would fall into the punctuation branch instead of the letter branch.
/// </summary>
internal static class ClipPreTokenizer
{
    private static readonly string[] Contractions = ["'s", "'t", "'re", "'ve", "'m", "'ll", "'d"];

    /// <summary>A piece of the text; <see cref="IsSpecial"/> when it is a special token literal such as <c>&lt;|endoftext|&gt;</c>.</summary>
    public readonly record struct Piece(int Start, int Length, bool IsSpecial);

    public static void Split(string text, IReadOnlyList<string> specialTokens, List<Piece> pieces)
    {
        var i = 0;
        while (i < text.Length)
        {
            var rune = Rune.GetRuneAt(text, i);
            if (IsSpace(rune))
            {
                i += rune.Utf16SequenceLength;
                continue;
            }

            var special = MatchAny(text, i, specialTokens);
            if (special > 0)
            {
                pieces.Add(new Piece(i, special, true));
                i += special;
                continue;
            }

            var contraction = MatchAny(text, i, Contractions);
            if (contraction > 0)
            {
                pieces.Add(new Piece(i, contraction, false));
                i += contraction;
                continue;
            }

            var kind = Classify(rune);
            var end = i + rune.Utf16SequenceLength;
            if (kind == CharacterClass.Letter)
            {
                end = ScanWhile(text, end, CharacterClass.Letter);
            }
            else if (kind == CharacterClass.Other)
            {
                end = ScanWhile(text, end, CharacterClass.Other);
            }

            // A number is always a single code point.
            pieces.Add(new Piece(i, end - i, false));
            i = end;
        }
    }

    private static int ScanWhile(string text, int position, CharacterClass kind)
    {
        while (position < text.Length)
        {
            var rune = Rune.GetRuneAt(text, position);
            if (Classify(rune) != kind)
            {
                break;
            }

            position += rune.Utf16SequenceLength;
        }

        return position;
    }

    private static int MatchAny(string text, int position, IReadOnlyList<string> candidates)
    {
        foreach (var candidate in candidates)
        {
            if (text.AsSpan(position).StartsWith(candidate, StringComparison.Ordinal))
            {
                return candidate.Length;
            }
        }

        return 0;
    }

    private enum CharacterClass
    {
        Letter,
        Number,
        Space,
        Other,
    }

    private static bool IsSpace(Rune rune) => Classify(rune) == CharacterClass.Space;

    private static CharacterClass Classify(Rune rune)
    {
        if (ClipTextNormalizer.IsPythonWhitespace(rune.Value))
        {
            return CharacterClass.Space;
        }

        return Rune.GetUnicodeCategory(rune) switch
        {
            UnicodeCategory.UppercaseLetter or UnicodeCategory.LowercaseLetter or UnicodeCategory.TitlecaseLetter
                or UnicodeCategory.ModifierLetter or UnicodeCategory.OtherLetter => CharacterClass.Letter,
            UnicodeCategory.DecimalDigitNumber or UnicodeCategory.LetterNumber or UnicodeCategory.OtherNumber => CharacterClass.Number,
            _ => CharacterClass.Other,
        };
    }
}
