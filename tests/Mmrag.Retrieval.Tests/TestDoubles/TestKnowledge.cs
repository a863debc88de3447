using System.Text;
using Microsoft.Extensions.AI;
using Mmrag.Knowledge;
using Mmrag.Retrieval.Search;
using Mmrag.Storage;

namespace Mmrag.Retrieval.Tests.TestDoubles;

/// <summary>
/// A knowledge base under construction for one test: items are added with explicit vectors, grouped per document and
/// stored through the store contract by <see cref="CommitAsync"/>; the fake generators embed queries.
/// </summary>
public sealed class TestKnowledge(IKnowledgeStore store)
{
    private readonly Dictionary<string, List<KnowledgeItem>> _pending = new(StringComparer.Ordinal);

    public ObservedKnowledgeStore Store { get; } = new(store);

    public int Dimension => Store.Space.Dimension;

    public FakeTextEmbeddingGenerator TextGenerator { get; } = new(store.Space.Dimension);

    public FakeImageEmbeddingGenerator ImageGenerator { get; } = new(store.Space.Dimension);

    public KnowledgeItem AddText(string id, string text, float[] vector, string document = "notes", string? path = null, IReadOnlyList<string>? tags = null) =>
        Add(new KnowledgeItem
        {
            Id = id,
            DocumentId = document,
            Kind = ItemKind.TextChunk,
            ContentHash = SearchRequest.ComputeContentHash(Encoding.UTF8.GetBytes(text)),
            Text = text,
            Provenance = new Provenance(path ?? $"/kb/{document}.md", Position: Count(document)),
            Vector = vector,
            Tags = tags ?? [],
        });

    /// <summary>Adds an image item whose bytes are <paramref name="bytes"/> (default: derived from the id) and returns them as a query.</summary>
    public DataContent AddImage(string id, float[] vector, string description = "", string? document = null, string? path = null,
        IReadOnlyList<string>? tags = null, byte[]? bytes = null)
    {
        bytes ??= Encoding.UTF8.GetBytes("image bytes of " + id);
        document ??= "album-" + id;
        Add(new KnowledgeItem
        {
            Id = id,
            DocumentId = document,
            Kind = ItemKind.Image,
            ContentHash = SearchRequest.ComputeContentHash(bytes),
            Text = description,
            Description = description,
            ImagePath = path ?? $"/kb/{document}/{id}.png",
            Provenance = new Provenance(path ?? $"/kb/{document}/{id}.png", Position: Count(document)),
            Vector = vector,
            Tags = tags ?? [],
        });
        ImageGenerator.Set(bytes, vector);
        return new DataContent(bytes, "image/png");
    }

    /// <summary>An image query that is not in the knowledge base, embedding to <paramref name="vector"/>.</summary>
    public DataContent ImageQuery(string name, float[] vector)
    {
        var bytes = Encoding.UTF8.GetBytes("query image " + name);
        ImageGenerator.Set(bytes, vector);
        return new DataContent(bytes, "image/png");
    }

    /// <summary>A text query embedding to <paramref name="vector"/>.</summary>
    public string TextQuery(string text, float[] vector)
    {
        TextGenerator.Set(text, vector);
        return text;
    }

    public async Task CommitAsync()
    {
        foreach (var (document, items) in _pending)
        {
            var record = new DocumentRecord(document, items[0].Provenance.SourcePath, SearchRequest.ComputeContentHash(Encoding.UTF8.GetBytes(document)),
                items[0].Kind == ItemKind.Image ? "image/png" : "text/markdown", Title: document, items.Count, DateTimeOffset.UnixEpoch);
            await Store.UpsertDocumentAsync(record, items);
        }

        _pending.Clear();
    }

    public KnowledgeSearcher Searcher(KnowledgeSearcherOptions? options = null) => new(Store, TextGenerator, ImageGenerator, options);

    private KnowledgeItem Add(KnowledgeItem item)
    {
        if (!_pending.TryGetValue(item.DocumentId, out var items))
        {
            _pending[item.DocumentId] = items = [];
        }

        items.Add(item);
        return item;
    }

    private int Count(string document) => _pending.TryGetValue(document, out var items) ? items.Count : 0;
}

/// <summary>
/// Base of the retrieval suites that need a store: each backend subclasses it and supplies <see cref="CreateStore"/>.
/// Stores are disposed after each test.
/// </summary>
public abstract class StoreBackedTests : IAsyncLifetime
{
    private readonly List<IKnowledgeStore> _stores = [];

    /// <summary>A new, empty store of <paramref name="space"/>.</summary>
    protected abstract IKnowledgeStore CreateStore(EmbeddingSpace space);

    protected TestKnowledge NewKnowledge(int dimension = 64, string modelId = "synthetic-64")
    {
        return new TestKnowledge(Track(CreateStore(new EmbeddingSpace(modelId, dimension))));
    }

    /// <summary>Disposes <paramref name="store"/> after the test.</summary>
    protected IKnowledgeStore Track(IKnowledgeStore store)
    {
        _stores.Add(store);
        return store;
    }

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync()
    {
        foreach (var store in _stores)
        {
            await store.DisposeAsync();
        }
    }
}
