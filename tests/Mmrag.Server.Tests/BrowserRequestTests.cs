using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;

namespace Mmrag.Server.Tests;

/// <summary>
/// What other web pages can make the user's browser do to a server without an API key: cross-site request forgery
/// (Origin / Sec-Fetch-Site, JSON or token) and DNS rebinding (Host). Requests are sent as a browser would, headers included.
/// </summary>
[Collection("server")]
public sealed class BrowserRequestTests(ServerFixture fixture) : ApiTestBase(fixture)
{
    private const string Attacker = "http://attacker.example";

    private string Port => Fixture.Server.BaseAddress.Port.ToString(System.Globalization.CultureInfo.InvariantCulture);

    private string OwnOrigin => Fixture.Server.BaseAddress.GetLeftPart(UriPartial.Authority);

    [Fact]
    public async Task Upload_FromAnotherSitesPage_IsRefusedAndNothingIsIngested()
    {
        var marker = Marker("csrf");
        using var request = BrowserRequest(HttpMethod.Post, "api/ingest", Upload(marker), Attacker, "cross-site");
        var uploadsBefore = UploadFolders();

        using var response = await Client.SendAsync(request);

        var problem = await AssertProblemAsync(response, 403);
        Assert.Contains(Attacker, problem.GetProperty("detail").GetString(), StringComparison.Ordinal);
        Assert.Equal(uploadsBefore, UploadFolders());
        Assert.DoesNotContain(await DocumentSourcesAsync(), source => source.Contains(marker, StringComparison.Ordinal));
    }

    [Fact]
    public async Task Upload_CrossSiteWithoutOrigin_IsRefusedBySecFetchSite()
    {
        using var request = BrowserRequest(HttpMethod.Post, "api/ingest", Upload(Marker("csrf")), origin: null, "cross-site", await CsrfTokenAsync(Client));

        using var response = await Client.SendAsync(request);

        await AssertProblemAsync(response, 403);
    }

    [Fact]
    public async Task Post_TextPlainJsonWithoutToken_IsRefused()
    {
        // What a cross-site <form enctype="text/plain"> or no-cors fetch can send: JSON in a simple content type.
        using var content = new StringContent(JsonSerializer.Serialize(new { path = Fixture.Samples }), Encoding.UTF8, "text/plain");

        using var response = await Client.PostAsync("api/ingest", content);

        var problem = await AssertProblemAsync(response, 403);
        Assert.Contains("application/json", problem.GetProperty("detail").GetString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Upload_MultipartWithoutToken_IsRefused()
    {
        using var response = await Client.PostAsync("api/ingest", Upload(Marker("csrf")));

        var problem = await AssertProblemAsync(response, 403);
        Assert.Contains("X-CSRF-Token", problem.GetProperty("detail").GetString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Upload_FromTheServersOwnPageWithToken_IsAccepted()
    {
        var marker = Marker("csrf");
        using var request = BrowserRequest(HttpMethod.Post, "api/ingest", Upload(marker), OwnOrigin, "same-origin", await CsrfTokenAsync(Client));

        using var response = await Client.SendAsync(request);

        Assert.Equal(HttpStatusCode.Accepted, response.StatusCode);
        var job = await WaitForJobAsync((await ReadJsonAsync(response)).GetProperty("job_id").GetString()!);
        Assert.Equal("succeeded", job.GetProperty("state").GetString());
        Assert.Contains(await DocumentSourcesAsync(), source => source.Contains(marker, StringComparison.Ordinal));
    }

    [Fact]
    public async Task Post_CurlLikeJsonWithoutOriginOrToken_IsAccepted()
    {
        using var search = await Client.PostAsync("api/search", Json(new { text = "flower" }));
        using var ingest = await Client.PostAsync("api/ingest", Json(new { path = Path.Combine(Fixture.Samples, "docs") }));

        Assert.Equal(HttpStatusCode.OK, search.StatusCode);
        Assert.Equal(HttpStatusCode.Accepted, ingest.StatusCode);
        await WaitForJobAsync((await ReadJsonAsync(ingest)).GetProperty("job_id").GetString()!);
    }

    [Fact]
    public async Task Delete_FromAnotherSitesPage_IsRefused()
    {
        using var request = BrowserRequest(HttpMethod.Delete, "api/documents/anything", content: null, Attacker, site: null);

        using var response = await Client.SendAsync(request);

        await AssertProblemAsync(response, 403);
    }

    [Fact]
    public async Task Upload_WithTheApiKeyFromAnyOrigin_IsAccepted()
    {
        await using var server = await ServerFixture.StartAsync(Fixture.Options(apiKey: "s3cret"));
        using var client = ServerFixture.CreateClient(server, "s3cret");
        using var request = BrowserRequest(HttpMethod.Post, "api/ingest", Upload(Marker("csrf")), Attacker, "cross-site");

        using var response = await client.SendAsync(request);

        Assert.Equal(HttpStatusCode.Accepted, response.StatusCode);
    }

    [Theory]
    [InlineData("api/kb")]
    [InlineData("")]
    public async Task Get_WithARebindingHostName_IsRefused(string path)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, path);
        request.Headers.Host = $"attacker.example:{Port}";

        using var response = await Client.SendAsync(request);

        var problem = await AssertProblemAsync(response, 421);
        Assert.Contains("attacker.example", problem.GetProperty("detail").GetString(), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("localhost")]
    [InlineData("127.0.0.1")]
    public async Task Get_WithALoopbackHostOnTheBoundPort_IsServed(string name)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, "api/kb");
        request.Headers.Host = $"{name}:{Port}";

        using var response = await Client.SendAsync(request);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
    }

    [Fact]
    public async Task Get_WithAConfiguredAllowedHost_IsServed()
    {
        var options = Fixture.Options();
        await using var server = await ServerFixture.StartAsync(new MmragServerOptions
        {
            KnowledgeBase = options.KnowledgeBase, Urls = options.Urls,
            AllowedHosts = ["kb.internal"],
        });
        using var client = ServerFixture.CreateClient(server);
        using var allowed = new HttpRequestMessage(HttpMethod.Get, "api/kb");
        allowed.Headers.Host = "kb.internal";
        using var other = new HttpRequestMessage(HttpMethod.Get, "api/kb");
        other.Headers.Host = "kb.elsewhere";

        using var allowedResponse = await client.SendAsync(allowed);
        using var otherResponse = await client.SendAsync(other);

        Assert.Equal(HttpStatusCode.OK, allowedResponse.StatusCode);
        await AssertProblemAsync(otherResponse, 421);
    }

    /// <summary>A request with the headers a browser adds: Origin, Sec-Fetch-Site, and the token when the page sends it.</summary>
    private static HttpRequestMessage BrowserRequest(HttpMethod method, string path, HttpContent? content, string? origin, string? site, string? token = null)
    {
        var request = new HttpRequestMessage(method, path) { Content = content };
        foreach (var (name, value) in new[] { ("Origin", origin), ("Sec-Fetch-Site", site), ("X-CSRF-Token", token) })
        {
            if (value is not null)
            {
                request.Headers.Add(name, value);
            }
        }

        return request;
    }

    private static MultipartFormDataContent Upload(string marker) => new()
    {
        { new StringContent($"Planted by {marker}: the moon is made of cheese.", Encoding.UTF8), "files", $"{marker}.txt" },
    };

    private async Task<List<string>> DocumentSourcesAsync()
    {
        var documents = (await Client.GetFromJsonAsync<JsonElement>("api/documents")).GetProperty("documents");
        return [.. documents.EnumerateArray().Select(static d => d.GetProperty("source").GetString()!)];
    }
}
