using System.Globalization;
using System.Text;

namespace Mmrag.Clip.Tokenization;

/// <summary>Which text clean-up the tokenizer reproduces.</summary>
public enum ClipTokenizerFlavor
{
    /// <summary>
    /// openai/CLIP <c>simple_tokenizer.py</c>, the tokenizer the model was trained with: ftfy's fixes
    /// (NFC, straight quotes, full-width ASCII, Latin ligatures), double HTML unescape, Python's full lower-casing.
    /// </summary>
    OpenAi,

    /// <summary>HuggingFace <c>tokenizer.json</c> (transformers.js, Xenova): NFC, whitespace collapse, per-character lower-casing.</summary>
    HuggingFace,
}

/// <summary>The clean-up the reference applies before pre-tokenization. Pure and thread-safe.</summary>
internal static class ClipTextNormalizer
{
    private const char CapitalSigma = '\u03A3';

    public static string Normalize(string text, ClipTokenizerFlavor flavor)
    {
        var composed = text.IsNormalized(NormalizationForm.FormC) ? text : text.Normalize(NormalizationForm.FormC);
        if (flavor == ClipTokenizerFlavor.OpenAi)
        {
            composed = ApplyFtfyFixes(composed);
            composed = HtmlEntityDecoder.Unescape(HtmlEntityDecoder.Unescape(composed));
            return Lower(CollapseWhitespace(composed, IsPythonWhitespace), finalSigma: true);
        }

        return Lower(CollapseWhitespace(composed, IsUnicodeWhiteSpace), finalSigma: false);
    }

    /// <summary>
    /// The parts of <c>ftfy.fix_text</c> that change well-formed text: curly quotes to straight ones,
    /// full-width forms to their ASCII/NFKC equivalents, and Latin ligatures expanded.
    /// (Mojibake repair is not reproduced: it only fires on text that was decoded with the wrong codec.)
    /// </summary>
    private static string ApplyFtfyFixes(string text)
    {
        StringBuilder? builder = null;
        for (var i = 0; i < text.Length; i++)
        {
            var c = text[i];
            var replacement = FtfyReplacement(c);
            if (replacement is null)
            {
                builder?.Append(c);
                continue;
            }

            builder ??= new StringBuilder(text.Length).Append(text, 0, i);
            builder.Append(replacement);
        }

        return builder?.ToString() ?? text;
    }

    private static string? FtfyReplacement(char c) => c switch
    {
        '\u02BC' or (>= '\u2018' and <= '\u201B') => "'",
        >= '\u201C' and <= '\u201F' => "\"",
        '\uFB00' => "ff",
        '\uFB01' => "fi",
        '\uFB02' => "fl",
        '\uFB03' => "ffi",
        '\uFB04' => "ffl",
        '\uFB05' => "\u017Ft",
        '\uFB06' => "st",
        '\u3000' => " ",
        >= '\uFF01' and <= '\uFFEF' => WidthFix(c),
        _ => null,
    };

    private static string? WidthFix(char c)
    {
        var normalized = c.ToString().Normalize(NormalizationForm.FormKC);
        return normalized.Length == 1 && normalized[0] == c ? null : normalized;
    }

    private static string CollapseWhitespace(string text, Func<int, bool> isWhitespace)
    {
        var builder = new StringBuilder(text.Length);
        var pendingSpace = false;
        foreach (var rune in text.EnumerateRunes())
        {
            if (isWhitespace(rune.Value))
            {
                pendingSpace = builder.Length > 0;
                continue;
            }

            if (pendingSpace)
            {
                builder.Append(' ');
                pendingSpace = false;
            }

            builder.Append(rune.ToString());
        }

        return builder.ToString();
    }

