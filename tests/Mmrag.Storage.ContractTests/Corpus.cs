using Mmrag.Knowledge;

namespace Mmrag.Storage.ContractTests;

/// <summary>
/// A seeded knowledge base for search tests: documents under two path prefixes, text chunks and images, tags, shared
/// content hashes, and clustered unit vectors.
/// </summary>
public sealed class Corpus
{
    private static readonly string[] s_words = ["harbour", "lighthouse", "meadow", "granite", "river", "orchard", "glacier", "market", "bridge", "lantern"];

    private Corpus(IReadOnlyList<DocumentRecord> documents, IReadOnlyList<KnowledgeItem> items)
    {
        Documents = documents;
        Items = items;
    }

    public IReadOnlyList<DocumentRecord> Documents { get; }

    public IReadOnlyList<KnowledgeItem> Items { get; }

    /// <summary>
    /// Filters over a corpus: every <see cref="SearchFilter"/> field alone (including conditions nothing or everything
    /// meets) and combined.
    /// </summary>
    public static IReadOnlyList<(string Name, SearchFilter Filter)> FilterCases { get; } =
    [
        ("no condition", new SearchFilter()),
        ("kind image", new SearchFilter { Kind = ItemKind.Image }),
        ("kind text", new SearchFilter { Kind = ItemKind.TextChunk }),
        ("two documents", new SearchFilter { DocumentIds = ["doc03", "doc10"] }),
        ("no documents", new SearchFilter { DocumentIds = [] }),
        ("unknown document", new SearchFilter { DocumentIds = ["nope"] }),
        ("path prefix", new SearchFilter { PathPrefix = "/kb/a/" }),
        ("path prefix of one file", new SearchFilter { PathPrefix = "/kb/b/doc05" }),
        ("path prefix, other case", new SearchFilter { PathPrefix = "/KB/a/" }),
        ("empty path prefix", new SearchFilter { PathPrefix = "" }),
        ("one tag", new SearchFilter { Tags = ["red"] }),
        ("two tags", new SearchFilter { Tags = ["red", "large"] }),
        ("unknown tag", new SearchFilter { Tags = ["purple"] }),
        ("no tags", new SearchFilter { Tags = [] }),
        ("excluded hashes", new SearchFilter { ExcludeContentHashes = ["shared-hash", "c-5", "c-6"] }),
        ("combined", new SearchFilter { Kind = ItemKind.TextChunk, PathPrefix = "/kb/b/", Tags = ["red"], ExcludeContentHashes = ["shared-hash"] }),
        ("documents and kind", new SearchFilter { DocumentIds = ["doc01", "doc02", "doc04"], Kind = ItemKind.Image }),
        ("documents outside the prefix", new SearchFilter { DocumentIds = ["doc01"], PathPrefix = "/kb/a/" }),
    ];

    /// <summary>
    /// <paramref name="count"/> items over 20 documents (even ones under /kb/a/, odd ones under /kb/b/); every third item
    /// is an image; tags "red" (every 4th) and "large" (every 5th); every 97th shares the content hash "shared-hash";
    /// texts draw from a small vocabulary, and "harbour" appears in about half of them.
    /// </summary>
    public static Corpus Build(int count, int dimension, int seed, int documentCount = 20)
    {
        var random = new Random(seed);
        float[][] vectors = ContractData.ClusteredVectors(count, dimension, clusters: 24, seed);
        var documents = Enumerable.Range(0, documentCount)
            .Select(d => ContractData.Document($"doc{d:D2}", $"/kb/{(d % 2 == 0 ? 'a' : 'b')}/doc{d:D2}.md", title: $"Document {d}",
                mediaType: "text/markdown"))
            .ToArray();
        var items = new KnowledgeItem[count];
        for (int i = 0; i < count; i++)
        {
            DocumentRecord document = documents[i % documentCount];
            var tags = new List<string>();
            if (i % 4 == 0)
            {
                tags.Add("red");
            }

            if (i % 5 == 0)
            {
                tags.Add("large");
            }

            string text = string.Join(' ', Enumerable.Range(0, 5).Select(_ => s_words[random.Next(s_words.Length)]));
            items[i] = ContractData.Item(document, i / documentCount, vectors[i], text, i % 3 == 0 ? ItemKind.Image : ItemKind.TextChunk,
                tags, contentHash: i % 97 == 0 ? "shared-hash" : $"c-{i}");
        }

        return new Corpus(documents, items);
    }

    /// <summary>Stores every document with its items (one upsert per document).</summary>
    public async Task StoreAsync(IKnowledgeStore store)
    {
        ArgumentNullException.ThrowIfNull(store);
        ILookup<string, KnowledgeItem> byDocument = Items.ToLookup(i => i.DocumentId);
        foreach (DocumentRecord document in Documents)
        {
            await store.UpsertDocumentAsync(document, byDocument[document.Id].ToArray());
        }
    }
}
