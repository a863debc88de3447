using System.Runtime.InteropServices;
using System.Text.Json;

namespace Mmrag.Clip.Tokenization;

/// <summary>Options for <see cref="ClipTokenizer"/>.</summary>
public sealed record ClipTokenizerOptions
{
    /// <summary>Which reference to reproduce where openai's tokenizer and <c>tokenizer.json</c> disagree. Default: openai's, which the model was trained with.</summary>
    public ClipTokenizerFlavor Flavor { get; init; } = ClipTokenizerFlavor.OpenAi;

    /// <summary>Overrides the context length read from the model files.</summary>
    public int? ContextLength { get; init; }
}

/// <summary>One text as the model sees it: <c>[bos] ids… [eos]</c>, truncated to the context length with eos kept last.</summary>
/// <param name="Ids">bos, the BPE ids, eos; no padding.</param>
/// <param name="Truncated">Whether ids were cut to fit the context.</param>
public sealed record ClipTokens(int[] Ids, bool Truncated)
{
    /// <summary>Number of real tokens, bos and eos included.</summary>
    public int Length => Ids.Length;
}

/// <summary>
/// CLIP's byte-level BPE tokenizer, loaded from a HuggingFace model folder (<c>vocab.json</c> + <c>merges.txt</c>,
/// or <c>tokenizer.json</c>). Special ids and the context length come from the files. Thread-safe.
/// </summary>
public sealed class ClipTokenizer
{
    private const string DefaultBos = "<|startoftext|>";
    private const string DefaultEos = "<|endoftext|>";

    private readonly BytePairEncoder _encoder;
    private readonly ClipTokenizerFlavor _flavor;
    private readonly string[] _specialTokens;
    private readonly Dictionary<string, int> _specialIds;

    private ClipTokenizer(BytePairEncoder encoder, ClipTokenizerFlavor flavor, Dictionary<string, int> specialIds,
        int bosId, int eosId, int padId, int contextLength, int vocabularySize)
    {
        _encoder = encoder;
        _flavor = flavor;
        _specialIds = specialIds;
        _specialTokens = [.. specialIds.Keys.OrderByDescending(static s => s.Length)];
        BosId = bosId;
        EosId = eosId;
        PadId = padId;
        ContextLength = contextLength;
        VocabularySize = vocabularySize;
    }

    /// <summary>Id of <c>&lt;|startoftext|&gt;</c>.</summary>
    public int BosId { get; }

    /// <summary>Id of <c>&lt;|endoftext|&gt;</c>; the text tower pools at its first occurrence.</summary>
    public int EosId { get; }

    /// <summary>Padding id (HF pads with eos).</summary>
    public int PadId { get; }

    /// <summary>Maximum tokens per text, bos and eos included (77 for CLIP).</summary>
    public int ContextLength { get; }

    /// <summary>Number of entries in the vocabulary.</summary>
    public int VocabularySize { get; }

    /// <summary>The flavour this tokenizer reproduces.</summary>
    public ClipTokenizerFlavor Flavor => _flavor;

