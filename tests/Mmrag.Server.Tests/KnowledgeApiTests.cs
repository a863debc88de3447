using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Mmrag.Server.Tests;

/// <summary>Items and images, documents, knowledge-base stats, ingestion jobs and path confinement.</summary>
[Collection("server")]
public sealed class KnowledgeApiTests(ServerFixture fixture) : ApiTestBase(fixture)
{
    [Fact]
    public async Task Kb_ReturnsModelAndCounts()
    {
        var kb = await Client.GetFromJsonAsync<JsonElement>("api/kb");

        Assert.Equal(Fixture.Model.ModelId, kb.GetProperty("model").GetProperty("id").GetString());
        Assert.Equal(Fixture.Model.Dimension, kb.GetProperty("model").GetProperty("dimension").GetInt32());
        Assert.True(kb.GetProperty("documents").GetInt32() > 0);
        Assert.True(kb.GetProperty("images").GetInt32() > 0);
        Assert.True(kb.GetProperty("text_chunks").GetInt32() > 0);
        Assert.True(kb.GetProperty("llm_configured").GetBoolean());
    }

    [Fact]
    public async Task Kb_NamesTheDefaultThreshold_SoThePageCanSayWhichCutNothingPassed()
    {
        var kb = await Client.GetFromJsonAsync<JsonElement>("api/kb");

        Assert.Equal(0.5, kb.GetProperty("default_threshold").GetDouble());
    }

    [Fact]
    public async Task Items_ImageItem_ServesTheFileWithETagAndCaching()
    {
        var hit = (await SearchAsync(new { text = "flower", target = "images", threshold = 0 })).GetProperty("hits")[0];
        var id = hit.GetProperty("id").GetString();

        var item = await Client.GetFromJsonAsync<JsonElement>($"api/items/{id}");
        Assert.Equal("image", item.GetProperty("kind").GetString());
        Assert.Equal($"/api/items/{id}/image", item.GetProperty("image_url").GetString());

        using var image = await Client.GetAsync($"api/items/{id}/image");
        Assert.Equal(HttpStatusCode.OK, image.StatusCode);
        Assert.Equal("image/jpeg", image.Content.Headers.ContentType?.MediaType);
        Assert.Equal(await File.ReadAllBytesAsync(hit.GetProperty("image_path").GetString()!), await image.Content.ReadAsByteArrayAsync());
        Assert.NotNull(image.Headers.ETag);
        Assert.Contains("max-age", image.Headers.CacheControl?.ToString(), StringComparison.Ordinal);

        using var again = new HttpRequestMessage(HttpMethod.Get, $"api/items/{id}/image");
        again.Headers.IfNoneMatch.Add(image.Headers.ETag!);
        using var notModified = await Client.SendAsync(again);
        Assert.Equal(HttpStatusCode.NotModified, notModified.StatusCode);
    }

    [Fact]
    public async Task Items_TextItemImageOrUnknownItem_Returns404Problem()
    {
        var hit = (await SearchAsync(new { text = "deck oil", target = "text", threshold = 0 })).GetProperty("hits")[0];
        Assert.Equal("text", hit.GetProperty("kind").GetString());

        using var noImage = await Client.GetAsync($"api/items/{hit.GetProperty("id").GetString()}/image");
        await AssertProblemAsync(noImage, 404);
        using var unknown = await Client.GetAsync("api/items/does-not-exist");
        await AssertProblemAsync(unknown, 404);
        using var unknownImage = await Client.GetAsync("api/items/does-not-exist/image");
        await AssertProblemAsync(unknownImage, 404);
    }

    [Fact]
    public async Task Ingest_UploadedFiles_JobSucceedsAndTheDocumentCanBeDeleted()
    {
        using var form = new MultipartFormDataContent
        {
            { new StringContent("Zanzibarian quokkas juggle pineapples at dawn.", Encoding.UTF8), "files", "quokkas.txt" },
            { new ByteArrayContent("definitely not a jpeg"u8.ToArray()), "files", "broken.jpg" },
        };

        using var response = await PostFormAsync("api/ingest", form);

        Assert.Equal(HttpStatusCode.Accepted, response.StatusCode);
        var jobId = (await ReadJsonAsync(response)).GetProperty("job_id").GetString()!;
        Assert.EndsWith($"/api/jobs/{jobId}", response.Headers.Location?.ToString(), StringComparison.Ordinal);
        var job = await WaitForJobAsync(jobId);
        Assert.Equal("succeeded", job.GetProperty("state").GetString());
        Assert.Equal(1, job.GetProperty("summary").GetProperty("added").GetInt32());
        var failure = Assert.Single(job.GetProperty("failures").EnumerateArray());
        Assert.EndsWith("broken.jpg", failure.GetProperty("source").GetString(), StringComparison.Ordinal);
        Assert.StartsWith(Path.Combine(Fixture.KnowledgeBaseFolder, "uploads"), failure.GetProperty("source").GetString(), StringComparison.Ordinal);

        var hits = (await SearchAsync(new { text = "quokkas juggle pineapples", target = "text", threshold = 0 })).GetProperty("hits");
        Assert.Contains(hits.EnumerateArray(), static h => h.GetProperty("source").GetString()!.EndsWith("quokkas.txt", StringComparison.Ordinal));

        var documents = (await Client.GetFromJsonAsync<JsonElement>("api/documents")).GetProperty("documents");
        var document = documents.EnumerateArray().Single(static d => d.GetProperty("source").GetString()!.EndsWith("quokkas.txt", StringComparison.Ordinal));
        var documentId = document.GetProperty("id").GetString();
        using var deleted = await Client.DeleteAsync($"api/documents/{documentId}");
        Assert.Equal(HttpStatusCode.NoContent, deleted.StatusCode);
        using var deletedAgain = await Client.DeleteAsync($"api/documents/{documentId}");
        await AssertProblemAsync(deletedAgain, 404);
    }

