using Microsoft.Extensions.AI;
using Mmrag.Storage;
using Mmrag.Storage.Providers;

namespace Mmrag.Hosting.Feedback;

/// <summary>Where a judgement came from (<see cref="RelevanceJudgement.Source"/>).</summary>
public static class FeedbackSources
{
    /// <summary>A pairs file (<c>mmrag tune --pairs</c>).</summary>
    public const string File = "file";

    /// <summary>The web page's thumbs.</summary>
    public const string Page = "page";

    /// <summary>The HTTP API.</summary>
    public const string Api = "api";
}

/// <summary>A stored judgement with the source path of the item it names (null when that item is gone).</summary>
public sealed record FeedbackEntry(RelevanceJudgement Judgement, string? ItemSource);

/// <summary>
/// Records relevance feedback the same way for the CLI, the server and library users: checks the judged item exists,
/// embeds the query (its text and/or its image, one judgement per query vector) with the knowledge base's own model,
/// and stores the judgements, all of them or none. Also lists, removes and clears them. Thread-safe; owns nothing
/// (the store and generators are the knowledge base's).
/// </summary>
public sealed class FeedbackRecorder
{
    /// <summary>The longest query text kept with a judgement, in characters (CLIP reads the first 77 tokens; the text is for people).</summary>
    public const int MaxQueryTextLength = 4096;

    private readonly IKnowledgeStore _store;
    private readonly IEmbeddingGenerator<string, Embedding<float>>? _textEmbedder;
    private readonly IEmbeddingGenerator<DataContent, Embedding<float>>? _imageEmbedder;
    private readonly TimeProvider _time;

    /// <summary>A recorder on <paramref name="store"/>, embedding with the given generators (null: that kind of query cannot be recorded).</summary>
    public FeedbackRecorder(IKnowledgeStore store, IEmbeddingGenerator<string, Embedding<float>>? textEmbedder,
        IEmbeddingGenerator<DataContent, Embedding<float>>? imageEmbedder, TimeProvider? timeProvider = null)
    {
        ArgumentNullException.ThrowIfNull(store);
        _store = store;
        _textEmbedder = textEmbedder;
        _imageEmbedder = imageEmbedder;
        _time = timeProvider ?? TimeProvider.System;
    }

    /// <summary>A recorder on an opened knowledge base (opened without its model, it can list and remove but not record).</summary>
    public static FeedbackRecorder For(MmragKnowledgeBase knowledgeBase)
    {
        ArgumentNullException.ThrowIfNull(knowledgeBase);
        return knowledgeBase.HasModel
            ? new FeedbackRecorder(knowledgeBase.Store, knowledgeBase.TextEmbedder, knowledgeBase.ImageEmbedder)
            : new FeedbackRecorder(knowledgeBase.Store, null, null);
    }

    /// <summary>Whether the store keeps feedback at all.</summary>
    public bool IsSupported => _store is IRelevanceFeedbackStore;

    /// <summary>
    /// Records that <paramref name="itemId"/> is (or is not) relevant to the query of <paramref name="text"/> and/or
    /// <paramref name="image"/>: one judgement per query vector, stored together (a failure removes those already stored).
    /// </summary>
    /// <param name="text">The query text, if any.</param>
    /// <param name="image">The query image, if any (its <see cref="DataContent.Name"/> is kept as where it came from).</param>
    /// <param name="itemId">The judged item; it must exist.</param>
    /// <param name="relevant">Thumbs up (true) or down.</param>
    /// <param name="source">One of <see cref="FeedbackSources"/>.</param>
    /// <param name="cancellationToken">Stops the embedding and the writes.</param>
    /// <returns>The stored judgements (text first).</returns>
    /// <exception cref="ArgumentException">No text and no image, text longer than <see cref="MaxQueryTextLength"/>, no item id, or an unknown source.</exception>
    /// <exception cref="KeyNotFoundException">There is no item <paramref name="itemId"/>.</exception>
    /// <exception cref="NotSupportedException">The store does not keep feedback.</exception>
    /// <exception cref="InvalidOperationException">The knowledge base was opened without its model.</exception>
    public async Task<IReadOnlyList<RelevanceJudgement>> RecordAsync(string? text, DataContent? image, string itemId, bool relevant, string source,
        CancellationToken cancellationToken = default)
    {
        text = string.IsNullOrWhiteSpace(text) ? null : text;
        if (text is null && image is null)
        {
            throw new ArgumentException("Feedback needs the query it judges: its text and/or its image.", nameof(text));
        }

        if (text is not null && text.Length > MaxQueryTextLength)
        {
            throw new ArgumentException($"The query text has {text.Length} characters; feedback keeps queries of at most {MaxQueryTextLength}.", nameof(text));
        }

        ArgumentException.ThrowIfNullOrWhiteSpace(itemId);
        if (!StoreInput.JudgementSources.Contains(source))
        {
            throw new ArgumentException($"The source must be {string.Join(", ", StoreInput.JudgementSources)}, not '{source}'.", nameof(source));
        }

        IRelevanceFeedbackStore feedback = Feedback();
        if (_textEmbedder is null || _imageEmbedder is null)
        {
            throw new InvalidOperationException("Recording feedback embeds the query: open the knowledge base with its model.");
        }

        if (await _store.GetItemAsync(itemId, cancellationToken).ConfigureAwait(false) is null)
        {
            throw new KeyNotFoundException($"No item '{itemId}'.");
        }

        // Every vector first, so a query that cannot be embedded (an undecodable or oversized image) stores nothing.
        var judgements = new List<RelevanceJudgement>(2);
        DateTimeOffset now = _time.GetUtcNow();
        if (text is not null)
        {
            ReadOnlyMemory<float> vector = await _textEmbedder.GenerateVectorAsync(text, cancellationToken: cancellationToken).ConfigureAwait(false);
            judgements.Add(Judgement(FeedbackQueryModality.Text, vector));
        }

        if (image is not null)
        {
            ReadOnlyMemory<float> vector = await _imageEmbedder.GenerateVectorAsync(image, cancellationToken: cancellationToken).ConfigureAwait(false);
            judgements.Add(Judgement(FeedbackQueryModality.Image, vector));
        }

        var stored = new List<string>(judgements.Count);
        try
        {
            foreach (RelevanceJudgement judgement in judgements)
            {
                await feedback.AddJudgementAsync(judgement, cancellationToken).ConfigureAwait(false);
                stored.Add(judgement.Id);
            }
        }
        catch when (stored.Count > 0)
        {
            foreach (string id in stored)
            {
                await feedback.RemoveJudgementAsync(id, CancellationToken.None).ConfigureAwait(false);
            }

            throw;
        }

        return judgements;

        RelevanceJudgement Judgement(FeedbackQueryModality modality, ReadOnlyMemory<float> vector) =>
            new(Guid.NewGuid().ToString("N"), modality, text, image is null ? null : ImageLabel(image.Name), vector, itemId, relevant,
                _store.Space.ModelId, source, now);
    }

