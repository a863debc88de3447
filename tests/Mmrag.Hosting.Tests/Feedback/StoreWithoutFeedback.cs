using Mmrag.Knowledge;
using Mmrag.Storage;

namespace Mmrag.Hosting.Tests.Feedback;

/// <summary>A real store seen through <see cref="IKnowledgeStore"/> alone: a backend that does not keep relevance feedback.</summary>
internal class StoreWithoutFeedback(IKnowledgeStore inner) : IKnowledgeStore
{
    protected IKnowledgeStore Inner { get; } = inner;

    public EmbeddingSpace Space => Inner.Space;

    public Task UpsertDocumentAsync(DocumentRecord document, IReadOnlyList<KnowledgeItem> items, CancellationToken cancellationToken = default) =>
        Inner.UpsertDocumentAsync(document, items, cancellationToken);

    public Task<bool> DeleteDocumentAsync(string documentId, CancellationToken cancellationToken = default) => Inner.DeleteDocumentAsync(documentId, cancellationToken);

    public Task<DocumentRecord?> GetDocumentAsync(string documentId, CancellationToken cancellationToken = default) => Inner.GetDocumentAsync(documentId, cancellationToken);

    public IAsyncEnumerable<DocumentRecord> ListDocumentsAsync(CancellationToken cancellationToken = default) => Inner.ListDocumentsAsync(cancellationToken);

    public Task<KnowledgeItem?> GetItemAsync(string itemId, CancellationToken cancellationToken = default) => Inner.GetItemAsync(itemId, cancellationToken);

    public Task<IReadOnlyDictionary<string, ReadOnlyMemory<float>>> FindVectorsByContentHashAsync(IReadOnlyCollection<string> contentHashes,
        CancellationToken cancellationToken = default) => Inner.FindVectorsByContentHashAsync(contentHashes, cancellationToken);

    public Task<IReadOnlyList<StoreHit>> SearchVectorsAsync(ReadOnlyMemory<float> query, int k, SearchFilter? filter = null, double? recall = null,
        CancellationToken cancellationToken = default) => Inner.SearchVectorsAsync(query, k, filter, recall, cancellationToken);

    public Task<IReadOnlyList<StoreHit>> SearchKeywordsAsync(string text, int k, SearchFilter? filter = null, CancellationToken cancellationToken = default) =>
        Inner.SearchKeywordsAsync(text, k, filter, cancellationToken);

    public Task RecordFailureAsync(IngestionFailure failure, CancellationToken cancellationToken = default) => Inner.RecordFailureAsync(failure, cancellationToken);

    public Task ClearFailuresAsync(string sourcePath, CancellationToken cancellationToken = default) => Inner.ClearFailuresAsync(sourcePath, cancellationToken);

    public Task<IReadOnlyList<IngestionFailure>> ListFailuresAsync(CancellationToken cancellationToken = default) => Inner.ListFailuresAsync(cancellationToken);

    public Task<KnowledgeBaseStats> GetStatsAsync(CancellationToken cancellationToken = default) => Inner.GetStatsAsync(cancellationToken);

    public Task<IReadOnlyList<KnowledgeItem>> SampleItemsAsync(ItemKind kind, int count, int seed, CancellationToken cancellationToken = default) =>
        Inner.SampleItemsAsync(kind, count, seed, cancellationToken);

    public Task<string?> GetSettingAsync(string key, CancellationToken cancellationToken = default) => Inner.GetSettingAsync(key, cancellationToken);

    public Task SetSettingAsync(string key, string? value, CancellationToken cancellationToken = default) => Inner.SetSettingAsync(key, value, cancellationToken);

    /// <summary>The inner store belongs to the knowledge base that opened it.</summary>
    public ValueTask DisposeAsync() => ValueTask.CompletedTask;
}

/// <summary>The inner store's feedback, failing every write after the first <c>writes</c>, as a backend that goes away mid-request would.</summary>
internal sealed class FeedbackStoreFailingAfter(IKnowledgeStore inner, int writes) : StoreWithoutFeedback(inner), IRelevanceFeedbackStore
{
    private int _left = writes;

    private IRelevanceFeedbackStore Feedback => (IRelevanceFeedbackStore)Inner;

    public Task AddJudgementAsync(RelevanceJudgement judgement, CancellationToken cancellationToken = default) =>
        Interlocked.Decrement(ref _left) >= 0
            ? Feedback.AddJudgementAsync(judgement, cancellationToken)
            : throw new KnowledgeStoreException("the store went away");

    public Task<IReadOnlyList<RelevanceJudgement>> ListJudgementsAsync(string? modelId = null, CancellationToken cancellationToken = default) =>
        Feedback.ListJudgementsAsync(modelId, cancellationToken);

    public Task<JudgementPage> ListJudgementsPageAsync(int offset, int limit, string? modelId = null, CancellationToken cancellationToken = default) =>
        Feedback.ListJudgementsPageAsync(offset, limit, modelId, cancellationToken);

    public Task<bool> RemoveJudgementAsync(string id, CancellationToken cancellationToken = default) => Feedback.RemoveJudgementAsync(id, cancellationToken);

    public Task<int> ClearJudgementsAsync(CancellationToken cancellationToken = default) => Feedback.ClearJudgementsAsync(cancellationToken);
}
