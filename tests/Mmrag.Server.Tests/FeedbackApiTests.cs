using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using Mmrag.Storage;

namespace Mmrag.Server.Tests;

/// <summary><c>/api/feedback</c> against the real server on loopback: record, list, remove, and what it refuses.</summary>
[Collection("server")]
public sealed class FeedbackApiTests(ServerFixture fixture) : ApiTestBase(fixture)
{
    private IRelevanceFeedbackStore Feedback => (IRelevanceFeedbackStore)Fixture.Store;

    private async Task<string> AnItemIdAsync() =>
        (await SearchAsync(new { text = "tomato plants and marigolds", k = 1, threshold = 0 })).GetProperty("hits")[0].GetProperty("id").GetString()!;

    private async Task<int> StoredCountAsync() => (await Feedback.ListJudgementsAsync()).Count;

    [Fact]
    public async Task FeedbackList_OffsetAndLimit_ReturnOnePageAndTheTotal()
    {
        string itemId = await AnItemIdAsync();
        for (var i = 0; i < 3; i++)
        {
            using var posted = await Client.PostAsync("api/feedback", Json(new { query = new { text = $"page query {i}" }, item_id = itemId, relevant = true }));
            Assert.True(posted.IsSuccessStatusCode, await posted.Content.ReadAsStringAsync());
        }

        var total = await StoredCountAsync();
        var last = await Client.GetFromJsonAsync<JsonElement>($"api/feedback?offset={total - 3}&limit=2");
        var rest = await Client.GetFromJsonAsync<JsonElement>($"api/feedback?offset={total - 1}");

        Assert.Equal(total, last.GetProperty("total").GetInt32());
        Assert.Equal(total - 3, last.GetProperty("offset").GetInt32());
        Assert.Equal(["page query 0", "page query 1"], last.GetProperty("feedback").EnumerateArray().Select(static f => f.GetProperty("query_text").GetString()));
        Assert.Equal(["page query 2"], rest.GetProperty("feedback").EnumerateArray().Select(static f => f.GetProperty("query_text").GetString()));
        foreach (var bad in new[] { "limit=0", "limit=1001", "offset=-1", "offset=x" })
        {
            using var refused = await Client.GetAsync($"api/feedback?{bad}");
            await AssertProblemAsync(refused, 400);
        }
    }

    [Fact]
    public async Task Feedback_TextAndImageQuery_StoresOneJudgementPerVector_ListedAndRemovable()
    {
        string itemId = await AnItemIdAsync();
        string image = "data:image/png;base64," + Convert.ToBase64String(await File.ReadAllBytesAsync(Fixtures.Image("checker_225x224.png")));

        using var response = await Client.PostAsync("api/feedback",
            Json(new { query = new { text = "tomato seedlings", image, image_name = "garden.png" }, item_id = itemId, relevant = true }));

        Assert.True(response.IsSuccessStatusCode, await response.Content.ReadAsStringAsync());
        var recorded = await ReadJsonAsync(response);
        string[] ids = [.. recorded.GetProperty("ids").EnumerateArray().Select(static id => id.GetString()!)];
        Assert.Equal(2, ids.Length);
        Assert.Equal(["text", "image"], recorded.GetProperty("feedback").EnumerateArray().Select(static f => f.GetProperty("modality").GetString()));

        var listed = (await Client.GetFromJsonAsync<JsonElement>("api/feedback")).GetProperty("feedback").EnumerateArray()
            .Where(f => ids.Contains(f.GetProperty("id").GetString())).ToList();
        Assert.Equal(2, listed.Count);
        foreach (var entry in listed)
        {
            Assert.Equal(itemId, entry.GetProperty("item_id").GetString());
            Assert.Equal((await Fixture.Store.GetItemAsync(itemId))!.Provenance.SourcePath, entry.GetProperty("item_source").GetString());
            Assert.True(entry.GetProperty("relevant").GetBoolean());
            Assert.Equal("api", entry.GetProperty("source").GetString());
            Assert.Equal("tomato seedlings", entry.GetProperty("query_text").GetString());
            Assert.Equal("garden.png", entry.GetProperty("query_image").GetString());
            Assert.Equal(Fixture.Store.Space.ModelId, entry.GetProperty("model_id").GetString());
        }

        RelevanceJudgement stored = (await Feedback.ListJudgementsAsync()).Single(j => j.Id == ids[1]);
        Assert.Equal(FeedbackQueryModality.Image, stored.Modality);
        Assert.Equal(Fixture.Store.Space.Dimension, stored.QueryVector.Length);

        using (var removed = await Client.DeleteAsync($"api/feedback/{ids[0]}"))
        {
            Assert.Equal(HttpStatusCode.NoContent, removed.StatusCode);
        }

        using (var again = await Client.DeleteAsync($"api/feedback/{ids[0]}"))
        {
            await AssertProblemAsync(again, 404);
        }

        Assert.DoesNotContain(await Feedback.ListJudgementsAsync(), j => j.Id == ids[0]);
        Assert.Contains(await Feedback.ListJudgementsAsync(), j => j.Id == ids[1]);
    }