    /// <summary>
    /// Loads the tokenizer of a model folder. <paramref name="defaultContextLength"/> (usually the text model's
    /// <c>max_position_embeddings</c>) caps the context length when <c>tokenizer_config.json</c> does not give a smaller one.
    /// </summary>
    public static ClipTokenizer Load(string modelDirectory, ClipTokenizerOptions? options = null, int? defaultContextLength = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(modelDirectory);
        options ??= new ClipTokenizerOptions();

        var vocabPath = Path.Combine(modelDirectory, "vocab.json");
        var mergesPath = Path.Combine(modelDirectory, "merges.txt");
        var tokenizerJsonPath = Path.Combine(modelDirectory, "tokenizer.json");

        Dictionary<string, int> vocabulary;
        List<(string, string)> merges;
        string source;
        var addedTokens = new Dictionary<string, int>(StringComparer.Ordinal);
        if (File.Exists(vocabPath) && File.Exists(mergesPath))
        {
            vocabulary = ReadVocabulary(vocabPath);
            merges = ReadMergesText(mergesPath);
            source = mergesPath;
            if (File.Exists(tokenizerJsonPath))
            {
                ReadTokenizerJson(tokenizerJsonPath, addedTokens, vocabularyOut: null, mergesOut: null);
            }
        }
        else if (File.Exists(tokenizerJsonPath))
        {
            vocabulary = new Dictionary<string, int>(StringComparer.Ordinal);
            merges = [];
            ReadTokenizerJson(tokenizerJsonPath, addedTokens, vocabulary, merges);
            source = tokenizerJsonPath;
        }
        else
        {
            throw new ClipModelException(
                $"No tokenizer in '{modelDirectory}': expected vocab.json and merges.txt, or tokenizer.json (CLIP byte-level BPE, HuggingFace format).");
        }

        var config = TokenizerConfig.Read(modelDirectory);
        var bosToken = config.BosToken ?? DefaultBos;
        var eosToken = config.EosToken ?? DefaultEos;
        var padToken = config.PadToken ?? eosToken;

        var specialIds = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var token in new[] { bosToken, eosToken, padToken }.Concat(addedTokens.Keys))
        {
            if (specialIds.ContainsKey(token))
            {
                continue;
            }

            if (addedTokens.TryGetValue(token, out var id) || vocabulary.TryGetValue(token, out id))
            {
                specialIds[token] = id;
            }
            else
            {
                throw new ClipModelException($"{source}: the special token '{token}' (from tokenizer_config.json) is not in the vocabulary.");
            }
        }

        // Special tokens are matched in the lower-cased text, as the reference matches them after .lower().
        foreach (var token in specialIds.Keys.ToArray())
        {
            specialIds.TryAdd(token.ToLowerInvariant(), specialIds[token]);
        }

        var contextLength = options.ContextLength
            ?? Min(config.ModelMaxLength, defaultContextLength)
            ?? throw new ClipModelException(
                $"{Path.Combine(modelDirectory, "tokenizer_config.json")}: no context length (model_max_length) and none given by config.json.");
        if (contextLength < 2)
        {
            throw new ClipModelException($"Context length {contextLength} is too small: it must hold at least the start and end tokens.");
        }

