using Mmrag.Hosting.Feedback;
using Mmrag.Hosting.Evaluation;
using Mmrag.Hosting.Tuning;
using Mmrag.Knowledge;
using Mmrag.Retrieval.Adapters;
using Mmrag.Retrieval.Search;
using Mmrag.Storage;
using Mmrag.Testing;

namespace Mmrag.Hosting.Tests.Tuning;

/// <summary>shapes/dev ingested once with shapes-clip, for the tuning tests (each removes any adapter it stored).</summary>
public sealed class ShapesTuningKnowledgeBase : IAsyncLifetime
{
    private readonly string _folder = Path.Combine(Path.GetTempPath(), "mmrag-tune-" + Guid.NewGuid().ToString("N"));

    public static string SetFolder => Path.GetFullPath(Path.Combine(ClipFixtureLocator.Directory, "..", "shapes", "dev"));

    public MmragKnowledgeBase KnowledgeBase { get; private set; } = null!;

    public IReadOnlyList<EvaluationQuery> Queries { get; private set; } = [];

    public async Task InitializeAsync()
    {
        KnowledgeBase = await MmragKnowledgeBase.OpenAsync(new MmragOptions { Folder = _folder, Model = TestKnowledgeBases.ShapesClip, CreateIfMissing = true, Offline = true });
        var images = Path.Combine(SetFolder, "images");
        var summary = await KnowledgeBase.CreatePipeline().IngestAsync([images, Path.Combine(SetFolder, "docs")],
            KnowledgeBase.CreateIngestionOptions(o => o with { DescriptionsFile = Path.Combine(images, "description.json") }));
        Assert.Equal(0, summary.Failed);
        Queries = await EvaluationQuerySet.LoadAsync(Path.Combine(SetFolder, "queries.jsonl"));
    }

    public async Task DisposeAsync()
    {
        await KnowledgeBase.DisposeAsync();
        try
        {
            Directory.Delete(_folder, recursive: true);
        }
        catch (IOException)
        {
            // Best effort.
        }
    }
}

public sealed class QueryAdapterTuningTests(ShapesTuningKnowledgeBase shapes) : IClassFixture<ShapesTuningKnowledgeBase>, IAsyncLifetime
{
    public Task InitializeAsync() => QueryAdapterTuning.ResetAsync(shapes.KnowledgeBase);

    public Task DisposeAsync() => QueryAdapterTuning.ResetAsync(shapes.KnowledgeBase);

    [Fact]
    public async Task JudgementsFromQueries_RelevantAndIrrelevantPaths_BecomeJudgementsOfTheirItems()
    {
        var folder = ShapesTuningKnowledgeBase.SetFolder;
        EvaluationQuery[] queries = [new("q", "a red circle", null, SearchTarget.Images, ["images/img_0001.png", "no/such/file.png"], folder, ["images/img_0002.png"])];

        var read = await QueryAdapterTuning.JudgementsFromQueriesAsync(shapes.KnowledgeBase, queries);

        Assert.Equal(1, read.Unresolved);
        Assert.Equal(2, read.Judgements.Count);
        var relevant = Assert.Single(read.Judgements, j => j.Relevant);
        var irrelevant = Assert.Single(read.Judgements, j => !j.Relevant);
        var relevantItem = await shapes.KnowledgeBase.Store.GetItemAsync(relevant.ItemId);
        var irrelevantItem = await shapes.KnowledgeBase.Store.GetItemAsync(irrelevant.ItemId);
        Assert.EndsWith("img_0001.png", relevantItem!.Provenance.SourcePath, StringComparison.Ordinal);
        Assert.EndsWith("img_0002.png", irrelevantItem!.Provenance.SourcePath, StringComparison.Ordinal);
        Assert.All(read.Judgements, j =>
        {
            Assert.Equal(FeedbackSources.File, j.Source);
            Assert.Equal(FeedbackQueryModality.Text, j.Modality);
            Assert.Equal(shapes.KnowledgeBase.Store.Space.ModelId, j.ModelId);
            Assert.Equal(shapes.KnowledgeBase.Store.Space.Dimension, j.QueryVector.Length);
        });
        // The same file read again gives the same ids, so recording it again replaces rather than repeats.
        var again = await QueryAdapterTuning.JudgementsFromQueriesAsync(shapes.KnowledgeBase, queries);
        Assert.Equal(read.Judgements.Select(j => j.Id), again.Judgements.Select(j => j.Id));
    }

