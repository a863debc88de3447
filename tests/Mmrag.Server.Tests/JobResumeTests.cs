using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;

namespace Mmrag.Server.Tests;

/// <summary>An ingestion job the server was stopped in the middle of runs again, under its id, when a server starts on the knowledge base.</summary>
[Collection("server")]
public sealed class JobResumeTests(ServerFixture fixture) : ApiTestBase(fixture)
{
    private const int Files = 200;

    [Fact]
    public async Task Restart_JobStoppedMidway_ResumesUnderItsIdAndStoresEveryFile()
    {
        var marker = Marker("resume");
        string jobId;
        await using (var first = await ServerFixture.StartAsync(Fixture.Options()))
        {
            using var client = ServerFixture.CreateClient(first);
            using (var form = Upload(marker))
            {
                using var response = await PostFormAsync("api/ingest", form, client);
                Assert.Equal(HttpStatusCode.Accepted, response.StatusCode);
                jobId = (await ReadJsonAsync(response)).GetProperty("job_id").GetString()!;
            }

            var midway = await PollAsync(client, jobId, static job => job.GetProperty("progress").ValueKind == JsonValueKind.Object
                && job.GetProperty("progress").GetProperty("files_done").GetInt32() > 0);
            Assert.True(midway.GetProperty("progress").GetProperty("files_done").GetInt32() < Files, $"the job finished before the server stopped: {midway}");
        }

        // Stopped, not cancelled: the job is still in the journal and its uploaded files are all still there.
        Assert.True(File.Exists(Path.Combine(Fixture.KnowledgeBaseFolder, "jobs", jobId + ".json")));
        Assert.Equal(Files, Directory.GetFiles(Path.Combine(Fixture.KnowledgeBaseFolder, "uploads", jobId)).Length);

        await using var second = await ServerFixture.StartAsync(Fixture.Options());
        using var resumedClient = ServerFixture.CreateClient(second);
        var resumed = await PollAsync(resumedClient, jobId, static job => job.GetProperty("state").GetString() is not ("queued" or "running"));

        Assert.Equal("succeeded", resumed.GetProperty("state").GetString());
        var documents = (await Client.GetFromJsonAsync<JsonElement>("api/documents")).GetProperty("documents").EnumerateArray()
            .Count(d => d.GetProperty("source").GetString()!.Contains(marker, StringComparison.Ordinal));
        Assert.Equal(Files, documents);
        Assert.False(File.Exists(Path.Combine(Fixture.KnowledgeBaseFolder, "jobs", jobId + ".json")));
    }

    [Fact]
    public async Task Restart_ForgedOrBrokenJournalEntries_AreSetAsideAndNothingOutsideIsIngested()
    {
        // The journal is a folder on disk: whatever is put there gets no further than a request would.
        var journal = Path.Combine(Fixture.KnowledgeBaseFolder, "jobs");
        Directory.CreateDirectory(journal);
        var outsideRoots = Marker("outside").Replace("-", "", StringComparison.Ordinal);
        var otherId = Marker("otherid").Replace("-", "", StringComparison.Ordinal);
        var fakeUpload = Marker("fakeupload").Replace("-", "", StringComparison.Ordinal);
        var entries = new Dictionary<string, string>
        {
            ["truncated.json"] = "{\"id\": \"truncated\", \"paths\": [",
            [$"{outsideRoots}.json"] = Entry(outsideRoots, [Fixture.Outside], null),
            [$"{otherId}.json"] = Entry("../../escape", [Fixture.Samples], null),
            [$"{fakeUpload}.json"] = Entry(fakeUpload, [Fixture.Outside], Fixture.Outside),
            ["nested.json"] = new string('[', 100_000) + new string(']', 100_000),
        };
        foreach (var (name, text) in entries)
        {
            await File.WriteAllTextAsync(Path.Combine(journal, name), text);
        }

        var fifo = Path.Combine(journal, "pipe.json");
        using (var mkfifo = System.Diagnostics.Process.Start("mkfifo", [fifo]))
        {
            await mkfifo.WaitForExitAsync();
        }

        var start = ServerFixture.StartAsync(Fixture.Options());
        Assert.Same(start, await Task.WhenAny(start, Task.Delay(TimeSpan.FromSeconds(30))));
        await using var server = await start;
        using var client = ServerFixture.CreateClient(server);

        foreach (var id in new[] { outsideRoots, fakeUpload, "truncated", "nested" })
        {
            using var job = await client.GetAsync($"api/jobs/{id}");
            Assert.Equal(HttpStatusCode.NotFound, job.StatusCode);
        }

        Assert.Empty(Directory.GetFiles(journal, "*.json"));
        Assert.Equal(entries.Count + 1, Directory.GetFiles(journal, "*.json.bad").Length);
        var documents = (await client.GetFromJsonAsync<JsonElement>("api/documents")).GetProperty("documents").EnumerateArray();
        Assert.DoesNotContain(documents, d => d.GetProperty("source").GetString()!.StartsWith(Fixture.Outside, StringComparison.Ordinal));
        foreach (var bad in Directory.GetFiles(journal, "*.json.bad"))
        {
            File.Delete(bad);
        }
    }

    private static string Entry(string id, string[] paths, string? uploadFolder) => JsonSerializer.Serialize(new Dictionary<string, object?>
    {
        ["id"] = id, ["paths"] = paths, ["upload_folder"] = uploadFolder, ["created_at"] = DateTimeOffset.UtcNow,
    });

    [Fact]
    public async Task CancelledJob_IsNotResumed()
    {
        var marker = Marker("cancel");
        using (var form = Upload(marker))
        {
            using var response = await PostFormAsync("api/ingest", form);
            var jobId = (await ReadJsonAsync(response)).GetProperty("job_id").GetString()!;
            using var cancel = await Client.DeleteAsync($"api/jobs/{jobId}");
            await WaitForJobAsync(jobId);
            Assert.False(File.Exists(Path.Combine(Fixture.KnowledgeBaseFolder, "jobs", jobId + ".json")));
        }
    }

    private static MultipartFormDataContent Upload(string marker) => ManyTextFiles(marker, Files);

    private static async Task<JsonElement> PollAsync(HttpClient client, string jobId, Func<JsonElement, bool> condition)
    {
        var deadline = DateTime.UtcNow.AddSeconds(120);
        while (true)
        {
            var job = await client.GetFromJsonAsync<JsonElement>($"api/jobs/{jobId}");
            if (condition(job))
            {
                return job;
            }

            Assert.True(DateTime.UtcNow < deadline, $"job {jobId}: {job}");
            await Task.Delay(50);
        }
    }
}
