using System.Net.Http.Json;
using System.Text;
using System.Text.Json;

namespace Mmrag.Server.Tests;

/// <summary>Helpers shared by the API tests.</summary>
public abstract class ApiTestBase(ServerFixture fixture)
{
    protected ServerFixture Fixture { get; } = fixture;

    protected HttpClient Client => Fixture.Client;

    protected static StringContent Json(object body) => new(JsonSerializer.Serialize(body), Encoding.UTF8, "application/json");

    protected static async Task<JsonElement> ReadJsonAsync(HttpResponseMessage response)
    {
        var text = await response.Content.ReadAsStringAsync();
        using var document = JsonDocument.Parse(text);
        return document.RootElement.Clone();
    }

    /// <summary>Asserts an RFC 7807 problem with <paramref name="status"/> and returns it.</summary>
    protected static async Task<JsonElement> AssertProblemAsync(HttpResponseMessage response, int status)
    {
        var body = await response.Content.ReadAsStringAsync();
        Assert.True((int)response.StatusCode == status, $"expected {status}, got {(int)response.StatusCode}: {body}");
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        using var document = JsonDocument.Parse(body);
        var problem = document.RootElement.Clone();
        Assert.Equal(status, problem.GetProperty("status").GetInt32());
        Assert.False(string.IsNullOrEmpty(problem.GetProperty("title").GetString()));
        return problem;
    }

    /// <summary>Posts a multipart form as the server's own page does: with the CSRF token of <c>GET /api/csrf</c>.</summary>
    protected async Task<HttpResponseMessage> PostFormAsync(string path, HttpContent form, HttpClient? client = null)
    {
        client ??= Client;
        using var request = new HttpRequestMessage(HttpMethod.Post, path) { Content = form };
        request.Headers.Add("X-CSRF-Token", await CsrfTokenAsync(client));
        return await client.SendAsync(request);
    }

    /// <summary>The job folders under the knowledge base's uploads folder, in name order.</summary>
    protected string[] UploadFolders()
    {
        var uploads = Path.Combine(Fixture.KnowledgeBaseFolder, "uploads");
        return Directory.Exists(uploads) ? [.. Directory.GetDirectories(uploads).Order(StringComparer.Ordinal)] : [];
    }

    /// <summary>An upload of <paramref name="files"/> text files of 300 words each: long enough for the tiny model that a test can act while it runs.</summary>
    protected static MultipartFormDataContent ManyTextFiles(string marker, int files)
    {
        var form = new MultipartFormDataContent();
        var text = string.Join(' ', Enumerable.Range(0, 300).Select(static i => $"word{i}"));
        for (var i = 0; i < files; i++)
        {
            form.Add(new StringContent($"{marker} file {i}: {text}", Encoding.UTF8), "files", $"{marker}-{i:D4}.txt");
        }

        return form;
    }

    /// <summary>A unique name part, so that a test finds its own documents in the shared knowledge base.</summary>
    protected static string Marker(string prefix) => prefix + "-" + Guid.NewGuid().ToString("N")[..12];

    protected static async Task<string> CsrfTokenAsync(HttpClient client) =>
        (await client.GetFromJsonAsync<JsonElement>("api/csrf")).GetProperty("token").GetString()!;

    protected async Task<JsonElement> SearchAsync(object body)
    {
        using var response = await Client.PostAsync("api/search", Json(body));
        Assert.True(response.IsSuccessStatusCode, await response.Content.ReadAsStringAsync());
        return await ReadJsonAsync(response);
    }

    /// <summary>Polls the job until it leaves queued/running.</summary>
    protected async Task<JsonElement> WaitForJobAsync(string jobId, HttpClient? client = null)
    {
        client ??= Client;
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (true)
        {
            var job = await client.GetFromJsonAsync<JsonElement>($"api/jobs/{jobId}");
            var state = job.GetProperty("state").GetString();
            if (state is not ("queued" or "running"))
            {
                return job;
            }

            Assert.True(DateTime.UtcNow < deadline, $"job {jobId} still {state}");
            await Task.Delay(100);
        }
    }
}