    [Fact]
    public async Task JudgementsFromQueries_RelevantUrl_ResolvesToTheItemsOfThatWebPage()
    {
        // A page ingested from the web has its URL as its source: a queries file names it as eval does.
        const string Url = "https://example.org/shapes/page";
        var store = shapes.KnowledgeBase.Store;
        var template = (await store.SampleItemsAsync(ItemKind.TextChunk, 1, seed: 3))[0];
        var documentId = Mmrag.Ingestion.Pipeline.DocumentIds.ForPath(Url);
        var item = template with { Id = "web-page-item", DocumentId = documentId, ContentHash = "web-page-hash", Provenance = new Provenance(Url) };
        await store.UpsertDocumentAsync(new DocumentRecord(documentId, Url, "web-page-version", "text/html", "A page", 1, DateTimeOffset.UtcNow), [item]);
        try
        {
            EvaluationQuery[] queries = [new("q", "a red circle", null, SearchTarget.All, ["https://example.org/shapes/page#top"], ShapesTuningKnowledgeBase.SetFolder)];

            var read = await QueryAdapterTuning.JudgementsFromQueriesAsync(shapes.KnowledgeBase, queries);

            Assert.Equal(0, read.Unresolved);
            Assert.Equal("web-page-item", Assert.Single(read.Judgements).ItemId);
            Assert.Equal(Url, queries[0].SourceOf(queries[0].Relevant[0]));
        }
        finally
        {
            await store.DeleteDocumentAsync(documentId);
        }
    }

    // shapes-clip is already near its ceiling on dev: with the default split (seed 1, 20%) one held-out query per
    // modality gains and the gate declines; this split holds out enough queries for the gain to show (docs/adapter.md).
    private static readonly QueryAdapterTrainingOptions Split = new() { Seed = 4, HoldoutShare = 0.3 };

    [Fact]
    public async Task Tune_ShapesDevJudgements_StoresAnAdapterThatRaisesHeldOutRecall()
    {
        var judgements = (await QueryAdapterTuning.JudgementsFromQueriesAsync(shapes.KnowledgeBase, shapes.Queries)).Judgements;

        var outcome = await QueryAdapterTuning.TuneAsync(shapes.KnowledgeBase, judgements, Split);

        Assert.True(outcome.Stored is not null, QueryAdapterTuning.Describe(outcome));
        Assert.Equal(1, outcome.Stored.Info.Revision);
        Assert.Contains(outcome.Training.Modalities, m => m.Kept && m.After.Recall5 > m.Before.Recall5);
        Assert.All(outcome.Training.Modalities.Where(m => m.Kept), m => Assert.True(m.After.Mrr10 >= m.Before.Mrr10 - 0.01));
        var state = await QueryAdapterSettings.LoadAsync(shapes.KnowledgeBase.Store);
        Assert.Equal(outcome.Stored.Info.JudgementsHash, state.Adapter!.Info.JudgementsHash);
        Assert.Equal(QueryAdapterTrainer.JudgementsHash(judgements), state.Adapter.Info.JudgementsHash);
    }