        var encoder = new BytePairEncoder(vocabulary, merges, source);
        return new ClipTokenizer(encoder, options.Flavor, specialIds, specialIds[bosToken], specialIds[eosToken], specialIds[padToken],
            contextLength, Math.Max(vocabulary.Count, addedTokens.Count == 0 ? 0 : addedTokens.Values.Max() + 1));
    }

    /// <summary>The BPE ids of <paramref name="text"/>, without bos/eos and without truncation.</summary>
    public int[] EncodeToIds(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var ids = new List<int>();
        EncodeSegment(text, ids);
        return [.. ids];
    }

    /// <summary><c>[bos] ids [eos]</c>, with ids cut so the whole fits the context length (eos stays last).</summary>
    /// <remarks>
    /// Only as much of <paramref name="text"/> is tokenized as the context needs (plus one id, to know it was cut),
    /// so an 8 MB query costs what its first few hundred characters cost. The ids are those of the whole text.
    /// </remarks>
    public ClipTokens Encode(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var room = ContextLength - 2;
        var ids = EncodePrefix(text, room + 1, SegmentLength);
        var truncated = ids.Count > room;
        var length = Math.Min(ids.Count, room);
        var result = new int[length + 2];
        result[0] = BosId;
        CollectionsMarshal.AsSpan(ids)[..length].CopyTo(result.AsSpan(1));
        result[^1] = EosId;
        return new ClipTokens(result, truncated);
    }

    /// <summary>Characters tokenized per step by <see cref="Encode"/> (a step ends at the next cut point after this many).</summary>
    internal const int SegmentLength = 512;

    /// <summary>
    /// A run this long without a safe cut point (ASCII space, tab or newline) is cut where it is. Byte-pair merging is
    /// quadratic in a word's length, so this also bounds the cost of a text that is one giant "word".
    /// </summary>
    internal const int MaxSegmentLength = 2048;

    /// <summary>
    /// The ids of <paramref name="text"/> up to at least <paramref name="wanted"/> of them (all when the text has fewer),
    /// tokenizing segment by segment. Segments end just before an ASCII space, tab or newline, where the whole text's
    /// ids are exactly the concatenation of the segments' ids: NFC never composes across an ASCII character, ftfy's
    /// fixes are per character, an HTML entity ends at space/tab/newline (in both unescape passes, which keep that
    /// character in place), whitespace yields no ids, a final-sigma test sees "end" and "space" alike, and no
    /// pre-token or special token spans whitespace. Only a run of <see cref="MaxSegmentLength"/> characters without
    /// such a character is cut inside; that can change ids next to the cut (a word spanning it, an entity cut in two,
    /// a capital sigma followed by case-ignorable characters up to it), which matter only when the run's first ids
    /// come from a single word of thousands of characters.
    /// </summary>
    internal List<int> EncodePrefix(string text, int wanted, int segmentLength)
    {
        var ids = new List<int>(Math.Min(wanted, 1024));
        for (var start = 0; start < text.Length && ids.Count < wanted;)
        {
            var end = NextCut(text, start, segmentLength);
            EncodeSegment(start == 0 && end == text.Length ? text : text[start..end], ids);
            start = end;
        }

        return ids;
    }

    private static int NextCut(string text, int start, int segmentLength)
    {
        var from = start + segmentLength;
        if (from >= text.Length)
        {
            return text.Length;
        }

        var limit = Math.Min(text.Length, start + Math.Max(segmentLength, MaxSegmentLength));
        var cut = text.AsSpan(from, limit - from).IndexOfAny(' ', '\t', '\n');
        if (cut >= 0)
        {
            return from + cut;
        }

        if (limit == text.Length)
        {
            return limit;
        }

        // No safe cut point: never split a surrogate pair, at least.
        return char.IsLowSurrogate(text[limit]) ? limit + 1 : limit;
    }

    private void EncodeSegment(string text, List<int> ids)
    {
        var normalized = ClipTextNormalizer.Normalize(text, _flavor);
        var pieces = new List<ClipPreTokenizer.Piece>();
        ClipPreTokenizer.Split(normalized, _specialTokens, pieces);
        foreach (var piece in pieces)
        {
            var span = normalized.AsSpan(piece.Start, piece.Length);
            if (piece.IsSpecial)
            {
                ids.Add(_specialIds[span.ToString()]);
            }
            else
            {
                _encoder.Encode(span, ids);
            }
        }
    }

    /// <summary>Writes <paramref name="tokens"/> padded to <paramref name="inputIds"/>'s length, and its attention mask.</summary>
    public void WriteModelInput(ClipTokens tokens, Span<long> inputIds, Span<long> attentionMask)
    {
        ArgumentNullException.ThrowIfNull(tokens);
        if (inputIds.Length < tokens.Length || attentionMask.Length != inputIds.Length)
        {
            throw new ArgumentException($"Model input of length {inputIds.Length} cannot hold {tokens.Length} tokens.", nameof(inputIds));
        }

        for (var i = 0; i < inputIds.Length; i++)
        {
            var real = i < tokens.Length;
            inputIds[i] = real ? tokens.Ids[i] : PadId;
            attentionMask[i] = real ? 1 : 0;
        }
    }

    private static int? Min(int? a, int? b) => (a, b) switch
    {
        (null, _) => b,
        (_, null) => a,
        _ => Math.Min(a.Value, b.Value),
    };

    private static Dictionary<string, int> ReadVocabulary(string path)
    {
        try
        {
            using var stream = File.OpenRead(path);
            return JsonSerializer.Deserialize<Dictionary<string, int>>(stream)
                ?? throw new ClipModelException($"{path}: expected a JSON object of token → id, found null.");
        }
        catch (JsonException exception)
        {
            throw new ClipModelException($"{path}: expected a JSON object of token → id ({exception.Message}).", exception);
        }
    }

    private static List<(string, string)> ReadMergesText(string path)
    {
        var merges = new List<(string, string)>(49_000);
        var lineNumber = 0;
        foreach (var line in File.ReadLines(path))
        {
            lineNumber++;
            if (line.Length == 0 || (lineNumber == 1 && line.StartsWith("#version", StringComparison.Ordinal)))
            {
                continue;
            }

            var space = line.IndexOf(' ', StringComparison.Ordinal);
            if (space <= 0 || space == line.Length - 1 || line.IndexOf(' ', space + 1) >= 0)
            {
                throw new ClipModelException($"{path}:{lineNumber}: expected a merge 'left right', found '{line}'.");
            }

            merges.Add((line[..space], line[(space + 1)..]));
        }

        return merges;
    }

    private static void ReadTokenizerJson(string path, Dictionary<string, int> addedTokens,
        Dictionary<string, int>? vocabularyOut, List<(string, string)>? mergesOut)
    {
        try
        {
            using var stream = File.OpenRead(path);
            using var document = JsonDocument.Parse(stream);
            var root = document.RootElement;
            if (root.TryGetProperty("added_tokens", out var added) && added.ValueKind == JsonValueKind.Array)
            {
                foreach (var token in added.EnumerateArray())
                {
                    addedTokens[token.GetProperty("content").GetString()!] = token.GetProperty("id").GetInt32();
                }
            }

            if (vocabularyOut is null || mergesOut is null)
            {
                return;
            }

            var model = root.GetProperty("model");
            var type = model.TryGetProperty("type", out var typeElement) ? typeElement.GetString() : "BPE";
            if (type != "BPE")
            {
                throw new ClipModelException($"{path}: expected a BPE model, found '{type}'.");
            }

            foreach (var entry in model.GetProperty("vocab").EnumerateObject())
            {
                vocabularyOut[entry.Name] = entry.Value.GetInt32();
            }

            foreach (var merge in model.GetProperty("merges").EnumerateArray())
            {
                if (merge.ValueKind == JsonValueKind.Array)
                {
                    mergesOut.Add((merge[0].GetString()!, merge[1].GetString()!));
                }
                else
                {
                    var text = merge.GetString()!;
                    var space = text.IndexOf(' ', StringComparison.Ordinal);
                    mergesOut.Add((text[..space], text[(space + 1)..]));
                }
            }
        }
        catch (Exception exception) when (exception is JsonException or KeyNotFoundException or InvalidOperationException or ArgumentOutOfRangeException)
        {
            throw new ClipModelException($"{path}: not a HuggingFace tokenizer.json with a BPE model ({exception.Message}).", exception);
        }
    }

    private sealed record TokenizerConfig(string? BosToken, string? EosToken, string? PadToken, int? ModelMaxLength)
    {
        public static TokenizerConfig Read(string modelDirectory)
        {
            var path = Path.Combine(modelDirectory, "tokenizer_config.json");
            if (!File.Exists(path))
            {
                return new TokenizerConfig(null, null, null, null);
            }

            try
            {
                using var document = JsonDocument.Parse(File.ReadAllBytes(path));
                var root = document.RootElement;
                int? maxLength = null;
                if (root.TryGetProperty("model_max_length", out var max) && max.ValueKind == JsonValueKind.Number)
                {
                    // Some repos write 1e30 for "unlimited"; only a sane value is a limit.
                    var value = max.GetDouble();
                    maxLength = value is > 0 and < 1_000_000 ? (int)value : null;
                }

                return new TokenizerConfig(TokenName(root, "bos_token"), TokenName(root, "eos_token"), TokenName(root, "pad_token"), maxLength);
            }
            catch (JsonException exception)
            {
                throw new ClipModelException($"{path}: not valid JSON ({exception.Message}).", exception);
            }
        }

        private static string? TokenName(JsonElement root, string property) =>
            !root.TryGetProperty(property, out var value) ? null
            : value.ValueKind == JsonValueKind.String ? value.GetString()
            : value.ValueKind == JsonValueKind.Object && value.TryGetProperty("content", out var content) ? content.GetString()
            : null;
    }
}
