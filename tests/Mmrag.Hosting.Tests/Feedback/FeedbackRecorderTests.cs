using Microsoft.Extensions.AI;
using Mmrag.Hosting.Feedback;
using Mmrag.Hosting.Maintenance;
using Mmrag.Knowledge;
using Mmrag.Storage;

namespace Mmrag.Hosting.Tests.Feedback;

/// <summary><see cref="FeedbackRecorder"/> on a real knowledge base with the tiny CLIP model, and feedback through a re-embed.</summary>
[Collection(nameof(KnowledgeBaseReembedTests))] // re-embeds: the swap hook is process-wide
public sealed class FeedbackRecorderTests : IDisposable
{
    private readonly TestKnowledgeBases _kb = new();

    public void Dispose() => _kb.Dispose();

    private async Task<MmragKnowledgeBase> IngestedAsync()
    {
        var kb = await MmragKnowledgeBase.OpenAsync(_kb.Options(TestKnowledgeBases.TinyClip));
        var summary = await kb.CreatePipeline().IngestAsync([_kb.Corpus], kb.CreateIngestionOptions());
        Assert.Equal(0, summary.Failed);
        return kb;
    }

    private static async Task<KnowledgeItem> AnItemAsync(MmragKnowledgeBase kb) =>
        (await kb.Searcher.SearchAsync(new() { Text = "wooden deck", Threshold = 0, K = 1 })).Hits[0].Item;

    private DataContent Photo() => new(File.ReadAllBytes(Directory.GetFiles(_kb.Corpus, "photo.*")[0]), "application/octet-stream") { Name = "photo.png" };

    [Fact]
    public async Task RecordAsync_TextAndImage_StoresOneJudgementPerVectorOfTheKnowledgeBasesModel()
    {
        await using var kb = await IngestedAsync();
        var item = await AnItemAsync(kb);

        var stored = await FeedbackRecorder.For(kb).RecordAsync("oil the deck", Photo(), item.Id, relevant: true, FeedbackSources.Api);

        Assert.Equal([FeedbackQueryModality.Text, FeedbackQueryModality.Image], stored.Select(static j => j.Modality));
        var listed = await FeedbackRecorder.For(kb).ListAsync();
        Assert.Equal(stored.Select(static j => j.Id), listed.Select(static e => e.Judgement.Id));
        Assert.All(listed, e => Assert.Equal(item.Provenance.SourcePath, e.ItemSource));
        Assert.All(listed, e => Assert.Equal((kb.Store.Space.ModelId, "oil the deck", "photo.png"), (e.Judgement.ModelId, e.Judgement.QueryText, e.Judgement.QueryImage)));
        var expected = await kb.TextEmbedder.GenerateVectorAsync("oil the deck");
        Assert.Equal(expected.ToArray(), listed[0].Judgement.QueryVector.ToArray(), new ToleranceComparer(1e-5f));
    }

    [Fact]
    public async Task RecordAsync_UnknownItem_ThrowsKeyNotFoundAndStoresNothing()
    {
        await using var kb = await IngestedAsync();

        await Assert.ThrowsAsync<KeyNotFoundException>(() => FeedbackRecorder.For(kb).RecordAsync("deck", null, "no-such-item", true, FeedbackSources.Api));

        Assert.Empty(await FeedbackRecorder.For(kb).ListAsync());
    }

    [Theory]
    [InlineData("no-query")]
    [InlineData("huge-text")]
    [InlineData("bad-source")]
    [InlineData("no-item")]
    public async Task RecordAsync_InvalidArguments_ThrowsArgumentExceptionAndStoresNothing(string what)
    {
        await using var kb = await IngestedAsync();
        var item = await AnItemAsync(kb);
        var recorder = FeedbackRecorder.For(kb);

        Task Record() => what switch
        {
            "no-query" => recorder.RecordAsync("  ", null, item.Id, true, FeedbackSources.Api),
            "huge-text" => recorder.RecordAsync(new string('a', FeedbackRecorder.MaxQueryTextLength + 1), null, item.Id, true, FeedbackSources.Api),
            "bad-source" => recorder.RecordAsync("deck", null, item.Id, true, "elsewhere"),
            _ => recorder.RecordAsync("deck", null, "", true, FeedbackSources.Api),
        };

        await Assert.ThrowsAnyAsync<ArgumentException>(Record);
        Assert.Empty(await recorder.ListAsync());
    }

    [Fact]
    public async Task RecordAsync_UndecodableImageWithText_StoresNeitherJudgement()
    {
        await using var kb = await IngestedAsync();
        var item = await AnItemAsync(kb);
        var garbage = new DataContent("not an image at all"u8.ToArray(), "application/octet-stream");

        await Assert.ThrowsAnyAsync<Exception>(() => FeedbackRecorder.For(kb).RecordAsync("deck", garbage, item.Id, true, FeedbackSources.Api));

        Assert.Empty(await FeedbackRecorder.For(kb).ListAsync());
    }

