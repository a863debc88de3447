using System.Runtime.CompilerServices;
using Mmrag.Knowledge;
using Mmrag.Storage;

namespace Mmrag.Ingestion.Tests.Support;

/// <summary>
/// A test double of <see cref="IKnowledgeStore"/>: dictionaries under one lock, brute-force vector search, naive
/// keyword matching. Each upsert replaces a document and its items in one step, as the contract requires. The
/// embedded SQLite store will replace it in integration tests.
/// </summary>
internal sealed class InMemoryKnowledgeStore(EmbeddingSpace space) : IKnowledgeStore
{
    private readonly Lock _gate = new();
    private readonly Dictionary<string, DocumentRecord> _documents = new(StringComparer.Ordinal);
    private readonly Dictionary<string, KnowledgeItem> _items = new(StringComparer.Ordinal);
    private readonly List<IngestionFailure> _failures = [];
    private readonly Dictionary<string, string> _settings = new(StringComparer.Ordinal);
    private int _upserts;

    public EmbeddingSpace Space { get; } = space;

    /// <summary>Upserts done so far.</summary>
    public int Upserts => Volatile.Read(ref _upserts);

    public IReadOnlyList<KnowledgeItem> Items
    {
        get
        {
            lock (_gate)
            {
                return [.. _items.Values];
            }
        }
    }

    public IReadOnlyList<DocumentRecord> Documents
    {
        get
        {
            lock (_gate)
            {
                return [.. _documents.Values.OrderBy(d => d.SourcePath, StringComparer.Ordinal)];
            }
        }
    }

    public IReadOnlyList<KnowledgeItem> ItemsOf(string documentId)
    {
        lock (_gate)
        {
            return [.. _items.Values.Where(i => i.DocumentId == documentId).OrderBy(i => i.Provenance.Position)];
        }
    }

    public Task UpsertDocumentAsync(DocumentRecord document, IReadOnlyList<KnowledgeItem> items, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(document);
        ArgumentNullException.ThrowIfNull(items);
        cancellationToken.ThrowIfCancellationRequested();
        foreach (var item in items)
        {
            if (item.DocumentId != document.Id)
            {
                throw new ArgumentException($"Item {item.Id} belongs to {item.DocumentId}, not {document.Id}.", nameof(items));
            }

            if (item.Vector.Length != Space.Dimension)
            {
                throw new ArgumentException($"Item {item.Id} has a {item.Vector.Length}-d vector; the store holds {Space.Dimension}-d.", nameof(items));
            }
        }

        if (items.Select(i => i.Id).Distinct().Count() != items.Count)
        {
            throw new ArgumentException("Duplicate item ids.", nameof(items));
        }

        lock (_gate)
        {
            RemoveItemsOf(document.Id);
            _documents[document.Id] = document;
            foreach (var item in items)
            {
                _items[item.Id] = item;
            }

            _upserts++;
        }

        return Task.CompletedTask;
    }

    public Task<bool> DeleteDocumentAsync(string documentId, CancellationToken cancellationToken = default)
    {
        lock (_gate)
        {
            RemoveItemsOf(documentId);
            return Task.FromResult(_documents.Remove(documentId));
        }
    }

    public Task<DocumentRecord?> GetDocumentAsync(string documentId, CancellationToken cancellationToken = default)
    {
        lock (_gate)
        {
            return Task.FromResult(_documents.GetValueOrDefault(documentId));
        }
    }

