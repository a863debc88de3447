using System.Numerics.Tensors;
using System.Runtime.CompilerServices;
using System.Text.RegularExpressions;
using Mmrag.Knowledge;
using Mmrag.Storage;

namespace Mmrag.Retrieval.Tests.TestDoubles;

/// <summary>
/// A brute-force <see cref="IKnowledgeStore"/> for tests: exact cosine search with <see cref="SearchFilter.Matches"/>,
/// a keyword scorer that counts the distinct query terms an item's text contains, seeded shuffling for sampling and a
/// settings dictionary. Thread-safe through one lock.
/// </summary>
public sealed partial class InMemoryKnowledgeStore(EmbeddingSpace space) : IKnowledgeStore
{
    private readonly Lock _lock = new();
    private readonly Dictionary<string, DocumentRecord> _documents = new(StringComparer.Ordinal);
    private readonly Dictionary<string, KnowledgeItem[]> _items = new(StringComparer.Ordinal);
    private readonly Dictionary<string, string> _settings = new(StringComparer.Ordinal);
    private readonly List<IngestionFailure> _failures = [];

    public EmbeddingSpace Space { get; } = space;

    public Task UpsertDocumentAsync(DocumentRecord document, IReadOnlyList<KnowledgeItem> items, CancellationToken cancellationToken = default)
    {
        cancellationToken.ThrowIfCancellationRequested();
        foreach (var item in items)
        {
            if (item.Vector.Length != Space.Dimension)
            {
                throw new ArgumentException($"Item {item.Id} has a {item.Vector.Length}-dimensional vector; the store holds {Space.Dimension}.", nameof(items));
            }
        }

        lock (_lock)
        {
            _documents[document.Id] = document with { ItemCount = items.Count };
            _items[document.Id] = [.. items];
        }

        return Task.CompletedTask;
    }

    public Task<bool> DeleteDocumentAsync(string documentId, CancellationToken cancellationToken = default)
    {
        lock (_lock)
        {
            _items.Remove(documentId);
            return Task.FromResult(_documents.Remove(documentId));
        }
    }

    public Task<DocumentRecord?> GetDocumentAsync(string documentId, CancellationToken cancellationToken = default)
    {
        lock (_lock)
        {
            return Task.FromResult(_documents.GetValueOrDefault(documentId));
        }
    }