    /// <summary>Python's <c>str.isspace</c>: bidi class WS/B/S or category Zs — includes U+001C..U+001F, which .NET does not.</summary>
    internal static bool IsPythonWhitespace(int codePoint) => codePoint switch
    {
        >= 0x09 and <= 0x0D => true,
        >= 0x1C and <= 0x20 => true,
        0x85 or 0xA0 or 0x1680 => true,
        >= 0x2000 and <= 0x200A => true,
        0x2028 or 0x2029 or 0x202F or 0x205F or 0x3000 => true,
        _ => false,
    };

    /// <summary>The Unicode White_Space property, which Rust's <c>\s</c> (HF tokenizers) uses.</summary>
    private static bool IsUnicodeWhiteSpace(int codePoint) => codePoint switch
    {
        >= 0x09 and <= 0x0D => true,
        0x20 or 0x85 or 0xA0 or 0x1680 => true,
        >= 0x2000 and <= 0x200A => true,
        0x2028 or 0x2029 or 0x202F or 0x205F or 0x3000 => true,
        _ => false,
    };

    /// <summary>
    /// Full lower-case mapping as Python's <c>str.lower</c> (and Rust's <c>char::to_lowercase</c>) do it:
    /// U+0130 becomes "i̇" (two code points), which .NET's simple mapping turns into a plain "i";
    /// with <paramref name="finalSigma"/>, a word-final capital sigma becomes ς.
    /// </summary>
    private static string Lower(string text, bool finalSigma)
    {
        var builder = new StringBuilder(text.Length);
        for (var i = 0; i < text.Length;)
        {
            var rune = Rune.GetRuneAt(text, i);
            if (rune.Value == 0x130)
            {
                builder.Append("i\u0307");
            }
            else if (rune.Value == CapitalSigma && finalSigma)
            {
                builder.Append(IsFinalSigma(text, i) ? '\u03C2' : '\u03C3');
            }
            else
            {
                builder.Append(Rune.ToLowerInvariant(rune).ToString());
            }

            i += rune.Utf16SequenceLength;
        }

        return builder.ToString();
    }

    // Unicode's Final_Sigma context: cased letter, then case-ignorables, then Σ, and no cased letter after
    // any following case-ignorables (CPython's handle_capital_sigma).
    private static bool IsFinalSigma(string text, int index)
    {
        var j = index;
        Rune before = default;
        var found = false;
        while (j > 0)
        {
            Rune.DecodeLastFromUtf16(text.AsSpan(0, j), out before, out var length);
            j -= length;
            if (!IsCaseIgnorable(before))
            {
                found = true;
                break;
            }
        }

        if (!found || !IsCased(before))
        {
            return false;
        }

        var k = index + 1;
        while (k < text.Length)
        {
            var after = Rune.GetRuneAt(text, k);
            if (!IsCaseIgnorable(after))
            {
                return !IsCased(after);
            }

            k += after.Utf16SequenceLength;
        }

        return true;
    }

    private static bool IsCased(Rune rune) => Rune.GetUnicodeCategory(rune) switch
    {
        UnicodeCategory.UppercaseLetter or UnicodeCategory.LowercaseLetter or UnicodeCategory.TitlecaseLetter => true,
        _ => false,
    };

    private static bool IsCaseIgnorable(Rune rune)
    {
        switch (rune.Value)
        {
            // Word_Break MidLetter, MidNumLet and Single_Quote.
            case 0x27 or 0x2E or 0x3A or 0xB7 or 0x387 or 0x55F or 0x5F4 or 0x2018 or 0x2019 or 0x2024 or 0x2027
                or 0xFE13 or 0xFE52 or 0xFE55 or 0xFF07 or 0xFF0E or 0xFF1A:
                return true;
        }

        return Rune.GetUnicodeCategory(rune) switch
        {
            UnicodeCategory.NonSpacingMark or UnicodeCategory.EnclosingMark or UnicodeCategory.Format
                or UnicodeCategory.ModifierLetter or UnicodeCategory.ModifierSymbol => true,
            _ => false,
        };
    }
}
