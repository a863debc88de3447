using Mmrag.Knowledge;
using Mmrag.Retrieval.Scoring;

namespace Mmrag.Retrieval.Tests.Scoring;

public sealed class KeywordEvidenceTests
{
    private static KnowledgeItem Item(string text, string? title = null) => new()
    {
        Id = text,
        DocumentId = "doc",
        Kind = ItemKind.Image,
        ContentHash = text,
        Text = text,
        Description = text,
        Provenance = new Provenance("/kb/item.png", DocumentTitle: title),
    };

    [Fact]
    public void Measure_ItemHoldingTheQueryPhrase_IsOne_AndTheWordsApart_IsZero()
    {
        var phrase = Item("A red circle on gray.");
        var apart = Item("A red square beside a blue circle.");
        var evidence = KeywordEvidence.Create("an image of a red circle", [phrase, apart])!;

        // Known words: red, circle ("image" is in no candidate). One adjacent pair: red circle.
        Assert.Equal(1.0, evidence.Measure(phrase));
        Assert.Equal(0.0, evidence.Measure(apart));
    }

    [Fact]
    public void Measure_ItemMissingAKnownWord_ScoresTheShareItHolds()
    {
        var redStar = Item("The red star marks a reward.");
        var greenTriangle = Item("The green triangle marks a shortcut.");
        var evidence = KeywordEvidence.Create("what does the red triangle mean?", [redStar, greenTriangle])!;

        // Known: red, triangle ("mean" is in neither; "what does the" are stop words). Each holds one of the two, and
        // neither holds the pair "red triangle".
        Assert.Equal(0.0, evidence.Measure(redStar));
        Assert.Equal(0.0, evidence.Measure(greenTriangle));
        var bothApart = Item("A red square and a triangle.");
        Assert.Equal(0.0, KeywordEvidence.Create("red triangle", [bothApart])!.Measure(bothApart));
        // Without an adjacent pair in the query, the share of known words held is the evidence.
        Assert.Equal(0.5, KeywordEvidence.Create("red or triangles", [redStar, greenTriangle])!.Measure(redStar));
    }

    [Fact]
    public void Measure_QueryWithoutAdjacentKnownWords_IsTheShareOfKnownWordsHeld()
    {
        var item = Item("Circles drawn in red on the board.");
        var other = Item("A blue star.");
        var evidence = KeywordEvidence.Create("circles and stars and red", [item, other])!;

        // Known: circle, star (plurals folded), red; no two of them adjacent in the query.
        Assert.Equal(2.0 / 3, evidence.Measure(item)!.Value, 12);
        Assert.Equal(1.0 / 3, evidence.Measure(other)!.Value, 12);
    }

    [Fact]
    public void Create_QueryWhoseWordsNoCandidateHolds_HasNoEvidence()
    {
        Assert.Null(KeywordEvidence.Create("quantum chromodynamics", [Item("A red circle.")]));
        Assert.Null(KeywordEvidence.Create("what is the", [Item("what is the red circle")]));
    }

    [Fact]
    public void Measure_ItemWithNoWords_HasNoEvidence_AndTheTitleCounts()
    {
        var evidence = KeywordEvidence.Create("green cross rules", [Item("", title: "The green cross")])!;

        Assert.Null(evidence.Measure(Item("")));
        Assert.Equal(1.0, evidence.Measure(Item("bars of equal length", title: "The green cross")));
    }

    [Fact]
    public void Create_HugeQuery_KeepsOnlyItsFirst64ContentWords()
    {
        var item = Item("A red circle.");
        var filler = string.Join(' ', Enumerable.Range(0, 20_000).Select(i => $"w{i}"));

        // "red" comes after 20,000 content words: past the bound, so no known word is left.
        Assert.Null(KeywordEvidence.Create(filler + " red", [item]));
        Assert.Equal(1.0, KeywordEvidence.Create("red " + filler, [item])!.Measure(item));
    }

    [Fact]
    public void CreateAndMeasure_ManyWordyCandidates_AllocateNoStringPerCandidateWord()
    {
        var candidates = Enumerable.Range(0, 500)
            .Select(i => Item($"A red circle number {i} drawn beside a blue square on gray paper, with several other shapes around it."))
            .ToArray();
        CreateAndMeasure(candidates); // compiled and warmed up first

        var before = GC.GetAllocatedBytesForCurrentThread();
        var measured = CreateAndMeasure(candidates);
        var allocated = GC.GetAllocatedBytesForCurrentThread() - before;

        Assert.Equal(1.0, measured);
        // A string per word of every candidate (19 words) took well over 1 KB a candidate; what a candidate needs now is
        // its entry in one dictionary.
        Assert.True(allocated < 200 * candidates.Length, $"{allocated} bytes allocated for {candidates.Length} candidates");
    }

    private static double CreateAndMeasure(KnowledgeItem[] candidates)
    {
        var evidence = KeywordEvidence.Create("an image of a red circle", candidates)!;
        var least = 1.0;
        foreach (var candidate in candidates)
        {
            least = Math.Min(least, evidence.Measure(candidate)!.Value);
        }

        return least;
    }
}
