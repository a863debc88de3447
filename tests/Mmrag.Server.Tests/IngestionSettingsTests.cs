using Microsoft.Extensions.Configuration;
using Mmrag.Hosting;
using Mmrag.Ingestion.Tests.Support;
using Mmrag.Ingestion.Web.Wikipedia;
using Mmrag.Testing;

namespace Mmrag.Server.Tests;

/// <summary>
/// The operator's ingestion settings (<c>Mmrag:Ingestion:*</c>): bound from configuration into the server's options once,
/// then the only place the server reads them: private hosts, crawl limits, the Wikipedia API.
/// </summary>
[Collection("server")]
public sealed class IngestionSettingsTests(ServerFixture fixture) : ApiTestBase(fixture), IDisposable
{
    /// <summary>Loopback and refused by a default server's guard before any connection: nothing leaves the machine even when a request is (wrongly) accepted.</summary>
    private const string GuardedUrl = "http://127.0.0.1:9/";

    private readonly LoopbackSite _site = new();

    [Theory]
    [InlineData("depth", 3, "'depth' 3 is above this server's limit of 2 (Mmrag:Ingestion:MaxDepth).")]
    [InlineData("max_pages", 201, "'max_pages' 201 is above this server's limit of 200 (Mmrag:Ingestion:MaxPages).")]
    public async Task Ingest_CrawlAboveTheDefaultLimits_Returns400NamingTheFieldAndTheLimit(string field, int value, string expected)
    {
        using var response = await Client.PostAsync("api/ingest", Json(new Dictionary<string, object> { ["urls"] = new[] { GuardedUrl }, [field] = value }));

        var problem = await AssertProblemAsync(response, 400);
        Assert.Equal(expected, problem.GetProperty("detail").GetString());
    }

    [Fact]
    public async Task Ingest_CrawlAgainstConfiguredLimits_AboveIsRefusedAndAtTheLimitIsAccepted()
    {
        await using var server = await ServerFixture.StartAsync(Fixture.Options(), new Dictionary<string, string?>
        {
            [MmragServerOptions.MaxDepthSetting] = "1",
            [MmragServerOptions.MaxPagesSetting] = "5",
        });
        using var client = ServerFixture.CreateClient(server);

        using var tooDeep = await client.PostAsync("api/ingest", Json(new { urls = new[] { GuardedUrl }, depth = 2 }));
        using var tooMany = await client.PostAsync("api/ingest", Json(new { urls = new[] { GuardedUrl }, max_pages = 6 }));
        using var within = await client.PostAsync("api/ingest", Json(new { urls = new[] { GuardedUrl }, depth = 1, max_pages = 5 }));

        Assert.Contains("limit of 1", (await AssertProblemAsync(tooDeep, 400)).GetProperty("detail").GetString(), StringComparison.Ordinal);
        Assert.Contains("limit of 5", (await AssertProblemAsync(tooMany, 400)).GetProperty("detail").GetString(), StringComparison.Ordinal);
        Assert.True(within.IsSuccessStatusCode, await within.Content.ReadAsStringAsync());
        await WaitForJobAsync((await ReadJsonAsync(within)).GetProperty("job_id").GetString()!, client);
    }

    [Fact]
    public async Task Ingest_CrawlNamingNoPageCountUnderALowerLimit_ReadsAtMostTheLimit()
    {
        var marker = Marker("chain");
        _site.Html("/a", $"<html><body><p>The {marker} first page.</p><a href=\"/b\">b</a></body></html>")
            .Html("/b", $"<html><body><p>The {marker} second page.</p><a href=\"/c\">c</a></body></html>")
            .Html("/c", $"<html><body><p>The {marker} third page.</p></body></html>");
        await using var server = await ServerFixture.StartAsync(Fixture.Options(), new Dictionary<string, string?>
        {
            [MmragServerOptions.AllowPrivateHostsSetting] = "true",
            [MmragServerOptions.MaxPagesSetting] = "2",
        });
        using var client = ServerFixture.CreateClient(server);

        using var response = await client.PostAsync("api/ingest", Json(new { urls = new[] { _site.Url("/a") }, depth = 2 }));
        Assert.True(response.IsSuccessStatusCode, await response.Content.ReadAsStringAsync());
        var job = await WaitForJobAsync((await ReadJsonAsync(response)).GetProperty("job_id").GetString()!, client);

        Assert.Equal(2, job.GetProperty("summary").GetProperty("added").GetInt32());
        Assert.Equal(0, _site.RequestsFor("/c"));
    }

