using Mmrag.Knowledge;
using Mmrag.Storage.ContractTests;

namespace Mmrag.Storage.Embedded.Tests;

/// <summary>
/// Keyword search on a knowledge base larger than <see cref="EmbeddedStoreOptions.KeywordCandidateBudget"/>: which rows
/// compete, and that they rank exactly as when every match is ranked.
/// </summary>
public sealed class KeywordCandidateBudgetTests : IDisposable
{
    private static readonly EmbeddingSpace Space = new("test-model", 8);
    private readonly TemporaryFolder _root = new();

    public void Dispose() => _root.Dispose();

    /// <summary>Stores one item per text, in order (so rowids follow the list), 100 items per document.</summary>
    private async Task<string> StoreAsync(IReadOnlyList<string> texts, Func<int, ItemKind>? kindOf = null)
    {
        string folder = _root.NewFolder();
        await using EmbeddedKnowledgeStore store = await EmbeddedKnowledgeStore.OpenAsync(folder, Space, Options(int.MaxValue));
        var random = new Random(5);
        for (int start = 0; start < texts.Count; start += 100)
        {
            DocumentRecord document = ContractData.Document($"doc{start / 100:D3}");
            KnowledgeItem[] items = Enumerable.Range(start, Math.Min(100, texts.Count - start))
                .Select(i => ContractData.Item(document, i - start, ContractData.UnitVector(random, Space.Dimension), texts[i],
                    kindOf?.Invoke(i) ?? ItemKind.TextChunk, id: $"item{i:D5}"))
                .ToArray();
            await store.UpsertDocumentAsync(document with { ItemCount = items.Length }, items);
        }

        return folder;
    }

    private static EmbeddedStoreOptions Options(int budget) => new() { KeywordCandidateBudget = budget, BuildIndexInBackground = false };

    /// <summary>The hits of each query with the given budget.</summary>
    private static async Task<List<IReadOnlyList<StoreHit>>> SearchAsync(string folder, int budget, IEnumerable<string> queries, int k, SearchFilter? filter = null)
    {
        await using EmbeddedKnowledgeStore store = await EmbeddedKnowledgeStore.OpenAsync(folder, Space, Options(budget));
        var results = new List<IReadOnlyList<StoreHit>>();
        foreach (string query in queries)
        {
            results.Add(await store.SearchKeywordsAsync(query, k, filter));
        }

        return results;
    }

    private static string[] Ids(IReadOnlyList<StoreHit> hits) => [.. hits.Select(h => h.Item.Id)];

    [Fact]
    public async Task SearchKeywords_FrequentWordAndRareWordPastTheBudget_RareWordsItemRanksFirstAsWhenRankingEveryMatch()
    {
        // "common" is in every item; "zebra" only in one stored late, without "common".
        var texts = Enumerable.Range(0, 300).Select(i => $"common filler{i % 7} words here").ToList();
        texts[250] = "zebra filler1 words here";
        string folder = await StoreAsync(texts);

        IReadOnlyList<StoreHit> budgeted = (await SearchAsync(folder, 10, ["common zebra"], 5))[0];
        IReadOnlyList<StoreHit> everyMatch = (await SearchAsync(folder, int.MaxValue, ["common zebra"], 5))[0];

        Assert.Equal("item00250", budgeted[0].Item.Id);
        Assert.Equal(5, budgeted.Count);
        Assert.Equal(Ids(everyMatch), Ids(budgeted));
        Assert.Equal(everyMatch.Select(h => h.Score), budgeted.Select(h => h.Score));
    }

    [Fact]
    public async Task SearchKeywords_OnlyWordsPastTheBudget_StillReturnsMatches()
    {
        var texts = Enumerable.Range(0, 300).Select(i => i % 3 == 0 ? "alpha beta filler" : "alpha other filler").ToList();
        string folder = await StoreAsync(texts);

        IReadOnlyList<StoreHit> hits = (await SearchAsync(folder, 20, ["beta alpha"], 10))[0];

        Assert.Equal(10, hits.Count);
        Assert.All(hits, h => Assert.Contains("alpha", h.Item.Text, StringComparison.Ordinal));
    }

