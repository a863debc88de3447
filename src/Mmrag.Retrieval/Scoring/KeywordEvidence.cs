using System.Globalization;
using System.Text;
using Mmrag.Knowledge;

namespace Mmrag.Retrieval.Scoring;

/// <summary>
/// How well a candidate's own words (its text, description, caption, title and section) agree with a text query:
/// the share of the query's known words the candidate holds, and the share of the query's adjacent word pairs it holds
/// adjacent too. CLIP-like towers embed a text almost as a bag of words, so "a red circle" lands as close to an image of
/// a red square beside a blue circle as to a red circle; the words stored with an item tell the two apart.
/// </summary>
/// <remarks>
/// <para>
/// A query word counts only when some candidate of the search holds it ("known"): words the knowledge base never uses
/// ("picture", "show me", "rules") say nothing either way. Stop words are skipped. Words are compared case-insensitively
/// after folding a plural "s". An item with no words, or a query with no known word, has no evidence (null) and keeps its
/// vector score.
/// </para>
/// <para>Measured on four shapes sets (docs/quality.md): the evidence lets the default threshold turn away most
/// "no match" queries while it keeps matched ones.</para>
/// </remarks>
public sealed class KeywordEvidence
{
    // A short English list: function words that a query's phrasing adds and an item's text repeats at random.
    private static readonly HashSet<string> StopWords = new(StringComparer.Ordinal)
    {
        "a", "an", "the", "of", "on", "in", "at", "to", "for", "and", "or", "is", "are", "was", "were", "be", "been", "this",
        "that", "these", "those", "there", "here", "with", "by", "from", "as", "it", "its", "into", "onto", "over", "under",
        "about", "what", "which", "who", "whom", "how", "why", "when", "where", "does", "do", "did", "me", "my", "i", "you",
        "your", "we", "our", "show", "tell", "find", "give", "any", "some", "all", "no", "not",
    };

    /// <summary>Content words a query keeps (its first ones), as the keyword search keeps its first 64 terms.</summary>
    private const int MaxQueryWords = 64;

    private readonly List<Word> _queryWords;

    // Each candidate is tokenized once, by Create, and measured from these words.
    private readonly Dictionary<KnowledgeItem, List<string>> _tokens;

    private KeywordEvidence(List<Word> queryWords, Dictionary<KnowledgeItem, List<string>> tokens) =>
        (_queryWords, _tokens) = (queryWords, tokens);

    /// <summary>
    /// Prepares the evidence of <paramref name="query"/> over one search's <paramref name="candidates"/> (which define
    /// the known words). Null when no content word of the query is known.
    /// </summary>
    public static KeywordEvidence? Create(string query, IEnumerable<KnowledgeItem> candidates)
    {
        ArgumentNullException.ThrowIfNull(query);
        ArgumentNullException.ThrowIfNull(candidates);
        var content = new List<Word>();
        var queryTokens = Tokenize(query);
        for (var position = 0; position < queryTokens.Count && content.Count < MaxQueryWords; position++)
        {
            if (!StopWords.Contains(queryTokens[position]))
            {
                content.Add(new Word(queryTokens[position], position));
            }
        }

        if (content.Count == 0)
        {
            return null;
        }

        var wanted = content.Select(static w => w.Text).ToHashSet(StringComparer.Ordinal);
        var known = new HashSet<string>(StringComparer.Ordinal);
        var tokens = new Dictionary<KnowledgeItem, List<string>>(ReferenceEqualityComparer.Instance);
        foreach (var candidate in candidates)
        {
            if (!tokens.TryGetValue(candidate, out var words))
            {
                words = Tokenize(candidate);
                tokens.Add(candidate, words);
            }

            foreach (var word in words)
            {
                if (wanted.Contains(word))
                {
                    known.Add(word);
                }
            }
        }

        var queryWords = content.FindAll(w => known.Contains(w.Text));
        return queryWords.Count == 0 ? null : new KeywordEvidence(queryWords, tokens);
    }

    /// <summary>
    /// The evidence in [0, 1] for <paramref name="item"/>: the smaller of (share of known query words it holds) and (share
    /// of the query's adjacent known word pairs it holds adjacent; 1 when the query has none). Null when the item has no
    /// words.
    /// </summary>
    public double? Measure(KnowledgeItem item)
    {
        ArgumentNullException.ThrowIfNull(item);
        var tokens = _tokens.TryGetValue(item, out var known) ? known : Tokenize(item);
        if (tokens.Count == 0)
        {
            return null;
        }

        var held = 0;
        foreach (var word in _queryWords)
        {
            if (tokens.Contains(word.Text))
            {
                held++;
            }
        }

        var pairs = 0;
        var pairsHeld = 0;
        for (var i = 1; i < _queryWords.Count; i++)
        {
            var (first, second) = (_queryWords[i - 1], _queryWords[i]);
            if (second.Position - first.Position != 1 || first.Text == second.Text)
            {
                continue;
            }

            pairs++;
            if (HoldsAdjacent(tokens, first.Text, second.Text))
            {
                pairsHeld++;
            }
        }

        var coverage = (double)held / _queryWords.Count;
        return pairs == 0 ? coverage : Math.Min(coverage, (double)pairsHeld / pairs);
    }

    private static bool HoldsAdjacent(List<string> tokens, string first, string second)
    {
        for (var i = 1; i < tokens.Count; i++)
        {
            if (tokens[i] == second && tokens[i - 1] == first)
            {
                return true;
            }
        }

        return false;
    }

    private static List<string> Tokenize(KnowledgeItem item)
    {
        var tokens = new List<string>();
        // An image's text is often its description: read it once.
        var description = item.Description == item.Text ? null : item.Description;
        foreach (var text in new[] { item.Provenance.DocumentTitle, item.Provenance.Section, item.Provenance.Caption, item.Text, description })
        {
            if (!string.IsNullOrEmpty(text))
            {
                AddTokens(text, tokens);
            }
        }

        return tokens;
    }

    /// <summary>Lower-case runs of letters and digits, a plural "s" folded ("circles" → "circle").</summary>
    internal static List<string> Tokenize(string text)
    {
        var tokens = new List<string>();
        AddTokens(text, tokens);
        return tokens;
    }

    private static void AddTokens(string text, List<string> tokens)
    {
        var builder = new StringBuilder();
        Span<char> utf16 = stackalloc char[2];
        foreach (var rune in text.EnumerateRunes())
        {
            if (Rune.IsLetterOrDigit(rune) || Rune.GetUnicodeCategory(rune) is UnicodeCategory.NonSpacingMark)
            {
                builder.Append(utf16[..Rune.ToLowerInvariant(rune).EncodeToUtf16(utf16)]);
            }
            else if (builder.Length > 0)
            {
                tokens.Add(Fold(builder));
            }
        }

        if (builder.Length > 0)
        {
            tokens.Add(Fold(builder));
        }

        static string Fold(StringBuilder builder)
        {
            var word = builder.ToString();
            builder.Clear();
            return word.Length > 3 && word[^1] == 's' && word[^2] != 's' ? word[..^1] : word;
        }
    }

    private readonly record struct Word(string Text, int Position);
}