    [Fact]
    public async Task Tune_FromStoredFeedback_TrainsOnTheJudgementsAFileRecorded()
    {
        var feedback = Assert.IsAssignableFrom<IRelevanceFeedbackStore>(shapes.KnowledgeBase.Store);
        await feedback.ClearJudgementsAsync();
        try
        {
            var judgements = (await QueryAdapterTuning.JudgementsFromQueriesAsync(shapes.KnowledgeBase, shapes.Queries)).Judgements;
            Assert.True(await QueryAdapterTuning.RecordAsync(shapes.KnowledgeBase, judgements));

            // What `mmrag tune --from-feedback` reads: the stored judgements of the knowledge base's model.
            var stored = await feedback.ListJudgementsAsync(shapes.KnowledgeBase.Store.Space.ModelId);
            var outcome = await QueryAdapterTuning.TuneAsync(shapes.KnowledgeBase, stored, Split);

            Assert.Equal(judgements.Count, stored.Count);
            Assert.All(stored, j => Assert.Equal("file", j.Source));
            Assert.True(outcome.Stored is not null, QueryAdapterTuning.Describe(outcome));
            Assert.Equal(QueryAdapterTrainer.JudgementsHash(judgements), outcome.Stored.Info.JudgementsHash);
        }
        finally
        {
            await feedback.ClearJudgementsAsync();
        }
    }

    [Theory]
    [InlineData(1, 0.2)]
    [InlineData(4, 0.3)]
    public async Task Tune_ShuffledJudgements_StoresNothing(int seed, double holdout)
    {
        var judgements = (await QueryAdapterTuning.JudgementsFromQueriesAsync(shapes.KnowledgeBase, shapes.Queries)).Judgements;
        // Wrong judgements: each query keeps its vector but gets the judged items of a query 17 places further on.
        var queries = judgements.GroupBy(j => j.QueryText + "|" + j.QueryImage + "|" + j.Modality).ToList();
        var shuffled = queries.SelectMany((group, i) => queries[(i + 17) % queries.Count].Select(j => j with
        {
            Id = j.Id + "-shuffled-" + i,
            Modality = group.First().Modality,
            QueryVector = group.First().QueryVector,
            QueryText = group.First().QueryText,
            QueryImage = group.First().QueryImage,
        })).ToList();

        var outcome = await QueryAdapterTuning.TuneAsync(shapes.KnowledgeBase, shuffled, new QueryAdapterTrainingOptions { Seed = seed, HoldoutShare = holdout });

        Assert.True(outcome.Stored is null, QueryAdapterTuning.Describe(outcome));
        Assert.All(outcome.Training.Modalities, m => Assert.False(m.Kept));
        Assert.Null(await shapes.KnowledgeBase.Store.GetSettingAsync(QueryAdapterSettings.SettingKey));
    }

    [Fact]
    public async Task Search_StoredAdapterVersusUseAdapterFalse_RanksDifferently()
    {
        var judgements = (await QueryAdapterTuning.JudgementsFromQueriesAsync(shapes.KnowledgeBase, shapes.Queries)).Judgements;
        var outcome = await QueryAdapterTuning.TuneAsync(shapes.KnowledgeBase, judgements, Split);
        Assert.NotNull(outcome.Stored);
        var searcher = shapes.KnowledgeBase.Searcher;

        var differing = 0;
        foreach (var query in shapes.Queries.Where(q => q.Text is not null).Take(40))
        {
            var request = new SearchRequest { Text = query.Text, Target = query.Target, Threshold = 0 };
            var adapted = await searcher.SearchAsync(request);
            var plain = await searcher.SearchAsync(request with { UseAdapter = false });
            Assert.False(plain.AdapterApplied);
            Assert.Equal(outcome.Stored.Maps(QueryModality.Text), adapted.AdapterApplied);
            if (!adapted.Hits.Select(h => (h.Item.Id, h.Score)).SequenceEqual(plain.Hits.Select(h => (h.Item.Id, h.Score))))
            {
                differing++;
            }
        }

        Assert.True(outcome.Stored.Maps(QueryModality.Text), "the text map was not kept");
        Assert.True(differing > 0, "no text query ranked or scored differently with the adapter");
    }
}
