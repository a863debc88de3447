using System.Globalization;
using System.Numerics.Tensors;
using System.Runtime.CompilerServices;
using System.Text;
using Mmrag.Knowledge;

namespace Mmrag.Storage.ContractTests;

/// <summary>
/// The <see cref="IKnowledgeStore"/> test double of every test project, held to the same contract suite as the real
/// stores (<see cref="KnowledgeStoreContractTests"/>): exact vector search (cosine of unit vectors, filters through
/// <see cref="SearchFilter.Matches"/>), keyword search over the same fields as the embedded store's full-text index,
/// and the same validation and failures. Keyword scores count the distinct query words an item contains, without
/// stemming, so they rank like BM25 only roughly. Thread-safe: all state sits behind one lock, so readers see a
/// document's old or new items, never a mix.
/// </summary>
/// <remarks>
/// The knowledge base lives as long as something references it; <see cref="Reopen"/> opens it again as a new store,
/// which is what persistence across a reopen means for the real stores.
/// </remarks>
public sealed class InMemoryKnowledgeStore : IKnowledgeStore
{
    /// <summary>Same tolerance as the embedded store: vectors this close to unit length are stored as given.</summary>
    private const float NormTolerance = 1e-4f;

    private readonly KnowledgeBase _base;
    private int _disposed;

    /// <summary>Creates an empty knowledge base of <paramref name="space"/> and opens it.</summary>
    public InMemoryKnowledgeStore(EmbeddingSpace space)
        : this(new KnowledgeBase(space ?? throw new ArgumentNullException(nameof(space))))
    {
    }

    private InMemoryKnowledgeStore(KnowledgeBase knowledgeBase) => _base = knowledgeBase;

    public EmbeddingSpace Space => _base.Space;

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
                return [.. _base.Documents.Values.OrderBy(d => d.SourcePath, StringComparer.Ordinal)];
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
    /// <exception cref="ArgumentException">An item belongs to another document, repeats an id, or has a vector of the
    /// wrong dimension, with a non-finite value, or of length zero.</exception>
    /// <exception cref="KnowledgeStoreException">Another document has this source path or one of these item ids.</exception>
    public Task UpsertDocumentAsync(DocumentRecord document, IReadOnlyList<KnowledgeItem> items, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(document);
        ArgumentNullException.ThrowIfNull(items);
        ArgumentException.ThrowIfNullOrEmpty(document.Id, nameof(document));
        ArgumentException.ThrowIfNullOrEmpty(document.SourcePath, nameof(document));
        ThrowIfDisposed();
        StoredItem[] prepared = Prepare(document, items);
        cancellationToken.ThrowIfCancellationRequested();
        lock (_base.Gate)
        {
            // Checked before anything changes, so a refused upsert leaves the knowledge base as it was.
            if (_base.Documents.Values.FirstOrDefault(d => d.SourcePath == document.SourcePath && d.Id != document.Id) is { } owner)
            {
                throw new KnowledgeStoreException(
                    $"in-memory store: storing document '{document.Id}' failed: document '{owner.Id}' already has source path '{document.SourcePath}'.");
            }

            foreach (StoredItem stored in prepared)
            {
                if (_base.ItemIndex.TryGetValue(stored.Item.Id, out StoredItem? existing) && existing.Item.DocumentId != document.Id)
                {
                    throw new KnowledgeStoreException(
                        $"in-memory store: storing document '{document.Id}' failed: item id '{stored.Item.Id}' belongs to document '{existing.Item.DocumentId}'.");
                }
            }

            _base.RemoveItemsOf(document.Id);
            _base.Documents[document.Id] = document with { ItemCount = prepared.Length };
            _base.Items[document.Id] = prepared;
            foreach (StoredItem stored in prepared)
            {
                _base.ItemIndex[stored.Item.Id] = stored;
            }

            _base.Upserts++;
        }

        return Task.CompletedTask;
    }

    public Task<bool> DeleteDocumentAsync(string documentId, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(documentId);
        ThrowIfDisposed();
        cancellationToken.ThrowIfCancellationRequested();
        lock (_base.Gate)
        {
            _base.RemoveItemsOf(documentId);
            return Task.FromResult(_base.Documents.Remove(documentId));
        }
    }

    public Task<DocumentRecord?> GetDocumentAsync(string documentId, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(documentId);
        ThrowIfDisposed();
        cancellationToken.ThrowIfCancellationRequested();
        lock (_base.Gate)
        {
            return Task.FromResult(_base.Documents.GetValueOrDefault(documentId));
        }
    }

