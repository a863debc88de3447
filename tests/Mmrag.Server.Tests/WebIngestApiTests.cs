using Mmrag.Server;
using Mmrag.Testing;

namespace Mmrag.Server.Tests;

[Collection("server")]
public sealed class WebIngestApiTests(ServerFixture fixture) : ApiTestBase(fixture), IDisposable
{
    private readonly LoopbackSite _site = new();

    [Fact]
    public async Task Ingest_UrlsOnDefaultServer_PrivateHostRefusedAndRecordedAsFailure()
    {
        _site.Html("/inside", "<p>an intranet page</p>");
        var url = _site.Url("/inside");

        using var response = await PostJsonAsync(new { urls = new[] { url } });
        Assert.True(response.IsSuccessStatusCode, await response.Content.ReadAsStringAsync());
        var job = await WaitForJobAsync((await ReadJsonAsync(response)).GetProperty("job_id").GetString()!);

        var failure = Assert.Single(job.GetProperty("failures").EnumerateArray());
        Assert.Equal(url, failure.GetProperty("source").GetString());
        Assert.Contains("loopback", failure.GetProperty("reason").GetString(), StringComparison.Ordinal);
        Assert.Empty(_site.Requests);
        Assert.Contains(await Fixture.Store.ListFailuresAsync(), f => f.SourcePath == url);
    }

    [Fact]
    public async Task Ingest_UrlsOnServerAllowingPrivateHosts_PageStoredAndHitsCiteTheUrl()
    {
        var marker = Marker("walrus");
        _site.Html("/walrus", $"<html><head><title>Walrus</title></head><body><main><p>The {marker} walrus rests on the ice floe.</p></main></body></html>");
        var url = _site.Url("/walrus");
        var options = Fixture.Options();
        await using var server = await ServerFixture.StartAsync(new MmragServerOptions
        {
            KnowledgeBase = options.KnowledgeBase, Urls = options.Urls, AllowedRoots = options.AllowedRoots, AllowPrivateHosts = true,
        });
        using var client = ServerFixture.CreateClient(server);

        using var response = await PostJsonAsync(new { urls = new[] { url } }, client);
        Assert.True(response.IsSuccessStatusCode, await response.Content.ReadAsStringAsync());
        var job = await WaitForJobAsync((await ReadJsonAsync(response)).GetProperty("job_id").GetString()!, client);

        Assert.Equal("succeeded", job.GetProperty("state").GetString());
        Assert.Equal(1, job.GetProperty("summary").GetProperty("added").GetInt32());
        var hits = (await SearchAsync(new { text = marker, threshold = 0 })).GetProperty("hits");
        Assert.Contains(hits.EnumerateArray(), h => h.GetProperty("source").GetString() == url);
    }

    [Fact]
    public async Task Restart_JournaledUrlJob_ResumesWithItsCrawlSettings()
    {
        var marker = Marker("heron");
        _site.Html("/heron", $"<html><body><p>The {marker} heron fishes at dawn.</p><a href=\"/egret\">egret</a></body></html>")
            .Html("/egret", $"<html><body><p>The {marker} egret nests in reeds.</p></body></html>");
        var jobId = Jobs.IngestionJobs.NewId();
        new Jobs.JobJournal(Path.Combine(Fixture.KnowledgeBaseFolder, Jobs.JobJournal.FolderName)).Record(
            new Jobs.JournaledJob(jobId, [_site.Url("/heron")], null, DateTimeOffset.UtcNow) { Web = new Mmrag.Hosting.WebIngestionRequest { Depth = 1 } });
        var options = Fixture.Options();

        await using var server = await ServerFixture.StartAsync(new MmragServerOptions
        {
            KnowledgeBase = options.KnowledgeBase, Urls = options.Urls, AllowedRoots = options.AllowedRoots, AllowPrivateHosts = true,
        });
        using var client = ServerFixture.CreateClient(server);
        var job = await WaitForJobAsync(jobId, client);

        Assert.Equal("succeeded", job.GetProperty("state").GetString());
        Assert.Equal(2, job.GetProperty("summary").GetProperty("added").GetInt32());
        Assert.Equal(1, _site.RequestsFor("/egret"));
    }

    [Theory]
    [InlineData("""{"urls": ["file:///etc/passwd"]}""", "not an absolute http or https URL")]
    [InlineData("""{"urls": ["https://example.org/"], "follow": ["zip"]}""", "follow")]
    [InlineData("""{"urls": ["https://example.org/"], "depth": 99}""", "depth")]
    [InlineData("""{"urls": "https://example.org/"}""", "'urls' must be an array")]
    [InlineData("""{"urls": ["https://example.org/"], "depth": "2"}""", "'depth' is not of its type")]
    [InlineData("""{"urls": ["https://example.org/"], "follow": "pdf"}""", "'follow' is not of its type")]
    [MemberData(nameof(GeneratedBadWebRequests))]
    public async Task Ingest_BadWebRequest_Returns400NamingTheField(string body, string expected)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, "api/ingest") { Content = new StringContent(body, System.Text.Encoding.UTF8, "application/json") };
        request.Headers.Add("X-CSRF-Token", await CsrfTokenAsync(Client));
        using var response = await Client.SendAsync(request);

        var problem = await AssertProblemAsync(response, 400);
        Assert.Contains(expected, problem.GetProperty("detail").GetString(), StringComparison.Ordinal);
    }

    /// <summary>Requests too large to write out: a 'follow' list of 1,001 entries, and a URL short as typed but over the limit once percent-encoded (as it is journaled).</summary>
    public static TheoryData<string, string> GeneratedBadWebRequests => new()
    {
        { $$"""{"urls": ["https://example.org/"], "follow": [{{string.Join(", ", Enumerable.Repeat("\"pdf\"", 1_001))}}]}""", "'follow' holds 1,001 entries" },
        { $$"""{"urls": ["https://example.org/{{new string('é', 400)}}"]}""", "longer than 2,048 characters" },
    };

    [Theory]
    [InlineData("""{"wikipedia": ["Helsinki"], "depth": 1}""")]
    [InlineData("""{"path": "/nowhere", "max_pages": 5}""")]
    [InlineData("""{"paths": ["/nowhere"], "same_site": false}""")]
    [InlineData("""{"wikipedia": ["Helsinki"], "follow": ["pdf"]}""")]
    [InlineData("""{"urls": [], "wikipedia": ["Helsinki"], "depth": 0}""")]
    public async Task Ingest_CrawlFieldsWithoutUrls_Returns400SayingTheyNeedUrls(string body)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, "api/ingest") { Content = new StringContent(body, System.Text.Encoding.UTF8, "application/json") };
        request.Headers.Add("X-CSRF-Token", await CsrfTokenAsync(Client));
        using var response = await Client.SendAsync(request);

        var problem = await AssertProblemAsync(response, 400);
        Assert.Equal("'depth', 'max_pages', 'same_site' and 'follow' say how 'urls' are crawled, and this request gives no 'urls'.",
            problem.GetProperty("detail").GetString());
    }

    private async Task<HttpResponseMessage> PostJsonAsync(object body, HttpClient? client = null)
    {
        client ??= Client;
        using var request = new HttpRequestMessage(HttpMethod.Post, "api/ingest") { Content = Json(body) };
        request.Headers.Add("X-CSRF-Token", await CsrfTokenAsync(client));
        return await client.SendAsync(request);
    }

    public void Dispose() => _site.Dispose();
}
