using System.Text;
using Mmrag.Knowledge;

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
    public const int MaxTerms = KeywordTerms.DefaultMaxTerms;

    /// <summary>The MATCH expression, or null when the text has no word (then nothing matches).</summary>
    public static string? Build(string text)
    {
        var terms = KeywordTerms.Split(text, MaxTerms);
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
}
