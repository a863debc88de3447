using System.Globalization;
using System.Numerics.Tensors;
using System.Runtime.CompilerServices;
using System.Text;
using Mmrag.Knowledge;
using Mmrag.Storage.Providers;

namespace Mmrag.Storage.ContractTests;

/// <summary>
/// The <see cref="IKnowledgeStore"/> test double of every test project, held to the same contract suite as the real
/// stores (<see cref="KnowledgeStoreContractTests"/>): exact vector search (cosine of unit vectors, filters through
/// <see cref="SearchFilter.Matches"/>), keyword search over the same fields as the embedded store's full-text index,
/// the same argument checks (<see cref="StoreInput"/>) and the same refusals of clashing ids and paths. Keyword scores count the distinct query words an item contains, with
/// English plurals stemmed (not full Porter stemming), so they rank like BM25 only roughly. Thread-safe: all state sits behind one lock, so readers see a
/// document's old or new items, never a mix.
/// </summary>
/// <remarks>
/// The knowledge base lives as long as something references it; <see cref="Reopen"/> opens it again as a new store,
/// which is what persistence across a reopen means for the real stores.
/// </remarks>
public sealed class InMemoryKnowledgeStore : IKnowledgeStore, IRelevanceFeedbackStore, IAtomicSettings
{
    private readonly KnowledgeBase _base;
    private int _disposed;

    /// <summary>Creates an empty knowledge base of <paramref name="space"/> and opens it.</summary>
    public InMemoryKnowledgeStore(EmbeddingSpace space)
        : this(new KnowledgeBase(space ?? throw new ArgumentNullException(nameof(space))))
    {
    }

    private InMemoryKnowledgeStore(KnowledgeBase knowledgeBase) => _base = knowledgeBase;

    public EmbeddingSpace Space => _base.Space;

    /// <summary>Awaited before each <see cref="UpsertDocumentAsync"/>, so a test can hold a writer at a chosen document.</summary>
    public Func<DocumentRecord, CancellationToken, Task>? BeforeUpsert { get; set; }

    /// <summary>Upserts this knowledge base has taken, through any store opened on it.</summary>
    public int Upserts
    {
        get
        {
            lock (_base.Gate)
            {
                return _base.Upserts;
            }
        }
    }

    /// <summary>Every stored item, by id.</summary>
    public IReadOnlyList<KnowledgeItem> Items
    {
        get
        {
            lock (_base.Gate)
            {
                return [.. _base.AllItems().Select(s => s.Item).OrderBy(i => i.Id, StringComparer.Ordinal)];
            }
        }
    }

    /// <summary>Every stored document, by source path.</summary>
    public IReadOnlyList<DocumentRecord> Documents
    {
        get
        {
            lock (_base.Gate)
            {
                return _base.DocumentsByPath();
            }
        }
    }

    /// <summary>The items of one document, in their order in it.</summary>
    public IReadOnlyList<KnowledgeItem> ItemsOf(string documentId)
    {
        lock (_base.Gate)
        {
            return _base.Items.TryGetValue(documentId, out StoredItem[]? items) ? [.. items.Select(s => s.Item).OrderBy(i => i.Provenance.Position)] : [];
        }
    }

    /// <summary>
    /// Opens this store's knowledge base again, as the real stores open their folder or schema again: the new store
    /// shares everything stored so far. Allowed after this store was disposed, as a folder outlives the store on it.
    /// </summary>
    /// <exception cref="EmbeddingSpaceMismatchException"><paramref name="space"/> is not the knowledge base's.</exception>
    public InMemoryKnowledgeStore Reopen(EmbeddingSpace space)
    {
        ArgumentNullException.ThrowIfNull(space);
        if (space != Space)
        {
            throw new EmbeddingSpaceMismatchException(
                $"The in-memory knowledge base holds vectors of '{Space.ModelId}' (dimension {Space.Dimension}); " +
                $"it was opened for '{space.ModelId}' (dimension {space.Dimension}).");
        }

        return new InMemoryKnowledgeStore(_base);
    }

