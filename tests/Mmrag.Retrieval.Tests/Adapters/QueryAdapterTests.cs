using System.Runtime.InteropServices;
using Microsoft.Data.Sqlite;
using Mmrag.Knowledge;
using Mmrag.Retrieval.Adapters;
using Mmrag.Retrieval.Search;
using Mmrag.Retrieval.Tests.TestDoubles;
using Mmrag.Storage;
using Mmrag.Storage.Embedded;

namespace Mmrag.Retrieval.Tests.Adapters;

/// <summary>
/// Training, the gate, storage and search with a query adapter, over a store backend, on a synthetic world where
/// text queries are systematically off: each is its concept's direction plus one shared "phrasing" offset, and a few
/// distractor images lie along that offset, so plain search ranks distractors first and a map that removes the
/// offset ranks the concept's own images first.
/// </summary>
public abstract class QueryAdapterTests : StoreBackedTests
{
    private const int Concepts = 40;
    private const int ImagesPerConcept = 3;
    private const string ModelId = "synthetic-64";
    private const int Unseen = 5;

    [Fact]
    public async Task Train_SameJudgementsAndSeed_GivesBitIdenticalMaps()
    {
        var world = await CreateWorldAsync();
        var judgements = world.Judgements();
        var reversed = judgements.AsEnumerable().Reverse().ToList();

        var first = await new QueryAdapterTrainer(world.Knowledge.Store, new QueryAdapterTrainingOptions { Seed = 7 }).TrainAsync(judgements);
        var second = await new QueryAdapterTrainer(world.Knowledge.Store, new QueryAdapterTrainingOptions { Seed = 7 }).TrainAsync(reversed);
        var otherSeed = await new QueryAdapterTrainer(world.Knowledge.Store, new QueryAdapterTrainingOptions { Seed = 8 }).TrainAsync(judgements);

        Assert.NotNull(first.Adapter);
        Assert.NotNull(second.Adapter);
        Assert.True(first.Adapter.Maps(QueryModality.Text));
        Assert.Equal(Bytes(first.Adapter.Matrix(QueryModality.Text)), Bytes(second.Adapter.Matrix(QueryModality.Text)));
        Assert.Equal(first.Adapter.Info.JudgementsHash, second.Adapter.Info.JudgementsHash);
        Assert.NotNull(otherSeed.Adapter);
        Assert.NotEqual(Bytes(first.Adapter.Matrix(QueryModality.Text)), Bytes(otherSeed.Adapter.Matrix(QueryModality.Text)));
    }

    [Fact]
    public async Task Train_SystematicallyOffQueries_KeepsTheTextMapAndRaisesHeldOutRecall()
    {
        var world = await CreateWorldAsync();

        var result = await new QueryAdapterTrainer(world.Knowledge.Store).TrainAsync(world.Judgements());

        var text = Assert.Single(result.Modalities);
        Assert.Equal(QueryModality.Text, text.Modality);
        Assert.True(text.Kept);
        Assert.Equal(7, text.HeldOutQueries);
        Assert.True(text.After.Recall5 >= text.Before.Recall5 + 0.2, $"held-out recall@5 {text.Before.Recall5} → {text.After.Recall5}");
        Assert.True(result.Improved);
        Assert.Equal(world.Judgements().Count, result.Used);
        Assert.Equal(ModelId, result.Adapter!.ModelId);
        Assert.False(result.Adapter.Maps(QueryModality.Image));
    }

    [Fact]
    public async Task Train_ShuffledJudgements_KeepsNoMap()
    {
        var world = await CreateWorldAsync();
        var judgements = world.Judgements();
        // Each query's relevant images are another concept's: nothing that holds for unseen queries can be learnt.
        var shuffled = judgements.Select(j => j with { ItemId = world.ImageIds[(world.ImageIds.IndexOf(j.ItemId) + (7 * ImagesPerConcept)) % world.ImageIds.Count] })
            .ToList();

        var result = await new QueryAdapterTrainer(world.Knowledge.Store).TrainAsync(shuffled);

        Assert.False(result.Improved);
        Assert.Null(result.Adapter);
        Assert.All(result.Modalities, m => Assert.False(m.Kept));
    }

