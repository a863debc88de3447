using Mmrag.Knowledge;

namespace Mmrag.Storage.ContractTests;

/// <summary>
/// The contract every <see cref="IKnowledgeStore"/> backend must meet, written once. A backend's test project
/// subclasses it and says how to create a fresh knowledge base and how to open it again; every test then runs on it.
/// No test may be skipped for a backend without a written reason.
/// </summary>
/// <remarks>
/// Times in test data have whole milliseconds (a backend must keep at least microseconds). Vector search is checked
/// against brute force with recall (approximate indexes are allowed) except where the contract demands exactness:
/// an exact duplicate is the top hit, and a filter that allows fewer than k items returns all of them.
/// </remarks>
public abstract partial class KnowledgeStoreContractTests : IAsyncLifetime
{
    /// <summary>The space most tests use.</summary>
    protected static readonly EmbeddingSpace DefaultSpace = new("contract-model", 32);

    private readonly List<IKnowledgeStore> _stores = [];

    /// <summary>Creates a new, empty knowledge base for <paramref name="space"/> (each call a distinct one) and opens it.</summary>
    protected abstract Task<IKnowledgeStore> CreateStoreAsync(EmbeddingSpace space);

    /// <summary>
    /// Opens again the knowledge base that the latest <see cref="CreateStoreAsync"/> call created, after every store
    /// opened on it was disposed, asking for <paramref name="space"/> (a different one must throw <see cref="EmbeddingSpaceMismatchException"/>).
    /// </summary>
    protected abstract Task<IKnowledgeStore> ReopenStoreAsync(EmbeddingSpace space);

    /// <summary>Removes what the test created (called after every store was disposed).</summary>
    protected virtual Task CleanupAsync() => Task.CompletedTask;

    /// <inheritdoc />
    public virtual Task InitializeAsync() => Task.CompletedTask;

    /// <inheritdoc />
    public async Task DisposeAsync()
    {
        foreach (IKnowledgeStore store in _stores)
        {
            await store.DisposeAsync();
        }

        await CleanupAsync();
    }

    /// <summary>A new store, disposed after the test.</summary>
    protected async Task<IKnowledgeStore> NewStoreAsync(EmbeddingSpace? space = null)
    {
        IKnowledgeStore store = await CreateStoreAsync(space ?? DefaultSpace);
        _stores.Add(store);
        return store;
    }

    /// <summary>Disposes <paramref name="store"/> and opens its knowledge base again.</summary>
    protected async Task<IKnowledgeStore> ReopenAsync(IKnowledgeStore store, EmbeddingSpace? space = null)
    {
        EmbeddingSpace original = store.Space;
        await store.DisposeAsync();
        IKnowledgeStore reopened = await ReopenStoreAsync(space ?? original);
        _stores.Add(reopened);
        return reopened;
    }

    // ------------------------------------------------------------------ space

    [Fact]
    public async Task Space_NewStore_IsTheSpaceItWasCreatedWith()
    {
        var space = new EmbeddingSpace("some-model/v2", 48);
        IKnowledgeStore store = await NewStoreAsync(space);
        Assert.Equal(space, store.Space);
        Assert.Equal(space, (await store.GetStatsAsync()).Space);
    }

    // ------------------------------------------------------------------ upsert and read back

    [Fact]
    public async Task Upsert_NewDocument_DocumentAndItemsReadBackFieldForField()
    {
        IKnowledgeStore store = await NewStoreAsync();
        var random = new Random(1);
        DocumentRecord doc = ContractData.Document("doc-1", "/kb/guide.md", title: "Guide", tags: ["manual", "v2"], mediaType: "text/markdown");
        KnowledgeItem text = ContractData.Item(doc, 0, ContractData.UnitVector(random, 32), "The lighthouse keeper's log.", tags: ["manual"],
            section: "History › Early years", page: 3);
        KnowledgeItem image = ContractData.Item(doc, 1, ContractData.UnitVector(random, 32), "figure one", ItemKind.Image,
            description: "A lighthouse at dusk", caption: "Figure 1: the tower", imagePath: "/kb/img/tower.jpg", section: "History");
        await store.UpsertDocumentAsync(doc, [text, image]);

        ContractData.AssertSameDocument(doc, await store.GetDocumentAsync("doc-1"), expectedItemCount: 2);
        ContractData.AssertSameItem(text, await store.GetItemAsync(text.Id));
        ContractData.AssertSameItem(image, await store.GetItemAsync(image.Id));
        Assert.Null(await store.GetItemAsync("no-such-item"));
        Assert.Null(await store.GetDocumentAsync("no-such-document"));
    }

    [Fact]
    public async Task Upsert_DocumentWithNoItems_IsStoredWithItemCountZero()
    {
        IKnowledgeStore store = await NewStoreAsync();
        DocumentRecord doc = ContractData.Document("empty", itemCount: 5);
        await store.UpsertDocumentAsync(doc, []);
        ContractData.AssertSameDocument(doc, await store.GetDocumentAsync("empty"), expectedItemCount: 0);
    }