    /// <inheritdoc />
    /// <exception cref="ArgumentException">The document or an item fails <see cref="StoreInput.CheckItems"/>.</exception>
    /// <exception cref="KnowledgeStoreException">Another document has this source path or one of these item ids.</exception>
    public Task UpsertDocumentAsync(DocumentRecord document, IReadOnlyList<KnowledgeItem> items, CancellationToken cancellationToken = default)
    {
        StoredItem[] prepared = Prepare(document, items);
        return BeforeUpsert is { } gate ? GatedAsync() : Upsert();

        async Task GatedAsync()
        {
            await gate(document, cancellationToken);
            await Upsert();
        }

        Task Upsert() => RunAsync(kb =>
        {
            // Checked before anything changes, so a refused upsert leaves the knowledge base as it was.
            if (kb.Documents.Values.FirstOrDefault(d => d.SourcePath == document.SourcePath && d.Id != document.Id) is { } owner)
            {
                throw new KnowledgeStoreException(
                    $"in-memory store: storing document '{document.Id}' failed: document '{owner.Id}' already has source path '{document.SourcePath}'.");
            }

            foreach (StoredItem stored in prepared)
            {
                if (kb.ItemIndex.TryGetValue(stored.Item.Id, out StoredItem? existing) && existing.Item.DocumentId != document.Id)
                {
                    throw new KnowledgeStoreException(
                        $"in-memory store: storing document '{document.Id}' failed: item id '{stored.Item.Id}' belongs to document '{existing.Item.DocumentId}'.");
                }
            }

            kb.RemoveItemsOf(document.Id);
            kb.Documents[document.Id] = document with { ItemCount = prepared.Length };
            kb.Items[document.Id] = prepared;
            foreach (StoredItem stored in prepared)
            {
                kb.ItemIndex[stored.Item.Id] = stored;
            }

            kb.Upserts++;
        }, cancellationToken);
    }

    public Task<bool> DeleteDocumentAsync(string documentId, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(documentId);
        return RunAsync(kb =>
        {
            kb.RemoveItemsOf(documentId);
            return kb.Documents.Remove(documentId);
        }, cancellationToken);
    }

    public Task<DocumentRecord?> GetDocumentAsync(string documentId, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(documentId);
        BeforeGetDocument?.Invoke(documentId);
        return RunAsync(kb => kb.Documents.GetValueOrDefault(documentId), cancellationToken);
    }

    /// <summary>Called before each <see cref="GetDocumentAsync"/> (tests: throw to play a store that went away); null does nothing.</summary>
    public Action<string>? BeforeGetDocument { get; set; }