    public async IAsyncEnumerable<DocumentRecord> ListDocumentsAsync([EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        ThrowIfDisposed();
        cancellationToken.ThrowIfCancellationRequested();
        foreach (DocumentRecord document in Documents)
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
        ThrowIfDisposed();
        cancellationToken.ThrowIfCancellationRequested();
        lock (_base.Gate)
        {
            return Task.FromResult(_base.ItemIndex.GetValueOrDefault(itemId)?.Item);
        }
    }

    public Task<IReadOnlyDictionary<string, ReadOnlyMemory<float>>> FindVectorsByContentHashAsync(IReadOnlyCollection<string> contentHashes,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(contentHashes);
        ThrowIfDisposed();
        cancellationToken.ThrowIfCancellationRequested();
        var wanted = contentHashes.ToHashSet(StringComparer.Ordinal);
        var found = new Dictionary<string, ReadOnlyMemory<float>>(StringComparer.Ordinal);
        lock (_base.Gate)
        {
            foreach (StoredItem stored in _base.AllItems())
            {
                if (wanted.Contains(stored.Item.ContentHash))
                {
                    found.TryAdd(stored.Item.ContentHash, stored.Item.Vector);
                }
            }
        }

        return Task.FromResult<IReadOnlyDictionary<string, ReadOnlyMemory<float>>>(found);
    }

    /// <inheritdoc />
    /// <remarks>Always exact, so <paramref name="recall"/> is only validated.</remarks>
    /// <exception cref="ArgumentException">The query's dimension is not the knowledge base's, or it is zero or not finite.</exception>
    public Task<IReadOnlyList<StoreHit>> SearchVectorsAsync(ReadOnlyMemory<float> query, int k, SearchFilter? filter = null, double? recall = null,
        CancellationToken cancellationToken = default)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(k);
        SearchRecall.Validate(recall);
        float[] unit = Normalized(query.Span, "The query", nameof(query));
        ThrowIfDisposed();
        cancellationToken.ThrowIfCancellationRequested();
        filter ??= SearchFilter.None;
        lock (_base.Gate)
        {
            IReadOnlyList<StoreHit> hits = [.. _base.AllItems()
                .Where(s => filter.Matches(s.Item))
                .Select(s => new StoreHit(s.Item, TensorPrimitives.Dot(unit, s.Item.Vector.Span)))
                .OrderByDescending(h => h.Score)
                .ThenBy(h => h.Item.Id, StringComparer.Ordinal)
                .Take(k)];
            return Task.FromResult(hits);
        }
    }

    /// <inheritdoc />
    /// <remarks>
    /// The query's words (<see cref="KeywordTerms"/>) are matched case- and accent-insensitively against the words of an
    /// item's text, description, caption, section and document title; the score is how many distinct words matched.
    /// </remarks>
    public Task<IReadOnlyList<StoreHit>> SearchKeywordsAsync(string text, int k, SearchFilter? filter = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(text);
        ArgumentOutOfRangeException.ThrowIfNegative(k);
        ThrowIfDisposed();
        cancellationToken.ThrowIfCancellationRequested();
        filter ??= SearchFilter.None;
        string[] terms = [.. KeywordTerms.Split(text).Select(Fold).Distinct(StringComparer.Ordinal)];
        lock (_base.Gate)
        {
            IReadOnlyList<StoreHit> hits = [.. _base.AllItems()
                .Where(s => filter.Matches(s.Item))
                .Select(s => new StoreHit(s.Item, terms.Count(s.Words.Contains)))
                .Where(h => h.Score > 0)
                .OrderByDescending(h => h.Score)
                .ThenBy(h => h.Item.Id, StringComparer.Ordinal)
                .Take(k)];
            return Task.FromResult(hits);
        }
    }

    public Task RecordFailureAsync(IngestionFailure failure, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(failure);
        ArgumentNullException.ThrowIfNull(failure.SourcePath, nameof(failure));
        ArgumentNullException.ThrowIfNull(failure.Reason, nameof(failure));
        ThrowIfDisposed();
        cancellationToken.ThrowIfCancellationRequested();
        lock (_base.Gate)
        {
            _base.Failures.Add(failure);
        }

        return Task.CompletedTask;
    }

    public Task ClearFailuresAsync(string sourcePath, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(sourcePath);
        ThrowIfDisposed();
        cancellationToken.ThrowIfCancellationRequested();
        lock (_base.Gate)
        {
            _base.Failures.RemoveAll(f => f.SourcePath == sourcePath);
        }

        return Task.CompletedTask;
    }

    /// <inheritdoc />
    /// <remarks>Failures at the same time come latest recorded first, as in the real stores.</remarks>
    public Task<IReadOnlyList<IngestionFailure>> ListFailuresAsync(CancellationToken cancellationToken = default)
    {
        ThrowIfDisposed();
        cancellationToken.ThrowIfCancellationRequested();
        lock (_base.Gate)
        {
            return Task.FromResult<IReadOnlyList<IngestionFailure>>(
                [.. _base.Failures.Select((f, order) => (f, order)).OrderByDescending(x => x.f.At).ThenByDescending(x => x.order).Select(x => x.f)]);
        }
    }

