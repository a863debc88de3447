using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Microsoft.Extensions.AI;
using Mmrag.Answering.Llm;
using Mmrag.Answering.Prompting;
using Mmrag.Answering.Tests.Fakes;
using Mmrag.Knowledge;

namespace Mmrag.Answering.Tests.Answering;

/// <summary>End to end: real embedded store + tiny CLIP + retrieval + the real OpenAI client against the loopback server.</summary>
public sealed class AnswererTests(KnowledgeBaseFixture kb) : IClassFixture<KnowledgeBaseFixture>, IAsyncLifetime
{
    private readonly FakeOpenAiServer _server = new();

    // Threshold 0 and a large k: the tiny model's random similarities must not decide what the tests see.
    private static readonly AnswerOptions Everything = new() { Threshold = 0, K = 20, MaxImages = 10, MaxTotalPixels = 10_000_000 };

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync() => await _server.DisposeAsync();

    private Answerer CreateAnswerer() => new(kb.Searcher, OpenAiCompatibleChatClientFactory.Create(new LlmOptions
    {
        BaseUrl = _server.BaseUrl,
        Model = "test-vision",
        RetryBaseDelay = TimeSpan.FromMilliseconds(10),
    }));

    private static JsonNode UserMessage(RecordedRequest request) => request.Messages()[1]!;

    [Fact]
    public async Task Ask_Multimodal_SendsSystemRulesQuestionAndNumberedSourcesWithDownscaledJpegs()
    {
        var answer = await CreateAnswerer().AskAsync(new Question("How much water does the kettle hold?"), Everything);

        var request = Assert.Single(_server.Requests);
        Assert.Equal(["system", "user"], request.Roles());
        var system = Wire.AllText(request.Messages()[0]!);
        Assert.StartsWith(PromptBuilder.SystemPrompt, system, StringComparison.Ordinal);
        var nonce = Assert.Single(Regex.Matches(system, "nonce: \"([0-9a-f]{32})\"")).Groups[1].Value;
        var user = UserMessage(request);
        var text = Wire.AllText(user);
        Assert.StartsWith("Question: How much water does the kettle hold?", text, StringComparison.Ordinal);
        Assert.Contains("reference material", text, StringComparison.Ordinal);
        Assert.Contains($"Text from \"X100 manual\" (\"/kb/x100-manual.md\"), section \"Specifications\", page 1:\n{KnowledgeBaseFixture.CapacityChunk}\n</source nonce=\"{nonce}\">", text, StringComparison.Ordinal);

        // Every sent image is a JPEG downscaled to the longest side, aspect kept, in source order.
        var sent = answer.Sources.Where(s => s.ImageSent).ToList();
        var urls = Wire.ImageUrls(user);
        Assert.Equal(sent.Count, urls.Count);
        Assert.Equal(6, sent.Count);
        for (var i = 0; i < sent.Count; i++)
        {
            var (w, h) = KnowledgeBaseFixture.SizeOf(sent[i].ImagePath!);
            Assert.Equal(TestImages.Expected(w, h, 512), TestImages.DecodeJpegDataUrl(urls[i]));
            Assert.Equal((sent[i].SentWidth, sent[i].SentHeight), ((int?)TestImages.Expected(w, h, 512).Width, (int?)TestImages.Expected(w, h, 512).Height));
            Assert.Contains($"[{sent[i].Number}] Image from", text, StringComparison.Ordinal);
        }

        Assert.Equal(8, answer.Sources.Count);
        Assert.Equal(Enumerable.Range(1, 8), answer.Sources.Select(s => s.Number));
        Assert.Equal("OK", answer.Text);
        Assert.True(answer.LlmCalled);
        Assert.False(answer.NoContext);
        Assert.Equal(AnswerStrategy.Multimodal, answer.Strategy);
        Assert.Equal(FakeOpenAiServer.PromptTokens, answer.Usage?.InputTokenCount);
    }

    [Fact]
    public async Task Ask_ImageParts_FollowTheirNumberedTextPart()
    {
        await CreateAnswerer().AskAsync(new Question("kettle"), Everything);

        var parts = Wire.Parts(UserMessage(Assert.Single(_server.Requests)));
        for (var i = 0; i < parts.Count; i++)
        {
            if (parts[i]["type"]!.GetValue<string>() == "image_url")
            {
                // Inside its source's envelope: opening tag and description before, closing tag after.
                var before = parts[i - 1]["text"]!.GetValue<string>();
                Assert.Matches(@"^<source id=""(\d+)"" nonce=""[0-9a-f]{32}"">\n\[\1\] Image from", before);
                Assert.Matches(@"^</source nonce=""[0-9a-f]{32}"">$", parts[i + 1]["text"]!.GetValue<string>());
            }
        }
    }

