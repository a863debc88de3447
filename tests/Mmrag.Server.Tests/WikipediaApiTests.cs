using Mmrag.Hosting;
using Mmrag.Ingestion.Tests.Support;
using Mmrag.Ingestion.Web.Wikipedia;

namespace Mmrag.Server.Tests;

[Collection("server")]
public sealed class WikipediaApiTests(ServerFixture fixture) : ApiTestBase(fixture)
{
    [Theory]
    [InlineData("""{"wikipedia": ["Helsinki"], "lang": "EN!"}""", "not a Wikipedia language code")]
    [InlineData("""{"wikipedia": ["Helsinki|Espoo"]}""", "is not a Wikipedia article title")]
    [InlineData("""{"wikipedia": [null]}""", "must not hold null")]
    [InlineData("""{"lang": "fi"}""", "'lang'")]
    public async Task Ingest_MalformedWikipediaRequest_Returns400BeforeAnyJob(string body, string says)
    {
        using var content = new StringContent(body, System.Text.Encoding.UTF8, "application/json");

        using var response = await Client.PostAsync("api/ingest", content);

        var problem = await AssertProblemAsync(response, 400);
        Assert.Contains(says, problem.GetProperty("detail").GetString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Ingest_TooManyEntriesOrATitleTooLong_Returns400BeforeAnyJob()
    {
        var manyTitles = System.Text.Json.JsonSerializer.Serialize(new { wikipedia = Enumerable.Range(0, 1_001).Select(i => $"Title {i}") });
        var manyUrls = System.Text.Json.JsonSerializer.Serialize(new { urls = Enumerable.Range(0, 1_001).Select(i => $"https://example.org/{i}") });
        var longTitle = System.Text.Json.JsonSerializer.Serialize(new { wikipedia = new[] { new string('a', 256) } });
        var longUrl = System.Text.Json.JsonSerializer.Serialize(new { urls = new[] { "https://example.org/" + new string('a', 2_100) } });
        // Start pages and articles together above the server's page limit (200 by default).
        var manyPages = System.Text.Json.JsonSerializer.Serialize(new
        {
            urls = Enumerable.Range(0, 150).Select(i => $"https://example.org/{i}"),
            wikipedia = Enumerable.Range(0, 60).Select(i => $"Title {i}"),
        });

        foreach (var (body, says) in new[]
        {
            (manyTitles, "at most 1,000"), (manyUrls, "at most 1,000"), (longTitle, "255 UTF-8 bytes"), (longUrl, "longer than 2,048 characters"),
            (manyPages, "name 210 pages; this server's limit is 200 (Mmrag:Ingestion:MaxPages)"),
        })
        {
            using var content = new StringContent(body, System.Text.Encoding.UTF8, "application/json");
            using var response = await Client.PostAsync("api/ingest", content);

            var problem = await AssertProblemAsync(response, 400);
            Assert.Contains(says, problem.GetProperty("detail").GetString(), StringComparison.Ordinal);
        }
    }

    /// <summary>
    /// A server of its own whose knowledge base reads Wikipedia from the loopback wiki (an operator's private mirror),
    /// with private hosts not allowed: the titles become the job's paths and the article is read, as the configured
    /// API's host and port are trusted; a URL to another loopback port is still refused before any request.
    /// </summary>
    [Fact]
    public async Task Ingest_ConfiguredLoopbackWikiWithoutAllowPrivateHosts_ArticleReadButAnotherLoopbackPortRefused()
    {
        await using var wiki = new LoopbackMediaWiki();
        using var other = new Mmrag.Testing.LoopbackSite();
        other.Html("/", "<p>inside</p>");
        var folder = Path.Combine(Path.GetTempPath(), "mmrag-server-wiki-" + Guid.NewGuid().ToString("N"));
        try
        {
            await using var knowledgeBase = await OpenReadingAsync(folder, wiki);
            await using var server = await ServerFixture.StartAsync(new() { KnowledgeBase = knowledgeBase, Urls = ["http://127.0.0.1:0"] });
            using var client = ServerFixture.CreateClient(server);

            using var article = await client.PostAsync("api/ingest", Json(new { wikipedia = new[] { "Helsinki" }, lang = "en" }));
            Assert.True(article.IsSuccessStatusCode, await article.Content.ReadAsStringAsync());
            var job = await WaitForJobAsync((await ReadJsonAsync(article)).GetProperty("job_id").GetString()!, client);
            using var page = await client.PostAsync("api/ingest", Json(new { urls = new[] { other.Url("/") } }));
            Assert.True(page.IsSuccessStatusCode, await page.Content.ReadAsStringAsync());
            var pageJob = await WaitForJobAsync((await ReadJsonAsync(page)).GetProperty("job_id").GetString()!, client);

            Assert.Equal(["wikipedia:en:Helsinki"], job.GetProperty("paths").EnumerateArray().Select(static p => p.GetString()));
            Assert.True(job.GetProperty("summary").GetProperty("added").GetInt32() == 1, job.ToString());
            Assert.NotEmpty(wiki.ApiRequests);
            Assert.True(pageJob.GetProperty("summary").GetProperty("failed").GetInt32() == 1, pageJob.ToString());
            Assert.Contains("loopback", pageJob.GetProperty("failures")[0].GetProperty("reason").GetString(), StringComparison.Ordinal);
            Assert.Empty(other.Requests);

            // The wiki's own host and port are trusted for the Wikipedia API only: a client's URL there is not fetched.
            using var inside = await client.PostAsync("api/ingest", Json(new { urls = new[] { wiki.BaseUrl + "/internal/admin" } }));
            Assert.True(inside.IsSuccessStatusCode, await inside.Content.ReadAsStringAsync());
            var insideJob = await WaitForJobAsync((await ReadJsonAsync(inside)).GetProperty("job_id").GetString()!, client);
            Assert.True(insideJob.GetProperty("summary").GetProperty("failed").GetInt32() == 1, insideJob.ToString());
            Assert.Contains("trusted only", insideJob.GetProperty("failures")[0].GetProperty("reason").GetString(), StringComparison.Ordinal);
            Assert.DoesNotContain(wiki.Requests, r => r.Path.Contains("internal", StringComparison.Ordinal));
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    [Fact]
    public async Task Restart_JournaledWikipediaJob_ResumesInsteadOfBeingSetAside()
    {
        // The article paths are not server-side paths: a restart must run the job, not refuse it as outside the roots.
        await using var wiki = new LoopbackMediaWiki();
        var folder = Path.Combine(Path.GetTempPath(), "mmrag-server-wiki-" + Guid.NewGuid().ToString("N"));
        try
        {
            await using var knowledgeBase = await OpenReadingAsync(folder, wiki);
            var jobId = Jobs.IngestionJobs.NewId();
            new Jobs.JobJournal(Path.Combine(folder, Jobs.JobJournal.FolderName)).Record(
                new Jobs.JournaledJob(jobId, ["wikipedia:en:Helsinki"], null, DateTimeOffset.UtcNow));
            await using var server = await ServerFixture.StartAsync(new() { KnowledgeBase = knowledgeBase, Urls = ["http://127.0.0.1:0"], AllowPrivateHosts = true });
            using var client = ServerFixture.CreateClient(server);

            var job = await WaitForJobAsync(jobId, client);

            Assert.Equal("succeeded", job.GetProperty("state").GetString());
            Assert.Equal(1, job.GetProperty("summary").GetProperty("added").GetInt32());
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    /// <summary>A knowledge base in <paramref name="folder"/> whose Wikipedia is the loopback <paramref name="wiki"/>.</summary>
    private static Task<MmragKnowledgeBase> OpenReadingAsync(string folder, LoopbackMediaWiki wiki) => MmragKnowledgeBase.OpenAsync(new MmragOptions
    {
        Folder = folder, Model = Path.Combine(Fixtures.Clip, "tiny-clip"), CreateIfMissing = true, Offline = true,
        Wikipedia = new WikipediaOptions { ApiUrl = new Uri(wiki.ApiUrl) },
    });
}
