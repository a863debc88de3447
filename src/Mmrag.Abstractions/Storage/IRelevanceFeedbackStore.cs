namespace Mmrag.Storage;

/// <summary>Which query vector a relevance judgement was made for.</summary>
public enum FeedbackQueryModality
{
    /// <summary>A text query's vector.</summary>
    Text,

    /// <summary>An image query's vector.</summary>
    Image,
}

/// <summary>
/// One user judgement: the item <paramref name="ItemId"/> is (or is not) relevant to a query. The query's vector is kept
/// with the model that made it, so a judgement can train a query adapter without embedding the query again, and a
/// judgement made with another model can be told apart and ignored.
/// </summary>
/// <param name="Id">Unique id (the store keeps it; callers make one, e.g. a GUID in "N" format).</param>
/// <param name="Modality">Whether <paramref name="QueryVector"/> embeds the query's text or its image.</param>
/// <param name="QueryText">The query text, when there was one (shown by listings).</param>
/// <param name="QueryImage">Where the query image came from (a path or an upload name), when there was one; never read again.</param>
/// <param name="QueryVector">The L2-normalized query vector of <paramref name="Modality"/>, from <paramref name="ModelId"/>.</param>
/// <param name="ItemId">The judged item.</param>
/// <param name="Relevant">True for relevant (thumbs up), false for not relevant.</param>
/// <param name="ModelId">The embedding model of <paramref name="QueryVector"/>.</param>
/// <param name="Source">Where the judgement came from: <c>file</c>, <c>page</c> or <c>api</c>.</param>
/// <param name="CreatedAt">When it was recorded.</param>
public sealed record RelevanceJudgement(
    string Id,
    FeedbackQueryModality Modality,
    string? QueryText,
    string? QueryImage,
    ReadOnlyMemory<float> QueryVector,
    string ItemId,
    bool Relevant,
    string ModelId,
    string Source,
    DateTimeOffset CreatedAt);

/// <summary>
/// One page of judgements (<see cref="IRelevanceFeedbackStore.ListJudgementsPageAsync"/>): the judgements, oldest first,
/// each with an empty <see cref="RelevanceJudgement.QueryVector"/> (a listing shows queries, it never needs their
/// vectors), and <paramref name="Total"/>, how many judgements there are in all.
/// </summary>
public sealed record JudgementPage(IReadOnlyList<RelevanceJudgement> Judgements, int Total);

/// <summary>
/// Optional store capability: relevance feedback kept in the knowledge base (both the embedded and the PostgreSQL store
/// implement it; test with <c>store is IRelevanceFeedbackStore</c>). Thread-safe. Judgements are independent of the
/// items they name: deleting an item leaves its judgements, which readers skip when the item is gone.
/// </summary>
public interface IRelevanceFeedbackStore
{
    /// <summary>Stores <paramref name="judgement"/>; a judgement with the same id is replaced.</summary>
    Task AddJudgementAsync(RelevanceJudgement judgement, CancellationToken cancellationToken = default);

    /// <summary>Every judgement (of <paramref name="modelId"/> only, when given), oldest first.</summary>
    Task<IReadOnlyList<RelevanceJudgement>> ListJudgementsAsync(string? modelId = null, CancellationToken cancellationToken = default);

    /// <summary>
    /// The judgements (of <paramref name="modelId"/> only, when given) from <paramref name="offset"/> on, at most
    /// <paramref name="limit"/>, oldest first as <see cref="ListJudgementsAsync"/> orders them, without their query
    /// vectors; the store reads only that page and counts the rest.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="offset"/> is negative or <paramref name="limit"/> below 1.</exception>
    Task<JudgementPage> ListJudgementsPageAsync(int offset, int limit, string? modelId = null, CancellationToken cancellationToken = default);

    /// <summary>Removes the judgement <paramref name="id"/>; false when there was none.</summary>
    Task<bool> RemoveJudgementAsync(string id, CancellationToken cancellationToken = default);

    /// <summary>Removes every judgement; returns how many there were.</summary>
    Task<int> ClearJudgementsAsync(CancellationToken cancellationToken = default);
}