    [Fact]
    public async Task Upsert_SameDocumentAgain_ReplacesItsItemsCompletely()
    {
        IKnowledgeStore store = await NewStoreAsync();
        var random = new Random(2);
        DocumentRecord other = ContractData.Document("other");
        KnowledgeItem otherItem = ContractData.Item(other, 0, ContractData.UnitVector(random, 32), "gamma");
        await store.UpsertDocumentAsync(other, [otherItem]);

        DocumentRecord v1 = ContractData.Document("doc");
        float[][] oldVectors = [ContractData.UnitVector(random, 32), ContractData.UnitVector(random, 32), ContractData.UnitVector(random, 32)];
        await store.UpsertDocumentAsync(v1,
        [
            ContractData.Item(v1, 0, oldVectors[0], "alpha zero"),
            ContractData.Item(v1, 1, oldVectors[1], "alpha one"),
            ContractData.Item(v1, 2, oldVectors[2], "alpha two"),
        ]);

        DocumentRecord v2 = v1 with { ContentHash = "hash-v2", Title = "Second version", IngestedAt = ContractData.Time.AddHours(1) };
        KnowledgeItem kept = ContractData.Item(v2, 0, ContractData.UnitVector(random, 32), "beta zero", contentHash: "c-beta-0");
        KnowledgeItem added = ContractData.Item(v2, 5, ContractData.UnitVector(random, 32), "beta five", contentHash: "c-beta-5");
        await store.UpsertDocumentAsync(v2, [kept, added]);

        ContractData.AssertSameDocument(v2, await store.GetDocumentAsync("doc"), expectedItemCount: 2);
        ContractData.AssertSameItem(kept, await store.GetItemAsync("doc#0"));
        ContractData.AssertSameItem(added, await store.GetItemAsync("doc#5"));
        Assert.Null(await store.GetItemAsync("doc#1"));
        Assert.Null(await store.GetItemAsync("doc#2"));
        ContractData.AssertSameItem(otherItem, await store.GetItemAsync(otherItem.Id));

        foreach (float[] old in oldVectors)
        {
            IReadOnlyList<StoreHit> hits = await store.SearchVectorsAsync(old, 10);
            Assert.Equal(["doc#0", "doc#5", "other#0"], hits.Select(h => h.Item.Id).Order(StringComparer.Ordinal));
        }

        Assert.Empty(await store.SearchKeywordsAsync("alpha", 10));
        Assert.Equal(["doc#0"], (await store.SearchKeywordsAsync("beta zero", 1)).Select(h => h.Item.Id));
        IReadOnlyDictionary<string, ReadOnlyMemory<float>> vectors = await store.FindVectorsByContentHashAsync(["c-doc-1", "c-doc-2", "c-beta-5"]);
        Assert.Equal(["c-beta-5"], vectors.Keys);
    }

    [Fact]
    public async Task Upsert_ItemOfAnotherDocument_ThrowsArgumentExceptionAndStoresNothing()
    {
        IKnowledgeStore store = await NewStoreAsync();
        DocumentRecord doc = ContractData.Document("doc");
        KnowledgeItem stray = ContractData.Item(ContractData.Document("elsewhere"), 0, ContractData.UnitVector(new Random(3), 32));
        await Assert.ThrowsAnyAsync<ArgumentException>(() => store.UpsertDocumentAsync(doc, [stray]));
        Assert.Null(await store.GetDocumentAsync("doc"));
        Assert.Null(await store.GetItemAsync(stray.Id));
    }

    [Fact]
    public async Task Upsert_RepeatedItemId_ThrowsArgumentException()
    {
        IKnowledgeStore store = await NewStoreAsync();
        var random = new Random(4);
        DocumentRecord doc = ContractData.Document("doc");
        KnowledgeItem a = ContractData.Item(doc, 0, ContractData.UnitVector(random, 32));
        KnowledgeItem b = ContractData.Item(doc, 1, ContractData.UnitVector(random, 32), id: a.Id);
        await Assert.ThrowsAnyAsync<ArgumentException>(() => store.UpsertDocumentAsync(doc, [a, b]));
        Assert.Null(await store.GetDocumentAsync("doc"));
    }

    [Fact]
    public async Task Upsert_VectorOfWrongDimension_ThrowsArgumentExceptionNamingBothAndStoresNothing()
    {
        IKnowledgeStore store = await NewStoreAsync();
        var random = new Random(5);
        DocumentRecord doc = ContractData.Document("doc");
        KnowledgeItem good = ContractData.Item(doc, 0, ContractData.UnitVector(random, 32));
        KnowledgeItem bad = ContractData.Item(doc, 1, ContractData.UnitVector(random, 31));
        ArgumentException error = await Assert.ThrowsAnyAsync<ArgumentException>(() => store.UpsertDocumentAsync(doc, [good, bad]));
        Assert.Contains("31", error.Message, StringComparison.Ordinal);
        Assert.Contains("32", error.Message, StringComparison.Ordinal);
        Assert.Null(await store.GetDocumentAsync("doc"));
        Assert.Null(await store.GetItemAsync(good.Id));
    }

    [Fact]
    public async Task Upsert_ZeroOrNonFiniteVector_ThrowsArgumentException()
    {
        IKnowledgeStore store = await NewStoreAsync();
        DocumentRecord doc = ContractData.Document("doc");
        float[] nan = ContractData.UnitVector(new Random(6), 32);
        nan[3] = float.NaN;
        float[] infinite = ContractData.UnitVector(new Random(7), 32);
        infinite[0] = float.PositiveInfinity;
        foreach (float[] vector in (float[][])[new float[32], nan, infinite])
        {
            await Assert.ThrowsAnyAsync<ArgumentException>(() => store.UpsertDocumentAsync(doc, [ContractData.Item(doc, 0, vector)]));
        }

        Assert.Null(await store.GetDocumentAsync("doc"));
    }

    [Fact]
    public async Task Upsert_VectorNotOfUnitLength_IsStoredNormalized()
    {
        IKnowledgeStore store = await NewStoreAsync();
        float[] unit = ContractData.UnitVector(new Random(8), 32);
        DocumentRecord doc = ContractData.Document("doc");
        await store.UpsertDocumentAsync(doc, [ContractData.Item(doc, 0, unit.Select(x => x * 3.5f).ToArray())]);
        KnowledgeItem? stored = await store.GetItemAsync("doc#0");
        Assert.NotNull(stored);
        ContractData.AssertVectorsClose(unit, stored.Vector.Span, 1e-5f);
        IReadOnlyList<StoreHit> hits = await store.SearchVectorsAsync(unit, 1);
        Assert.Equal(1.0, hits.Single().Score, 4);
    }

    [Fact]
    public async Task Upsert_VectorOfUnitLengthWithinTolerance_IsStoredBitForBit()
    {
        // The generators normalise; a store that normalised again would change the bits (and do the work twice).
        IKnowledgeStore store = await NewStoreAsync();
        float[] nearlyUnit = ContractData.UnitVector(new Random(18), 32).Select(x => x * 1.00003f).ToArray();
        DocumentRecord doc = ContractData.Document("doc");
        await store.UpsertDocumentAsync(doc, [ContractData.Item(doc, 0, nearlyUnit)]);
        KnowledgeItem? stored = await store.GetItemAsync("doc#0");
        Assert.NotNull(stored);
        Assert.Equal(nearlyUnit, stored.Vector.ToArray());
    }

