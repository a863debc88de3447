using System.Collections.Concurrent;
using System.Text;

namespace Mmrag.Clip.Tokenization;

/// <summary>
/// CLIP's byte-level BPE over integer symbols: every UTF-8 byte starts as its base token (the GPT-2
/// byte-to-unicode alphabet), the last byte of a word as its <c>&lt;/w&gt;</c> variant, and the lowest-ranked
/// adjacent pair is merged everywhere until no ranked pair is left. Results are cached per word.
/// Thread-safe.
/// </summary>
internal sealed class BytePairEncoder
{
    private const int CacheLimit = 200_000;

    private readonly int[] _byteToken = new int[256];
    private readonly int[] _byteTokenEndOfWord = new int[256];
    private readonly Dictionary<long, Merge> _merges;
    private readonly ConcurrentDictionary<string, int[]> _cache = new(StringComparer.Ordinal);

    private readonly record struct Merge(int Rank, int Token);

    public BytePairEncoder(IReadOnlyDictionary<string, int> vocabulary, IReadOnlyList<(string Left, string Right)> merges, string sourceName)
    {
        var alphabet = ByteToUnicode();
        for (var b = 0; b < 256; b++)
        {
            var symbol = alphabet[b].ToString();
            _byteToken[b] = Lookup(vocabulary, symbol, sourceName);
            _byteTokenEndOfWord[b] = Lookup(vocabulary, symbol + "</w>", sourceName);
        }

        _merges = new Dictionary<long, Merge>(merges.Count);
        for (var rank = 0; rank < merges.Count; rank++)
        {
            var (left, right) = merges[rank];
            if (!vocabulary.TryGetValue(left, out var leftId) || !vocabulary.TryGetValue(right, out var rightId)
                || !vocabulary.TryGetValue(left + right, out var mergedId))
            {
                throw new ClipModelException($"{sourceName}: merge {rank + 1} '{left} {right}' uses a token that is not in the vocabulary.");
            }

            // The first occurrence of a pair defines its rank, as in the reference's dict(zip(merges, range(...))).
            _merges.TryAdd(Key(leftId, rightId), new Merge(rank, mergedId));
        }
    }

    /// <summary>Appends the token ids of one pre-tokenized word.</summary>
    public void Encode(ReadOnlySpan<char> word, List<int> output)
    {
        var key = word.ToString();
        if (_cache.TryGetValue(key, out var cached))
        {
            output.AddRange(cached);
            return;
        }

        var tokens = EncodeUncached(key);
        if (_cache.Count >= CacheLimit)
        {
            _cache.Clear();
        }

        _cache.TryAdd(key, tokens);
        output.AddRange(tokens);
    }

    private int[] EncodeUncached(string word)
    {
        var byteCount = Encoding.UTF8.GetByteCount(word);
        Span<byte> bytes = byteCount <= 256 ? stackalloc byte[byteCount] : new byte[byteCount];
        Encoding.UTF8.GetBytes(word, bytes);

        var symbols = new List<int>(byteCount);
        for (var i = 0; i < bytes.Length; i++)
        {
            symbols.Add(i == bytes.Length - 1 ? _byteTokenEndOfWord[bytes[i]] : _byteToken[bytes[i]]);
        }

        while (symbols.Count > 1)
        {
            var best = new Merge(int.MaxValue, -1);
            long bestKey = 0;
            for (var i = 0; i < symbols.Count - 1; i++)
            {
                var pair = Key(symbols[i], symbols[i + 1]);
                if (_merges.TryGetValue(pair, out var merge) && merge.Rank < best.Rank)
                {
                    best = merge;
                    bestKey = pair;
                }
            }

            if (best.Token < 0)
            {
                break;
            }

            // Merge every non-overlapping occurrence, left to right, as the reference does.
            var write = 0;
            for (var read = 0; read < symbols.Count; write++)
            {
                if (read < symbols.Count - 1 && Key(symbols[read], symbols[read + 1]) == bestKey)
                {
                    symbols[write] = best.Token;
                    read += 2;
                }
                else
                {
                    symbols[write] = symbols[read];
                    read++;
                }
            }

            symbols.RemoveRange(write, symbols.Count - write);
        }

        return [.. symbols];
    }

    private static long Key(int left, int right) => ((long)left << 32) | (uint)right;

    private static int Lookup(IReadOnlyDictionary<string, int> vocabulary, string symbol, string sourceName) =>
        vocabulary.TryGetValue(symbol, out var id)
            ? id
            : throw new ClipModelException($"{sourceName}: the byte-level symbol '{symbol}' is missing; this is not a CLIP byte-level BPE vocabulary.");

    /// <summary>GPT-2's reversible byte → printable character table.</summary>
    internal static char[] ByteToUnicode()
    {
        var table = new char[256];
        var next = 256;
        for (var b = 0; b < 256; b++)
        {
            var printable = b is >= '!' and <= '~' or >= 0xA1 and <= 0xAC or >= 0xAE and <= 0xFF;
            table[b] = printable ? (char)b : (char)next++;
        }

        return table;
    }
}
