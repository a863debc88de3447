using Microsoft.Extensions.AI;
using Mmrag.Answering.Llm;
using Mmrag.Answering.Reranking;
using Mmrag.Answering.Tests.Fakes;
using Mmrag.Retrieval.Search;

namespace Mmrag.Answering.Tests.Reranking;

/// <summary>Reranked search and answers: the real store, tiny CLIP and retrieval, the real OpenAI client against the loopback server.</summary>
public sealed class RerankedRetrievalTests(KnowledgeBaseFixture kb) : IClassFixture<KnowledgeBaseFixture>, IAsyncLifetime
{
    private readonly FakeOpenAiServer _server = new();

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync() => await _server.DisposeAsync();

    private IChatClient Chat() => OpenAiCompatibleChatClientFactory.Create(new LlmOptions
    {
        BaseUrl = _server.BaseUrl,
        Model = "test-vision",
        MaxRetries = 0,
    });

    [Fact]
    public async Task Search_KBelowTheCandidates_GradesTheTopNAndAHitBelowKRisesIntoTheResult()
    {
        var request = new SearchRequest { Text = "kettle", Threshold = 0, K = 2 };
        var pool = await kb.Searcher.SearchAsync(request with { K = 5 });
        Assert.Equal(5, pool.Hits.Count);
        _server.Enqueue(Reply.Text("""[{"id": 5, "grade": 3, "reason": "the kettle"}, {"id": 1, "grade": 1, "reason": "close"}, {"id": 2, "grade": 0, "reason": "no"}]"""));

        var search = await new LlmReranker(Chat()).SearchAsync(kb.Searcher, request, new RerankOptions { Candidates = 5 });

        Assert.Equal(RerankStatus.Applied, search.Report!.Status);
        Assert.Equal(5, search.Report.Candidates);
        Assert.Equal([pool.Hits[4].Item.Id, pool.Hits[0].Item.Id], search.Result.Hits.Select(static h => h.Item.Id));
        Assert.Equal([1, 2], search.Result.Hits.Select(static h => h.Rank));
        Assert.Equal([(3, "the kettle"), (1, "close")], search.Grades.Select(static g => (g!.Grade, g.Reason)));
    }

    [Fact]
    public async Task Ask_WithRerank_GradesTheSourcesInOneRequestThenAnswersFromTheBestK()
    {
        // Text-only retrieval finds three sources for it here: the two chunks and the image whose description says "kettle".
        _server.Enqueue(Reply.Text("""[{"id": 3, "grade": 3, "reason": "best"}, {"id": 2, "grade": 2, "reason": "next"}, {"id": 1, "grade": 0, "reason": "no"}]"""),
            Reply.Text("It holds 1.7 L [1]."));
        var answerer = new Answerer(kb.Searcher, Chat());

        var answer = await answerer.AskAsync(new Question("How much does the kettle hold?"),
            new AnswerOptions { Threshold = 0, K = 2, Strategy = AnswerStrategy.TextOnly, Rerank = new RerankOptions { Candidates = 4 } });

        Assert.Equal(2, _server.Requests.Count);
        Assert.StartsWith(LlmReranker.SystemPrompt, Wire.AllText(_server.Requests[0].Messages()[0]!), StringComparison.Ordinal);
        Assert.Contains("How much does the kettle hold?", Wire.AllText(_server.Requests[0].Messages()[1]!), StringComparison.Ordinal);
        Assert.Empty(Wire.ImageUrls(_server.Requests[0].Messages()[1]!)); // text-only: no image to the LLM, the reranker included
        Assert.True(answer.Rerank!.Status == RerankStatus.Applied, answer.Rerank.Detail);
        Assert.Equal(3, answer.Rerank.Candidates);
        Assert.Equal([(3, "best"), (2, "next")], answer.Sources.Select(static s => (s.Rerank!.Grade, s.Rerank.Reason)));
        Assert.Equal("It holds 1.7 L [1].", answer.Text);
    }

    [Fact]
    public async Task Ask_RerankReplyUnusable_AnswersFromRetrievalOrderAndSaysWhy()
    {
        var options = new AnswerOptions { Threshold = 0, K = 3, Strategy = AnswerStrategy.TextOnly };
        var answerer = new Answerer(kb.Searcher, Chat());
        var plain = await answerer.AskAsync(new Question("kettle"), options);
        _server.Enqueue(Reply.Text("The first one."));

        var answer = await answerer.AskAsync(new Question("kettle"), options with { Rerank = new RerankOptions { Candidates = 3 } });

        Assert.Equal(RerankStatus.Failed, answer.Rerank!.Status);
        Assert.Contains("no JSON array", answer.Rerank.Detail, StringComparison.Ordinal);
        Assert.Equal(plain.Sources.Select(static s => s.Item.Id), answer.Sources.Select(static s => s.Item.Id));
        Assert.All(answer.Sources, static s => Assert.Null(s.Rerank));
        Assert.Equal(3, _server.Requests.Count); // plain answer, failed rerank, answer
        Assert.True(answer.LlmCalled);
    }
}