    public async IAsyncEnumerable<DocumentRecord> ListDocumentsAsync([EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        DocumentRecord[] documents = await RunAsync(kb => kb.DocumentsByPath(), cancellationToken);
        foreach (DocumentRecord document in documents)
        {
            cancellationToken.ThrowIfCancellationRequested();
            // Callers must not rely on the list being produced synchronously, as a database reader's is not.
            await Task.Yield();
            yield return document;
        }
    }

    public Task<KnowledgeItem?> GetItemAsync(string itemId, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(itemId);
        return RunAsync(kb => kb.ItemIndex.GetValueOrDefault(itemId)?.Item, cancellationToken);
    }

    public Task<IReadOnlyDictionary<string, ReadOnlyMemory<float>>> FindVectorsByContentHashAsync(IReadOnlyCollection<string> contentHashes,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(contentHashes);
        var wanted = contentHashes.ToHashSet(StringComparer.Ordinal);
        return RunAsync<IReadOnlyDictionary<string, ReadOnlyMemory<float>>>(kb =>
        {
            var found = new Dictionary<string, ReadOnlyMemory<float>>(StringComparer.Ordinal);
            foreach (StoredItem stored in kb.AllItems())
            {
                if (wanted.Contains(stored.Item.ContentHash))
                {
                    found.TryAdd(stored.Item.ContentHash, stored.Item.Vector);
                }
            }

            return found;
        }, cancellationToken);
    }

    /// <inheritdoc />
    /// <remarks>Always exact, so <paramref name="recall"/> is only validated.</remarks>
    /// <exception cref="ArgumentException">The query's dimension is not the knowledge base's, or it is zero or not finite.</exception>
    public Task<IReadOnlyList<StoreHit>> SearchVectorsAsync(ReadOnlyMemory<float> query, int k, SearchFilter? filter = null, double? recall = null,
        CancellationToken cancellationToken = default)
    {
        float[] unit = StoreInput.CheckVectorQuery(query.Span, k, recall, Space);
        return TopAsync(filter, k, s => TensorPrimitives.Dot(unit, s.Item.Vector.Span), cancellationToken);
    }

    /// <inheritdoc />
    /// <remarks>
    /// The query's words (<see cref="KeywordTerms"/>) are matched case- and accent-insensitively, plurals stemmed, against the words of an
    /// item's text, description, caption, section and document title; the score is how many distinct words matched.
    /// </remarks>
    public Task<IReadOnlyList<StoreHit>> SearchKeywordsAsync(string text, int k, SearchFilter? filter = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(text);
        ArgumentOutOfRangeException.ThrowIfNegative(k);
        string[] terms = [.. KeywordTerms.Split(text).Select(Fold).Distinct(StringComparer.Ordinal)];
        return TopAsync(filter, k, s => terms.Count(s.Words.Contains) is > 0 and var matched ? matched : null, cancellationToken);
    }

    public Task RecordFailureAsync(IngestionFailure failure, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(failure);
        ArgumentNullException.ThrowIfNull(failure.SourcePath, nameof(failure));
        ArgumentNullException.ThrowIfNull(failure.Reason, nameof(failure));
        return RunAsync(kb => kb.Failures.Add(failure), cancellationToken);
    }

    public Task ClearFailuresAsync(string sourcePath, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(sourcePath);
        return RunAsync(kb => kb.Failures.RemoveAll(f => f.SourcePath == sourcePath), cancellationToken);
    }

    /// <inheritdoc />
    /// <remarks>Failures at the same time come latest recorded first, as in the real stores.</remarks>
    public Task<IReadOnlyList<IngestionFailure>> ListFailuresAsync(CancellationToken cancellationToken = default) =>
        RunAsync<IReadOnlyList<IngestionFailure>>(kb =>
            [.. kb.Failures.Select((f, order) => (f, order)).OrderByDescending(x => x.f.At).ThenByDescending(x => x.order).Select(x => x.f)],
            cancellationToken);

    /// <inheritdoc />
    /// <remarks><see cref="KnowledgeBaseStats.StorageBytes"/> estimates the memory the stored vectors and texts take.</remarks>
    public Task<KnowledgeBaseStats> GetStatsAsync(CancellationToken cancellationToken = default) =>
        RunAsync(kb =>
        {
            StoredItem[] items = kb.AllItems();
            long bytes = items.Sum(s => (long)s.Item.Vector.Length * sizeof(float) + (long)s.Item.Text.Length * sizeof(char))
                + kb.Documents.Values.Sum(d => (long)(d.SourcePath.Length + d.ContentHash.Length) * sizeof(char));
            return new KnowledgeBaseStats(Space, kb.Documents.Count, items.Count(s => s.Item.Kind == ItemKind.TextChunk),
                items.Count(s => s.Item.Kind == ItemKind.Image), kb.Failures.Count, bytes);
        }, cancellationToken);

    /// <inheritdoc />
    /// <remarks>A seeded shuffle of the items sorted by id: the same seed and content give the same sample, whatever order
    /// the items were written in.</remarks>
    public Task<IReadOnlyList<KnowledgeItem>> SampleItemsAsync(ItemKind kind, int count, int seed, CancellationToken cancellationToken = default)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(count);
        return RunAsync<IReadOnlyList<KnowledgeItem>>(kb =>
        {
            KnowledgeItem[] items = [.. kb.AllItems().Select(s => s.Item).Where(i => i.Kind == kind).OrderBy(i => i.Id, StringComparer.Ordinal)];
            new Random(seed).Shuffle(items);
            return [.. items.Take(count)];
        }, cancellationToken);
    }

    public Task<string?> GetSettingAsync(string key, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(key);
        return RunAsync(kb => kb.Settings.GetValueOrDefault(key), cancellationToken);
    }

    public Task SetSettingAsync(string key, string? value, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(key);
        return SetSettingsAsync([new(key, value)], cancellationToken);
    }

    public Task<IReadOnlyList<string?>> GetSettingsAsync(IReadOnlyList<string> keys, CancellationToken cancellationToken = default)
    {
        AtomicSettingsExtensions.CheckKeys(keys);
        return RunAsync<IReadOnlyList<string?>>(kb => [.. keys.Select(key => kb.Settings.GetValueOrDefault(key))], cancellationToken);
    }

