using System.Globalization;
using System.Text;

namespace Mmrag.Storage.Embedded.Sql;

/// <summary>
/// Turns user text into an FTS5 MATCH expression that cannot carry FTS syntax: the text is split into words
/// (runs of letters, digits and combining marks, as FTS5's unicode61 tokenizer sees them), each word is written as a
/// double-quoted string (so <c>NEAR</c>, <c>AND</c>, <c>*</c>, <c>-</c>, <c>:</c>, <c>^</c> and quotes are plain
/// text), and the words are joined with OR so that an item matching some of them still ranks (BM25 rewards more).
/// </summary>
internal static class FtsQuery
{
    /// <summary>At most this many distinct words are searched; a longer text keeps its first ones.</summary>
    public const int MaxTerms = 64;

    /// <summary>The MATCH expression, or null when the text has no word (then nothing matches).</summary>
    public static string? Build(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var terms = new List<string>();
        var seen = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        int i = 0;
        while (i < text.Length && terms.Count < MaxTerms)
        {
            while (i < text.Length && !IsWordChar(text, i))
            {
                i++;
            }

            int start = i;
            while (i < text.Length && IsWordChar(text, i))
            {
                i += char.IsSurrogatePair(text, i) ? 2 : 1;
            }

            if (i > start)
            {
                string term = text[start..i];
                if (seen.Add(term))
                {
                    terms.Add(term);
                }
            }
        }

        if (terms.Count == 0)
        {
            return null;
        }

        var builder = new StringBuilder();
        foreach (string term in terms)
        {
            if (builder.Length > 0)
            {
                builder.Append(" OR ");
            }

            // A word holds no '"' (not a word character), so quoting needs no escaping.
            builder.Append('"').Append(term).Append('"');
        }

        return builder.ToString();
    }

    private static bool IsWordChar(string text, int index)
    {
        UnicodeCategory category = char.IsSurrogatePair(text, index)
            ? CharUnicodeInfo.GetUnicodeCategory(char.ConvertToUtf32(text, index))
            : CharUnicodeInfo.GetUnicodeCategory(text[index]);
        return category is UnicodeCategory.UppercaseLetter or UnicodeCategory.LowercaseLetter or UnicodeCategory.TitlecaseLetter
            or UnicodeCategory.ModifierLetter or UnicodeCategory.OtherLetter or UnicodeCategory.DecimalDigitNumber
            or UnicodeCategory.LetterNumber or UnicodeCategory.OtherNumber or UnicodeCategory.NonSpacingMark
            or UnicodeCategory.SpacingCombiningMark or UnicodeCategory.EnclosingMark;
    }
}