    [Fact]
    public async Task SearchKeywords_FrequentWordsTogetherOnlyInLateItems_ThoseItemsStillRankFirst()
    {
        // Each word alone is in 150 of 400 items; the ten items holding both are stored last, past any budget's first rows.
        var texts = Enumerable.Range(0, 400).Select(i => i switch
        {
            >= 390 => "alpha beta filler filler",
            < 150 => "alpha filler filler filler",
            < 290 => "beta filler filler filler",
            _ => "other filler filler filler",
        }).ToList();
        string folder = await StoreAsync(texts);

        IReadOnlyList<StoreHit> budgeted = (await SearchAsync(folder, 20, ["alpha beta"], 10))[0];
        IReadOnlyList<StoreHit> everyMatch = (await SearchAsync(folder, int.MaxValue, ["alpha beta"], 10))[0];

        Assert.Equal(Enumerable.Range(390, 10).Select(i => $"item{i:D5}"), Ids(everyMatch));
        Assert.Equal(Ids(everyMatch), Ids(budgeted));
    }

    [Fact]
    public async Task SearchKeywords_FilterAllowingOnlyLateItems_CappedRowsAreTheFirstTheFilterAllows()
    {
        var texts = Enumerable.Range(0, 400).Select(i => $"common filler{i % 5}").ToList();
        string folder = await StoreAsync(texts);

        IReadOnlyList<StoreHit> hits = (await SearchAsync(folder, 20, ["common"], 10, new SearchFilter { DocumentIds = ["doc003"] }))[0];

        Assert.Equal(10, hits.Count);
        Assert.All(hits, h => Assert.Equal("doc003", h.Item.DocumentId));
    }

    [Fact]
    public async Task SearchKeywords_KAboveTheBudget_ReturnsKHits()
    {
        var texts = Enumerable.Range(0, 300).Select(i => $"common filler{i % 5}").ToList();
        string folder = await StoreAsync(texts);

        Assert.Equal(120, (await SearchAsync(folder, 10, ["common"], 120))[0].Count);
    }

    [Fact]
    public async Task SearchKeywords_GeneratedZipfCorpus_CandidatesScoreAsWhenRankingEveryMatchAndTopListsAgree()
    {
        var words = new ZipfWords(seed: 11);
        string folder = await StoreAsync(words.Texts(2000));
        string[] queries = words.Queries(60);

        List<IReadOnlyList<StoreHit>> budgeted = await SearchAsync(folder, 200, queries, 10);
        List<IReadOnlyList<StoreHit>> everyMatch = await SearchAsync(folder, int.MaxValue, queries, 2000);

        int agreeing = 0;
        for (int q = 0; q < queries.Length; q++)
        {
            // Every candidate is ranked by the whole query: its score is the one it has when every match is ranked.
            Dictionary<string, double> reference = everyMatch[q].ToDictionary(h => h.Item.Id, h => h.Score);
            Assert.All(budgeted[q], h => Assert.Equal(reference[h.Item.Id], h.Score, 1e-9));
            Assert.Equal(10, budgeted[q].Count);
            agreeing += Ids(budgeted[q]).SequenceEqual(Ids(everyMatch[q]).Take(10)) ? 1 : 0;
        }

        Assert.True(agreeing >= 54, $"{agreeing} of {queries.Length} top-10 lists agree with ranking every match");
    }