    /// <inheritdoc />
    /// <remarks><see cref="KnowledgeBaseStats.StorageBytes"/> estimates the memory the stored vectors and texts take.</remarks>
    public Task<KnowledgeBaseStats> GetStatsAsync(CancellationToken cancellationToken = default)
    {
        ThrowIfDisposed();
        cancellationToken.ThrowIfCancellationRequested();
        lock (_base.Gate)
        {
            StoredItem[] items = _base.AllItems();
            long bytes = items.Sum(s => (long)s.Item.Vector.Length * sizeof(float) + (long)s.Item.Text.Length * sizeof(char))
                + _base.Documents.Values.Sum(d => (long)(d.SourcePath.Length + d.ContentHash.Length) * sizeof(char));
            return Task.FromResult(new KnowledgeBaseStats(Space, _base.Documents.Count, items.Count(s => s.Item.Kind == ItemKind.TextChunk),
                items.Count(s => s.Item.Kind == ItemKind.Image), _base.Failures.Count, bytes));
        }
    }

    /// <inheritdoc />
    /// <remarks>A seeded shuffle of the items sorted by id: the same seed and content give the same sample, whatever order
    /// the items were written in.</remarks>
    public Task<IReadOnlyList<KnowledgeItem>> SampleItemsAsync(ItemKind kind, int count, int seed, CancellationToken cancellationToken = default)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(count);
        ThrowIfDisposed();
        cancellationToken.ThrowIfCancellationRequested();
        KnowledgeItem[] items;
        lock (_base.Gate)
        {
            items = [.. _base.AllItems().Select(s => s.Item).Where(i => i.Kind == kind).OrderBy(i => i.Id, StringComparer.Ordinal)];
        }

        new Random(seed).Shuffle(items);
        return Task.FromResult<IReadOnlyList<KnowledgeItem>>([.. items.Take(count)]);
    }

    public Task<string?> GetSettingAsync(string key, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(key);
        ThrowIfDisposed();
        cancellationToken.ThrowIfCancellationRequested();
        lock (_base.Gate)
        {
            return Task.FromResult(_base.Settings.GetValueOrDefault(key));
        }
    }

    public Task SetSettingAsync(string key, string? value, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(key);
        ThrowIfDisposed();
        cancellationToken.ThrowIfCancellationRequested();
        lock (_base.Gate)
        {
            if (value is null)
            {
                _base.Settings.Remove(key);
            }
            else
            {
                _base.Settings[key] = value;
            }
        }

        return Task.CompletedTask;
    }

    /// <summary>Closes this store; its knowledge base stays, for <see cref="Reopen"/>.</summary>
    public ValueTask DisposeAsync()
    {
        Interlocked.Exchange(ref _disposed, 1);
        return ValueTask.CompletedTask;
    }

    private void ThrowIfDisposed() => ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);

    /// <summary>Checks the items against the document and the space, with unit-length copies of their vectors.</summary>
    private StoredItem[] Prepare(DocumentRecord document, IReadOnlyList<KnowledgeItem> items)
    {
        var prepared = new StoredItem[items.Count];
        var ids = new HashSet<string>(StringComparer.Ordinal);
        for (int i = 0; i < items.Count; i++)
        {
            KnowledgeItem item = items[i] ?? throw new ArgumentException($"Item {i} is null.", nameof(items));
            if (string.IsNullOrEmpty(item.Id))
            {
                throw new ArgumentException($"Item {i} has no id.", nameof(items));
            }

            if (item.DocumentId != document.Id)
            {
                throw new ArgumentException($"Item '{item.Id}' belongs to document '{item.DocumentId}', not '{document.Id}'.", nameof(items));
            }

            if (!ids.Add(item.Id))
            {
                throw new ArgumentException($"Item id '{item.Id}' appears twice.", nameof(items));
            }

            KnowledgeItem stored = item with { Vector = Normalized(item.Vector.Span, $"Item '{item.Id}'", nameof(items)) };
            prepared[i] = new StoredItem(stored, WordsOf(stored));
        }

        return prepared;
    }

    /// <summary>A unit-length copy of <paramref name="vector"/>, or an <see cref="ArgumentException"/> saying what is wrong with it.</summary>
    private float[] Normalized(ReadOnlySpan<float> vector, string what, string parameter)
    {
        if (vector.Length != Space.Dimension)
        {
            throw new ArgumentException(
                $"{what} has a vector of dimension {vector.Length}; this knowledge base's model '{Space.ModelId}' has dimension {Space.Dimension}.", parameter);
        }

        float norm = TensorPrimitives.Norm(vector);
        if (!float.IsFinite(norm))
        {
            throw new ArgumentException($"{what} has a vector with a NaN or infinite value.", parameter);
        }

        if (norm == 0)
        {
            throw new ArgumentException($"{what} has a zero vector, which has no direction to compare.", parameter);
        }

        // A copy either way: a caller reusing its array must not change what is stored.
        float[] copy = vector.ToArray();
        if (MathF.Abs(norm - 1) > NormTolerance)
        {
            TensorPrimitives.Divide(copy, norm, copy);
        }

        return copy;
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

    /// <summary>Lower case without diacritics, like the unicode61 tokenizer's <c>remove_diacritics</c>.</summary>
    private static string Fold(string word)
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

        public int Upserts { get; set; }

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
