using System.Globalization;

namespace Mmrag.Storage.Providers;

/// <summary>
/// The words of a keyword query, as every store backend must see them: runs of letters, digits and combining marks
/// (what full-text tokenizers such as SQLite's unicode61 treat as word characters), distinct case-insensitively, in
/// order. Backends quote or parameterize these words, so no query syntax from user text reaches the engine.
/// </summary>
public static class KeywordTerms
{
    /// <summary>Most distinct words a query keeps; a longer text keeps its first ones.</summary>
    public const int DefaultMaxTerms = 64;

    /// <summary>The distinct words of <paramref name="text"/>, skipping those <paramref name="exclude"/> rejects.</summary>
    public static IReadOnlyList<string> Split(string text, int maxTerms = DefaultMaxTerms, Func<string, bool>? exclude = null)
    {
        ArgumentNullException.ThrowIfNull(text);
        var terms = new List<string>();
        var seen = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        var i = 0;
        while (i < text.Length && terms.Count < maxTerms)
        {
            while (i < text.Length && !IsWordChar(text, i))
            {
                i++;
            }

            var start = i;
            while (i < text.Length && IsWordChar(text, i))
            {
                i += char.IsSurrogatePair(text, i) ? 2 : 1;
            }

            if (i > start)
            {
                var term = text[start..i];
                if (exclude?.Invoke(term) != true && seen.Add(term))
                {
                    terms.Add(term);
                }
            }
        }

        return terms;
    }

    private static bool IsWordChar(string text, int index)
    {
        var category = char.IsSurrogatePair(text, index)
            ? CharUnicodeInfo.GetUnicodeCategory(char.ConvertToUtf32(text, index))
            : CharUnicodeInfo.GetUnicodeCategory(text[index]);
        return category is UnicodeCategory.UppercaseLetter or UnicodeCategory.LowercaseLetter or UnicodeCategory.TitlecaseLetter
            or UnicodeCategory.ModifierLetter or UnicodeCategory.OtherLetter or UnicodeCategory.DecimalDigitNumber
            or UnicodeCategory.LetterNumber or UnicodeCategory.OtherNumber or UnicodeCategory.NonSpacingMark
            or UnicodeCategory.SpacingCombiningMark or UnicodeCategory.EnclosingMark;
    }
}
