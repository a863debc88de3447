using System.Text;
using System.Text.RegularExpressions;
using Mmrag.Knowledge;

namespace Mmrag.Ingestion.Chunking;

/// <summary>
/// Splits text into chunks that fit a CLIP text window: whole paragraphs where they fit, else sentences, else words,
/// and as a last resort characters (a long blob without spaces). Consecutive chunks overlap by the trailing
/// sentence (or words) of the previous one. Token counts come from an injected counter, in production the CLIP
/// tokenizer's <c>EncodeToIds(text).Length</c>, so every chunk is measured exactly as it will be embedded.
/// Thread-safe when the counter is.
/// </summary>
public sealed partial class TextChunker
{
    // No chunk of MaxTokens tokens is this long in practice; the cap keeps every tokenizer call short, because BPE is
    // quadratic in the length of a single word and a 10k-character blob must not be tokenized whole.
    private const int CharsPerTokenCap = 16;

    private readonly Func<string, int> _countTokens;
    private readonly int _maxChars;

    /// <summary>Creates a chunker counting tokens with <paramref name="countTokens"/>.</summary>
    public TextChunker(Func<string, int> countTokens, TextChunkerOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(countTokens);
        Options = options ?? new TextChunkerOptions();
        Options.Validate();
        _countTokens = countTokens;
        _maxChars = Options.MaxTokens * CharsPerTokenCap;
    }

    /// <summary>The sizing options.</summary>
    public TextChunkerOptions Options { get; }

    private enum Separator
    {
        None,
        Space,
        Line,
        Paragraph,
    }

    private readonly record struct Piece(string Text, Separator Before, bool CanOverlap);

    /// <summary>The chunks of <paramref name="text"/>, in order; none for blank text.</summary>
    public IReadOnlyList<string> Split(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var chunks = new List<string>();
        var stream = new ChunkStream(this, chunks.Add);
        stream.Add(text);
        stream.Finish();
        return chunks;
    }

    /// <summary>
    /// The chunks of <paramref name="text"/> as text items carrying <paramref name="provenance"/> (title, section, page),
    /// with positions counting up from <paramref name="provenance"/>'s.
    /// </summary>
    public IReadOnlyList<LoadedItem> Chunk(string text, Provenance provenance)
    {
        ArgumentNullException.ThrowIfNull(provenance);
        var chunks = Split(text);
        var items = new LoadedItem[chunks.Count];
        for (var i = 0; i < chunks.Count; i++)
        {
            items[i] = new LoadedItem
            {
                Kind = ItemKind.TextChunk,
                Text = chunks[i],
                Provenance = provenance with { Position = provenance.Position + i },
            };
        }

        return items;
    }

    private bool Fits(string text) => text.Length <= _maxChars && _countTokens(text) <= Options.MaxTokens;

    private void AddParagraph(string paragraph, List<Piece> pieces)
    {
        if (Fits(paragraph))
        {
            pieces.Add(new Piece(paragraph, Separator.Paragraph, CanOverlap: true));
            return;
        }

        var first = true;
        foreach (var (sentence, before) in Sentences(paragraph))
        {
            var separator = first ? Separator.Paragraph : before;
            first = false;
            if (Fits(sentence))
            {
                pieces.Add(new Piece(sentence, separator, CanOverlap: true));
                continue;
            }

            var words = sentence.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            for (var index = 0; index < words.Length;)
            {
                var wordSeparator = index == 0 ? separator : Separator.Space;
                if (!Fits(words[index]))
                {
                    AddCharacterSlices(words[index], wordSeparator, pieces);
                    index++;
                    continue;
                }

                var count = LongestRun(words, index);
                pieces.Add(new Piece(string.Join(' ', words, index, count), wordSeparator, CanOverlap: true));
                index += count;
            }
        }
    }