    [Fact]
    public async Task Feedback_FromThePage_IsStoredWithSourcePageAndThumbsDown()
    {
        string itemId = await AnItemIdAsync();

        using var response = await PostJsonAsThePageAsync("api/feedback", new { query = new { text = "marigolds" }, item_id = itemId, relevant = false, source = "page" });

        Assert.True(response.IsSuccessStatusCode, await response.Content.ReadAsStringAsync());
        string id = (await ReadJsonAsync(response)).GetProperty("ids")[0].GetString()!;
        RelevanceJudgement stored = (await Feedback.ListJudgementsAsync()).Single(j => j.Id == id);
        Assert.Equal("page", stored.Source);
        Assert.False(stored.Relevant);
        Assert.Null(stored.QueryImage);
    }

    [Fact]
    public async Task Feedback_UnknownItem_Returns404AndStoresNothing()
    {
        int before = await StoredCountAsync();

        using var response = await Client.PostAsync("api/feedback", Json(new { query = new { text = "marigolds" }, item_id = "no-such-item#0", relevant = true }));

        var problem = await AssertProblemAsync(response, 404);
        Assert.Contains("no-such-item#0", problem.GetProperty("detail").GetString(), StringComparison.Ordinal);
        Assert.Equal(before, await StoredCountAsync());
    }

    public static TheoryData<string, string> BadBodies => new()
    {
        { "{\"query\": {\"text\": \"x\"}, \"relevant\": true}", "item_id" },
        { "{\"query\": {\"text\": \"x\"}, \"item_id\": \"ITEM\"}", "relevant" },
        { "{\"item_id\": \"ITEM\", \"relevant\": true}", "text and/or its image" },
        { "{\"query\": {}, \"item_id\": \"ITEM\", \"relevant\": true}", "text and/or its image" },
        { "{\"query\": {\"text\": \"x\"}, \"item_id\": \"ITEM\", \"relevant\": \"yes\"}", "relevant" },
        { "{\"query\": {\"text\": \"x\"}, \"item_id\": \"ITEM\", \"relevant\": true, \"source\": \"file\"}", "'source'" },
        { "{\"query\": {\"image\": \"not base64!\"}, \"item_id\": \"ITEM\", \"relevant\": true}", "base64" },
        { "{\"query\": {\"image\": \"\"}, \"item_id\": \"ITEM\", \"relevant\": true}", "empty" },
        { "{\"query\": {\"image\": \"aGVsbG8gbm90IGFuIGltYWdl\"}, \"item_id\": \"ITEM\", \"relevant\": true}", "" },
        { "{\"query\": {\"text\": \"x\"}, \"item_id\": \"ITEM\", \"relevant\": tru", "JSON" },
        { "[1, 2]", "JSON" },
        { "null", "JSON object" },
        { "{\"query\": {\"text\": \"\\ud800\"}, \"item_id\": \"ITEM\", \"relevant\": true}", "JSON object" },
    };