    [Theory]
    [InlineData("true", true)]
    [InlineData("false", false)]
    [InlineData(null, false)]
    public async Task Ingest_LoopbackUrlWithAllowPrivateHostsFromConfiguration_IngestsOnlyWhenSetTrue(string? setting, bool ingested)
    {
        var marker = Marker("otter");
        _site.Html("/otter", $"<html><body><main><p>The {marker} otter floats on its back.</p></main></body></html>");
        await using var server = await ServerFixture.StartAsync(Fixture.Options(), new Dictionary<string, string?>
        {
            [MmragServerOptions.AllowPrivateHostsSetting] = setting,
        });
        using var client = ServerFixture.CreateClient(server);

        using var response = await client.PostAsync("api/ingest", Json(new { urls = new[] { _site.Url("/otter") } }));
        Assert.True(response.IsSuccessStatusCode, await response.Content.ReadAsStringAsync());
        var job = await WaitForJobAsync((await ReadJsonAsync(response)).GetProperty("job_id").GetString()!, client);

        Assert.Equal(ingested ? 1 : 0, job.GetProperty("summary").GetProperty("added").GetInt32());
        Assert.Equal(ingested ? 0 : 1, job.GetProperty("summary").GetProperty("failed").GetInt32());
        Assert.Equal(ingested, _site.RequestsFor("/otter") > 0);
    }

    [Fact]
    public async Task Ingest_ConfigurationSetsAllowPrivateHostsFalse_OverridesTheOptionsValue()
    {
        // One channel: the key, when present, is what the server reads; the value given in code is its default.
        _site.Html("/inside", "<p>an intranet page</p>");
        await using var server = await ServerFixture.StartAsync(Fixture.Options() with { AllowPrivateHosts = true }, new Dictionary<string, string?>
        {
            [MmragServerOptions.AllowPrivateHostsSetting] = "false",
        });
        using var client = ServerFixture.CreateClient(server);

        using var response = await client.PostAsync("api/ingest", Json(new { urls = new[] { _site.Url("/inside") } }));
        var job = await WaitForJobAsync((await ReadJsonAsync(response)).GetProperty("job_id").GetString()!, client);

        Assert.Contains("loopback", job.GetProperty("failures")[0].GetProperty("reason").GetString(), StringComparison.Ordinal);
        Assert.Empty(_site.Requests);
    }

    [Theory]
    [InlineData(MmragServerOptions.AllowPrivateHostsSetting, "yes")]
    [InlineData(MmragServerOptions.MaxDepthSetting, "11")]
    [InlineData(MmragServerOptions.MaxDepthSetting, "two")]
    [InlineData(MmragServerOptions.MaxPagesSetting, "0")]
    [InlineData(MmragServerOptions.WikipediaApiSetting, "ftp://wiki.example/w/api.php")]
    [InlineData(MmragServerOptions.WikipediaApiSetting, "/w/api.php")]
    public void Create_MalformedIngestionSetting_ThrowsNamingTheKey(string key, string value)
    {
        var error = Assert.ThrowsAny<ArgumentException>(() => MmragServer.Create(Fixture.Options(), builder =>
            builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?> { [key] = value })));

