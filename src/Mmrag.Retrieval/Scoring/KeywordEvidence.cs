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
    /// <remarks>At most 64, so a candidate's holdings are two 64-bit masks.</remarks>
    private const int MaxQueryWords = 64;

    private readonly List<Word> _queryWords;
    private readonly Dictionary<string, int>.AlternateLookup<ReadOnlySpan<char>> _ids;
    private readonly Pair[] _pairs;

    // Each candidate is read once, by Create, into which query words and adjacent query pairs it holds: no string is
    // made of a candidate's words.
    private readonly Dictionary<KnowledgeItem, Holdings> _holdings;

    private KeywordEvidence(List<Word> queryWords, Dictionary<string, int>.AlternateLookup<ReadOnlySpan<char>> ids, Pair[] pairs,
        Dictionary<KnowledgeItem, Holdings> holdings) =>
        (_queryWords, _ids, _pairs, _holdings) = (queryWords, ids, pairs, holdings);

    /// <summary>
    /// Prepares the evidence of <paramref name="query"/> over one search's <paramref name="candidates"/> (which define
    /// the known words). Null when no content word of the query is known.
    /// </summary>
    public static KeywordEvidence? Create(string query, IEnumerable<KnowledgeItem> candidates)
    {
        ArgumentNullException.ThrowIfNull(query);
        ArgumentNullException.ThrowIfNull(candidates);
        var content = new List<Word>();
        var distinct = new Dictionary<string, int>(StringComparer.Ordinal);
        var queryTokens = Tokenize(query);
        for (var position = 0; position < queryTokens.Count && content.Count < MaxQueryWords; position++)
        {
            var text = queryTokens[position];
            if (!StopWords.Contains(text))
            {
                if (!distinct.TryGetValue(text, out var id))
                {
                    distinct.Add(text, id = distinct.Count);
                }

                content.Add(new Word(text, position, id, content.Count));
            }
        }

        if (content.Count == 0)
        {
            return null;
        }

        // The query's adjacent pairs of two different content words, each a bit (the second word's index in content).
        var pairs = new List<Pair>();
        for (var i = 1; i < content.Count; i++)
        {
            if (content[i].Position - content[i - 1].Position == 1 && content[i].Id != content[i - 1].Id)
            {
                pairs.Add(new Pair(content[i - 1].Id, content[i].Id, 1UL << i));
            }
        }

        var ids = distinct.GetAlternateLookup<ReadOnlySpan<char>>();
        var pairArray = pairs.ToArray();
        var reader = new TokenReader();
        var known = 0UL;
        var holdings = new Dictionary<KnowledgeItem, Holdings>(ReferenceEqualityComparer.Instance);
        foreach (var candidate in candidates)
        {
            if (!holdings.TryGetValue(candidate, out var held))
            {
                held = Read(candidate, ids, pairArray, reader);
                holdings.Add(candidate, held);
            }

            known |= held.Words;
        }

        var queryWords = content.FindAll(w => (known & (1UL << w.Id)) != 0);
        return queryWords.Count == 0 ? null : new KeywordEvidence(queryWords, ids, pairArray, holdings);
    }

    /// <summary>
    /// The evidence in [0, 1] for <paramref name="item"/>: the smaller of (share of known query words it holds) and (share
    /// of the query's adjacent known word pairs it holds adjacent; 1 when the query has none). Null when the item has no
    /// words.
    /// </summary>
    public double? Measure(KnowledgeItem item)
    {
        ArgumentNullException.ThrowIfNull(item);
        var holdings = _holdings.TryGetValue(item, out var known) ? known : Read(item, _ids, _pairs, new TokenReader());
        if (!holdings.HasWords)
        {
            return null;
        }

        var held = 0;
        foreach (var word in _queryWords)
        {
            if ((holdings.Words & (1UL << word.Id)) != 0)
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
            if ((holdings.Pairs & (1UL << second.Index)) != 0)
            {
                pairsHeld++;
            }
        }

        var coverage = (double)held / _queryWords.Count;
        return pairs == 0 ? coverage : Math.Min(coverage, (double)pairsHeld / pairs);
    }

    /// <summary>Which query words <paramref name="item"/>'s words hold, and which of the query's pairs they hold adjacent.</summary>
    private static Holdings Read(KnowledgeItem item, Dictionary<string, int>.AlternateLookup<ReadOnlySpan<char>> ids, Pair[] pairs, TokenReader reader)
    {
        var (words, held, any, previous) = (0UL, 0UL, false, -1);
        // An image's text is often its description: read it once. The fields run on into each other, as one text.
        var description = item.Description == item.Text ? null : item.Description;
        foreach (var text in (ReadOnlySpan<string?>)[item.Provenance.DocumentTitle, item.Provenance.Section, item.Provenance.Caption, item.Text, description])
        {
            if (string.IsNullOrEmpty(text))
            {
                continue;
            }

            var index = 0;
            while (reader.Next(text, ref index, out var token))
            {
                any = true;
                var id = ids.TryGetValue(token, out var found) ? found : -1;
                if (id >= 0)
                {
                    words |= 1UL << id;
                    foreach (var pair in pairs)
                    {
                        if (pair.Second == id && pair.First == previous)
                        {
                            held |= pair.Bit;
                        }
                    }
                }

                previous = id;
            }
        }

        return new Holdings(words, held, any);
    }

    /// <summary>Lower-case runs of letters and digits, a plural "s" folded ("circles" → "circle").</summary>
    internal static List<string> Tokenize(string text)
    {
        var tokens = new List<string>();
        var reader = new TokenReader();
        var index = 0;
        while (reader.Next(text, ref index, out var token))
        {
            tokens.Add(new string(token));
        }

        return tokens;
    }

    /// <summary>Reads the words of a text one after another into one reused buffer (the span is valid until the next call).</summary>
    private sealed class TokenReader
    {
        private char[] _buffer = new char[64];

        public bool Next(string text, ref int index, out ReadOnlySpan<char> token)
        {
            var length = 0;
            while (index < text.Length)
            {
                // As string.EnumerateRunes: an unpaired surrogate reads as U+FFFD (not a letter), one char long.
                Rune.DecodeFromUtf16(text.AsSpan(index), out var rune, out var consumed);
                index += consumed;
                if (Rune.IsLetterOrDigit(rune) || Rune.GetUnicodeCategory(rune) is UnicodeCategory.NonSpacingMark)
                {
                    if (length + 2 > _buffer.Length)
                    {
                        Array.Resize(ref _buffer, _buffer.Length * 2);
                    }

                    length += Rune.ToLowerInvariant(rune).EncodeToUtf16(_buffer.AsSpan(length));
                }
                else if (length > 0)
                {
                    break;
                }
            }

            // A plural "s" folded, as the query's words are.
            token = _buffer.AsSpan(0, length > 3 && _buffer[length - 1] == 's' && _buffer[length - 2] != 's' ? length - 1 : length);
            return length > 0;
        }
    }

    private readonly record struct Word(string Text, int Position, int Id, int Index);

    private readonly record struct Pair(int First, int Second, ulong Bit);

    private readonly record struct Holdings(ulong Words, ulong Pairs, bool HasWords);
}
