using Microsoft.Extensions.AI;
using Microsoft.Extensions.DependencyInjection;
using Mmrag.Answering.Captioning;
using Mmrag.Answering.Llm;
using Mmrag.Answering.Tests.Fakes;
using Mmrag.Knowledge;

namespace Mmrag.Answering.Tests.Captioning;

public sealed class ImageCaptionerTests : IAsyncLifetime
{
    private readonly FakeOpenAiServer _server = new();

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync() => await _server.DisposeAsync();

    private LlmOptions Llm() => new()
    {
        BaseUrl = _server.BaseUrl, Model = "answer-model", CaptionModel = "caption-model", MaxRetries = 0,
    };

    private ImageCaptioner CreateCaptioner() => new(OpenAiCompatibleChatClientFactory.Create(Llm(), Llm().EffectiveCaptionModel));

    private static KnowledgeItem Image(string id, string? path, string? description = null) => new()
    {
        Id = id, DocumentId = id, Kind = ItemKind.Image, ContentHash = id, ImagePath = path, Description = description,
        Text = description ?? string.Empty, Provenance = new Provenance(path ?? "/missing"),
    };

    [Fact]
    public async Task Caption_Image_SendsFixedPromptAndDownscaledJpegToCaptionModel()
    {
        _server.Enqueue(Reply.Text("  A red kettle on a counter.  "));

        var caption = await CreateCaptioner().CaptionAsync(TestImages.Png(1024, 768));

        Assert.Equal("A red kettle on a counter.", caption);
        var request = Assert.Single(_server.Requests);
        Assert.Equal("caption-model", request.Json["model"]!.GetValue<string>());
        Assert.Equal(["user"], request.Roles());
        var message = request.Messages()[0]!;
        Assert.Equal(ImageCaptionerOptions.DefaultPrompt, Wire.AllText(message));
        Assert.Equal((512, 384), TestImages.DecodeJpegDataUrl(Assert.Single(Wire.ImageUrls(message))));
    }

    [Fact]
    public async Task CaptionBatch_MixedItems_CaptionsUndescribedImagesAndRecordsFailuresPerImage()
    {
        _server.Enqueue(Reply.Text("A harbour."), Reply.Error(400, "image too large"));
        var good = Image("good", ClipFixtures.ImagePath("wide_2000x300.jpg"));
        var rejected = Image("rejected", ClipFixtures.ImagePath("tall_100x1000.png"));
        var missing = Image("missing", "/nonexistent/x.png");
        var described = Image("described", ClipFixtures.ImagePath("noise_224x224.png"), "already described");
        var chunk = new KnowledgeItem { Id = "t", DocumentId = "t", Kind = ItemKind.TextChunk, ContentHash = "t", Text = "x", Provenance = new Provenance("/t.md") };

        var results = await CreateCaptioner().CaptionBatchAsync([good, rejected, missing, described, chunk]);

        Assert.Equal(["good", "rejected", "missing"], results.Select(r => r.Item.Id));
        Assert.Equal("A harbour.", results[0].Caption);
        Assert.Equal("A harbour.", results[0].Updated!.Description);
        Assert.StartsWith("A harbour.", results[0].Updated!.Text, StringComparison.Ordinal);
        Assert.Contains("image too large", results[1].Error, StringComparison.Ordinal);
        Assert.False(results[2].Succeeded);
        Assert.NotNull(results[2].Error);
        Assert.Equal(2, _server.Requests.Count);
    }

    [Fact]
    public async Task IngestionHook_DescribedImage_ReturnsNullWithoutRequest()
    {
        var hook = CreateCaptioner().AsIngestionHook();

        var caption = await hook(Image("d", "/x.png", "has one"), TestImages.Png(8, 8), CancellationToken.None);

        Assert.Null(caption);
        Assert.Empty(_server.Requests);
    }

    [Fact]
    public void AddAnswering_Configured_RegistersChatClientCaptionerAndAnswerer()
    {
        var services = new ServiceCollection().AddAnswering(Llm());
        using var provider = services.BuildServiceProvider();

        Assert.NotNull(provider.GetService<IChatClient>());
        Assert.NotNull(provider.GetService<ImageCaptioner>());
        Assert.Contains(services, d => d.ServiceType == typeof(Answerer));
    }

    [Fact]
    public void AddAnswering_InvalidSetting_FailsAtRegistrationNamingIt()
    {
        var ex = Assert.Throws<ArgumentException>(() => new ServiceCollection().AddAnswering(new LlmOptions { BaseUrl = "nope", Model = "m" }));

        Assert.Contains("MMRAG_LLM_BASE_URL", ex.Message, StringComparison.Ordinal);
    }
}