    [Fact]
    public async Task Upsert_ItemIdOrSourcePathOwnedByAnotherDocument_IsRefusedAndChangesNothing()
    {
        IKnowledgeStore store = await NewStoreAsync();
        var random = new Random(9);
        DocumentRecord first = ContractData.Document("first", "/kb/first.txt");
        KnowledgeItem firstItem = ContractData.Item(first, 0, ContractData.UnitVector(random, 32), "first text", id: "shared-id");
        await store.UpsertDocumentAsync(first, [firstItem]);

        DocumentRecord second = ContractData.Document("second", "/kb/second.txt");
        Exception idClash = await Assert.ThrowsAnyAsync<Exception>(() =>
            store.UpsertDocumentAsync(second, [ContractData.Item(second, 0, ContractData.UnitVector(random, 32), id: "shared-id")]));
        Assert.True(idClash is KnowledgeStoreException or ArgumentException, $"Unexpected {idClash.GetType()}: {idClash.Message}");

        DocumentRecord samePath = ContractData.Document("third", "/kb/first.txt");
        Exception pathClash = await Assert.ThrowsAnyAsync<Exception>(() => store.UpsertDocumentAsync(samePath, []));
        Assert.True(pathClash is KnowledgeStoreException or ArgumentException, $"Unexpected {pathClash.GetType()}: {pathClash.Message}");

        Assert.Null(await store.GetDocumentAsync("second"));
        Assert.Null(await store.GetDocumentAsync("third"));
        ContractData.AssertSameItem(firstItem, await store.GetItemAsync("shared-id"));
        Assert.Equal(["shared-id"], (await store.SearchVectorsAsync(firstItem.Vector, 10)).Select(h => h.Item.Id));
        KnowledgeBaseStats stats = await store.GetStatsAsync();
        Assert.Equal((1, 1), (stats.Documents, stats.TextChunks));
    }

    // ------------------------------------------------------------------ delete and list

    [Fact]
    public async Task Delete_Document_RemovesItAndItsItemsEverywhere()
    {
        IKnowledgeStore store = await NewStoreAsync();
        var random = new Random(10);
        DocumentRecord keep = ContractData.Document("keep");
        DocumentRecord drop = ContractData.Document("drop");
        KnowledgeItem kept = ContractData.Item(keep, 0, ContractData.UnitVector(random, 32), "harbour", contentHash: "h-keep");
        KnowledgeItem[] dropped =
        [
            ContractData.Item(drop, 0, ContractData.UnitVector(random, 32), "harbour crane", contentHash: "h-drop"),
            ContractData.Item(drop, 1, ContractData.UnitVector(random, 32), "harbour ship", ItemKind.Image),
        ];
        await store.UpsertDocumentAsync(keep, [kept]);
        await store.UpsertDocumentAsync(drop, dropped);

        Assert.True(await store.DeleteDocumentAsync("drop"));

        Assert.Null(await store.GetDocumentAsync("drop"));
        Assert.Null(await store.GetItemAsync("drop#0"));
        Assert.Null(await store.GetItemAsync("drop#1"));
        Assert.Equal(["keep#0"], (await store.SearchVectorsAsync(dropped[0].Vector, 10)).Select(h => h.Item.Id));
        Assert.Equal(["keep#0"], (await store.SearchKeywordsAsync("harbour", 10)).Select(h => h.Item.Id));
        Assert.Equal(["h-keep"], (await store.FindVectorsByContentHashAsync(["h-keep", "h-drop"])).Keys);
        Assert.Equal(["keep"], await ToListAsync(store.ListDocumentsAsync(), d => d.Id));
        KnowledgeBaseStats stats = await store.GetStatsAsync();
        Assert.Equal((1, 1, 0), (stats.Documents, stats.TextChunks, stats.Images));

        Assert.False(await store.DeleteDocumentAsync("drop"));
        Assert.False(await store.DeleteDocumentAsync("never-was"));
    }

    [Fact]
    public async Task ListDocuments_SeveralDocuments_AreOrderedBySourcePathOrdinally()
    {
        IKnowledgeStore store = await NewStoreAsync();
        string[] paths = ["/kb/c.txt", "/kb/a.txt", "/kb/B.txt", "/kb/a/z.txt", "/kb/a.md"];
        for (int i = 0; i < paths.Length; i++)
        {
            await store.UpsertDocumentAsync(ContractData.Document($"d{i}", paths[i]), []);
        }

        List<string> listed = await ToListAsync(store.ListDocumentsAsync(), d => d.SourcePath);
        Assert.Equal(paths.Order(StringComparer.Ordinal), listed);
    }

    // ------------------------------------------------------------------ content hashes

    [Fact]
    public async Task FindVectorsByContentHash_KnownUnknownAndShared_ReturnsOneVectorPerKnownHash()
    {
        IKnowledgeStore store = await NewStoreAsync();
        var random = new Random(11);
        float[] shared = ContractData.UnitVector(random, 32);
        float[] own = ContractData.UnitVector(random, 32);
        DocumentRecord a = ContractData.Document("a");
        DocumentRecord b = ContractData.Document("b");
        await store.UpsertDocumentAsync(a, [ContractData.Item(a, 0, shared, contentHash: "same"), ContractData.Item(a, 1, own, contentHash: "own")]);
        await store.UpsertDocumentAsync(b, [ContractData.Item(b, 0, shared, kind: ItemKind.Image, contentHash: "same")]);

        IReadOnlyDictionary<string, ReadOnlyMemory<float>> found = await store.FindVectorsByContentHashAsync(["same", "own", "unknown", "same"]);
        Assert.Equal(["own", "same"], found.Keys.Order(StringComparer.Ordinal));
        ContractData.AssertVectorsClose(shared, found["same"].Span);
        ContractData.AssertVectorsClose(own, found["own"].Span);
        Assert.Empty(await store.FindVectorsByContentHashAsync([]));
    }

    // ------------------------------------------------------------------ vector search