        Assert.Contains(key, error.Message, StringComparison.Ordinal);
    }

    /// <summary>
    /// The knowledge base's own wiki is another loopback wiki: the job must read the one the server is configured with,
    /// and never ask the knowledge base's.
    /// </summary>
    [Fact]
    public async Task Ingest_WikipediaTitleOnServerConfiguredWithAWikipediaApi_ReadsTheArticleFromThatApi()
    {
        await using var configured = new LoopbackMediaWiki();
        await using var other = new LoopbackMediaWiki();
        await WithKnowledgeBaseAsync(other, async knowledgeBase =>
        {
            await using var server = await ServerFixture.StartAsync(new() { KnowledgeBase = knowledgeBase, Urls = ["http://127.0.0.1:0"] }, WikiSettings(configured));
            using var client = ServerFixture.CreateClient(server);

            using var response = await client.PostAsync("api/ingest", Json(new { wikipedia = new[] { "Helsinki" } }));
            Assert.True(response.IsSuccessStatusCode, await response.Content.ReadAsStringAsync());
            var job = await WaitForJobAsync((await ReadJsonAsync(response)).GetProperty("job_id").GetString()!, client);

            AssertReadFrom(configured, other, job);
        });
    }

    [Fact]
    public async Task Restart_JournaledWikipediaJob_ReadsTheConfiguredWikipediaApi()
    {
        await using var configured = new LoopbackMediaWiki();
        await using var other = new LoopbackMediaWiki();
        await WithKnowledgeBaseAsync(other, async knowledgeBase =>
        {
            var jobId = Jobs.IngestionJobs.NewId();
            new Jobs.JobJournal(Path.Combine(knowledgeBase.Folder, Jobs.JobJournal.FolderName)).Record(
                new Jobs.JournaledJob(jobId, ["wikipedia:en:Helsinki"], null, DateTimeOffset.UtcNow));

            await using var server = await ServerFixture.StartAsync(new() { KnowledgeBase = knowledgeBase, Urls = ["http://127.0.0.1:0"] }, WikiSettings(configured));
            using var client = ServerFixture.CreateClient(server);
            var job = await WaitForJobAsync(jobId, client);

            AssertReadFrom(configured, other, job);
        });
    }

    /// <summary>Journals a job for <paramref name="paths"/> as a server that stopped before running it would have left it.</summary>
    private static (Jobs.JobJournal Journal, string JobId) JournalJob(Mmrag.Hosting.MmragKnowledgeBase knowledgeBase, string[] paths, WebIngestionRequest web)
    {
        var journal = new Jobs.JobJournal(Path.Combine(knowledgeBase.Folder, Jobs.JobJournal.FolderName));
        var jobId = Jobs.IngestionJobs.NewId();
        journal.Record(new Jobs.JournaledJob(jobId, paths, null, DateTimeOffset.UtcNow) { Web = web });
        return (journal, jobId);
    }

    /// <summary>The restarted server set the journaled job aside (<c>.bad</c>) instead of resuming it: it knows no such job.</summary>
    private static async Task AssertSetAsideAsync(HttpClient client, Jobs.JobJournal journal, string jobId)
    {
        using var response = await client.GetAsync($"api/jobs/{jobId}");
        Assert.Equal(System.Net.HttpStatusCode.NotFound, response.StatusCode);
        Assert.True(File.Exists(journal.PathOf(jobId) + ".bad"));
    }

    [Fact]
    public async Task Restart_JournaledCrawlAboveTheLimits_IsSetAsideNotRun()
    {
        await WithKnowledgeBaseAsync(null, async knowledgeBase =>
        {
            _site.Html("/deep", "<p>deep</p>");
            var (journal, jobId) = JournalJob(knowledgeBase, [_site.Url("/deep")], new WebIngestionRequest { Depth = 3 });

            await using var server = await ServerFixture.StartAsync(new() { KnowledgeBase = knowledgeBase, Urls = ["http://127.0.0.1:0"], AllowPrivateHosts = true });
            using var client = ServerFixture.CreateClient(server);

            await AssertSetAsideAsync(client, journal, jobId);
            Assert.Empty(_site.Requests);
        });
    }

    [Fact]
    public async Task Restart_JournaledUrlsAndArticlesAboveThePageLimit_IsSetAsideNotRun()
    {
        // Two start pages and an article against a limit of 2: a request naming them is a 400, and so is their resume.
        await using var wiki = new LoopbackMediaWiki();
        await WithKnowledgeBaseAsync(wiki, async knowledgeBase =>
        {
            _site.Html("/a", "<p>a</p>").Html("/b", "<p>b</p>");
            var (journal, jobId) = JournalJob(knowledgeBase, [_site.Url("/a"), _site.Url("/b"), "wikipedia:en:Helsinki"], new WebIngestionRequest());
            var settings = WikiSettings(wiki);
            settings[MmragServerOptions.MaxPagesSetting] = "2";

            await using var server = await ServerFixture.StartAsync(new() { KnowledgeBase = knowledgeBase, Urls = ["http://127.0.0.1:0"] }, settings);
            using var client = ServerFixture.CreateClient(server);
            using var refused = await client.PostAsync("api/ingest", Json(new { urls = new[] { _site.Url("/a"), _site.Url("/b") }, wikipedia = new[] { "Helsinki" } }));

            Assert.Contains("name 3 pages; this server's limit is 2", (await AssertProblemAsync(refused, 400)).GetProperty("detail").GetString(), StringComparison.Ordinal);
            await AssertSetAsideAsync(client, journal, jobId);
            Assert.Empty(_site.Requests);
            Assert.Empty(wiki.Requests);
        });
    }

    [Fact]
    public async Task Restart_JournaledUrlLongerThanARequestMayName_IsSetAsideNotRun()
    {
        await WithKnowledgeBaseAsync(null, async knowledgeBase =>
        {
            var path = "/" + new string('x', MmragServerOptions.MaxUrlLength);
            _site.Html(path, "<p>long</p>");
            var (journal, jobId) = JournalJob(knowledgeBase, [_site.Url(path)], new WebIngestionRequest());

            await using var server = await ServerFixture.StartAsync(new() { KnowledgeBase = knowledgeBase, Urls = ["http://127.0.0.1:0"], AllowPrivateHosts = true });
            using var client = ServerFixture.CreateClient(server);

            await AssertSetAsideAsync(client, journal, jobId);
            Assert.Empty(_site.Requests);
        });
    }

    [Fact]
    public void JobJournal_CrawlSettings_ReadBackAsTheRequestMadeThem()
    {
        var folder = Directory.CreateTempSubdirectory("mmrag-journal-");
        try
        {
            var journal = new Jobs.JobJournal(folder.FullName);
            var web = new WebIngestionRequest { Depth = 2, MaxPages = 7, SameSite = true, Follow = ["pdf"] };
            journal.Record(new Jobs.JournaledJob("abc1", ["https://example.org/"], null, DateTimeOffset.UtcNow) { Web = web });
            journal.Record(new Jobs.JournaledJob("abc2", ["https://example.org/"], null, DateTimeOffset.UtcNow.AddSeconds(1)) { Web = new WebIngestionRequest() });

            var jobs = journal.Unfinished((path, exception) => Assert.Fail($"{path}: {exception}"));

            Assert.Equal(2, jobs.Count);
            var read = jobs[0].Web!;
            Assert.Equal((2, 7, true), (read.Depth, read.MaxPages, read.SameSite));
            Assert.Equal(["pdf"], read.Follow);
            Assert.Equal((0, (int?)null, false), (jobs[1].Web!.Depth, jobs[1].Web!.MaxPages, jobs[1].Web!.SameSite));
            Assert.Empty(jobs[1].Web!.Follow);
        }
        finally
        {
            folder.Delete(recursive: true);
        }
    }

    private static Dictionary<string, string?> WikiSettings(LoopbackMediaWiki wiki) => new()
    {
        [MmragServerOptions.WikipediaApiSetting] = wiki.ApiUrl,
        [MmragServerOptions.AllowPrivateHostsSetting] = "true",
    };

    private static void AssertReadFrom(LoopbackMediaWiki configured, LoopbackMediaWiki other, System.Text.Json.JsonElement job)
    {
        Assert.True(job.GetProperty("state").GetString() == "succeeded", job.ToString());
        Assert.Equal(1, job.GetProperty("summary").GetProperty("added").GetInt32());
        Assert.NotEmpty(configured.ApiRequests);
        Assert.Empty(other.Requests);
    }

    /// <summary>A knowledge base of its own whose <see cref="MmragOptions.Wikipedia"/> reads <paramref name="wiki"/> (default Wikipedia when null).</summary>
    private static async Task WithKnowledgeBaseAsync(LoopbackMediaWiki? wiki, Func<MmragKnowledgeBase, Task> test)
    {
        var folder = Path.Combine(Path.GetTempPath(), "mmrag-server-settings-" + Guid.NewGuid().ToString("N"));
        try
        {
            await using var knowledgeBase = await MmragKnowledgeBase.OpenAsync(new MmragOptions
            {
                Folder = folder, Model = Path.Combine(Fixtures.Clip, "tiny-clip"), CreateIfMissing = true, Offline = true,
                Wikipedia = wiki is null ? new WikipediaOptions() : new WikipediaOptions { ApiUrl = new Uri(wiki.ApiUrl) },
            });
            await test(knowledgeBase);
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    public void Dispose() => _site.Dispose();
}
