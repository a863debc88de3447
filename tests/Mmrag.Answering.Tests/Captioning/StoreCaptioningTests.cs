using System.Security.Cryptography;
using Microsoft.Extensions.AI;
using Mmrag.Answering.Captioning;
using Mmrag.Answering.Llm;
using Mmrag.Answering.Tests.Fakes;
using Mmrag.Clip.Inference;
using Mmrag.Knowledge;
using Mmrag.Retrieval.Search;
using Mmrag.Storage.Embedded;

namespace Mmrag.Answering.Tests.Captioning;

public sealed class StoreCaptioningTests : IAsyncLifetime
{
    private const string Caption = "A zanzibar harbour panorama at dawn.";
    private readonly FakeOpenAiServer _server = new();
    private readonly string _folder = Path.Combine(Path.GetTempPath(), "mmrag-captioning-tests-" + Guid.NewGuid().ToString("N"));
    private readonly ClipTextEmbeddingGenerator _text = new(KnowledgeBaseFixture.SharedModel);
    private readonly ClipImageEmbeddingGenerator _images = new(KnowledgeBaseFixture.SharedModel);
    private EmbeddedKnowledgeStore _store = null!;

    public async Task InitializeAsync()
    {
        var model = KnowledgeBaseFixture.SharedModel;
        _store = await EmbeddedKnowledgeStore.OpenAsync(_folder, new EmbeddingSpace(model.ModelId, model.Dimension));
        await AddImageAsync("wide", ClipFixtures.ImagePath("wide_2000x300.jpg"), null);
        await AddImageAsync("tall", ClipFixtures.ImagePath("tall_100x1000.png"), "A tall narrow lighthouse.");
        await AddImageAsync("gone", ClipFixtures.ImagePath("noise_224x224.png"), null, imagePath: Path.Combine(_folder, "deleted.png"));
    }

    public async Task DisposeAsync()
    {
        await _server.DisposeAsync();
        await _store.DisposeAsync();
        _text.Dispose();
        _images.Dispose();
        Directory.Delete(_folder, recursive: true);
    }

    private async Task AddImageAsync(string id, string file, string? description, string? imagePath = null)
    {
        var bytes = await File.ReadAllBytesAsync(file);
        var vector = (await _images.GenerateAsync([new DataContent(bytes, "image/png")]))[0].Vector;
        var item = new KnowledgeItem
        {
            Id = id + "#0", DocumentId = id, Kind = ItemKind.Image, ContentHash = Convert.ToHexStringLower(SHA256.HashData(bytes)),
            Text = description ?? string.Empty, Description = description, ImagePath = imagePath ?? file,
            Provenance = new Provenance(imagePath ?? file), Vector = vector,
        };
        await _store.UpsertDocumentAsync(new DocumentRecord(id, item.Provenance.SourcePath, item.ContentHash, "image/png", null, 1, DateTimeOffset.UtcNow), [item]);
    }

    private ImageCaptioner Captioner() => new(OpenAiCompatibleChatClientFactory.Create(new LlmOptions { BaseUrl = _server.BaseUrl, Model = "captioner", MaxRetries = 0 }));

    [Fact]
    public async Task CaptionStore_UndescribedImages_StoresCaptionAndCaptionChunkAndRecordsFailures()
    {
        _server.Enqueue(Reply.Text(Caption));

        var summary = await Captioner().CaptionStoreAsync(_store, _text);

        Assert.Equal(1, summary.Captioned);
        Assert.Equal(1, summary.Documents);
        var failure = Assert.Single(summary.Failures);
        Assert.Equal("gone#0", failure.Item.Id);
        Assert.Contains(await _store.ListFailuresAsync(), f => f.Detail == failure.Item.ImagePath && f.Reason.StartsWith("Captioning failed", StringComparison.Ordinal));
        Assert.Single(_server.Requests);

        var image = await _store.GetItemAsync("wide#0");
        Assert.Equal(Caption, image!.Description);
        Assert.StartsWith(Caption, image.Text, StringComparison.Ordinal);
        var chunk = await _store.GetItemAsync("wide#0" + StoreCaptioning.CaptionIdSuffix);
        Assert.Equal(ItemKind.TextChunk, chunk!.Kind);
        Assert.Equal(image.ImagePath, chunk.ImagePath);
        Assert.Contains(StoreCaptioning.CaptionTag, chunk.Tags);
        Assert.Equal(2, (await _store.GetDocumentAsync("wide"))!.ItemCount);
        Assert.Equal("A tall narrow lighthouse.", (await _store.GetItemAsync("tall#0"))!.Description);
    }

    [Fact]
    public async Task CaptionStore_SecondRun_SkipsCaptionedImages()
    {
        _server.Enqueue(Reply.Text(Caption));
        await Captioner().CaptionStoreAsync(_store, _text);

        var again = await Captioner().CaptionStoreAsync(_store, _text);

        Assert.Equal(0, again.Captioned);
        Assert.Single(_server.Requests);
    }

    [Fact]
    public async Task Ask_TextWithImagesAfterCaptioning_FindsImageThroughItsCaptionAndSendsItOnce()
    {
        _server.Enqueue(Reply.Text(Caption));
        await Captioner().CaptionStoreAsync(_store, _text);
        var answerer = new Answerer(new KnowledgeSearcher(_store, _text, _images),
            OpenAiCompatibleChatClientFactory.Create(new LlmOptions { BaseUrl = _server.BaseUrl, Model = "answerer" }));

        var answer = await answerer.AskAsync(new Question("zanzibar"), new AnswerOptions { Strategy = AnswerStrategy.TextWithImages, Threshold = 0, K = 20 });

        var source = Assert.Single(answer.Sources, s => s.ImagePath == ClipFixtures.ImagePath("wide_2000x300.jpg"));
        Assert.Equal(ItemKind.Image, source.Kind);
        Assert.True(source.ImageSent);
        var url = Assert.Single(Wire.ImageUrls(_server.Requests[^1].Messages()[1]!));
        Assert.Equal((512, 77), TestImages.DecodeJpegDataUrl(url));
    }
}