    [Theory]
    [InlineData(32, 2500, 21)]
    [InlineData(128, 2000, 22)]
    public async Task SearchVectors_SeededCorpus_RecallAtTenAgainstBruteForceIsAtLeast95Percent(int dimension, int count, int seed)
    {
        var space = new EmbeddingSpace("contract-model", dimension);
        IKnowledgeStore store = await NewStoreAsync(space);
        Corpus corpus = Corpus.Build(count, dimension, seed);
        await corpus.StoreAsync(store);

        var random = new Random(seed + 1000);
        int found = 0, total = 0;
        for (int q = 0; q < 30; q++)
        {
            float[] query = q % 3 == 0 ? ContractData.UnitVector(random, dimension) : ContractData.Near(corpus.Items[random.Next(count)].Vector.ToArray(), random, 0.8f);
            string[] truth = ContractData.BruteForceTopK(corpus.Items, query, 10);
            IReadOnlyList<StoreHit> hits = await store.SearchVectorsAsync(query, 10);
            Assert.Equal(10, hits.Count);
            AssertScoresAreCosinesBestFirst(query, hits);
            found += hits.Count(h => truth.Contains(h.Item.Id));
            total += truth.Length;
        }

        double recall = found / (double)total;
        Assert.True(recall >= 0.95, $"recall@10 = {recall:F3}");
    }

    [Fact]
    public async Task SearchVectors_RequestedRecall_OneIsTheExactTopKAndLowerStillFillsK()
    {
        const int dimension = 32, count = 2500, seed = 23;
        var space = new EmbeddingSpace("contract-model", dimension);
        IKnowledgeStore store = await NewStoreAsync(space);
        Corpus corpus = Corpus.Build(count, dimension, seed);
        await corpus.StoreAsync(store);

        var random = new Random(seed + 1000);
        int foundFast = 0;
        for (int q = 0; q < 30; q++)
        {
            float[] query = q % 3 == 0 ? ContractData.UnitVector(random, dimension) : ContractData.Near(corpus.Items[random.Next(count)].Vector.ToArray(), random, 0.8f);
            string[] truth = ContractData.BruteForceTopK(corpus.Items, query, 10);
            Assert.Equal(truth, (await store.SearchVectorsAsync(query, 10, recall: SearchRecall.Exact)).Select(h => h.Item.Id));

            IReadOnlyList<StoreHit> fast = await store.SearchVectorsAsync(query, 10, recall: 0.8);
            Assert.Equal(10, fast.Count);
            AssertScoresAreCosinesBestFirst(query, fast);
            foundFast += fast.Count(h => truth.Contains(h.Item.Id));
        }

        Assert.True(foundFast / 300.0 >= 0.7, $"recall@10 asked 0.8, got {foundFast / 300.0:F3}");
        foreach (double invalid in new[] { 0, -0.5, 1.01, double.NaN })
        {
            await Assert.ThrowsAnyAsync<ArgumentOutOfRangeException>(() => store.SearchVectorsAsync(corpus.Items[0].Vector, 10, recall: invalid));
        }
    }

    [Fact]
    public async Task SearchVectors_ExactDuplicateOfAStoredVector_IsTheTopHitWithScoreOne()
    {
        IKnowledgeStore store = await NewStoreAsync();
        Corpus corpus = Corpus.Build(1500, 32, 31);
        await corpus.StoreAsync(store);
        foreach (int index in (int[])[0, 777, 1499])
        {
            KnowledgeItem target = corpus.Items[index];
            IReadOnlyList<StoreHit> hits = await store.SearchVectorsAsync(target.Vector, 5);
            Assert.Equal(target.Id, hits[0].Item.Id);
            Assert.Equal(1.0, hits[0].Score, 4);
            ContractData.AssertVectorsClose(target.Vector.Span, hits[0].Item.Vector.Span);
        }
    }

    [Fact]
    public async Task SearchVectors_EdgeCases_KZeroEmptyStoreAndKBeyondTheCollection()
    {
        IKnowledgeStore store = await NewStoreAsync();
        var random = new Random(12);
        float[] query = ContractData.UnitVector(random, 32);
        Assert.Empty(await store.SearchVectorsAsync(query, 10));
        DocumentRecord doc = ContractData.Document("doc");
        await store.UpsertDocumentAsync(doc, Enumerable.Range(0, 7).Select(i => ContractData.Item(doc, i, ContractData.UnitVector(random, 32))).ToArray());
        Assert.Empty(await store.SearchVectorsAsync(query, 0));
        IReadOnlyList<StoreHit> all = await store.SearchVectorsAsync(query, 100);
        Assert.Equal(7, all.Count);
        AssertScoresAreCosinesBestFirst(query, all);
        await Assert.ThrowsAnyAsync<ArgumentException>(() => store.SearchVectorsAsync(ContractData.UnitVector(random, 16), 5));
        await Assert.ThrowsAnyAsync<ArgumentException>(() => store.SearchVectorsAsync(query, -1));
    }

    [Fact]
    public async Task SearchVectors_EveryFilterFieldAloneAndCombined_MatchesTheReferenceSemantics()
    {
        IKnowledgeStore store = await NewStoreAsync();
        Corpus corpus = Corpus.Build(2000, 32, 41);
        await corpus.StoreAsync(store);
        var random = new Random(42);
        float[][] queries = Enumerable.Range(0, 4).Select(_ => ContractData.UnitVector(random, 32)).ToArray();
        foreach ((string name, SearchFilter filter) in Corpus.FilterCases)
        {
            int allowed = corpus.Items.Count(filter.Matches);
            int found = 0, total = 0;
            foreach (float[] query in queries)
            {
                string[] truth = ContractData.BruteForceTopK(corpus.Items, query, 10, filter);
                IReadOnlyList<StoreHit> hits = await store.SearchVectorsAsync(query, 10, filter);
                Assert.True(hits.All(h => filter.Matches(h.Item)), $"{name}: a hit does not match the filter");
                Assert.True(hits.Count == Math.Min(10, allowed), $"{name}: {hits.Count} hits, {allowed} items match");
                AssertScoresAreCosinesBestFirst(query, hits);
                found += hits.Count(h => truth.Contains(h.Item.Id));
                total += truth.Length;
            }

            Assert.True(total == 0 || found / (double)total >= 0.9, $"{name}: recall {found}/{total}");
        }
    }