    /// <summary>
    /// What a judgement keeps of where its query image came from: the file name a client sent, without folders or control
    /// characters and at most 240 characters (the bound of an upload's name segment), so a forged name cannot bloat the
    /// store or rewrite a terminal listing it.
    /// </summary>
    internal static string ImageLabel(string? name)
    {
        var label = new string([.. Path.GetFileName(name ?? string.Empty).Select(static c => char.IsControl(c) ? ' ' : c)]).Trim();
        return label.Length == 0 ? "query-image" : label.Length <= 240 ? label : label[..240];
    }

    /// <summary>Every judgement (of <paramref name="modelId"/> only, when given), oldest first, with its item's source path.</summary>
    /// <exception cref="NotSupportedException">The store does not keep feedback.</exception>
    public async Task<IReadOnlyList<FeedbackEntry>> ListAsync(string? modelId = null, CancellationToken cancellationToken = default) =>
        await WithSourcesAsync(await Feedback().ListJudgementsAsync(modelId, cancellationToken).ConfigureAwait(false), cancellationToken).ConfigureAwait(false);

    /// <summary>
    /// The judgements from <paramref name="offset"/> on, at most <paramref name="limit"/> of them, oldest first, with their
    /// items' source paths (looked up for this page only), and how many there are in all. The store reads only the
    /// page, without the query vectors.
    /// </summary>
    /// <exception cref="NotSupportedException">The store does not keep feedback.</exception>
    public async Task<FeedbackPage> ListPageAsync(int offset, int limit, string? modelId = null, CancellationToken cancellationToken = default)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(offset);
        ArgumentOutOfRangeException.ThrowIfLessThan(limit, 1);
        JudgementPage page = await Feedback().ListJudgementsPageAsync(offset, limit, modelId, cancellationToken).ConfigureAwait(false);
        return new FeedbackPage(await WithSourcesAsync(page.Judgements, cancellationToken).ConfigureAwait(false), page.Total);
    }

    /// <summary>Each judgement with its item's source path (null when the item is gone), each item looked up once.</summary>
    private async Task<List<FeedbackEntry>> WithSourcesAsync(IReadOnlyList<RelevanceJudgement> judgements, CancellationToken cancellationToken)
    {
        var sources = new Dictionary<string, string?>(StringComparer.Ordinal);
        var entries = new List<FeedbackEntry>(judgements.Count);
        foreach (RelevanceJudgement judgement in judgements)
        {
            if (!sources.TryGetValue(judgement.ItemId, out string? source))
            {
                source = (await _store.GetItemAsync(judgement.ItemId, cancellationToken).ConfigureAwait(false))?.Provenance.SourcePath;
                sources[judgement.ItemId] = source;
            }

            entries.Add(new FeedbackEntry(judgement, source));
        }

        return entries;
    }

    /// <summary>Removes the judgement <paramref name="id"/>; false when there was none.</summary>
    /// <exception cref="NotSupportedException">The store does not keep feedback.</exception>
    public Task<bool> RemoveAsync(string id, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(id);
        return Feedback().RemoveJudgementAsync(id, cancellationToken);
    }

    /// <summary>Removes every judgement; returns how many there were.</summary>
    /// <exception cref="NotSupportedException">The store does not keep feedback.</exception>
    public Task<int> ClearAsync(CancellationToken cancellationToken = default) => Feedback().ClearJudgementsAsync(cancellationToken);

    private IRelevanceFeedbackStore Feedback() => _store as IRelevanceFeedbackStore
        ?? throw new NotSupportedException($"This knowledge base's store ({_store.GetType().Name}) does not keep relevance feedback.");
}

/// <summary>One page of stored judgements.</summary>
/// <param name="Entries">The judgements of the page, oldest first.</param>
/// <param name="Total">How many judgements there are in all.</param>
public sealed record FeedbackPage(IReadOnlyList<FeedbackEntry> Entries, int Total);