    public async IAsyncEnumerable<DocumentRecord> ListDocumentsAsync([EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        foreach (var document in Documents)
        {
            cancellationToken.ThrowIfCancellationRequested();
            await Task.Yield();
            yield return document;
        }
    }

    public Task<KnowledgeItem?> GetItemAsync(string itemId, CancellationToken cancellationToken = default)
    {
        lock (_gate)
        {
            return Task.FromResult(_items.GetValueOrDefault(itemId));
        }
    }

    public Task<IReadOnlyDictionary<string, ReadOnlyMemory<float>>> FindVectorsByContentHashAsync(IReadOnlyCollection<string> contentHashes,
        CancellationToken cancellationToken = default)
    {
        var wanted = contentHashes.ToHashSet(StringComparer.Ordinal);
        var found = new Dictionary<string, ReadOnlyMemory<float>>(StringComparer.Ordinal);
        lock (_gate)
        {
            foreach (var item in _items.Values)
            {
                if (wanted.Contains(item.ContentHash))
                {
                    found[item.ContentHash] = item.Vector;
                }
            }
        }

        return Task.FromResult<IReadOnlyDictionary<string, ReadOnlyMemory<float>>>(found);
    }

    public Task<IReadOnlyList<StoreHit>> SearchVectorsAsync(ReadOnlyMemory<float> query, int k, SearchFilter? filter = null, double? recall = null,
        CancellationToken cancellationToken = default)
    {
        var hits = Items.Where(i => (filter ?? SearchFilter.None).Matches(i))
            .Select(i => new StoreHit(i, Dot(query.Span, i.Vector.Span)))
            .OrderByDescending(h => h.Score)
            .Take(k)
            .ToList();
        return Task.FromResult<IReadOnlyList<StoreHit>>(hits);
    }

    public Task<IReadOnlyList<StoreHit>> SearchKeywordsAsync(string text, int k, SearchFilter? filter = null, CancellationToken cancellationToken = default)
    {
        var terms = text.ToUpperInvariant().Split(' ', StringSplitOptions.RemoveEmptyEntries);
        var hits = Items.Where(i => (filter ?? SearchFilter.None).Matches(i))
            .Select(i => new StoreHit(i, terms.Count(t => i.Text.ToUpperInvariant().Contains(t, StringComparison.Ordinal))))
            .Where(h => h.Score > 0)
            .OrderByDescending(h => h.Score)
            .Take(k)
            .ToList();
        return Task.FromResult<IReadOnlyList<StoreHit>>(hits);
    }

    public Task RecordFailureAsync(IngestionFailure failure, CancellationToken cancellationToken = default)
    {
        lock (_gate)
        {
            _failures.Add(failure);
        }

        return Task.CompletedTask;
    }

    public Task ClearFailuresAsync(string sourcePath, CancellationToken cancellationToken = default)
    {
        lock (_gate)
        {
            _failures.RemoveAll(f => f.SourcePath == sourcePath);
        }

        return Task.CompletedTask;
    }

    public Task<IReadOnlyList<IngestionFailure>> ListFailuresAsync(CancellationToken cancellationToken = default)
    {
        lock (_gate)
        {
            return Task.FromResult<IReadOnlyList<IngestionFailure>>([.. _failures.AsEnumerable().Reverse()]);
        }
    }

    public Task<KnowledgeBaseStats> GetStatsAsync(CancellationToken cancellationToken = default)
    {
        lock (_gate)
        {
            return Task.FromResult(new KnowledgeBaseStats(Space, _documents.Count, _items.Values.Count(i => i.Kind == ItemKind.TextChunk),
                _items.Values.Count(i => i.Kind == ItemKind.Image), _failures.Count, 0));
        }
    }

    public Task<IReadOnlyList<KnowledgeItem>> SampleItemsAsync(ItemKind kind, int count, int seed, CancellationToken cancellationToken = default)
    {
        var random = new Random(seed);
        var sample = Items.Where(i => i.Kind == kind).OrderBy(i => i.Id, StringComparer.Ordinal).OrderBy(_ => random.Next()).Take(count).ToList();
        return Task.FromResult<IReadOnlyList<KnowledgeItem>>(sample);
    }

    public Task<string?> GetSettingAsync(string key, CancellationToken cancellationToken = default)
    {
        lock (_gate)
        {
            return Task.FromResult(_settings.GetValueOrDefault(key));
        }
    }

    public Task SetSettingAsync(string key, string? value, CancellationToken cancellationToken = default)
    {
        lock (_gate)
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

    private void RemoveItemsOf(string documentId)
    {
        foreach (var id in _items.Values.Where(i => i.DocumentId == documentId).Select(i => i.Id).ToList())
        {
            _items.Remove(id);
        }
    }

    private static double Dot(ReadOnlySpan<float> a, ReadOnlySpan<float> b)
    {
        double sum = 0;
        for (var i = 0; i < a.Length; i++)
        {
            sum += (double)a[i] * b[i];
        }

        return sum;
    }
}