    [Fact]
    public async Task Train_JudgementsOfAnotherModelOrGoneItems_AreIgnoredAndCounted()
    {
        var world = await CreateWorldAsync();
        var judgements = world.Judgements();
        List<RelevanceJudgement> mixed = [.. judgements, judgements[0] with { Id = "other", ModelId = "another-model" }, judgements[1] with { Id = "gone", ItemId = "no-such-item" }];

        var result = await new QueryAdapterTrainer(world.Knowledge.Store).TrainAsync(mixed);

        Assert.Equal(judgements.Count, result.Used);
        Assert.Equal(1, result.OtherModel);
        Assert.Equal(1, result.MissingItems);
    }

    [Fact]
    public async Task Search_StoredAdapter_AppliedByDefaultAndNotWithUseAdapterFalse()
    {
        var world = await CreateWorldAsync();
        var adapter = (await new QueryAdapterTrainer(world.Knowledge.Store).TrainAsync(world.Judgements())).Adapter!;
        var searcher = world.Knowledge.Searcher();
        var requests = Enumerable.Range(Concepts - Unseen, Unseen).Select(c => new SearchRequest
        {
            Text = world.Knowledge.TextQuery($"unseen query {c}", world.OffQuery(c)), Target = SearchTarget.Images, K = 5, Threshold = 0, Hybrid = false,
        }).ToList();
        var before = await Task.WhenAll(requests.Select(r => searcher.SearchAsync(r)));

        var stored = await QueryAdapterSettings.SaveAsync(world.Knowledge.Store, adapter);
        searcher.Adapters.Invalidate();
        var adapted = await Task.WhenAll(requests.Select(r => searcher.SearchAsync(r)));
        var plain = await Task.WhenAll(requests.Select(r => searcher.SearchAsync(r with { UseAdapter = false })));

        Assert.Equal(1, stored.Info.Revision);
        Assert.All(before, r => Assert.False(r.AdapterApplied));
        Assert.All(adapted, r => Assert.True(r.AdapterApplied));
        Assert.All(adapted, r => Assert.Null(r.AdapterWarning));
        Assert.All(plain, r => Assert.False(r.AdapterApplied));
        Assert.Equal(before.Select(r => r.Hits.Select(h => h.Item.Id).ToList()), plain.Select(r => r.Hits.Select(h => h.Item.Id).ToList()));
        // Queries of concepts never judged: the map learnt the offset, not the concepts.
        Assert.True(OwnInTop3(adapted) > OwnInTop3(before), $"own images in the top 3: plain {OwnInTop3(before)}, adapted {OwnInTop3(adapted)}");

        int OwnInTop3(SearchResult[] results) => results.Select((r, i) => r.Hits.Take(3).Count(h => world.ConceptImages(Concepts - Unseen + i).Contains(h.Item.Id))).Sum();
    }

    [Fact]
    public async Task AdapterCache_UnchangedSettingAfterTheRecheckInterval_KeepsTheParsedAdapter()
    {
        var world = await CreateWorldAsync();
        var adapter = (await new QueryAdapterTrainer(world.Knowledge.Store).TrainAsync(world.Judgements())).Adapter!;
        await QueryAdapterSettings.SaveAsync(world.Knowledge.Store, adapter);
        var time = new ManualTimeProvider();
        var cache = new QueryAdapterCache(world.Knowledge.Store, TimeSpan.FromSeconds(30), time);

        var first = await cache.GetAsync();
        time.Advance(TimeSpan.FromMinutes(1));
        var unchanged = await cache.GetAsync();
        await QueryAdapterSettings.SaveAsync(world.Knowledge.Store, adapter);
        time.Advance(TimeSpan.FromMinutes(1));
        var changed = await cache.GetAsync();

        Assert.NotNull(first.Adapter);
        Assert.Same(first.Adapter, unchanged.Adapter);
        Assert.NotSame(first.Adapter, changed.Adapter);
        Assert.Equal(2, changed.Adapter!.Info.Revision);
    }

