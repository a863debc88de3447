using System.Diagnostics;
using System.Text;
using Mmrag.Clip.Tokenization;

namespace Mmrag.Clip.Tests.Tokenization;

// Encode tokenizes only the start of a long text, segment by segment: the segments' ids must be exactly the whole
// text's ids, and a huge text must cost what its start costs.
public partial class ClipTokenizerTests
{
    [Theory]
    [MemberData(nameof(AllCases))]
    public void EncodePrefix_ReferenceCaseCutAtEveryWhitespace_GivesTheWholeTextIds(string caseId)
    {
        var c = TokenCases.Get(caseId);
        var text = c.GetProperty("text").GetString()!;

        // Segment length 1 cuts before every space, tab and newline: the hardest case for the concatenation rule.
        Assert.Equal(TokenCases.Ints(c, "ids"), OpenAi.Value.EncodePrefix(text, int.MaxValue, segmentLength: 1));
        var hf = TokenCases.IsDivergent(c) ? TokenCases.Ints(c.GetProperty("hf"), "ids") : TokenCases.Ints(c, "ids");
        Assert.Equal(hf, HuggingFace.Value.EncodePrefix(text, int.MaxValue, segmentLength: 1));
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    [InlineData(4)]
    [InlineData(5)]
    public void EncodePrefix_RandomLongTextAnySegmentLength_GivesTheWholeTextIds(int seed)
    {
        var random = new Random(seed);
        var text = RandomText(random, 6_000);
        foreach (var tokenizer in new[] { OpenAi.Value, HuggingFace.Value })
        {
            var whole = tokenizer.EncodeToIds(text);
            foreach (var segmentLength in new[] { 1, 7, 64, random.Next(1, 300), ClipTokenizer.SegmentLength })
            {
                Assert.Equal(whole, tokenizer.EncodePrefix(text, int.MaxValue, segmentLength));
            }

            // Stopping early gives the start of the same ids, at least as many as asked for.
            var prefix = tokenizer.EncodePrefix(text, 76, 16);
            Assert.True(prefix.Count >= 76);
            Assert.Equal(whole.Take(prefix.Count), prefix);
        }
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    public void Encode_RandomLongText_MatchesTruncatedWholeTextIds(int seed)
    {
        var tokenizer = OpenAi.Value;
        var text = RandomText(new Random(seed), 20_000);
        var whole = tokenizer.EncodeToIds(text);
        var tokens = tokenizer.Encode(text);

        Assert.True(tokens.Truncated);
        Assert.Equal([tokenizer.BosId, .. whole.Take(tokenizer.ContextLength - 2), tokenizer.EosId], tokens.Ids);
    }

    [Fact]
    public void Encode_EightMegabyteText_TokenizesOnlyItsStartQuickly()
    {
        var tokenizer = OpenAi.Value;
        var start = RandomText(new Random(42), 4_000);
        var builder = new StringBuilder(8 * 1024 * 1024 + start.Length).Append(start);
        var random = new Random(7);
        while (builder.Length < 8 * 1024 * 1024)
        {
            builder.Append(Words[random.Next(Words.Length)]).Append(' ');
        }

        var text = builder.ToString();
        var watch = Stopwatch.StartNew();
        var tokens = tokenizer.Encode(text);
        watch.Stop();

        // Tokenizing the whole text took ~20 s of CPU; its start takes milliseconds. The bound only proves "not whole".
        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(5), $"Encode took {watch.Elapsed}.");
        Assert.True(tokens.Truncated);
        var expected = tokenizer.EncodeToIds(start);
        Assert.Equal([tokenizer.BosId, .. expected.Take(tokenizer.ContextLength - 2), tokenizer.EosId], tokens.Ids);
    }

    [Fact]
    public void Encode_MegabyteWithoutWhitespace_FinishesWithAFullContext()
    {
        // One 1 MB "word": byte-pair merging is quadratic in a word's length, so the whole word never finished.
        var random = new Random(3);
        var text = string.Create(1024 * 1024, random, static (span, r) =>
        {
            for (var i = 0; i < span.Length; i++)
            {
                span[i] = (char)('a' + r.Next(26));
            }
        });

        var watch = Stopwatch.StartNew();
        var tokens = OpenAi.Value.Encode(text);
        watch.Stop();

        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(20), $"Encode took {watch.Elapsed}.");
        Assert.True(tokens.Truncated);
        Assert.Equal(OpenAi.Value.ContextLength, tokens.Length);
    }

    private static readonly string[] Words =
    [
        "a", "photo", "of", "the", "cat", "Σ", "ΟΔΟΣ", "naïve", "café", "e\u0301", "İstanbul", "don’t", "I'll", "ﬁne",
        "ＡＢＣ１２３", "&amp;", "&amp;amp;", "&#32;", "&#x41;", "&lt;b&gt;", "&am", "&", "&#", "&#12", "&notit;", "&frac12",
        "2023", "3.14", "<|endoftext|>", "<|startoftext|>", "🐈‍⬛", "👍🏽", "🇫🇷", "中文字符", "𠀀𠀁", "—", "...", "!!", "'s", "'S",
        "Σ'", "ΑΣ'Σ", "x\u0301\u0300", "\u0301", "http://example.com/a?b=c", "x@y.z", "tab\there",
    ];

    private static readonly string[] Spaces = [" ", " ", " ", "  ", "\t", "\n", "\r\n", "\r", "\u00A0", "\u3000", "\u2003", "\u2028", "\f", "\v", "\u001C", ""];

    /// <summary>Words and fixture fragments (entities, sigmas, combining marks, specials) joined by assorted whitespace.</summary>
    private static string RandomText(Random random, int length)
    {
        var builder = new StringBuilder(length + 64);
        while (builder.Length < length)
        {
            builder.Append(Words[random.Next(Words.Length)]).Append(Spaces[random.Next(Spaces.Length)]);
        }

        return builder.ToString();
    }
}
