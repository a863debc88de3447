using Mmrag.Hosting.Feedback;
using System.Text;
using Microsoft.Extensions.AI;
using Mmrag.Hosting.Evaluation;
using Mmrag.Ingestion.Loaders;
using Mmrag.Ingestion.Pipeline;
using Mmrag.Knowledge;
using Mmrag.Retrieval.Adapters;
using Mmrag.Retrieval.Search;
using Mmrag.Storage;

namespace Mmrag.Hosting.Tuning;

/// <summary>Judgements read from a queries file (<see cref="QueryAdapterTuning.JudgementsFromQueriesAsync"/>).</summary>
/// <param name="Judgements">One per (query vector, item): relevant entries and <c>"irrelevant"</c> entries.</param>
/// <param name="Queries">Queries read.</param>
/// <param name="Unresolved">Entries that name no stored document or item (their count).</param>
public sealed record FileJudgements(IReadOnlyList<RelevanceJudgement> Judgements, int Queries, int Unresolved);

/// <summary>What <see cref="QueryAdapterTuning.TuneAsync"/> did.</summary>
/// <param name="Training">The training outcome: held-out metrics before and after per modality.</param>
/// <param name="Stored">The adapter as stored (with its revision), or null when held-out recall@5 did not improve and nothing was stored.</param>
public sealed record TuneOutcome(QueryAdapterTrainingResult Training, QueryAdapter? Stored);

/// <summary>
/// <c>mmrag tune</c> over an opened knowledge base: relevance judgements from a queries file (the <c>mmrag eval</c> format)
/// or from stored feedback, training a <see cref="QueryAdapter"/>, and storing it only when held-out recall@5 improved.
/// </summary>
/// <remarks>Stateless; the knowledge base's searcher sees a stored or removed adapter at once.</remarks>
public static class QueryAdapterTuning
{

    /// <summary>
    /// Embeds each query of <paramref name="queries"/> (text and/or image, with the knowledge base's model) and turns its
    /// <c>relevant</c> and <c>irrelevant</c> entries into judgements, mapping paths to item ids as <c>mmrag eval</c> does:
    /// a path names the document ingested from it (a relevant document with several items of a kind counts by its item
    /// nearest the query; an irrelevant one by all of them), anything else is taken as an item id. Items of a kind the
    /// query does not target are left out. Ids are derived from the query and item, so reading the same file again
    /// replaces rather than repeats stored judgements.
    /// </summary>
    /// <exception cref="IOException">A query image cannot be read.</exception>
    public static async Task<FileJudgements> JudgementsFromQueriesAsync(MmragKnowledgeBase knowledgeBase, IReadOnlyList<EvaluationQuery> queries,
        TimeProvider? timeProvider = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(knowledgeBase);
        ArgumentNullException.ThrowIfNull(queries);
        var now = (timeProvider ?? TimeProvider.System).GetUtcNow();
        var store = knowledgeBase.Store;
        var modelId = store.Space.ModelId;
        var judgements = new List<RelevanceJudgement>();
        var unresolved = 0;
        foreach (var query in queries)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var vectors = new List<(FeedbackQueryModality Modality, float[] Vector)>(2);
            if (query.Text is not null)
            {
                vectors.Add((FeedbackQueryModality.Text, RetrievalEvaluator.Normalized(await knowledgeBase.TextEmbedder.GenerateVectorAsync(query.Text, cancellationToken: cancellationToken)
                    .ConfigureAwait(false))));
            }

            if (query.ImagePath is not null)
            {
                var bytes = await RegularFiles.ReadAllBytesAsync(query.ImagePath, 64L * 1024 * 1024, cancellationToken).ConfigureAwait(false);
                vectors.Add((FeedbackQueryModality.Image, RetrievalEvaluator.Normalized(await knowledgeBase.ImageEmbedder.GenerateVectorAsync(
                    new DataContent(bytes, "application/octet-stream") { Name = query.ImagePath }, cancellationToken: cancellationToken).ConfigureAwait(false))));
            }

            ItemKind? kind = query.Target switch { SearchTarget.Images => ItemKind.Image, SearchTarget.Text => ItemKind.TextChunk, _ => null };
            foreach (var (modality, vector) in vectors)
            {
                foreach (var (entries, relevant) in new[] { (query.Relevant, true), (query.Irrelevant ?? [], false) })
                {
                    foreach (var entry in entries)
                    {
                        var items = await ResolveAsync(store, entry, query, vector, kind, nearestOnly: relevant, cancellationToken).ConfigureAwait(false);
                        if (items.Count == 0)
                        {
                            unresolved++;
                        }

                        foreach (var itemId in items)
                        {
                            var what = query.Text is not null && modality == FeedbackQueryModality.Text ? query.Text : query.ImagePath;
                            var id = DocumentIds.Sha256Hex($"{FeedbackSources.File}\n{modality}\n{what}\n{itemId}\n{modelId}")[..32];
                            judgements.Add(new RelevanceJudgement(id, modality, query.Text, query.ImagePath, vector, itemId, relevant, modelId, FeedbackSources.File, now));
                        }
                    }
                }
            }
        }