    [Theory]
    [MemberData(nameof(BadBodies))]
    public async Task Feedback_BadBody_Returns400NamingTheProblemAndStoresNothing(string body, string mentioned)
    {
        string itemId = await AnItemIdAsync();
        int before = await StoredCountAsync();

        using var response = await Client.PostAsync("api/feedback", new StringContent(body.Replace("ITEM", itemId, StringComparison.Ordinal), Encoding.UTF8, "application/json"));

        var problem = await AssertProblemAsync(response, 400);
        Assert.Contains(mentioned, problem.GetProperty("detail").GetString(), StringComparison.Ordinal);
        Assert.Equal(before, await StoredCountAsync());
    }

    [Fact]
    public async Task Feedback_HugeQueryText_Returns400AndStoresNothing()
    {
        string itemId = await AnItemIdAsync();
        int before = await StoredCountAsync();

        using var response = await Client.PostAsync("api/feedback", Json(new { query = new { text = new string('x', 2_000_000) }, item_id = itemId, relevant = true }));

        var problem = await AssertProblemAsync(response, 400);
        Assert.Contains("at most", problem.GetProperty("detail").GetString(), StringComparison.Ordinal);
        Assert.Equal(before, await StoredCountAsync());
    }

    [Fact]
    public async Task Feedback_ImageOverTheKnowledgeBasesPixelLimit_Returns413AndStoresNothing()
    {
        string itemId = await AnItemIdAsync();
        int before = await StoredCountAsync();
        byte[] jpeg = Mmrag.Clip.Tests.Preprocessing.TestJpeg.ClaimingSize(30_000, 30_000);

        // With text too: the text's judgement must not be stored without the image's.
        using var response = await Client.PostAsync("api/feedback",
            Json(new { query = new { text = "marigolds", image = Convert.ToBase64String(jpeg) }, item_id = itemId, relevant = true }));

        await AssertProblemAsync(response, 413);
        Assert.Equal(before, await StoredCountAsync());
    }

    [Fact]
    public async Task Feedback_PostFromAnotherSite_IsRefused()
    {
        string itemId = await AnItemIdAsync();
        using var request = new HttpRequestMessage(HttpMethod.Post, "api/feedback")
        {
            Content = new StringContent($"{{\"query\": {{\"text\": \"x\"}}, \"item_id\": \"{itemId}\", \"relevant\": true}}", Encoding.UTF8, "text/plain"),
        };
        request.Headers.Add("Origin", "http://evil.example");

        using var response = await Client.SendAsync(request);

        await AssertProblemAsync(response, 403);
    }

    [Fact]
    public async Task OpenApi_DescribesTheFeedbackEndpoints()
    {
        var document = await Client.GetFromJsonAsync<JsonElement>("openapi/v1.json");

        var paths = document.GetProperty("paths");
        Assert.True(paths.GetProperty("/api/feedback").TryGetProperty("post", out _));
        Assert.True(paths.GetProperty("/api/feedback").TryGetProperty("get", out _));
        Assert.True(paths.GetProperty("/api/feedback/{id}").TryGetProperty("delete", out _));
        var schemas = document.GetProperty("components").GetProperty("schemas");
        foreach (var schema in new[] { "FeedbackRequest", "FeedbackRecordedResponse", "FeedbackListResponse" })
        {
            Assert.True(schemas.TryGetProperty(schema, out _), schema);
        }
    }

    /// <summary>Posts JSON as the server's own page does: same origin, with the CSRF token.</summary>
    private async Task<HttpResponseMessage> PostJsonAsThePageAsync(string path, object body)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, path) { Content = Json(body) };
        request.Headers.Add("X-CSRF-Token", await CsrfTokenAsync(Client));
        request.Headers.Add("Origin", Client.BaseAddress!.GetLeftPart(UriPartial.Authority));
        request.Headers.Add("Sec-Fetch-Site", "same-origin");
        return await Client.SendAsync(request);
    }
}
