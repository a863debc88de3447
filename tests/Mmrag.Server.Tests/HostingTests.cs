using System.Net;
using System.Net.Http.Json;
using System.Text.Json;

namespace Mmrag.Server.Tests;

/// <summary>Health, metrics, OpenAPI, the page, the API key, binding rules and CORS.</summary>
[Collection("server")]
public sealed class HostingTests(ServerFixture fixture) : ApiTestBase(fixture)
{
    [Fact]
    public async Task Healthz_ReturnsOk()
    {
        var health = await Client.GetFromJsonAsync<JsonElement>("healthz");

        Assert.Equal("ok", health.GetProperty("status").GetString());
    }

    [Fact]
    public async Task Metrics_AfterASearch_HasRequestCountsLatencyAndSearchTimings()
    {
        await SearchAsync(new { text = "storm clouds", threshold = 0 });

        var metrics = await Client.GetStringAsync("metrics");

        Assert.Contains("mmrag_http_requests_total{method=\"POST\",route=\"/api/search\",status=\"200\"}", metrics, StringComparison.Ordinal);
        Assert.Contains("mmrag_http_request_duration_seconds_bucket{method=\"POST\",route=\"/api/search\",le=\"+Inf\"}", metrics, StringComparison.Ordinal);
        Assert.Contains("# TYPE mmrag_embed_duration_seconds histogram", metrics, StringComparison.Ordinal);
        Assert.Matches(@"mmrag_search_duration_seconds_count [1-9]", metrics);
    }

    [Fact]
    public async Task OpenApi_DocumentListsTheEndpoints()
    {
        var document = await Client.GetFromJsonAsync<JsonElement>("openapi/v1.json");

        var paths = document.GetProperty("paths");
        foreach (var path in new[] { "/api/search", "/api/ask", "/api/ingest", "/api/jobs/{id}", "/api/items/{id}", "/api/items/{id}/image", "/api/kb", "/api/documents/{id}", "/healthz", "/metrics" })
        {
            Assert.True(paths.TryGetProperty(path, out _), path);
        }
    }

    [Fact]
    public async Task OpenApi_EveryApiOperation_DescribesItsSuccessBodyWithASchema()
    {
        var document = await Client.GetFromJsonAsync<JsonElement>("openapi/v1.json");

        List<string> undescribed = [];
        foreach (var path in document.GetProperty("paths").EnumerateObject().Where(static p => p.Name.StartsWith("/api/", StringComparison.Ordinal)))
        {
            foreach (var operation in path.Value.EnumerateObject())
            {
                var successes = operation.Value.GetProperty("responses").EnumerateObject().Where(static r => r.Name.StartsWith('2')).ToList();
                // Every success is a body with a schema, except "no content" and a file download.
                var described = successes.Count > 0 && successes.All(static r => r.Name == "204"
                    || (r.Value.TryGetProperty("content", out var content) && content.EnumerateObject().All(static c =>
                        c.Name.StartsWith("image/", StringComparison.Ordinal) || c.Value.TryGetProperty("schema", out _))));
                if (!described)
                {
                    undescribed.Add($"{operation.Name.ToUpperInvariant()} {path.Name}");
                }
            }
        }

        Assert.Empty(undescribed);
        var schemas = document.GetProperty("components").GetProperty("schemas");
        foreach (var schema in new[] { "SearchResponse", "AnswerResponse", "ItemResponse", "JobResponse", "KnowledgeBaseResponse", "DocumentListResponse", "IngestAcceptedResponse" })
        {
            Assert.True(schemas.TryGetProperty(schema, out _), schema);
        }
    }

    [Fact]
    public async Task Page_IsServedAtTheRoot()
    {
        using var response = await Client.GetAsync("/");

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("text/html", response.Content.Headers.ContentType?.MediaType);
        Assert.Contains("<html", await response.Content.ReadAsStringAsync(), StringComparison.OrdinalIgnoreCase);
    }

    [Fact]
    public async Task UnknownApiRoute_Returns404Problem()
    {
        using var response = await Client.GetAsync("api/nothing-here");

        await AssertProblemAsync(response, 404);
    }

    [Fact]
    public async Task ApiKey_WhenSet_IsRequiredOnTheApiAndMetricsOnly()
    {
        await using var server = await ServerFixture.StartAsync(Fixture.Options(apiKey: "s3cret"));
        using var anonymous = ServerFixture.CreateClient(server);
        using var wrong = ServerFixture.CreateClient(server, "wrong");
        using var keyed = ServerFixture.CreateClient(server, "s3cret");
        using var bearer = ServerFixture.CreateClient(server);
        bearer.DefaultRequestHeaders.Authorization = new("Bearer", "s3cret");

        using (var response = await anonymous.GetAsync("api/kb"))
        {
            await AssertProblemAsync(response, 401);
            Assert.Contains(response.Headers.WwwAuthenticate, static h => h.Scheme == "Bearer");
        }

        using (var response = await wrong.GetAsync("api/kb"))
        {
            await AssertProblemAsync(response, 401);
        }

        using (var response = await anonymous.GetAsync("metrics"))
        {
            await AssertProblemAsync(response, 401);
        }

        Assert.Equal(HttpStatusCode.OK, (await keyed.GetAsync("api/kb")).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await bearer.GetAsync("api/kb")).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await anonymous.GetAsync("healthz")).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await anonymous.GetAsync("/")).StatusCode);
    }

    [Fact]
    public async Task ApiKey_WhenUnset_IsNotAsked()
    {
        using var response = await Client.GetAsync("api/kb");

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
    }

    [Theory]
    [InlineData("http://0.0.0.0:0")]
    [InlineData("http://*:5077")]
    [InlineData("http://192.168.1.10:5077")]
    public async Task NonLoopbackAddress_WithoutApiKey_RefusesToStart(string url)
    {
        var options = Fixture.Options();
        var exposed = new MmragServerOptions
        {
            KnowledgeBase = options.KnowledgeBase, Urls = [url],
        };

        var error = Assert.Throws<InvalidOperationException>(() => MmragServer.Create(exposed));
        Assert.Contains("MMRAG_API_KEY", error.Message, StringComparison.Ordinal);

        await using var withKey = MmragServer.Create(new MmragServerOptions
        {
            KnowledgeBase = options.KnowledgeBase, Urls = [url], ApiKey = "k",
        });
    }

    [Fact]
    public async Task Cors_IsOffUnlessConfigured()
    {
        using var request = new HttpRequestMessage(HttpMethod.Options, "api/search");
        request.Headers.Add("Origin", "https://evil.example");
        request.Headers.Add("Access-Control-Request-Method", "POST");

        using var response = await Client.SendAsync(request);

        Assert.False(response.Headers.Contains("Access-Control-Allow-Origin"));
    }
}
