using System.Text;
using Mmrag.Ingestion.Chunking;
using Mmrag.Ingestion.Tests.Support;
using Mmrag.Knowledge;

namespace Mmrag.Ingestion.Tests.Chunking;

public sealed class TextChunkerTests
{
    // CLIP's window, counting the start and end tokens the text tower adds.
    private const int ClipWindow = 77;

    private static readonly string[] Topics =
    [
        "foxes", "otters", "lighthouses", "glaciers", "volcanoes", "harbours", "orchards", "comets", "bridges", "deserts",
    ];

    private static readonly TextChunker Chunker = new(Fixtures.CountTokens);

    private static int WithStartAndEnd(string text) => Fixtures.CountTokens(text) + 2;

    /// <summary>Paragraphs of numbered sentences of varying length; every sentence is unique.</summary>
    private static string Essay(int paragraphs, int sentencesPerParagraph, int seed)
    {
        var random = new Random(seed);
        var text = new StringBuilder();
        var number = 0;
        for (var p = 0; p < paragraphs; p++)
        {
            for (var s = 0; s < sentencesPerParagraph; s++)
            {
                var topic = Topics[random.Next(Topics.Length)];
                var words = string.Join(' ', Enumerable.Range(0, random.Next(3, 14)).Select(_ => Topics[random.Next(Topics.Length)]));
                text.Append($"Sentence {number++} is about {topic} and mentions {words}. ");
            }

            text.Append("\n\n");
        }

        return text.ToString();
    }

    [Fact]
    public void Split_LongTextWithRealTokenizer_EveryChunkFitsClipWindow()
    {
        var chunks = Chunker.Split(Essay(paragraphs: 12, sentencesPerParagraph: 9, seed: 1));

        Assert.True(chunks.Count > 10);
        Assert.All(chunks, chunk => Assert.InRange(WithStartAndEnd(chunk), 3, ClipWindow));
        Assert.All(chunks, chunk => Assert.True(Fixtures.CountTokens(chunk) <= Chunker.Options.MaxTokens, chunk));
    }

    [Fact]
    public void Split_ShortSentences_NextChunkStartsWithThePreviousLastSentence()
    {
        var text = string.Join(' ', Enumerable.Range(0, 40).Select(i => $"Fact {i} concerns {Topics[i % Topics.Length]}."));

        var chunks = Chunker.Split(text);

        Assert.True(chunks.Count >= 3);
        for (var i = 1; i < chunks.Count; i++)
        {
            var previousLastSentence = "Fact " + chunks[i - 1].Split("Fact ").Last().Trim();
            Assert.StartsWith(previousLastSentence + " ", chunks[i], StringComparison.Ordinal);
        }
    }

    [Fact]
    public void Split_LongSentences_NextChunkStartsWithTrailingWordsWithinTheOverlapBudget()
    {
        var chunks = Chunker.Split(Essay(paragraphs: 1, sentencesPerParagraph: 30, seed: 2));

        Assert.True(chunks.Count >= 3);
        for (var i = 1; i < chunks.Count; i++)
        {
            var previous = chunks[i - 1].Split(' ');
            var current = chunks[i].Split(' ');
            var shared = Enumerable.Range(1, Math.Min(previous.Length, current.Length))
                .Last(k => k == 1 || previous[^k..].SequenceEqual(current[..k]));
            Assert.True(previous[^shared..].SequenceEqual(current[..shared]), $"chunk {i} does not start with the end of chunk {i - 1}");
            Assert.InRange(Fixtures.CountTokens(string.Join(' ', current[..shared])), 1, Chunker.Options.OverlapTokens);
        }
    }

    [Fact]
    public void Split_LongText_KeepsEverySentence()
    {
        var text = Essay(paragraphs: 6, sentencesPerParagraph: 7, seed: 3);
        var chunks = Chunker.Split(text);

        var sentences = text.Split(". ", StringSplitOptions.RemoveEmptyEntries).Select(s => s.Trim().TrimEnd('.')).Where(s => s.Length > 0);
        var all = string.Join("\n", chunks);
        Assert.All(sentences, sentence => Assert.Contains(sentence, all, StringComparison.Ordinal));
    }

    [Fact]
    public void Split_ParagraphThatFitsAWindow_IsNeverCutInHalf()
    {
        var first = "Foxes are small omnivores. " + string.Join(' ', Enumerable.Repeat("They hunt at dusk.", 6));
        var second = "Otters live by rivers and eat fish. " + string.Join(' ', Enumerable.Repeat("They float on their backs.", 5));
        Assert.True(Fixtures.CountTokens(first) <= 60 && Fixtures.CountTokens(second) <= 60);
        Assert.True(Fixtures.CountTokens(first + "\n\n" + second) > 60);

        var chunks = Chunker.Split(first + "\n\n" + second);

        Assert.Equal(2, chunks.Count);
        Assert.Equal(first, chunks[0]);
        Assert.EndsWith(second, chunks[1], StringComparison.Ordinal);
    }

    [Fact]
    public void Split_ShortParagraphs_AreMergedIntoOneChunk()
    {
        var chunks = Chunker.Split("First line.\r\n\r\nSecond   paragraph\there.\n\n\n  Third.  ");

        var chunk = Assert.Single(chunks);
        Assert.Equal("First line.\n\nSecond paragraph here.\n\nThird.", chunk);
    }

    [Theory]
    [InlineData("")]
    [InlineData("   \n\n \t ")]
    public void Split_BlankText_ReturnsNoChunks(string text) => Assert.Empty(Chunker.Split(text));

