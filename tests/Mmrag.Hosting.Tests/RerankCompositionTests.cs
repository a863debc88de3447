using Microsoft.Extensions.DependencyInjection;
using Mmrag.Answering.Reranking;
using Mmrag.Retrieval.Search;

namespace Mmrag.Hosting.Tests;

/// <summary>The reranker as the composition root wires it: one instance on the knowledge base's chat client, injectable.</summary>
public sealed class RerankCompositionTests : IDisposable
{
    private readonly TestKnowledgeBases _kb = new();

    public void Dispose() => _kb.Dispose();

    [Fact]
    public async Task SearchAsync_RerankWithoutAnLlm_KeepsTheSearchOrderAndSaysItWasSkipped()
    {
        await using var provider = new ServiceCollection().AddMmrag(_kb.Options(TestKnowledgeBases.TinyClip)).BuildServiceProvider();
        var knowledgeBase = provider.GetRequiredService<MmragKnowledgeBase>();
        await knowledgeBase.CreatePipeline().IngestAsync([_kb.Corpus], knowledgeBase.CreateIngestionOptions());
        var request = new SearchRequest { Text = "wooden deck", Threshold = 0, K = 3 };

        var plain = await knowledgeBase.SearchAsync(request);
        var reranked = await knowledgeBase.SearchAsync(request, RerankOptions.Default);

        Assert.Same(knowledgeBase.Reranker, provider.GetRequiredService<LlmReranker>());
        Assert.False(knowledgeBase.Reranker.HasLlm);
        Assert.Null(plain.Report);
        Assert.Equal((RerankStatus.Skipped, "no LLM configured"), (reranked.Report!.Status, reranked.Report.Detail));
        Assert.Equal(plain.Result.Hits.Select(static h => h.Item.Id), reranked.Result.Hits.Select(static h => h.Item.Id));
        Assert.Equal(3, reranked.Result.Hits.Count);
        Assert.All(Enumerable.Range(0, 3), i => Assert.Null(reranked.GradeAt(i)));
    }
}
