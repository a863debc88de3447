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
    private async Task<string> StoreAsync(IReadOnlyList<string> texts)
    {
        string folder = _root.NewFolder();
        await using EmbeddedKnowledgeStore store = await EmbeddedKnowledgeStore.OpenAsync(folder, Space, Options(int.MaxValue));
        var random = new Random(5);
        for (int start = 0; start < texts.Count; start += 100)
        {
            DocumentRecord document = ContractData.Document($"doc{start / 100:D3}");
            KnowledgeItem[] items = Enumerable.Range(start, Math.Min(100, texts.Count - start))
                .Select(i => ContractData.Item(document, i - start, ContractData.UnitVector(random, Space.Dimension), texts[i], id: $"item{i:D5}"))
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
        // Words with Zipf-like frequencies, as in real text: a query's words range from rare to very frequent.
        var random = new Random(11);
        string[] vocabulary = [.. Enumerable.Range(0, 400).Select(i => $"w{i}")];
        double[] cumulative = new double[vocabulary.Length];
        double total = 0;
        for (int r = 0; r < vocabulary.Length; r++)
        {
            total += 1.0 / (r + 3);
            cumulative[r] = total;
        }

        string Word()
        {
            int index = Array.BinarySearch(cumulative, random.NextDouble() * total);
            return vocabulary[Math.Min(index < 0 ? ~index : index, vocabulary.Length - 1)];
        }

        var texts = Enumerable.Range(0, 2000).Select(_ => string.Join(' ', Enumerable.Range(0, random.Next(6, 12)).Select(_ => Word()))).ToList();
        string folder = await StoreAsync(texts);
        string[] queries = [.. Enumerable.Range(0, 60).Select(_ => string.Join(' ', Enumerable.Range(0, random.Next(2, 5)).Select(_ => Word())))];

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
}
