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
        var pieces = new List<Piece>();
        foreach (var paragraph in Paragraphs(ReplaceLoneSurrogates(text)))
        {
            AddParagraph(paragraph, pieces);
        }

        return Pack(pieces);
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

            var firstWord = true;
            foreach (var word in sentence.Split(' ', StringSplitOptions.RemoveEmptyEntries))
            {
                var wordSeparator = firstWord ? separator : Separator.Space;
                firstWord = false;
                if (Fits(word))
                {
                    pieces.Add(new Piece(word, wordSeparator, CanOverlap: true));
                }
                else
                {
                    AddCharacterSlices(word, wordSeparator, pieces);
                }
            }
        }
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

    private List<string> Pack(List<Piece> pieces)
    {
        var chunks = new List<string>();
        var current = new List<Piece>();
        foreach (var piece in pieces)
        {
            current.Add(piece);
            if (current.Count == 1 || Fits(Render(current)))
            {
                // Every piece fits a window on its own, so a chunk never starts empty-handed.
                continue;
            }

            current.RemoveAt(current.Count - 1);
            chunks.Add(Render(current));
            var overlap = Overlap(current[^1]);
            current.Clear();
            if (overlap is { } carried)
            {
                current.Add(carried);
                current.Add(piece);
                if (!Fits(Render(current)))
                {
                    current.Clear();
                    current.Add(piece);
                }
            }
            else
            {
                current.Add(piece);
            }
        }

        if (current.Count > 0)
        {
            chunks.Add(Render(current));
        }

        return chunks;
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