    public Task SetSettingsAsync(IReadOnlyList<KeyValuePair<string, string?>> settings, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(settings);
        AtomicSettingsExtensions.CheckKeys([.. settings.Select(static s => s.Key)]);
        return RunAsync(kb =>
        {
            foreach ((string key, string? value) in settings)
            {
                if (value is null)
                {
                    kb.Settings.Remove(key);
                }
                else
                {
                    kb.Settings[key] = value;
                }
            }
        }, cancellationToken);
    }

    public Task AddJudgementAsync(RelevanceJudgement judgement, CancellationToken cancellationToken = default)
    {
        float[] vector = StoreInput.CheckJudgement(judgement, Space);
        RelevanceJudgement stored = judgement with { QueryVector = vector };
        return RunAsync(kb =>
        {
            int at = kb.Judgements.FindIndex(j => j.Id == judgement.Id);
            if (at >= 0)
            {
                kb.Judgements[at] = stored;
            }
            else
            {
                kb.Judgements.Add(stored);
            }
        }, cancellationToken);
    }

    public Task<IReadOnlyList<RelevanceJudgement>> ListJudgementsAsync(string? modelId = null, CancellationToken cancellationToken = default) =>
        RunAsync<IReadOnlyList<RelevanceJudgement>>(kb =>
            [.. kb.Judgements.Where(j => modelId is null || j.ModelId == modelId).OrderBy(j => j.CreatedAt)], cancellationToken); // stable: added order within an instant