    [Fact]
    public async Task Ask_MaxImages_SendsOnlyTheBestImagesByCalibratedScore()
    {
        var answer = await CreateAnswerer().AskAsync(new Question("kettle"), Everything with { MaxImages = 2 });

        var urls = Wire.ImageUrls(UserMessage(Assert.Single(_server.Requests)));
        Assert.Equal(2, urls.Count);
        var images = answer.Sources.Where(s => s.Kind == ItemKind.Image).ToList();
        var best = images.OrderByDescending(s => s.CalibratedScore).Take(2).Select(s => s.Number);
        Assert.Equal(best.Order(), images.Where(s => s.ImageSent).Select(s => s.Number).Order());

        // Images over the budget stay as text sources when they have a description; the undescribed one is dropped.
        Assert.All(images.Where(s => !s.ImageSent), s => Assert.False(string.IsNullOrEmpty(s.Item.Description)));
        Assert.Contains("Image (not attached)", Wire.AllText(UserMessage(_server.Requests[0])), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Ask_MaxTotalPixels_KeepsSentPixelsWithinBudget()
    {
        const long budget = (512 * 384) + (512 * 77) + 1000;

        var answer = await CreateAnswerer().AskAsync(new Question("kettle"), Everything with { MaxTotalPixels = budget });

        var sizes = Wire.ImageUrls(UserMessage(Assert.Single(_server.Requests))).Select(TestImages.DecodeJpegDataUrl).ToList();
        Assert.NotEmpty(sizes);
        Assert.True(sizes.Sum(s => (long)s.Width * s.Height) <= budget);
        Assert.True(sizes.Count < 6);
        Assert.Equal(sizes.Count, answer.Sources.Count(s => s.ImageSent));
    }

    [Fact]
    public async Task Ask_UserImage_IsSentFirstDownscaledAndCountsInTheBudget()
    {
        var photo = TestImages.Png(480, 640, seed: 7);

        var answer = await CreateAnswerer().AskAsync(new Question("What is the capacity of this item?", new DataContent(photo, "image/png")),
            Everything with { MaxImages = 3 });

        var parts = Wire.Parts(UserMessage(Assert.Single(_server.Requests)));
        var firstImage = parts.Select((p, i) => (p, i)).First(x => x.p["type"]!.GetValue<string>() == "image_url");
        Assert.Equal("The user's own image, part of the question:", parts[firstImage.i - 1]["text"]!.GetValue<string>());
        Assert.Equal((384, 512), TestImages.DecodeJpegDataUrl(firstImage.p["image_url"]!["url"]!.GetValue<string>()));
        Assert.Equal(3, Wire.ImageUrls(UserMessage(_server.Requests[0])).Count);
        Assert.Equal(2, answer.Sources.Count(s => s.ImageSent));
    }

    [Fact]
    public async Task Ask_TextWithImages_RetrievesByTextAndSendsOnlyTheImageMatchedByItsDescription()
    {
        var answer = await CreateAnswerer().AskAsync(new Question("zanzibar"),
            Everything with { Strategy = AnswerStrategy.TextWithImages });

        var images = answer.Sources.Where(s => s.Kind == ItemKind.Image).ToList();
        var image = Assert.Single(images);
        Assert.EndsWith(KnowledgeBaseFixture.KeywordImage, image.ImagePath, StringComparison.Ordinal);
        Assert.True(image.ImageSent);
        Assert.Equal(2, answer.Sources.Count(s => s.Kind == ItemKind.TextChunk));
        var user = UserMessage(Assert.Single(_server.Requests));
        var url = Assert.Single(Wire.ImageUrls(user));
        Assert.Equal((512, 384), TestImages.DecodeJpegDataUrl(url));
        Assert.Contains(KnowledgeBaseFixture.KeywordImageDescription, Wire.AllText(user), StringComparison.Ordinal);
        Assert.Equal(AnswerStrategy.TextWithImages, answer.Strategy);
    }

    [Fact]
    public async Task Ask_TextOnly_SendsNoImagesButImageDescriptionsAsText()
    {
        var answer = await CreateAnswerer().AskAsync(new Question("zanzibar", new DataContent(TestImages.Png(64, 64), "image/png")),
            Everything with { Strategy = AnswerStrategy.TextOnly });

        var user = UserMessage(Assert.Single(_server.Requests));
        Assert.Empty(Wire.ImageUrls(user));
        Assert.All(answer.Sources, s => Assert.False(s.ImageSent));
        var image = Assert.Single(answer.Sources, s => s.Kind == ItemKind.Image);
        Assert.Contains($"[{image.Number}] Image (not attached) from", Wire.AllText(user), StringComparison.Ordinal);
        Assert.Contains(KnowledgeBaseFixture.KeywordImageDescription, Wire.AllText(user), StringComparison.Ordinal);
    }

    [Fact]
    public async Task AskStreaming_SourcesFirstThenTokensInOrderThenCitations()
    {
        _server.Enqueue(Reply.Text("It holds ", "1.7 litres [1]", ", see also [2, 99].", " Done."));

        var updates = new List<AnswerUpdate>();
        await foreach (var update in CreateAnswerer().AskStreamingAsync(new Question("capacity?"), Everything))
        {
            updates.Add(update);
        }

        Assert.Equal(AnswerUpdateKind.Sources, updates[0].Kind);
        Assert.NotEmpty(updates[0].Sources);
        Assert.Equal(["It holds ", "1.7 litres [1]", ", see also [2, 99].", " Done."],
            updates.Skip(1).SkipLast(1).Select(u => Assert.IsType<string>(u.Text)));
        Assert.All(updates.Skip(1).SkipLast(1), u => Assert.Equal(AnswerUpdateKind.Token, u.Kind));
        var final = updates[^1];
        Assert.Equal(AnswerUpdateKind.Completed, final.Kind);
        var answer = Assert.IsType<Answer>(final.Answer);
        Assert.Equal("It holds 1.7 litres [1], see also [2, 99]. Done.", answer.Text);
        Assert.Equal([1, 2], answer.Citations.Select(c => c.Number));
        Assert.Equal(answer.Sources[0].SourcePath, answer.Citations[0].SourcePath);
        Assert.Equal(answer.Sources[1].Kind, answer.Citations[1].Kind);
        Assert.Equal([99], answer.UnresolvedCitations);
        Assert.Equal(FakeOpenAiServer.PromptTokens + FakeOpenAiServer.CompletionTokens, answer.Usage?.TotalTokenCount);
        Assert.True(Assert.Single(_server.Requests).IsStreaming);
    }

    [Fact]
    public async Task Ask_CitationsInAnswer_ResolveToSourcesWithPathPageAndScore()
    {
        _server.Enqueue(Reply.Text("See [1-3] and [12]."));

        var answer = await CreateAnswerer().AskAsync(new Question("kettle"), Everything with { MaxImages = 0 });

        Assert.Equal([1, 2, 3], answer.Citations.Select(c => c.Number));
        foreach (var citation in answer.Citations)
        {
            var source = answer.Sources[citation.Number - 1];
            Assert.Equal(source.SourcePath, citation.SourcePath);
            Assert.Equal(source.Page, citation.Page);
            Assert.Equal(source.ImagePath, citation.ImagePath);
            Assert.Equal(source.Score, citation.Score);
        }

        Assert.Equal([12], answer.UnresolvedCitations);
    }

    [Fact]
    public async Task Ask_NothingAboveThresholdAndDecline_MakesNoRequest()
    {
        var answer = await CreateAnswerer().AskAsync(new Question("kettle"),
            new AnswerOptions { Threshold = 1, NoContextBehavior = NoContextBehavior.Decline });

        Assert.True(answer.Declined);
        Assert.True(answer.NoContext);
        Assert.Empty(answer.Sources);
        Assert.False(answer.LlmCalled);
        Assert.Equal(Answerer.DeclinedText, answer.Text);
        Assert.Empty(_server.Requests);
    }

    [Fact]
    public async Task Ask_NothingAboveThresholdAndAnswerWithoutContext_FlagsItAndTellsTheModel()
    {
        var answer = await CreateAnswerer().AskAsync(new Question("kettle"), new AnswerOptions { Threshold = 1 });

        Assert.True(answer.NoContext);
        Assert.False(answer.Declined);
        Assert.Empty(answer.Sources);
        var request = Assert.Single(_server.Requests);
        Assert.Equal(PromptBuilder.NoSourcesSystemPrompt, Wire.AllText(request.Messages()[0]!));
        Assert.DoesNotContain("Sources", Wire.AllText(UserMessage(request)), StringComparison.Ordinal);
    }

    [Fact]
    public async Task AskStreaming_Decline_YieldsSourcesThenCompletedWithoutRequest()
    {
        var updates = new List<AnswerUpdate>();
        await foreach (var update in CreateAnswerer().AskStreamingAsync(new Question("kettle"),
                           new AnswerOptions { Threshold = 1, NoContextBehavior = NoContextBehavior.Decline }))
        {
            updates.Add(update);
        }

        Assert.Equal([AnswerUpdateKind.Sources, AnswerUpdateKind.Completed], updates.Select(u => u.Kind));
        Assert.True(updates[1].Answer!.Declined);
        Assert.Empty(_server.Requests);
    }

    [Fact]
    public async Task Ask_NoLlmConfigured_ReturnsSourcesAndConfigurationHint()
    {
        var answerer = new Answerer(kb.Searcher, chatClient: null);

        var answer = await answerer.AskAsync(new Question("kettle"), Everything);

        Assert.False(answerer.HasLlm);
        Assert.False(answer.LlmCalled);
        Assert.Equal(LlmOptions.ConfigurationHint, answer.Text);
        Assert.Contains("MMRAG_LLM_BASE_URL", answer.Text, StringComparison.Ordinal);
        Assert.DoesNotContain('\n', answer.Text);
        Assert.Equal(8, answer.Sources.Count);
        Assert.Empty(_server.Requests);
    }

    [Fact]
    public async Task Ask_ServerFails_ThrowsLlmException()
    {
        _server.DefaultReply = Reply.Error(400, "model does not support images");

        var ex = await Assert.ThrowsAsync<LlmException>(() => CreateAnswerer().AskAsync(new Question("kettle"), Everything));

        Assert.Contains("model does not support images", ex.Message, StringComparison.Ordinal);
    }
    [Fact]
    public async Task Ask_ImageOnlyQuestion_RetrievesWithTheImageAndSendsIt()
    {
        var answer = await CreateAnswerer().AskAsync(new Question("", new DataContent(TestImages.Png(300, 200, seed: 3), "image/png")), Everything);

        var user = UserMessage(Assert.Single(_server.Requests));
        Assert.StartsWith("Question: (see the image)", Wire.AllText(user), StringComparison.Ordinal);
        Assert.Equal((300, 200), TestImages.DecodeJpegDataUrl(Wire.ImageUrls(user)[0]));
        Assert.NotEmpty(answer.Sources);
    }

    [Fact]
    public async Task Ask_TextWithImagesAndUserImage_SendsUserImageAndMatchedImage()
    {
        await CreateAnswerer().AskAsync(new Question("zanzibar", new DataContent(TestImages.Png(1000, 500), "image/png")),
            Everything with { Strategy = AnswerStrategy.TextWithImages });

        var sizes = Wire.ImageUrls(UserMessage(Assert.Single(_server.Requests))).Select(TestImages.DecodeJpegDataUrl).ToList();
        Assert.Equal([(512, 256), (512, 384)], sizes);
    }

    [Fact]
    public async Task Ask_UndecodableUserImage_ThrowsArgumentExceptionWithoutRequest()
    {
        await Assert.ThrowsAsync<ArgumentException>(() =>
            CreateAnswerer().AskAsync(new Question("kettle", new DataContent("not an image"u8.ToArray(), "image/png")), Everything));

        Assert.Empty(_server.Requests);
    }

    [Fact]
    public async Task Ask_ConcurrentQuestions_EachGetsItsOwnRequestAndAnswer()
    {
        var answerer = CreateAnswerer();

        var answers = await Task.WhenAll(Enumerable.Range(0, 4).Select(i => answerer.AskAsync(new Question($"question {i}"), Everything with { MaxImages = 1 })));

        Assert.Equal(4, _server.Requests.Count);
        Assert.All(answers, a => Assert.Equal("OK", a.Text));
        Assert.Equal(Enumerable.Range(0, 4).Select(i => $"Question: question {i}").Order(),
            _server.Requests.Select(r => Wire.Parts(UserMessage(r))[0]["text"]!.GetValue<string>()).Order());
    }

    [Fact]
    public async Task AskStreaming_Cancelled_StopsWithOperationCanceled()
    {
        _server.DefaultReply = Reply.Slow(TimeSpan.FromSeconds(5), Reply.Text("late"));
        using var cts = new CancellationTokenSource();
        var updates = new List<AnswerUpdate>();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(async () =>
        {
            await foreach (var update in CreateAnswerer().AskStreamingAsync(new Question("kettle"), Everything, cts.Token))
            {
                updates.Add(update);
                await cts.CancelAsync(); // after the sources, while the LLM is still silent
            }
        });

        Assert.Equal(AnswerUpdateKind.Sources, Assert.Single(updates).Kind);
    }
}