        // A query whose entries repeat an item (or whose vectors coincide) would otherwise give two judgements one id.
        var distinct = judgements.GroupBy(static j => j.Id, StringComparer.Ordinal).Select(static g => g.Last()).ToList();
        return new FileJudgements(distinct, queries.Count, unresolved);
    }

    /// <summary>
    /// Trains an adapter on <paramref name="judgements"/> and stores it in the knowledge base only when held-out recall@5
    /// improved (per modality: only the maps that improved are kept); otherwise leaves any stored adapter as it was.
    /// </summary>
    public static async Task<TuneOutcome> TuneAsync(MmragKnowledgeBase knowledgeBase, IReadOnlyList<RelevanceJudgement> judgements,
        QueryAdapterTrainingOptions? options = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(knowledgeBase);
        ArgumentNullException.ThrowIfNull(judgements);
        var training = await new QueryAdapterTrainer(knowledgeBase.Store, options).TrainAsync(judgements, cancellationToken).ConfigureAwait(false);
        QueryAdapter? stored = null;
        if (training.Adapter is { } adapter)
        {
            stored = await QueryAdapterSettings.SaveAsync(knowledgeBase.Store, adapter, cancellationToken).ConfigureAwait(false);
            InvalidateSearcher(knowledgeBase);
        }

        return new TuneOutcome(training, stored);
    }

    /// <summary>
    /// Records <paramref name="judgements"/> as feedback when the store keeps feedback (<see cref="IRelevanceFeedbackStore"/>);
    /// false when it does not.
    /// </summary>
    public static async Task<bool> RecordAsync(MmragKnowledgeBase knowledgeBase, IReadOnlyList<RelevanceJudgement> judgements, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(knowledgeBase);
        ArgumentNullException.ThrowIfNull(judgements);
        if (knowledgeBase.Store is not IRelevanceFeedbackStore feedback)
        {
            return false;
        }

        foreach (var judgement in judgements)
        {
            await feedback.AddJudgementAsync(judgement, cancellationToken).ConfigureAwait(false);
        }

        return true;
    }

    /// <summary>Removes the knowledge base's adapter; false when there was none.</summary>
    public static async Task<bool> ResetAsync(MmragKnowledgeBase knowledgeBase, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(knowledgeBase);
        var removed = await QueryAdapterSettings.RemoveAsync(knowledgeBase.Store, cancellationToken).ConfigureAwait(false);
        InvalidateSearcher(knowledgeBase);
        return removed;
    }

    /// <summary>A human-readable before/after table of a training outcome (what <c>mmrag tune</c> prints).</summary>
    public static string Describe(TuneOutcome outcome)
    {
        ArgumentNullException.ThrowIfNull(outcome);
        var training = outcome.Training;
        var c = System.Globalization.CultureInfo.InvariantCulture;
        var text = new StringBuilder();
        text.AppendLine(c, $"{training.Judgements} judgements: {training.Used} used, {training.OtherModel} of another model, {training.MissingItems} naming items no longer stored; {training.WithoutRelevant} queries without a relevant item");
        text.AppendLine("modality  train  held-out  epochs |  recall@5 before → after |  MRR@10 before → after | queries better/worse | map");
        foreach (var m in training.Modalities)
        {
            text.AppendLine(c, $"{(m.Modality == QueryModality.Image ? "image" : "text"),-8} {m.TrainQueries,6} {m.HeldOutQueries,9} {m.Epochs,7} |          {m.Before.Recall5,6:0.000} → {m.After.Recall5,6:0.000} |        {m.Before.Mrr10,6:0.000} → {m.After.Mrr10,6:0.000} | {m.Better,12}/{m.Worse,-7} | {(m.Kept ? "kept" : "dropped")}");
        }

        text.AppendLine(outcome.Stored is { } stored
            ? string.Create(c, $"adapter revision {stored.Info.Revision} stored (held-out recall@5 improved); search applies it unless --no-adapter")
            : "held-out recall@5 did not improve: nothing stored (an adapter stored earlier is left as it was)");
        return text.ToString();
    }

    private static void InvalidateSearcher(MmragKnowledgeBase knowledgeBase)
    {
        if (knowledgeBase.HasModel)
        {
            knowledgeBase.Searcher.Adapters.Invalidate();
        }
    }

    private static async Task<IReadOnlyList<string>> ResolveAsync(IKnowledgeStore store, string entry, EvaluationQuery query, float[] vector, ItemKind? kind,
        bool nearestOnly, CancellationToken cancellationToken)
    {
        if (query.SourceOf(entry) is { } source)
        {
            var documentId = DocumentIds.ForPath(source);
            if (await store.GetDocumentAsync(documentId, cancellationToken).ConfigureAwait(false) is { } document)
            {
                var items = new List<string>();
                foreach (var itemKind in kind is { } only ? [only] : (ItemKind[])[ItemKind.Image, ItemKind.TextChunk])
                {
                    var hits = await store.SearchVectorsAsync(vector, Math.Max(1, document.ItemCount), new SearchFilter { DocumentIds = [documentId], Kind = itemKind },
                        recall: 1.0, cancellationToken).ConfigureAwait(false);
                    items.AddRange(hits.Take(nearestOnly ? 1 : hits.Count).Select(static h => h.Item.Id));
                }

                return items;
            }
        }

        return await store.GetItemAsync(entry, cancellationToken).ConfigureAwait(false) is { } item && (kind is null || item.Kind == kind) ? [item.Id] : [];
    }
}