    [Fact]
    public async Task SearchVectors_ExcludedContentHash_NeverReturnsAnyItemWithIt()
    {
        IKnowledgeStore store = await NewStoreAsync();
        var random = new Random(13);
        float[] image = ContractData.UnitVector(random, 32);
        DocumentRecord a = ContractData.Document("a");
        DocumentRecord b = ContractData.Document("b");
        await store.UpsertDocumentAsync(a, [ContractData.Item(a, 0, image, kind: ItemKind.Image, contentHash: "query-image"),
            ContractData.Item(a, 1, ContractData.Near(image, random), kind: ItemKind.Image, contentHash: "near-copy")]);
        await store.UpsertDocumentAsync(b, [ContractData.Item(b, 0, image, kind: ItemKind.Image, contentHash: "query-image")]);

        IReadOnlyList<StoreHit> hits = await store.SearchVectorsAsync(image, 10, new SearchFilter { ExcludeContentHashes = ["query-image"] });
        Assert.Equal(["a#1"], hits.Select(h => h.Item.Id));
    }

    // ------------------------------------------------------------------ keyword search

    [Fact]
    public async Task SearchKeywords_ItemContainingTheTerms_RanksAboveItemsWithFewerOrNone()
    {
        IKnowledgeStore store = await NewStoreAsync();
        await StoreKeywordCorpusAsync(store);

        IReadOnlyList<StoreHit> hits = await store.SearchKeywordsAsync("red lighthouse", 10);
        Assert.Equal("k#0", hits[0].Item.Id);
        Assert.Contains(hits, h => h.Item.Id == "k#1");
        Assert.DoesNotContain(hits, h => h.Item.Id == "k#2");
        Assert.True(hits.Zip(hits.Skip(1)).All(p => p.First.Score >= p.Second.Score), "scores must be best first");
        Assert.True(hits[0].Score > hits.Single(h => h.Item.Id == "k#1").Score);
        Assert.All(hits, h => Assert.Equal(32, h.Item.Vector.Length));

        Assert.Equal(["k#0"], (await store.SearchKeywordsAsync("cliff", 10)).Select(h => h.Item.Id));
        Assert.Equal(["k#0", "k#3"], (await store.SearchKeywordsAsync("lighthouse", 10)).Select(h => h.Item.Id).Order(StringComparer.Ordinal));
        Assert.Single(await store.SearchKeywordsAsync("lighthouse", 1));
        Assert.Empty(await store.SearchKeywordsAsync("lighthouse", 0));
    }

    [Fact]
    public async Task SearchKeywords_PluralOrSingularOfAStoredWord_FindsIt()
    {
        // Every store stems English words: the embedded one with FTS5's Porter tokenizer, PostgreSQL with its english
        // text search configuration, the in-memory double by plurals.
        IKnowledgeStore store = await NewStoreAsync();
        var random = new Random(5);
        DocumentRecord doc = ContractData.Document("garden");
        await store.UpsertDocumentAsync(doc,
        [
            ContractData.Item(doc, 0, ContractData.UnitVector(random, store.Space.Dimension), "A flower by the gate."),
            ContractData.Item(doc, 1, ContractData.UnitVector(random, store.Space.Dimension), "Two benches under the old trees."),
        ]);

        Assert.Equal(["garden#0"], (await store.SearchKeywordsAsync("flowers", 10)).Select(h => h.Item.Id));
        Assert.Equal(["garden#0"], (await store.SearchKeywordsAsync("Flower", 10)).Select(h => h.Item.Id));
        Assert.Equal(["garden#1"], (await store.SearchKeywordsAsync("tree", 10)).Select(h => h.Item.Id));
        Assert.Empty(await store.SearchKeywordsAsync("flowerbed", 10));
    }

    [Fact]
    public async Task SearchKeywords_WordsInDescriptionCaptionSectionOrTitle_AreFound()
    {
        IKnowledgeStore store = await NewStoreAsync();
        await StoreKeywordCorpusAsync(store);
        Assert.Equal(["k#3"], (await store.SearchKeywordsAsync("dusk", 10)).Select(h => h.Item.Id));
        Assert.Equal(["k#3"], (await store.SearchKeywordsAsync("tower", 10)).Select(h => h.Item.Id));
        Assert.Equal(["k#2"], (await store.SearchKeywordsAsync("seascapes", 10)).Select(h => h.Item.Id));
        Assert.Equal(4, (await store.SearchKeywordsAsync("almanac", 10)).Count);
    }

    [Fact]
    public async Task SearchKeywords_SyntaxCharactersInTheQuery_NeverThrowAndWordsStillMatch()
    {
        IKnowledgeStore store = await NewStoreAsync();
        await StoreKeywordCorpusAsync(store);
        string[] queries =
        [
            "\"", "\"red", "red\"", "*", "red*", "lighthouse *", "NEAR(red lighthouse)", "red NEAR lighthouse", "NEAR/2 red", "-red", "red -car",
            "it's red", "'", "''", "red AND OR NOT", "AND", "(red", "red)", "text:red", "title:almanac", "^red", "red + car", "red:*",
            "'; DROP TABLE items; --", "\\", "%_ red", "{red}", "[red]", "red\u0000lighthouse", "red\ncar", "🙂 red", "ré́d", "\"\" red \"\"",
        ];
        foreach (string query in queries)
        {
            IReadOnlyList<StoreHit> hits = await store.SearchKeywordsAsync(query, 10);
            bool hasRed = query.Split([' ', '"', '(', ')', '*', '-', ':', '^', '+', '{', '}', '[', ']', '%', '\'', ';', '\n', '\u0000'])
                .Any(w => w == "red");
            if (hasRed)
            {
                Assert.True(hits.Any(h => h.Item.Id == "k#0"), $"'{query}' should find the red lighthouse");
            }
        }

        Assert.Equal(4, (await store.GetStatsAsync()).TextChunks + (await store.GetStatsAsync()).Images);
    }

    [Theory]
    [InlineData("")]
    [InlineData("   ")]
    [InlineData("!!! ??? ...")]
    [InlineData("\"\"")]
    [InlineData("*")]
    [InlineData("- ( ) :")]
    public async Task SearchKeywords_NoWordInTheQuery_ReturnsNoHits(string query)
    {
        IKnowledgeStore store = await NewStoreAsync();
        await StoreKeywordCorpusAsync(store);
        Assert.Empty(await store.SearchKeywordsAsync(query, 10));
    }