    [Fact]
    public async Task Ingest_UploadNameWithDotDot_StaysInsideTheUploadsFolder()
    {
        using var form = new MultipartFormDataContent
        {
            { new StringContent("escape attempt", Encoding.UTF8), "files", "../../../escaped.txt" },
        };

        using var response = await PostFormAsync("api/ingest", form);

        Assert.Equal(HttpStatusCode.Accepted, response.StatusCode);
        var job = await WaitForJobAsync((await ReadJsonAsync(response)).GetProperty("job_id").GetString()!);
        Assert.Equal("succeeded", job.GetProperty("state").GetString());
        Assert.False(File.Exists(Path.Combine(Fixture.KnowledgeBaseFolder, "escaped.txt")));
        Assert.Single(Directory.GetFiles(Path.Combine(Fixture.KnowledgeBaseFolder, "uploads"), "escaped.txt", SearchOption.AllDirectories));
    }

    [Fact]
    public async Task Ingest_TwoUploadsWithTheSameName_BothKept()
    {
        using var form = new MultipartFormDataContent
        {
            { new StringContent("First twin note about lighthouses.", Encoding.UTF8), "files", "twin.txt" },
            { new StringContent("Second twin note about windmills.", Encoding.UTF8), "files", "twin.txt" },
        };

        using var response = await PostFormAsync("api/ingest", form);

        Assert.Equal(HttpStatusCode.Accepted, response.StatusCode);
        var job = await WaitForJobAsync((await ReadJsonAsync(response)).GetProperty("job_id").GetString()!);
        Assert.Equal("succeeded", job.GetProperty("state").GetString());
        Assert.Equal(2, job.GetProperty("summary").GetProperty("added").GetInt32());
    }

    [Fact]
    public async Task Ingest_ServerPathUnderAnAllowedRoot_RunsAJob()
    {
        using var response = await Client.PostAsync("api/ingest", Json(new { path = Path.Combine(Fixture.Samples, "docs") }));

        Assert.Equal(HttpStatusCode.Accepted, response.StatusCode);
        var job = await WaitForJobAsync((await ReadJsonAsync(response)).GetProperty("job_id").GetString()!);
        Assert.Equal("succeeded", job.GetProperty("state").GetString());
        Assert.True(job.GetProperty("summary").GetProperty("unchanged").GetInt32() > 0);
    }

    [Fact]
    public async Task Ingest_ServerPathWithDotDot_Returns403()
    {
        using var response = await Client.PostAsync("api/ingest", Json(new { path = Path.Combine(Fixture.Samples, "docs", "..", "..", "outside") }));

        var problem = await AssertProblemAsync(response, 403);
        Assert.Contains("..", problem.GetProperty("detail").GetString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Ingest_ServerPathOutsideTheRoots_Returns403()
    {
        using var response = await Client.PostAsync("api/ingest", Json(new { path = Fixture.Outside }));

        await AssertProblemAsync(response, 403);
    }

    [Fact]
    public async Task Ingest_SymlinkInsideARootPointingOutside_Returns403()
    {
        var link = Path.Combine(Fixture.Samples, "link-" + Guid.NewGuid().ToString("N")[..8]);
        Directory.CreateSymbolicLink(link, Fixture.Outside);
        try
        {
            using var folder = await Client.PostAsync("api/ingest", Json(new { path = link }));
            await AssertProblemAsync(folder, 403);
            using var file = await Client.PostAsync("api/ingest", Json(new { path = Path.Combine(link, "secret.txt") }));
            await AssertProblemAsync(file, 403);
        }
        finally
        {
            Directory.Delete(link);
        }
    }

    [Fact]
    public async Task Ingest_EmptyOrUnknownJob_ReturnProblems()
    {
        using var noPath = await Client.PostAsync("api/ingest", Json(new { }));
        await AssertProblemAsync(noPath, 400);
        using var unknownJob = await Client.GetAsync("api/jobs/nope");
        await AssertProblemAsync(unknownJob, 404);
    }

    [Fact]
    public async Task Search_HostReplacesTheServersOptions_RequestBodyLimitComesFromThatOneCopy()
    {
        // The server reads one copy of its options, the one in its services: a host that puts its own there (a 16 KiB
        // upload limit) is obeyed by Kestrel's body limit too (a search has no size check of its own), not only by the
        // endpoints, which read the copy after the host is built.
        var server = MmragServer.Create(Fixture.Options(), builder =>
        {
            builder.Logging.ClearProviders();
            builder.Services.AddSingleton(Fixture.Options(maxUploadBytes: 16 * 1024));
        });
        await using (server)
        {
            await server.StartAsync();
            using var client = ServerFixture.CreateClient(server);

            using var response = await client.PostAsync("api/search", Json(new { text = "marigolds " + new string('x', 64 * 1024) }));

            await AssertProblemAsync(response, 413);
        }
    }

    [Fact]
    public async Task Ingest_UploadOverTheLimit_Returns413()
    {
        await using var server = await ServerFixture.StartAsync(Fixture.Options(maxUploadBytes: 16 * 1024));
        using var client = ServerFixture.CreateClient(server);
        using var form = new MultipartFormDataContent { { new ByteArrayContent(new byte[64 * 1024]), "files", "big.txt" } };

        using var response = await PostFormAsync("api/ingest", form, client);

        await AssertProblemAsync(response, 413);
    }
}
