using Mmrag.Answering.Citations;
using Mmrag.Knowledge;

namespace Mmrag.Answering.Tests.Citations;

public sealed class CitationParserTests
{
    [Theory]
    [InlineData("Plain text.", new int[0])]
    [InlineData("It holds 1.7 L [1].", new[] { 1 })]
    [InlineData("See [2, 3] and [1;4].", new[] { 2, 3, 1, 4 })]
    [InlineData("Ranges [2-4] and [6–7].", new[] { 2, 3, 4, 6, 7 })]
    [InlineData("Repeated [1] [1] [ 1 ].", new[] { 1 })]
    [InlineData("Mixed [1, 3-4].", new[] { 1, 3, 4 })]
    [InlineData("Not markers: [a], [], [1-1000], array[i], [4-2].", new int[0])]
    public void Parse_Markers_ReturnsDistinctNumbersInOrder(string text, int[] expected)
    {
        Assert.Equal(expected, CitationParser.Parse(text));
    }

    [Fact]
    public void Resolve_MarkerBeyondSources_ReportedAsUnresolvedNotMapped()
    {
        var item = new KnowledgeItem
        {
            Id = "d#0", DocumentId = "d", Kind = ItemKind.TextChunk, ContentHash = "h", Text = "t",
            Provenance = new Provenance("/docs/a.pdf", Page: 3),
        };
        AnswerSource[] sources = [new() { Number = 1, Item = item, Score = 0.8, CalibratedScore = 0.8 }];

        var (citations, unresolved) = CitationParser.Resolve("Yes [1], and [0] and [2].", sources);

        var citation = Assert.Single(citations);
        Assert.Equal(1, citation.Number);
        Assert.Equal("/docs/a.pdf", citation.SourcePath);
        Assert.Equal(3, citation.Page);
        Assert.Equal(ItemKind.TextChunk, citation.Kind);
        Assert.Equal([0, 2], unresolved);
    }
}