    public async IAsyncEnumerable<DocumentRecord> ListDocumentsAsync([EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        DocumentRecord[] documents;
        lock (_lock)
        {
            documents = [.. _documents.Values.OrderBy(d => d.SourcePath, StringComparer.Ordinal)];
        }

        foreach (var document in documents)
        {
            cancellationToken.ThrowIfCancellationRequested();
            yield return document;
        }

        await Task.CompletedTask;
    }

    public Task<KnowledgeItem?> GetItemAsync(string itemId, CancellationToken cancellationToken = default) =>
        Task.FromResult(AllItems().FirstOrDefault(i => i.Id == itemId));

    public Task<IReadOnlyDictionary<string, ReadOnlyMemory<float>>> FindVectorsByContentHashAsync(IReadOnlyCollection<string> contentHashes,
        CancellationToken cancellationToken = default)
    {
        var found = new Dictionary<string, ReadOnlyMemory<float>>(StringComparer.Ordinal);
        foreach (var item in AllItems())
        {
            if (contentHashes.Contains(item.ContentHash))
            {
                found.TryAdd(item.ContentHash, item.Vector);
            }
        }

        return Task.FromResult<IReadOnlyDictionary<string, ReadOnlyMemory<float>>>(found);
    }

    public Task<IReadOnlyList<StoreHit>> SearchVectorsAsync(ReadOnlyMemory<float> query, int k, SearchFilter? filter = null, double? recall = null,
        CancellationToken cancellationToken = default)
    {
        cancellationToken.ThrowIfCancellationRequested();
        if (query.Length != Space.Dimension)
        {
            throw new ArgumentException($"Query has {query.Length} dimensions; the store holds {Space.Dimension}.", nameof(query));
        }

        filter ??= SearchFilter.None;
        IReadOnlyList<StoreHit> hits = [.. AllItems()
            .Where(filter.Matches)
            .Select(item => new StoreHit(item, TensorPrimitives.Dot(query.Span, item.Vector.Span)))
            .OrderByDescending(hit => hit.Score)
            .ThenBy(hit => hit.Item.Id, StringComparer.Ordinal)
            .Take(k)];
        return Task.FromResult(hits);
    }

    public Task<IReadOnlyList<StoreHit>> SearchKeywordsAsync(string text, int k, SearchFilter? filter = null, CancellationToken cancellationToken = default)
    {
        cancellationToken.ThrowIfCancellationRequested();
        filter ??= SearchFilter.None;
        var terms = Terms(text).ToHashSet(StringComparer.Ordinal);
        IReadOnlyList<StoreHit> hits = [.. AllItems()
            .Where(filter.Matches)
            .Select(item => new StoreHit(item, Terms(item.Text).Distinct(StringComparer.Ordinal).Count(terms.Contains)))
            .Where(hit => hit.Score > 0)
            .OrderByDescending(hit => hit.Score)
            .ThenBy(hit => hit.Item.Id, StringComparer.Ordinal)
            .Take(k)];
        return Task.FromResult(hits);
    }

    public Task RecordFailureAsync(IngestionFailure failure, CancellationToken cancellationToken = default)
    {
        lock (_lock)
        {
            _failures.Add(failure);
        }

        return Task.CompletedTask;
    }

    public Task ClearFailuresAsync(string sourcePath, CancellationToken cancellationToken = default)
    {
        lock (_lock)
        {
            _failures.RemoveAll(f => f.SourcePath == sourcePath);
        }

        return Task.CompletedTask;
    }

    public Task<IReadOnlyList<IngestionFailure>> ListFailuresAsync(CancellationToken cancellationToken = default)
    {
        lock (_lock)
        {
            return Task.FromResult<IReadOnlyList<IngestionFailure>>([.. _failures.OrderByDescending(f => f.At)]);
        }
    }

    public Task<KnowledgeBaseStats> GetStatsAsync(CancellationToken cancellationToken = default)
    {
        var items = AllItems();
        int documents, failures;
        lock (_lock)
        {
            documents = _documents.Count;
            failures = _failures.Count;
        }

        return Task.FromResult(new KnowledgeBaseStats(Space, documents, items.Count(i => i.Kind == ItemKind.TextChunk),
            items.Count(i => i.Kind == ItemKind.Image), failures, StorageBytes: 0));
    }

    public Task<IReadOnlyList<KnowledgeItem>> SampleItemsAsync(ItemKind kind, int count, int seed, CancellationToken cancellationToken = default)
    {
        cancellationToken.ThrowIfCancellationRequested();
        var items = AllItems().Where(i => i.Kind == kind).OrderBy(i => i.Id, StringComparer.Ordinal).ToArray();
        new Random(seed).Shuffle(items);
        return Task.FromResult<IReadOnlyList<KnowledgeItem>>([.. items.Take(count)]);
    }

    public Task<string?> GetSettingAsync(string key, CancellationToken cancellationToken = default)
    {
        lock (_lock)
        {
            return Task.FromResult(_settings.GetValueOrDefault(key));
        }
    }

    public Task SetSettingAsync(string key, string? value, CancellationToken cancellationToken = default)
    {
        lock (_lock)
        {
            if (value is null)
            {
                _settings.Remove(key);
            }
            else
            {
                _settings[key] = value;
            }
        }

        return Task.CompletedTask;
    }

    public ValueTask DisposeAsync() => ValueTask.CompletedTask;

    private KnowledgeItem[] AllItems()
    {
        lock (_lock)
        {
            return [.. _items.Values.SelectMany(i => i)];
        }
    }

    private static IEnumerable<string> Terms(string text) =>
        NonWord().Split(text.ToLowerInvariant()).Where(t => t.Length > 0);

    [GeneratedRegex(@"[^\p{L}\p{N}]+")]
    private static partial Regex NonWord();
}