    /// <summary>
    /// How many words from <paramref name="start"/> make one piece: as many as fit a window less the overlap budget
    /// (so that the previous chunk's trailing words still fit before them), at least one. Packing a long sentence word
    /// by word would tokenize the growing chunk once per word; whole runs cost a few tokenizer calls each.
    /// </summary>
    private int LongestRun(string[] words, int start)
    {
        var budget = Math.Max(1, Options.MaxTokens - Options.OverlapTokens);
        var remaining = words.Length - start;
        bool RunFits(int count)
        {
            var length = count - 1;
            for (var i = start; i < start + count; i++)
            {
                length += words[i].Length;
            }

            return length <= _maxChars && _countTokens(string.Join(' ', words, start, count)) <= budget;
        }

        // Gallop up from one word, then bisect between the longest run that fits and the shortest that does not.
        var good = 1;
        var bad = remaining + 1;
        for (var probe = 2; probe <= remaining; probe *= 2)
        {
            if (!RunFits(probe))
            {
                bad = probe;
                break;
            }

            good = probe;
        }

        if (bad > remaining && good < remaining)
        {
            if (RunFits(remaining))
            {
                return remaining;
            }

            bad = remaining;
        }

        while (bad - good > 1)
        {
            var middle = good + ((bad - good) / 2);
            if (RunFits(middle))
            {
                good = middle;
            }
            else
            {
                bad = middle;
            }
        }

        return good;
    }

    /// <summary>Cuts a word no window holds into the longest prefixes that fit.</summary>
    private void AddCharacterSlices(string word, Separator before, List<Piece> pieces)
    {
        var start = 0;
        while (start < word.Length)
        {
            var remaining = word.Length - start;
            var good = 0;
            var bad = int.MaxValue;

            // Probe upwards from a typical chunk length, then bisect: every call tokenizes at most _maxChars characters.
            var probe = WholeCharacters(word, start, Math.Min(remaining, Math.Min(_maxChars, Options.MaxTokens * 2)));
            while (true)
            {
                if (Fits(word.Substring(start, probe)))
                {
                    good = probe;
                    if (probe == remaining || probe >= _maxChars - 1)
                    {
                        break;
                    }

                    probe = WholeCharacters(word, start, Math.Min(remaining, Math.Min(_maxChars, probe * 2)));
                }
                else
                {
                    bad = probe;
                    break;
                }
            }

            while (bad != int.MaxValue && bad - good > 1)
            {
                var middle = WholeCharacters(word, start, good + ((bad - good) / 2));
                if (middle <= good)
                {
                    break;
                }

                if (Fits(word.Substring(start, middle)))
                {
                    good = middle;
                }
                else
                {
                    bad = middle;
                }
            }

            var length = good > 0 ? good : WholeCharacters(word, start, 1);

            pieces.Add(new Piece(word.Substring(start, length), start == 0 ? before : Separator.None, CanOverlap: false));
            start += length;
        }
    }

    /// <summary><paramref name="length"/>, shortened by one when it would end between the halves of a surrogate pair (or lengthened when that leaves nothing).</summary>
    private static int WholeCharacters(string word, int start, int length)
    {
        if (start + length < word.Length && char.IsHighSurrogate(word[start + length - 1]))
        {
            return length > 1 ? length - 1 : length + 1;
        }

        return length;
    }

    /// <summary>Tokenizers reject unpaired surrogates (e.g. from a decoded <c>&amp;#xD800;</c>); they become U+FFFD.</summary>
    private static string ReplaceLoneSurrogates(string text)
    {
        if (!text.Any(char.IsSurrogate))
        {
            return text;
        }

        var chars = text.ToCharArray();
        for (var i = 0; i < chars.Length; i++)
        {
            if (char.IsHighSurrogate(chars[i]) && i + 1 < chars.Length && char.IsLowSurrogate(chars[i + 1]))
            {
                i++;
            }
            else if (char.IsSurrogate(chars[i]))
            {
                chars[i] = '\uFFFD';
            }
        }

        return new string(chars);
    }

    /// <summary>
    /// Chunks text given a part at a time (paragraphs of a file read as a stream), handing each chunk on as soon as it
    /// is complete, so no more than one chunk's pieces are held however long the text. Chunks overlap across parts
    /// exactly as they would within one text. Not thread-safe.
    /// </summary>
    internal sealed class ChunkStream(TextChunker chunker, Action<string> emit)
    {
        private readonly List<Piece> _current = [];
        private readonly List<Piece> _pieces = [];

        /// <summary>Adds the next text (one or more paragraphs; blank lines separate paragraphs).</summary>
        public void Add(string text)
        {
            foreach (var paragraph in Paragraphs(ReplaceLoneSurrogates(text)))
            {
                _pieces.Clear();
                chunker.AddParagraph(paragraph, _pieces);
                foreach (var piece in _pieces)
                {
                    Push(piece);
                }
            }
        }