    [Fact]
    public async Task RecordAsync_StoreFailsOnTheSecondJudgement_RemovesTheFirst()
    {
        await using var kb = await IngestedAsync();
        var item = await AnItemAsync(kb);
        var failing = new FeedbackStoreFailingAfter(kb.Store, writes: 1);
        var recorder = new FeedbackRecorder(failing, kb.TextEmbedder, kb.ImageEmbedder);

        await Assert.ThrowsAsync<KnowledgeStoreException>(() => recorder.RecordAsync("deck", Photo(), item.Id, true, FeedbackSources.Page));

        Assert.Empty(await ((IRelevanceFeedbackStore)kb.Store).ListJudgementsAsync());
    }

    [Fact]
    public async Task Recorder_StoreWithoutFeedback_SaysSoForEveryOperation()
    {
        await using var kb = await IngestedAsync();
        var item = await AnItemAsync(kb);
        var recorder = new FeedbackRecorder(new StoreWithoutFeedback(kb.Store), kb.TextEmbedder, kb.ImageEmbedder);

        Assert.False(recorder.IsSupported);
        var error = await Assert.ThrowsAsync<NotSupportedException>(() => recorder.RecordAsync("deck", null, item.Id, true, FeedbackSources.Api));
        Assert.Contains("does not keep relevance feedback", error.Message, StringComparison.Ordinal);
        await Assert.ThrowsAsync<NotSupportedException>(() => recorder.ListAsync());
        await Assert.ThrowsAsync<NotSupportedException>(() => recorder.RemoveAsync("x"));
        await Assert.ThrowsAsync<NotSupportedException>(() => recorder.ClearAsync());
    }

    [Fact]
    public async Task RecordAsync_KnowledgeBaseOpenedWithoutItsModel_SaysItNeedsTheModel()
    {
        string itemId;
        await using (var kb = await IngestedAsync())
        {
            itemId = (await AnItemAsync(kb)).Id;
        }

        var options = _kb.Options(create: false);
        options.LoadModel = false;
        await using var bare = await MmragKnowledgeBase.OpenAsync(options);

        await Assert.ThrowsAsync<InvalidOperationException>(() => FeedbackRecorder.For(bare).RecordAsync("deck", null, itemId, true, FeedbackSources.Api));
        Assert.Empty(await FeedbackRecorder.For(bare).ListAsync()); // listing needs no model
    }

    [Fact]
    public async Task Reembed_KnowledgeBaseWithFeedback_KeepsEveryJudgement_TextQueriesInTheNewModel()
    {
        IReadOnlyList<RelevanceJudgement> before;
        await using (var kb = await IngestedAsync())
        {
            before = await FeedbackRecorder.For(kb).RecordAsync("oil the deck", Photo(), (await AnItemAsync(kb)).Id, true, FeedbackSources.Page);
        }

        var summary = await KnowledgeBaseReembed.RunAsync(_kb.Options(TestKnowledgeBases.ShapesClip, create: false));

        await using var reembedded = await MmragKnowledgeBase.OpenAsync(_kb.Options(create: false));
        var after = await ((IRelevanceFeedbackStore)reembedded.Store).ListJudgementsAsync();
        Assert.Equal(before.Select(static j => j.Id), after.Select(static j => j.Id));
        Assert.Equal(summary.Model, after[0].ModelId); // the text query, embedded again
        Assert.Equal(reembedded.Store.Space.Dimension, after[0].QueryVector.Length);
        Assert.Equal(before[1].ModelId, after[1].ModelId); // the image query's image was never kept: its old vector stays, told apart by its model
        Assert.Equal(["oil the deck", "oil the deck"], after.Select(static j => j.QueryText));
    }

    private sealed class ToleranceComparer(float tolerance) : IEqualityComparer<float>
    {
        public bool Equals(float x, float y) => MathF.Abs(x - y) <= tolerance;

        public int GetHashCode(float obj) => 0;
    }

    [Theory]
    [InlineData("photo.png", "photo.png")]
    [InlineData("../../etc/passwd", "passwd")]
    [InlineData("evil\u001b[31mred\nname.png", "evil [31mred name.png")]
    [InlineData(null, "query-image")]
    [InlineData("   ", "query-image")]
    public void ImageLabel_ClientFileName_KeepsTheNameWithoutFoldersOrControlCharacters(string? name, string expected)
    {
        Assert.Equal(expected, FeedbackRecorder.ImageLabel(name));
    }

    [Fact]
    public void ImageLabel_HugeName_IsCutTo240Characters()
    {
        Assert.Equal(new string('n', 240), FeedbackRecorder.ImageLabel(new string('n', 100_000)));
    }
}