    [Fact]
    public async Task Cache_AfterTheRecheckInterval_ReadsTheAdapterAgainOnlyWhenItsStampChanged()
    {
        var world = await CreateWorldAsync();
        var store = world.Knowledge.Store;
        var adapter = (await new QueryAdapterTrainer(store).TrainAsync(world.Judgements())).Adapter!;
        await QueryAdapterSettings.SaveAsync(store, adapter);
        var time = new ManualTimeProvider();
        var cache = new QueryAdapterCache(store, TimeSpan.FromSeconds(30), time);
        var first = await cache.GetAsync();

        // Written without a new stamp: the cache polls only the stamp, so it never reads these bytes.
        await store.SetSettingAsync(QueryAdapterSettings.SettingKey, "{ not an adapter");
        time.Advance(TimeSpan.FromMinutes(1));
        var polled = await cache.GetAsync();
        await QueryAdapterSettings.RemoveAsync(store);
        time.Advance(TimeSpan.FromMinutes(1));
        var removed = await cache.GetAsync();

        Assert.Same(first.Adapter, polled.Adapter);
        Assert.Null(polled.Warning);
        Assert.Null(removed.Adapter);
    }

    [Fact]
    public async Task Parse_MapOfTheWrongSize_IsIgnoredWithAReason()
    {
        var world = await CreateWorldAsync();
        var adapter = (await new QueryAdapterTrainer(world.Knowledge.Store).TrainAsync(world.Judgements())).Adapter!;
        var document = System.Text.Json.Nodes.JsonNode.Parse(QueryAdapterSettings.Serialize(adapter))!;
        document["maps"]![0]!["matrix"] = Convert.ToBase64String(new byte[16]);

        var state = QueryAdapterSettings.Parse(document.ToJsonString(), world.Knowledge.Store.Space);

        Assert.Null(state.Adapter);
        Assert.Contains("cannot be read", state.Warning, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Search_AdapterOfAnotherModel_IsIgnoredWithAWarning()
    {
        var world = await CreateWorldAsync();
        var adapter = (await new QueryAdapterTrainer(world.Knowledge.Store).TrainAsync(world.Judgements())).Adapter!;
        var foreign = new QueryAdapter("another-model", adapter.Dimension, adapter.Matrix(QueryModality.Text).ToArray(), null, adapter.Backgrounds, adapter.Info);
        await world.Knowledge.Store.SetSettingAsync(QueryAdapterSettings.SettingKey, QueryAdapterSettings.Serialize(foreign));
        var searcher = world.Knowledge.Searcher();
        var query = world.Knowledge.TextQuery("unseen query", world.OffQuery(Concepts - 1));

        var result = await searcher.SearchAsync(new SearchRequest { Text = query, Target = SearchTarget.Images, Threshold = 0 });
        var state = await QueryAdapterSettings.LoadAsync(world.Knowledge.Store);

        Assert.False(result.AdapterApplied);
        Assert.Contains("another-model", result.AdapterWarning, StringComparison.Ordinal);
        Assert.Contains(ModelId, result.AdapterWarning, StringComparison.Ordinal);
        Assert.Null(state.Adapter);
        Assert.Equal(result.AdapterWarning, state.Warning);
    }

    [Fact]
    public async Task Settings_SaveLoadRemove_RoundTripsBitExactAndCountsRevisions()
    {
        var world = await CreateWorldAsync();
        var adapter = (await new QueryAdapterTrainer(world.Knowledge.Store).TrainAsync(world.Judgements())).Adapter!;

        var first = await QueryAdapterSettings.SaveAsync(world.Knowledge.Store, adapter);
        var second = await QueryAdapterSettings.SaveAsync(world.Knowledge.Store, adapter);
        var loaded = (await QueryAdapterSettings.LoadAsync(world.Knowledge.Store)).Adapter;
        var removed = await QueryAdapterSettings.RemoveAsync(world.Knowledge.Store);
        var removedAgain = await QueryAdapterSettings.RemoveAsync(world.Knowledge.Store);

        Assert.Equal(1, first.Info.Revision);
        Assert.Equal(2, second.Info.Revision);
        Assert.NotNull(loaded);
        Assert.Equal(2, loaded.Info.Revision);
        Assert.Equal(Bytes(adapter.Matrix(QueryModality.Text)), Bytes(loaded.Matrix(QueryModality.Text)));
        Assert.Equal(adapter.Info.JudgementsHash, loaded.Info.JudgementsHash);
        Assert.Equal(adapter.Info.Seed, loaded.Info.Seed);
        Assert.Equal(adapter.Info.Modalities, loaded.Info.Modalities);
        Assert.Equal(adapter.Backgrounds, loaded.Backgrounds);
        Assert.True(removed);
        Assert.False(removedAgain);
        Assert.Equal(QueryAdapterState.None, await QueryAdapterSettings.LoadAsync(world.Knowledge.Store));
    }

    [Fact]
    public async Task Calibration_AdaptedCosineAtItsBackground_ScoresLikeAPlainCosineAtThePlainBackground()
    {
        var world = await CreateWorldAsync();
        var adapter = (await new QueryAdapterTrainer(world.Knowledge.Store).TrainAsync(world.Judgements())).Adapter!;

        var background = Assert.Single(adapter.Backgrounds, b => b.Modality == QueryModality.Text && b.Kind == ItemKind.Image);

        Assert.Equal(background.PlainMean, adapter.ToCalibrationScale(QueryModality.Text, ItemKind.Image, background.AdaptedMean), 9);
        Assert.Equal(background.PlainMean + (2 * background.PlainStandardDeviation),
            adapter.ToCalibrationScale(QueryModality.Text, ItemKind.Image, background.AdaptedMean + (2 * background.AdaptedStandardDeviation)), 9);
        Assert.Equal(0.3, adapter.ToCalibrationScale(QueryModality.Image, ItemKind.Image, 0.3), 12);
    }

    private static byte[] Bytes(ReadOnlySpan<float> values) => MemoryMarshal.AsBytes(values).ToArray();

    private async Task<World> CreateWorldAsync()
    {
        var knowledge = NewKnowledge(64, ModelId);
        var vectors = new SyntheticVectors(64, 1234);
        var concepts = Enumerable.Range(0, Concepts).Select(_ => vectors.Unit()).ToArray();
        var offset = vectors.Unit();
        var imageIds = new List<string>();
        for (var c = 0; c < Concepts; c++)
        {
            for (var i = 0; i < ImagesPerConcept; i++)
            {
                var id = $"image-{c:00}-{i}";
                knowledge.AddImage(id, vectors.Near(concepts[c], 0.3));
                imageIds.Add(id);
            }
        }

        for (var d = 0; d < 6; d++)
        {
            knowledge.AddImage($"distractor-{d}", vectors.Near(offset, 0.4));
        }

        // Chunks so that calibration and the adapted background have text proxies.
        for (var t = 0; t < 12; t++)
        {
            knowledge.AddText($"chunk-{t:00}", $"note {t}", vectors.Near(concepts[t], 0.5));
        }

        await knowledge.CommitAsync();
        return new World(knowledge, concepts, offset, imageIds, vectors);
    }

    private sealed record World(TestKnowledge Knowledge, float[][] Concepts, float[] Offset, List<string> ImageIds, SyntheticVectors Vectors)
    {
        /// <summary>A text query for concept <paramref name="c"/> as the model would embed an unfamiliar phrasing: the concept plus the shared offset.</summary>
        public float[] OffQuery(int c) => SyntheticVectors.Combine((Concepts[c], 1.0), (Offset, 1.0));

        public HashSet<string> ConceptImages(int c) => [.. Enumerable.Range(0, ImagesPerConcept).Select(i => $"image-{c:00}-{i}")];

        /// <summary>Judgements for every concept but the last <see cref="Unseen"/> (kept back for the search tests): its three images relevant, one distractor not.</summary>
        public List<RelevanceJudgement> Judgements()
        {
            var judgements = new List<RelevanceJudgement>();
            for (var c = 0; c < QueryAdapterTests.Concepts - Unseen; c++)
            {
                var vector = OffQuery(c);
                foreach (var id in ConceptImages(c).Order(StringComparer.Ordinal))
                {
                    judgements.Add(Judgement($"{c}-{id}", c, vector, id, relevant: true));
                }

                judgements.Add(Judgement($"{c}-not", c, vector, $"distractor-{c % 6}", relevant: false));
            }

            return judgements;
        }

        private static RelevanceJudgement Judgement(string id, int c, float[] vector, string itemId, bool relevant) =>
            new(id, FeedbackQueryModality.Text, $"query {c}", null, vector, itemId, relevant, ModelId, "file", DateTimeOffset.UnixEpoch.AddSeconds(c));
    }
}

public sealed class EmbeddedQueryAdapterTests : QueryAdapterTests, IDisposable
{
    private readonly EmbeddedStoreFactory _stores = new();

    protected override IKnowledgeStore CreateStore(EmbeddingSpace space) => _stores.Create(space);

    [Theory]
    [InlineData(QueryAdapterSettings.StampKey)]
    [InlineData(QueryAdapterSettings.SettingKey)]
    public async Task Save_OneOfItsWritesRefused_LeavesTheEarlierAdapterWithItsStamp(string refusedKey)
    {
        var store = (EmbeddedKnowledgeStore)Track(CreateStore(new EmbeddingSpace("synthetic-4", 4)));
        var identity = new float[16];
        for (var i = 0; i < 4; i++)
        {
            identity[i * 5] = 1;
        }

        var adapter = new QueryAdapter("synthetic-4", 4, identity, null, [], new QueryAdapterInfo(0, DateTimeOffset.UnixEpoch, 1, 10, "hash", []));
        await QueryAdapterSettings.SaveAsync(store, adapter);
        var before = await QueryAdapterSettings.ReadWithStampAsync(store);
        // The database refuses one of the two settings, as a full disk or a crash would stop a write half-way.
        await using (var connection = new SqliteConnection($"Data Source={Path.Combine(store.Folder, EmbeddedKnowledgeStore.DatabaseFileName)}"))
        {
            await connection.OpenAsync();
            using var trigger = connection.CreateCommand();
            trigger.CommandText = $"""
                CREATE TRIGGER refuse_insert BEFORE INSERT ON settings WHEN NEW.key = '{refusedKey}' BEGIN SELECT RAISE(ABORT, 'refused'); END;
                CREATE TRIGGER refuse_update BEFORE UPDATE ON settings WHEN NEW.key = '{refusedKey}' BEGIN SELECT RAISE(ABORT, 'refused'); END;
                CREATE TRIGGER refuse_delete BEFORE DELETE ON settings WHEN OLD.key = '{refusedKey}' BEGIN SELECT RAISE(ABORT, 'refused'); END;
                """;
            await trigger.ExecuteNonQueryAsync();
        }

        await Assert.ThrowsAsync<KnowledgeStoreException>(() => QueryAdapterSettings.SaveAsync(store, adapter));
        await Assert.ThrowsAsync<KnowledgeStoreException>(() => QueryAdapterSettings.RemoveAsync(store));

        Assert.Equal(before, await QueryAdapterSettings.ReadWithStampAsync(store));
        Assert.Equal(1, (await QueryAdapterSettings.LoadAsync(store)).Adapter!.Info.Revision);
    }

    public void Dispose() => _stores.Dispose();
}