        /// <summary>Hands on the last, partial chunk.</summary>
        public void Finish()
        {
            if (_current.Count > 0)
            {
                emit(Render(_current));
                _current.Clear();
            }
        }

        private void Push(Piece piece)
        {
            _current.Add(piece);
            if (_current.Count == 1 || chunker.Fits(Render(_current)))
            {
                // Every piece fits a window on its own, so a chunk never starts empty-handed.
                return;
            }

            _current.RemoveAt(_current.Count - 1);
            emit(Render(_current));
            var overlap = chunker.Overlap(_current[^1]);
            _current.Clear();
            if (overlap is { } carried)
            {
                _current.Add(carried);
                _current.Add(piece);
                if (!chunker.Fits(Render(_current)))
                {
                    _current.Clear();
                    _current.Add(piece);
                }
            }
            else
            {
                _current.Add(piece);
            }
        }
    }

    /// <summary>The trailing sentences of <paramref name="last"/> that fit the overlap budget, else its trailing words.</summary>
    private Piece? Overlap(Piece last)
    {
        if (Options.OverlapTokens == 0 || !last.CanOverlap)
        {
            return null;
        }

        var sentences = Sentences(last.Text).Select(s => s.Sentence).ToList();
        string? carried = null;
        for (var i = sentences.Count - 1; i >= 0; i--)
        {
            var candidate = carried is null ? sentences[i] : sentences[i] + " " + carried;
            if (candidate.Length > _maxChars || _countTokens(candidate) > Options.OverlapTokens)
            {
                break;
            }

            carried = candidate;
        }

        if (carried is null)
        {
            var words = sentences[^1].Split(' ', StringSplitOptions.RemoveEmptyEntries);
            for (var i = words.Length - 1; i >= 0; i--)
            {
                var candidate = carried is null ? words[i] : words[i] + " " + carried;
                if (candidate.Length > _maxChars || _countTokens(candidate) > Options.OverlapTokens)
                {
                    break;
                }

                carried = candidate;
            }
        }

        return carried is null ? null : new Piece(carried, Separator.Space, CanOverlap: true);
    }

    private static string Render(List<Piece> pieces)
    {
        var builder = new StringBuilder();
        for (var i = 0; i < pieces.Count; i++)
        {
            if (i > 0)
            {
                builder.Append(pieces[i].Before switch
                {
                    Separator.Paragraph => "\n\n",
                    Separator.Line => "\n",
                    Separator.Space => " ",
                    _ => string.Empty,
                });
            }

            builder.Append(pieces[i].Text);
        }

        return builder.ToString();
    }

    /// <summary>Paragraphs (split at blank lines), each line's whitespace collapsed, empty lines dropped.</summary>
    internal static IEnumerable<string> Paragraphs(string text)
    {
        var normalized = text.Replace("\r\n", "\n", StringComparison.Ordinal).Replace('\r', '\n');
        foreach (var block in BlankLines().Split(normalized))
        {
            var lines = block.Split('\n')
                .Select(line => HorizontalSpace().Replace(line, " ").Trim())
                .Where(line => line.Length > 0);
            var paragraph = string.Join('\n', lines);
            if (paragraph.Length > 0)
            {
                yield return paragraph;
            }
        }
    }

    /// <summary>Sentences of a paragraph: lines first, then sentence ends; each with the separator that preceded it.</summary>
    private static IEnumerable<(string Sentence, Separator Before)> Sentences(string paragraph)
    {
        var firstLine = true;
        foreach (var line in paragraph.Split('\n'))
        {
            var firstSentence = true;
            foreach (var sentence in SentenceEnd().Split(line))
            {
                var trimmed = sentence.Trim();
                if (trimmed.Length == 0)
                {
                    continue;
                }

                yield return (trimmed, firstSentence && !firstLine ? Separator.Line : Separator.Space);
                firstSentence = false;
            }

            firstLine = false;
        }
    }

    [GeneratedRegex(@"\n(?:[ \t\f\v\u00A0]*\n)+")]
    private static partial Regex BlankLines();

    [GeneratedRegex(@"[\s-[\n]]+")]
    private static partial Regex HorizontalSpace();

    [GeneratedRegex(@"(?<=[.!?…][""'”’)\]]*)\s+|(?<=[。！？])")]
    private static partial Regex SentenceEnd();
}