    [Fact]
    public void Split_TenThousandCharactersWithoutSpaces_SplitsByCharactersWithinTheWindow()
    {
        var random = new Random(4);
        var blob = new string(Enumerable.Range(0, 10_000).Select(_ => (char)('a' + random.Next(26))).ToArray());

        var chunks = Chunker.Split(blob);

        Assert.True(chunks.Count > 10);
        Assert.All(chunks, chunk => Assert.InRange(WithStartAndEnd(chunk), 3, ClipWindow));
        Assert.Equal(blob, string.Concat(chunks));
    }

    [Fact]
    public void Split_VeryLongSentence_SplitsByWordsWithinTheWindow()
    {
        var sentence = string.Join(' ', Enumerable.Range(0, 400).Select(i => Topics[i % Topics.Length] + i));

        var chunks = Chunker.Split(sentence);

        Assert.True(chunks.Count > 5);
        Assert.All(chunks, chunk => Assert.InRange(WithStartAndEnd(chunk), 3, ClipWindow));
        Assert.All(Enumerable.Range(0, 400), i => Assert.Contains(chunks, c => c.Split(' ').Contains(Topics[i % Topics.Length] + i)));
    }

    [Fact]
    public void Split_EmojiBlob_NeverCutsASurrogatePair()
    {
        var blob = string.Concat(Enumerable.Repeat("🦊🌋", 400));

        var chunks = Chunker.Split(blob);

        Assert.All(chunks, chunk => Assert.False(char.IsHighSurrogate(chunk[^1]) || char.IsLowSurrogate(chunk[0]), chunk));
        Assert.All(chunks, chunk => Assert.InRange(WithStartAndEnd(chunk), 3, ClipWindow));
        Assert.Equal(blob, string.Concat(chunks));
    }

    [Fact]
    public void Chunk_WithProvenance_KeepsTitleSectionPageAndCountsPositionsUp()
    {
        var provenance = new Provenance("/docs/guide.pdf", DocumentTitle: "Guide", Page: 3, Section: "History › Early years", Position: 5);

        var items = Chunker.Chunk(Essay(paragraphs: 3, sentencesPerParagraph: 8, seed: 5), provenance);

        Assert.True(items.Count > 2);
        Assert.All(items, item =>
        {
            Assert.Equal(ItemKind.TextChunk, item.Kind);
            Assert.Equal("/docs/guide.pdf", item.Provenance.SourcePath);
            Assert.Equal("Guide", item.Provenance.DocumentTitle);
            Assert.Equal(3, item.Provenance.Page);
            Assert.Equal("History › Early years", item.Provenance.Section);
        });
        Assert.Equal(Enumerable.Range(5, items.Count), items.Select(i => i.Provenance.Position));
    }

    [Fact]
    public void Split_NoOverlapOption_ChunksDoNotRepeatText()
    {
        var chunker = new TextChunker(Fixtures.CountTokens, new TextChunkerOptions { OverlapTokens = 0 });
        var text = Essay(paragraphs: 1, sentencesPerParagraph: 20, seed: 6);

        var chunks = chunker.Split(text);

        Assert.Equal(text.Trim(), string.Join(" ", chunks));
    }

    [Theory]
    [InlineData(3, 0)]
    [InlineData(60, 31)]
    [InlineData(60, -1)]
    public void Constructor_OptionsOutOfRange_ThrowsNamingTheSetting(int maxTokens, int overlapTokens)
    {
        var error = Assert.Throws<ArgumentOutOfRangeException>(() =>
            new TextChunker(Fixtures.CountTokens, new TextChunkerOptions { MaxTokens = maxTokens, OverlapTokens = overlapTokens }));
        Assert.Contains("TextChunkerOptions.", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void ChunkStream_TextGivenParagraphByParagraph_SameChunksAsSplittingItWhole()
    {
        var text = string.Join("\n\n", Enumerable.Range(0, 12).Select(i => Essay(paragraphs: 1, sentencesPerParagraph: 3 + (i % 5), seed: i)));
        var streamed = new List<string>();
        var stream = new TextChunker.ChunkStream(Chunker, streamed.Add);

        foreach (var paragraph in text.Split("\n\n"))
        {
            stream.Add(paragraph);
        }

        stream.Finish();

        Assert.Equal(Chunker.Split(text), streamed);
    }

    [Fact]
    public async Task Split_SixtyThousandWordsWithoutSentenceEnds_QuickAndWithinTheWindow()
    {
        // Packed word by word, every word re-tokenized the growing chunk: ~30 ms a chunk, most of a minute here.
        var line = string.Join(' ', Enumerable.Range(0, 60_000).Select(i => Topics[i % Topics.Length]));

        var chunks = await Task.Run(() => Chunker.Split(line)).WaitAsync(TimeSpan.FromSeconds(20));

        Assert.All(chunks, chunk => Assert.InRange(WithStartAndEnd(chunk), 3, ClipWindow));
        Assert.Equal(60_000, chunks.Sum(c => c.Split(' ').Length) - OverlapWords(chunks));
    }

    private static int OverlapWords(IReadOnlyList<string> chunks)
    {
        var shared = 0;
        for (var i = 1; i < chunks.Count; i++)
        {
            var previous = chunks[i - 1].Split(' ');
            var current = chunks[i].Split(' ');
            shared += Enumerable.Range(0, Math.Min(previous.Length, current.Length) + 1)
                .Last(k => previous[^k..].SequenceEqual(current[..k]) && k <= Chunker.Options.OverlapTokens);
        }

        return shared;
    }
}