    public async Task<JudgementPage> ListJudgementsPageAsync(int offset, int limit, string? modelId = null, CancellationToken cancellationToken = default)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(offset);
        ArgumentOutOfRangeException.ThrowIfLessThan(limit, 1);
        IReadOnlyList<RelevanceJudgement> all = await ListJudgementsAsync(modelId, cancellationToken).ConfigureAwait(false);
        return new JudgementPage([.. all.Skip(offset).Take(limit).Select(j => j with { QueryVector = ReadOnlyMemory<float>.Empty })], all.Count);
    }

    public Task<bool> RemoveJudgementAsync(string id, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(id);
        return RunAsync(kb => kb.Judgements.RemoveAll(j => j.Id == id) == 1, cancellationToken);
    }

    public Task<int> ClearJudgementsAsync(CancellationToken cancellationToken = default) =>
        RunAsync(kb =>
        {
            int count = kb.Judgements.Count;
            kb.Judgements.Clear();
            return count;
        }, cancellationToken);

    /// <summary>Closes this store; its knowledge base stays, for <see cref="Reopen"/>.</summary>
    public ValueTask DisposeAsync()
    {
        Interlocked.Exchange(ref _disposed, 1);
        return ValueTask.CompletedTask;
    }

    /// <summary>
    /// Runs <paramref name="operation"/> under the knowledge base's lock, so it sees and leaves whole documents. As with
    /// the real stores, a disposed store or a cancelled token stops it before it starts, and what goes wrong once it
    /// runs comes back in the task, so a caller that holds the task before awaiting it sees what a real store gives it.
    /// </summary>
    private Task<T> RunAsync<T>(Func<KnowledgeBase, T> operation, CancellationToken cancellationToken)
    {
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
        if (cancellationToken.IsCancellationRequested)
        {
            return Task.FromCanceled<T>(cancellationToken);
        }

        try
        {
            lock (_base.Gate)
            {
                return Task.FromResult(operation(_base));
            }
        }
        catch (KnowledgeStoreException ex)
        {
            return Task.FromException<T>(ex);
        }
    }

    private Task RunAsync(Action<KnowledgeBase> operation, CancellationToken cancellationToken) =>
        RunAsync(kb =>
        {
            operation(kb);
            return true;
        }, cancellationToken);

    /// <summary>
    /// The <paramref name="k"/> items matching <paramref name="filter"/> that <paramref name="score"/> puts highest, best
    /// first; an item it scores null is no hit.
    /// </summary>
    private Task<IReadOnlyList<StoreHit>> TopAsync(SearchFilter? filter, int k, Func<StoredItem, double?> score, CancellationToken cancellationToken)
    {
        filter ??= SearchFilter.None;
        return RunAsync<IReadOnlyList<StoreHit>>(kb =>
            [.. kb.AllItems()
                .Where(s => filter.Matches(s.Item))
                .Select(s => score(s) is { } value ? new StoreHit(s.Item, value) : null)
                .OfType<StoreHit>()
                .OrderByDescending(h => h.Score)
                .ThenBy(h => h.Item.Id, StringComparer.Ordinal)
                .Take(k)], cancellationToken);
    }

    /// <summary>The items as stored: checked like the real stores check them, with unit-length copies of their vectors.</summary>
    private StoredItem[] Prepare(DocumentRecord document, IReadOnlyList<KnowledgeItem> items)
    {
        float[][] vectors = StoreInput.CheckItems(document, items, Space);
        var prepared = new StoredItem[items.Count];
        for (int i = 0; i < prepared.Length; i++)
        {
            KnowledgeItem stored = items[i] with { Vector = vectors[i] };
            prepared[i] = new StoredItem(stored, WordsOf(stored));
        }

        return prepared;
    }

    /// <summary>The folded words of the fields the embedded store's full-text index covers.</summary>
    private static HashSet<string> WordsOf(KnowledgeItem item)
    {
        var words = new HashSet<string>(StringComparer.Ordinal);
        foreach (string? field in (string?[])[item.Text, item.Description, item.Provenance.Caption, item.Provenance.Section, item.Provenance.DocumentTitle])
        {
            if (field is not null)
            {
                words.UnionWith(KeywordTerms.Split(field, int.MaxValue).Select(Fold));
            }
        }

        return words;
    }

    /// <summary>
    /// Lower case without diacritics, like the unicode61 tokenizer's <c>remove_diacritics</c>, with English plurals
    /// stemmed (<see cref="StemPlural"/>).
    /// </summary>
    private static string Fold(string word) => StemPlural(FoldCase(word));

    /// <summary>
    /// Step 1a of Porter's stemmer (sses → ss, ies → i, ss stays, s → nothing), the part of the real stores' English
    /// stemming that the contract relies on ("flowers" finds "flower"); like FTS5's Porter tokenizer, words under three
    /// characters stay as they are.
    /// </summary>
    private static string StemPlural(string word) =>
        word.Length < 3 ? word
        : word.EndsWith("sses", StringComparison.Ordinal) || word.EndsWith("ies", StringComparison.Ordinal) ? word[..^2]
        : word.EndsWith("ss", StringComparison.Ordinal) ? word
        : word.EndsWith('s') ? word[..^1]
        : word;

    private static string FoldCase(string word)
    {
        var builder = new StringBuilder(word.Length);
        foreach (char c in word.Normalize(NormalizationForm.FormD))
        {
            if (CharUnicodeInfo.GetUnicodeCategory(c) != UnicodeCategory.NonSpacingMark)
            {
                builder.Append(char.ToLowerInvariant(c));
            }
        }

        return builder.ToString();
    }

    private sealed record StoredItem(KnowledgeItem Item, HashSet<string> Words);

    /// <summary>What a knowledge base's folder or schema is to the real stores: the state every store opened on it shares.</summary>
    private sealed class KnowledgeBase(EmbeddingSpace space)
    {
        public Lock Gate { get; } = new();

        public EmbeddingSpace Space { get; } = space;

        public Dictionary<string, DocumentRecord> Documents { get; } = new(StringComparer.Ordinal);

        /// <summary>Each document's items, in the order they were given.</summary>
        public Dictionary<string, StoredItem[]> Items { get; } = new(StringComparer.Ordinal);

        public Dictionary<string, StoredItem> ItemIndex { get; } = new(StringComparer.Ordinal);

        /// <summary>In the order they were recorded.</summary>
        public List<IngestionFailure> Failures { get; } = [];

        public Dictionary<string, string> Settings { get; } = new(StringComparer.Ordinal);

        /// <summary>In the order they were added (a replaced judgement keeps its place).</summary>
        public List<RelevanceJudgement> Judgements { get; } = [];

        public int Upserts { get; set; }

        public DocumentRecord[] DocumentsByPath() => [.. Documents.Values.OrderBy(d => d.SourcePath, StringComparer.Ordinal)];

        public StoredItem[] AllItems() => [.. Items.Values.SelectMany(items => items)];

        public void RemoveItemsOf(string documentId)
        {
            if (Items.Remove(documentId, out StoredItem[]? removed))
            {
                foreach (StoredItem stored in removed)
                {
                    ItemIndex.Remove(stored.Item.Id);
                }
            }
        }
    }
}