    [Fact]
    public async Task SearchKeywords_EveryFilterFieldAloneAndCombined_ReturnsExactlyTheMatchingItems()
    {
        IKnowledgeStore store = await NewStoreAsync();
        Corpus corpus = Corpus.Build(600, 32, 51);
        await corpus.StoreAsync(store);
        foreach ((string name, SearchFilter filter) in Corpus.FilterCases)
        {
            string[] expected = corpus.Items.Where(i => i.Text.Contains("harbour", StringComparison.Ordinal) && filter.Matches(i))
                .Select(i => i.Id).Order(StringComparer.Ordinal).ToArray();
            IReadOnlyList<StoreHit> hits = await store.SearchKeywordsAsync("harbour", 1000, filter);
            Assert.True(expected.SequenceEqual(hits.Select(h => h.Item.Id).Order(StringComparer.Ordinal)),
                $"{name}: expected {expected.Length} items, got {hits.Count}");
        }
    }

    // ------------------------------------------------------------------ failures, stats, settings, samples

    [Fact]
    public async Task Failures_RecordListAndClear_NewestFirstAndPerFile()
    {
        IKnowledgeStore store = await NewStoreAsync();
        var older = new IngestionFailure("/kb/a.pdf", "Truncated file", "page 3", ContractData.Time);
        var newer = new IngestionFailure("/kb/b.jpg", "Image exceeds the pixel limit", null, ContractData.Time.AddMinutes(5));
        var newest = new IngestionFailure("/kb/a.pdf", "Unreadable image", "image 2", ContractData.Time.AddMinutes(9));
        await store.RecordFailureAsync(newer);
        await store.RecordFailureAsync(older);
        await store.RecordFailureAsync(newest);

        Assert.Equal([newest, newer, older], await store.ListFailuresAsync());
        Assert.Equal(3, (await store.GetStatsAsync()).Failures);

        await store.ClearFailuresAsync("/kb/a.pdf");
        Assert.Equal([newer], await store.ListFailuresAsync());
        await store.ClearFailuresAsync("/kb/never.txt");
        Assert.Equal(1, (await store.GetStatsAsync()).Failures);
    }

    [Fact]
    public async Task Stats_AfterWrites_CountDocumentsChunksImagesAndFailures()
    {
        IKnowledgeStore store = await NewStoreAsync();
        KnowledgeBaseStats empty = await store.GetStatsAsync();
        Assert.Equal((0, 0, 0, 0), (empty.Documents, empty.TextChunks, empty.Images, empty.Failures));

        var random = new Random(14);
        DocumentRecord a = ContractData.Document("a");
        DocumentRecord b = ContractData.Document("b");
        await store.UpsertDocumentAsync(a, Enumerable.Range(0, 5).Select(i => ContractData.Item(a, i, ContractData.UnitVector(random, 32),
            kind: i < 3 ? ItemKind.TextChunk : ItemKind.Image)).ToArray());
        await store.UpsertDocumentAsync(b, [ContractData.Item(b, 0, ContractData.UnitVector(random, 32), kind: ItemKind.Image)]);
        await store.UpsertDocumentAsync(ContractData.Document("c"), []);
        await store.RecordFailureAsync(new IngestionFailure("/kb/x", "broken", null, ContractData.Time));

        KnowledgeBaseStats stats = await store.GetStatsAsync();
        Assert.Equal(DefaultSpace, stats.Space);
        Assert.Equal((3, 3, 3, 1), (stats.Documents, stats.TextChunks, stats.Images, stats.Failures));
        Assert.True(stats.StorageBytes > 0);
    }

    [Fact]
    public async Task Settings_SetGetOverwriteDelete_RoundTrip()
    {
        IKnowledgeStore store = await NewStoreAsync();
        Assert.Null(await store.GetSettingAsync("calibration"));
        await store.SetSettingAsync("calibration", """{"text->image":{"mean":0.24,"std":0.03}}""");
        Assert.Equal("""{"text->image":{"mean":0.24,"std":0.03}}""", await store.GetSettingAsync("calibration"));
        await store.SetSettingAsync("calibration", "v2");
        await store.SetSettingAsync("größe ✓", "wert – ünïcödé");
        Assert.Equal("v2", await store.GetSettingAsync("calibration"));
        Assert.Equal("wert – ünïcödé", await store.GetSettingAsync("größe ✓"));
        await store.SetSettingAsync("calibration", null);
        Assert.Null(await store.GetSettingAsync("calibration"));
        await store.SetSettingAsync("never-set", null);
        Assert.Equal(string.Empty, await SetAndGetAsync(store, "empty", string.Empty));
    }

    [Fact]
    public async Task SampleItems_SameSeed_SameItemsOfTheKindEveryTime()
    {
        IKnowledgeStore store = await NewStoreAsync();
        Corpus corpus = Corpus.Build(90, 32, 61);
        await corpus.StoreAsync(store);
        int images = corpus.Items.Count(i => i.Kind == ItemKind.Image);

        IReadOnlyList<KnowledgeItem> first = await store.SampleItemsAsync(ItemKind.Image, 10, seed: 7);
        IReadOnlyList<KnowledgeItem> again = await store.SampleItemsAsync(ItemKind.Image, 10, seed: 7);
        IReadOnlyList<KnowledgeItem> otherSeed = await store.SampleItemsAsync(ItemKind.Image, 10, seed: 8);
        Assert.Equal(10, first.Count);
        Assert.Equal(first.Select(i => i.Id), again.Select(i => i.Id));
        Assert.NotEqual(first.Select(i => i.Id), otherSeed.Select(i => i.Id));
        Assert.All(first, i => Assert.Equal(ItemKind.Image, i.Kind));
        Assert.All(first, i => Assert.Equal(32, i.Vector.Length));
        Assert.Equal(10, first.Select(i => i.Id).Distinct().Count());

        Assert.Equal(images, (await store.SampleItemsAsync(ItemKind.Image, 1000, seed: 7)).Count);
        Assert.All(await store.SampleItemsAsync(ItemKind.TextChunk, 5, seed: 7), i => Assert.Equal(ItemKind.TextChunk, i.Kind));
        Assert.Empty(await store.SampleItemsAsync(ItemKind.TextChunk, 0, seed: 7));
    }

