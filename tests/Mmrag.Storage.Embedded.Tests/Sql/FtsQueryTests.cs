using Mmrag.Storage.Embedded.Sql;

namespace Mmrag.Storage.Embedded.Tests.Sql;

public sealed class FtsQueryTests
{
    [Theory]
    [InlineData("red lighthouse", "\"red\" OR \"lighthouse\"")]
    [InlineData("NEAR(red \"light*house\") -car", "\"NEAR\" OR \"red\" OR \"light\" OR \"house\" OR \"car\"")]
    [InlineData("it's title:red", "\"it\" OR \"s\" OR \"title\" OR \"red\"")]
    [InlineData("Red red RED", "\"Red\"")]
    [InlineData("café naïve 東京 x²", "\"café\" OR \"naïve\" OR \"東京\" OR \"x²\"")]
    public void AnyOf_WordsOfText_QuotesEveryWordAndJoinsWithOr(string text, string expected) => Assert.Equal(expected, FtsQuery.AnyOf(FtsQuery.Terms(text)));

    [Theory]
    [InlineData("")]
    [InlineData("  \t\n")]
    [InlineData("\"*-^:()'")]
    [InlineData("🙂 ✓ …")]
    public void Terms_NoWord_ReturnsNone(string text) => Assert.Empty(FtsQuery.Terms(text));

    [Fact]
    public void Terms_VeryLongText_KeepsTheFirstWordsOnly()
    {
        string text = string.Join(' ', Enumerable.Range(0, 500).Select(i => $"w{i}"));
        string query = FtsQuery.AnyOf(FtsQuery.Terms(text));
        Assert.Equal(FtsQuery.MaxTerms, query.Split(" OR ").Length);
        Assert.StartsWith("\"w0\" OR \"w1\"", query, StringComparison.Ordinal);
    }

    [Fact]
    public void AnyPairOf_Words_IsAnOrOfEveryPair() =>
        Assert.Equal("(\"a\" AND \"b\") OR (\"a\" AND \"c\") OR (\"b\" AND \"c\")", FtsQuery.AnyPairOf(["a", "b", "c"]));

    [Fact]
    public void Without_ExcludedExpressions_AreJoinedUnderOneNotSkippingNulls()
    {
        Assert.Equal("\"a\"", FtsQuery.Without("\"a\"", null, null));
        Assert.Equal("(\"a\" OR \"b\") NOT ((\"c\") OR ((\"a\" AND \"b\")))", FtsQuery.Without("\"a\" OR \"b\"", "\"c\"", null, "(\"a\" AND \"b\")"));
    }
}
