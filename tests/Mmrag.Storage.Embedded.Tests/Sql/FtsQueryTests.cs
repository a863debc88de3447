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
    public void Build_Text_QuotesEveryWordAndJoinsWithOr(string text, string expected) => Assert.Equal(expected, FtsQuery.Build(text));

    [Theory]
    [InlineData("")]
    [InlineData("  \t\n")]
    [InlineData("\"*-^:()'")]
    [InlineData("🙂 ✓ …")]
    public void Build_NoWord_ReturnsNull(string text) => Assert.Null(FtsQuery.Build(text));

    [Fact]
    public void Build_VeryLongText_KeepsTheFirstWordsOnly()
    {
        string text = string.Join(' ', Enumerable.Range(0, 500).Select(i => $"w{i}"));
        string query = FtsQuery.Build(text)!;
        Assert.Equal(FtsQuery.MaxTerms, query.Split(" OR ").Length);
        Assert.StartsWith("\"w0\" OR \"w1\"", query, StringComparison.Ordinal);
    }
}
