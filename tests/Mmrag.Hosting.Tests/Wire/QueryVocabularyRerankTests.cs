using Mmrag.Answering.Reranking;
using Mmrag.Hosting.Wire;

namespace Mmrag.Hosting.Tests.Wire;

public sealed class QueryVocabularyRerankTests
{
    [Theory]
    [InlineData("llm", RerankOptions.DefaultCandidates)]
    [InlineData("LLM", RerankOptions.DefaultCandidates)]
    [InlineData(" llm:5 ", 5)]
    [InlineData("llm:1", 1)]
    [InlineData("llm:50", 50)]
    public void TryParseRerank_LlmWords_GiveTheTopN(string word, int candidates)
    {
        Assert.True(QueryVocabulary.TryParseRerank(word, out var rerank));
        Assert.Equal(candidates, rerank!.Candidates);
        Assert.Equal(RerankOptions.Default.Timeout, rerank.Timeout);
    }

    [Theory]
    [InlineData(null)]
    [InlineData("")]
    [InlineData("none")]
    [InlineData("off")]
    public void TryParseRerank_NoneOrNothing_MeansNoRerank(string? word)
    {
        Assert.True(QueryVocabulary.TryParseRerank(word, out var rerank));
        Assert.Null(rerank);
    }

    [Theory]
    [InlineData("llm:0")]
    [InlineData("llm:51")]
    [InlineData("llm:")]
    [InlineData("llm:+5")]
    [InlineData("llm:five")]
    [InlineData("cross-encoder")]
    public void TryParseRerank_OtherWords_AreRefused(string word) => Assert.False(QueryVocabulary.TryParseRerank(word, out _));
}