    [Theory]
    [InlineData(200)]
    [InlineData(int.MaxValue)]
    public async Task SearchKeywordsByKind_ZipfCorpusOfBothKinds_EachKindGetsItsBestOfOneSearchOfEveryKind(int budget)
    {
        // A third of the items are images; with budget 200 most queries hold words past it (pruned), with no budget none do.
        var words = new ZipfWords(seed: 12);
        string folder = await StoreAsync(words.Texts(2000), i => i % 3 == 0 ? ItemKind.Image : ItemKind.TextChunk);
        string[] queries = words.Queries(40);
        await using EmbeddedKnowledgeStore store = await EmbeddedKnowledgeStore.OpenAsync(folder, Space, Options(budget));

        foreach (SearchFilter filter in (SearchFilter[])[SearchFilter.None, new SearchFilter { DocumentIds = ["doc003", "doc011", "doc017"] }])
        {
            foreach (string query in queries)
            {
                IReadOnlyList<IReadOnlyList<StoreHit>> byKind = await store.SearchKeywordsByKindAsync(query,
                    [new KindLimit(ItemKind.Image, 10), new KindLimit(ItemKind.TextChunk, 7)], filter);

                // The same candidates (k = 200 keeps the budget), every kind ranked together, then split.
                IReadOnlyList<StoreHit> everyKind = await store.SearchKeywordsAsync(query, 200, filter);
                StoreHit[] images = [.. everyKind.Where(h => h.Item.Kind == ItemKind.Image).Take(10)];
                StoreHit[] chunks = [.. everyKind.Where(h => h.Item.Kind == ItemKind.TextChunk).Take(7)];
                Assert.Equal(Ids(images), Ids(byKind[0]));
                Assert.Equal(images.Select(h => h.Score), byKind[0].Select(h => h.Score));
                Assert.Equal(Ids(chunks), Ids(byKind[1]));
                Assert.Equal(chunks.Select(h => h.Score), byKind[1].Select(h => h.Score));
                if (budget == int.MaxValue)
                {
                    // Every match ranked: each kind's list is its own search's.
                    Assert.Equal(Ids(await store.SearchKeywordsAsync(query, 10, filter with { Kind = ItemKind.Image })), Ids(byKind[0]));
                    Assert.Equal(Ids(await store.SearchKeywordsAsync(query, 7, filter with { Kind = ItemKind.TextChunk })), Ids(byKind[1]));
                }
            }
        }
    }

    [Fact]
    public async Task SearchKeywordsByKind_FilterOfAnotherKindOrKZero_ThatKindHasNoHits()
    {
        string folder = await StoreAsync(Enumerable.Range(0, 50).Select(i => $"common filler{i % 5}").ToList(), i => i % 2 == 0 ? ItemKind.Image : ItemKind.TextChunk);
        await using EmbeddedKnowledgeStore store = await EmbeddedKnowledgeStore.OpenAsync(folder, Space, Options(20));

        IReadOnlyList<IReadOnlyList<StoreHit>> onlyImages = await store.SearchKeywordsByKindAsync("common",
            [new KindLimit(ItemKind.Image, 5), new KindLimit(ItemKind.TextChunk, 5)], new SearchFilter { Kind = ItemKind.Image });
        IReadOnlyList<IReadOnlyList<StoreHit>> noChunks = await store.SearchKeywordsByKindAsync("common",
            [new KindLimit(ItemKind.Image, 5), new KindLimit(ItemKind.TextChunk, 0)]);

        Assert.Equal(5, onlyImages[0].Count);
        Assert.Empty(onlyImages[1]);
        Assert.Equal(Ids(onlyImages[0]), Ids(noChunks[0]));
        Assert.Empty(noChunks[1]);
        await Assert.ThrowsAsync<ArgumentException>(() => store.SearchKeywordsByKindAsync("common",
            [new KindLimit(ItemKind.Image, 5), new KindLimit(ItemKind.Image, 3)]));
    }

    /// <summary>Words with Zipf-like frequencies, as in real text: a query's words range from rare to very frequent.</summary>
    private sealed class ZipfWords
    {
        private readonly Random _random;
        private readonly string[] _vocabulary = [.. Enumerable.Range(0, 400).Select(i => $"w{i}")];
        private readonly double[] _cumulative;

        public ZipfWords(int seed)
        {
            _random = new Random(seed);
            _cumulative = new double[_vocabulary.Length];
            double total = 0;
            for (int r = 0; r < _vocabulary.Length; r++)
            {
                total += 1.0 / (r + 3);
                _cumulative[r] = total;
            }
        }

        public List<string> Texts(int count) => [.. Enumerable.Range(0, count).Select(_ => Words(_random.Next(6, 12)))];

        public string[] Queries(int count) => [.. Enumerable.Range(0, count).Select(_ => Words(_random.Next(2, 5)))];

        private string Words(int count) => string.Join(' ', Enumerable.Range(0, count).Select(_ => Word()));

        private string Word()
        {
            int index = Array.BinarySearch(_cumulative, _random.NextDouble() * _cumulative[^1]);
            return _vocabulary[Math.Min(index < 0 ? ~index : index, _vocabulary.Length - 1)];
        }
    }
}