    // ------------------------------------------------------------------ persistence and spaces

    [Fact]
    public async Task Reopen_AfterDispose_PreservesEverything()
    {
        IKnowledgeStore store = await NewStoreAsync();
        Corpus corpus = Corpus.Build(400, 32, 71);
        await corpus.StoreAsync(store);
        await store.RecordFailureAsync(new IngestionFailure("/kb/bad.png", "corrupt", "header", ContractData.Time));
        await store.SetSettingAsync("k", "v");
        var random = new Random(72);
        float[][] queries = Enumerable.Range(0, 3).Select(_ => ContractData.UnitVector(random, 32)).ToArray();
        var before = await SnapshotAsync(store, queries);

        IKnowledgeStore reopened = await ReopenAsync(store);
        var after = await SnapshotAsync(reopened, queries);

        Assert.Equal(before.Documents, after.Documents);
        Assert.Equal(before.Counts, after.Counts);
        Assert.Equal(before.Failures, after.Failures);
        Assert.Equal(before.VectorHits, after.VectorHits);
        Assert.Equal(before.KeywordHits, after.KeywordHits);
        Assert.Equal(before.Sample, after.Sample);
        Assert.Equal("v", await reopened.GetSettingAsync("k"));
        foreach (KnowledgeItem item in corpus.Items.Where((_, i) => i % 37 == 0))
        {
            ContractData.AssertSameItem(item, await reopened.GetItemAsync(item.Id));
        }

        // Still writable after reopening.
        DocumentRecord late = ContractData.Document("late");
        await reopened.UpsertDocumentAsync(late, [ContractData.Item(late, 0, queries[0], "late arrival")]);
        Assert.Equal("late#0", (await reopened.SearchVectorsAsync(queries[0], 1))[0].Item.Id);
    }

    [Fact]
    public async Task Reopen_WithAnotherModelOrDimension_ThrowsEmbeddingSpaceMismatchNamingBoth()
    {
        var space = new EmbeddingSpace("clip-vit-base-patch32", 32);
        IKnowledgeStore store = await NewStoreAsync(space);
        DocumentRecord doc = ContractData.Document("doc");
        await store.UpsertDocumentAsync(doc, [ContractData.Item(doc, 0, ContractData.UnitVector(new Random(15), 32))]);
        await store.DisposeAsync();

        EmbeddingSpaceMismatchException model = await Assert.ThrowsAsync<EmbeddingSpaceMismatchException>(() =>
            ReopenStoreAsync(new EmbeddingSpace("clip-vit-large-patch14", 32)));
        Assert.Contains("clip-vit-base-patch32", model.Message, StringComparison.Ordinal);
        Assert.Contains("clip-vit-large-patch14", model.Message, StringComparison.Ordinal);

        EmbeddingSpaceMismatchException dimension = await Assert.ThrowsAsync<EmbeddingSpaceMismatchException>(() =>
            ReopenStoreAsync(new EmbeddingSpace("clip-vit-base-patch32", 64)));
        Assert.Contains("32", dimension.Message, StringComparison.Ordinal);
        Assert.Contains("64", dimension.Message, StringComparison.Ordinal);

        IKnowledgeStore reopened = await ReopenAsync(store, space);
        Assert.NotNull(await reopened.GetItemAsync("doc#0"));
    }

    // ------------------------------------------------------------------ cancellation

    [Fact]
    public async Task EveryOperation_CancelledToken_ThrowsOperationCanceledAndChangesNothing()
    {
        IKnowledgeStore store = await NewStoreAsync();
        var random = new Random(16);
        DocumentRecord doc = ContractData.Document("doc");
        KnowledgeItem item = ContractData.Item(doc, 0, ContractData.UnitVector(random, 32), "word");
        await store.UpsertDocumentAsync(doc, [item]);
        using var cts = new CancellationTokenSource();
        await cts.CancelAsync();
        CancellationToken c = cts.Token;
        DocumentRecord other = ContractData.Document("other");

        Func<Task>[] operations =
        [
            () => store.UpsertDocumentAsync(other, [ContractData.Item(other, 0, ContractData.UnitVector(random, 32))], c),
            () => store.DeleteDocumentAsync("doc", c),
            () => store.GetDocumentAsync("doc", c),
            () => store.GetItemAsync(item.Id, c),
            () => store.FindVectorsByContentHashAsync([item.ContentHash], c),
            () => store.SearchVectorsAsync(item.Vector, 5, null, null, c),
            () => store.SearchKeywordsAsync("word", 5, null, c),
            () => store.RecordFailureAsync(new IngestionFailure("/x", "r", null, ContractData.Time), c),
            () => store.ClearFailuresAsync("/x", c),
            () => store.ListFailuresAsync(c),
            () => store.GetStatsAsync(c),
            () => store.SampleItemsAsync(ItemKind.TextChunk, 3, 1, c),
            () => store.GetSettingAsync("k", c),
            () => store.SetSettingAsync("k", "v", c),
            async () => await ToListAsync(store.ListDocumentsAsync(c), d => d.Id),
        ];
        for (int i = 0; i < operations.Length; i++)
        {
            Exception? error = await Record.ExceptionAsync(operations[i]);
            Assert.True(error is OperationCanceledException, $"operation {i}: {error?.GetType().Name ?? "no exception"}");
        }

        Assert.Null(await store.GetDocumentAsync("other"));
        Assert.NotNull(await store.GetDocumentAsync("doc"));
        Assert.Empty(await store.ListFailuresAsync());
        Assert.Null(await store.GetSettingAsync("k"));
    }

    // ------------------------------------------------------------------ concurrency

