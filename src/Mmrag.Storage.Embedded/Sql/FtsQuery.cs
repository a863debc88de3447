using System.Text;
using Mmrag.Storage.Providers;

namespace Mmrag.Storage.Embedded.Sql;

/// <summary>
/// Turns user text into FTS5 MATCH expressions that cannot carry FTS syntax: the text is split into words
/// (runs of letters, digits and combining marks, as FTS5's unicode61 tokenizer sees them), each word is written as a
/// double-quoted string (so <c>NEAR</c>, <c>AND</c>, <c>*</c>, <c>-</c>, <c>:</c>, <c>^</c> and quotes are plain
/// text), and the words are joined with OR so that an item matching some of them still ranks (BM25 rewards more).
/// </summary>
internal static class FtsQuery
{
    /// <summary>At most this many distinct words are searched; a longer text keeps its first ones.</summary>
    public const int MaxTerms = KeywordTerms.DefaultMaxTerms;

    /// <summary>The words of <paramref name="text"/> that a search looks for; none, and nothing matches.</summary>
    public static IReadOnlyList<string> Terms(string text) => KeywordTerms.Split(text, MaxTerms);

    /// <summary>One word as a MATCH expression; a word holds no <c>"</c> (not a word character), so quoting needs no escaping.</summary>
    public static string Phrase(string term) => '"' + term + '"';

    /// <summary>Rows holding any of <paramref name="terms"/> (at least one).</summary>
    public static string AnyOf(IEnumerable<string> terms)
    {
        var builder = new StringBuilder();
        foreach (string term in terms)
        {
            if (builder.Length > 0)
            {
                builder.Append(" OR ");
            }

            builder.Append(Phrase(term));
        }

        return builder.ToString();
    }

    /// <summary>Rows holding at least two of <paramref name="terms"/> (at least two).</summary>
    public static string AnyPairOf(IReadOnlyList<string> terms)
    {
        var builder = new StringBuilder();
        for (int a = 0; a < terms.Count; a++)
        {
            for (int b = a + 1; b < terms.Count; b++)
            {
                builder.Append(builder.Length > 0 ? " OR (" : "(").Append(Phrase(terms[a])).Append(" AND ").Append(Phrase(terms[b])).Append(')');
            }
        }

        return builder.ToString();
    }

    /// <summary>Rows matching <paramref name="expression"/> and none of <paramref name="excluded"/> (those that are not null).</summary>
    public static string Without(string expression, params ReadOnlySpan<string?> excluded)
    {
        var builder = new StringBuilder();
        foreach (string? other in excluded)
        {
            if (other is not null)
            {
                builder.Append(builder.Length > 0 ? " OR " : string.Empty).Append('(').Append(other).Append(')');
            }
        }

        return builder.Length == 0 ? expression : $"({expression}) NOT ({builder})";
    }
}