    [Fact]
    public async Task ConcurrentReaders_WhileADocumentIsReplacedRepeatedly_NeverSeeAMixOfVersions()
    {
        IKnowledgeStore store = await NewStoreAsync();
        Corpus filler = Corpus.Build(300, 32, 81);
        await filler.StoreAsync(store);
        var random = new Random(82);
        float[] anchor = ContractData.UnitVector(random, 32);
        const int ItemsPerVersion = 8;
        DocumentRecord target = ContractData.Document("target", "/kb/target.md");
        KnowledgeItem[] Version(int v) => Enumerable.Range(0, ItemsPerVersion)
            .Select(i => ContractData.Item(target with { ContentHash = $"v{v}" }, i, ContractData.Near(anchor, random, 0.3f),
                $"marker version{v} item{i}", id: $"target#v{v}#{i}", contentHash: $"c-v{v}-{i}"))
            .ToArray();
        await store.UpsertDocumentAsync(target with { ContentHash = "v0" }, Version(0));

        var filter = new SearchFilter { DocumentIds = ["target"] };
        using var done = new CancellationTokenSource();
        int reads = 0;
        async Task ReadLoop()
        {
            do
            {
                IReadOnlyList<StoreHit> vectorHits = await store.SearchVectorsAsync(anchor, 50, filter);
                AssertOneVersion(vectorHits.Select(h => h.Item.Id), "vector search");
                IReadOnlyList<StoreHit> keywordHits = await store.SearchKeywordsAsync("marker", 50, filter);
                AssertOneVersion(keywordHits.Select(h => h.Item.Id), "keyword search");
                DocumentRecord? document = await store.GetDocumentAsync("target");
                Assert.Equal(ItemsPerVersion, document?.ItemCount);
                Interlocked.Increment(ref reads);
            }
            while (!done.IsCancellationRequested);
        }

        static void AssertOneVersion(IEnumerable<string> ids, string what)
        {
            string[] versions = ids.Select(id => id.Split('#')[1]).ToArray();
            Assert.True(versions.Length == ItemsPerVersion && versions.Distinct().Count() == 1,
                $"{what} saw {versions.Length} items of versions {string.Join(",", versions.Distinct())}");
        }

        Task[] readers = [Task.Run(ReadLoop), Task.Run(ReadLoop)];
        int version = 0;
        // At least 30 replacements, and on until the readers have really run alongside them (a loaded machine may
        // start them late), within a bound.
        while (version < 30 || (Volatile.Read(ref reads) < 20 && version < 500))
        {
            version++;
            await store.UpsertDocumentAsync(target with { ContentHash = $"v{version}" }, Version(version));
            await Task.Yield();
        }

        await done.CancelAsync();
        await Task.WhenAll(readers);
        Assert.True(reads >= 2);
        IReadOnlyList<StoreHit> final = await store.SearchVectorsAsync(anchor, 50, filter);
        Assert.Equal(ItemsPerVersion, final.Count);
        Assert.All(final, h => Assert.StartsWith($"target#v{version}#", h.Item.Id, StringComparison.Ordinal));
    }

    // ------------------------------------------------------------------ helpers

    /// <summary>Four items: text chunks about a red lighthouse, a red car, the sea, and an image described in its description/caption.</summary>
    protected static async Task StoreKeywordCorpusAsync(IKnowledgeStore store)
    {
        var random = new Random(99);
        DocumentRecord doc = ContractData.Document("k", "/kb/almanac.md", title: "Coastal almanac");
        await store.UpsertDocumentAsync(doc,
        [
            ContractData.Item(doc, 0, ContractData.UnitVector(random, store.Space.Dimension), "The red lighthouse stands on the rocky cliff."),
            ContractData.Item(doc, 1, ContractData.UnitVector(random, store.Space.Dimension), "A red car is parked by the road."),
            ContractData.Item(doc, 2, ContractData.UnitVector(random, store.Space.Dimension), "Blue sky over the quiet sea.", section: "Seascapes"),
            ContractData.Item(doc, 3, ContractData.UnitVector(random, store.Space.Dimension), string.Empty, ItemKind.Image,
                description: "A lighthouse at dusk", caption: "Figure 1: the tower"),
        ]);
    }

    protected static void AssertScoresAreCosinesBestFirst(float[] query, IReadOnlyList<StoreHit> hits)
    {
        for (int i = 0; i < hits.Count; i++)
        {
            double cosine = ContractData.Dot(query, hits[i].Item.Vector.Span);
            Assert.True(Math.Abs(cosine - hits[i].Score) < 1e-3, $"hit {i}: score {hits[i].Score}, cosine {cosine}");
            if (i > 0)
            {
                Assert.True(hits[i - 1].Score >= hits[i].Score - 1e-6, $"hit {i} scores above hit {i - 1}");
            }
        }
    }

    protected static async Task<List<T>> ToListAsync<TItem, T>(IAsyncEnumerable<TItem> items, Func<TItem, T> select)
    {
        var list = new List<T>();
        await foreach (TItem item in items)
        {
            list.Add(select(item));
        }

        return list;
    }

    private static async Task<string?> SetAndGetAsync(IKnowledgeStore store, string key, string value)
    {
        await store.SetSettingAsync(key, value);
        return await store.GetSettingAsync(key);
    }

    private static async Task<StoreSnapshot> SnapshotAsync(IKnowledgeStore store, float[][] queries)
    {
        List<DocumentRecord> documents = await ToListAsync(store.ListDocumentsAsync(), d => d);
        KnowledgeBaseStats stats = await store.GetStatsAsync();
        var vectorHits = new List<string>();
        foreach (float[] query in queries)
        {
            vectorHits.AddRange((await store.SearchVectorsAsync(query, 10)).Select(h => h.Item.Id));
            vectorHits.AddRange((await store.SearchVectorsAsync(query, 5, new SearchFilter { Kind = ItemKind.Image })).Select(h => h.Item.Id));
        }

        return new StoreSnapshot(
            documents.Select(d => $"{d.Id}|{d.SourcePath}|{d.ContentHash}|{d.MediaType}|{d.Title}|{d.ItemCount}|{d.IngestedAt:O}|{string.Join(",", d.Tags)}").ToList(),
            (stats.Space, stats.Documents, stats.TextChunks, stats.Images, stats.Failures),
            await store.ListFailuresAsync(),
            vectorHits,
            (await store.SearchKeywordsAsync("harbour lighthouse", 20)).Select(h => h.Item.Id).ToList(),
            (await store.SampleItemsAsync(ItemKind.TextChunk, 12, 3)).Select(i => i.Id).ToList());
    }

    private sealed record StoreSnapshot(
        List<string> Documents,
        (EmbeddingSpace, int, int, int, int) Counts,
        IReadOnlyList<IngestionFailure> Failures,
        List<string> VectorHits,
        List<string> KeywordHits,
        List<string> Sample);
}
