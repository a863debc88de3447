using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;

namespace Mmrag.Server.Tests;

/// <summary><c>DELETE /api/jobs/{id}</c>: a slow upload no longer holds the only ingestion slot.</summary>
[Collection("server")]
public sealed class JobCancellationTests(ServerFixture fixture) : ApiTestBase(fixture)
{
    /// <summary>Enough files that the job runs for many seconds with the tiny model, so the test can cancel it midway.</summary>
    private const int SlowJobFiles = 400;

    [Fact]
    public async Task CancelJob_Running_EndsCancelledWithWholeDocumentsAndFreesTheSlot()
    {
        var marker = Marker("job");
        var jobId = await UploadAsync(SlowUpload(marker));
        var running = await WaitUntilAsync(jobId, static job => job.GetProperty("state").GetString() == "running"
            && job.GetProperty("progress").ValueKind == JsonValueKind.Object && job.GetProperty("progress").GetProperty("files_done").GetInt32() > 0);

        using var cancel = await Client.DeleteAsync($"api/jobs/{jobId}");

        Assert.Equal(HttpStatusCode.Accepted, cancel.StatusCode);
        var job = await WaitForJobAsync(jobId);
        Assert.Equal("cancelled", job.GetProperty("state").GetString());
        var stored = (await DocumentsAsync(marker)).ToList();
        Assert.InRange(stored.Count, running.GetProperty("progress").GetProperty("files_done").GetInt32() - 1, SlowJobFiles - 1);
        Assert.All(stored, static d => Assert.True(d.GetProperty("items").GetInt32() > 0, $"{d} has no items"));

        // What was stored keeps its file; what was never reached is gone.
        var folder = Path.Combine(Fixture.KnowledgeBaseFolder, "uploads", jobId);
        Assert.Equal(stored.Count, Directory.GetFiles(folder, "*", SearchOption.AllDirectories).Length);

        // The slot is free: the next upload runs to the end.
        var next = await WaitForJobAsync(await UploadAsync(OneFile(Marker("job"))));
        Assert.Equal("succeeded", next.GetProperty("state").GetString());
    }

    [Fact]
    public async Task CancelJob_Queued_EndsCancelledWithoutRunningAndLeavesNoFolder()
    {
        var slowMarker = Marker("job");
        var slow = await UploadAsync(SlowUpload(slowMarker));
        var queuedMarker = Marker("job");
        var queued = await UploadAsync(OneFile(queuedMarker));
        try
        {
            using var cancel = await Client.DeleteAsync($"api/jobs/{queued}");

            Assert.Equal(HttpStatusCode.Accepted, cancel.StatusCode);
            var job = await WaitForJobAsync(queued);
            Assert.Equal("cancelled", job.GetProperty("state").GetString());
            Assert.Empty(await DocumentsAsync(queuedMarker));
            Assert.False(Directory.Exists(Path.Combine(Fixture.KnowledgeBaseFolder, "uploads", queued)));
        }
        finally
        {
            using var _ = await Client.DeleteAsync($"api/jobs/{slow}");
            await WaitForJobAsync(slow);
        }
    }

    [Fact]
    public async Task CancelJob_FinishedOrUnknown_Returns409Or404()
    {
        var done = await UploadAsync(OneFile(Marker("job")));
        await WaitForJobAsync(done);

        using var finished = await Client.DeleteAsync($"api/jobs/{done}");
        using var unknown = await Client.DeleteAsync("api/jobs/no-such-job");

        await AssertProblemAsync(finished, 409);
        await AssertProblemAsync(unknown, 404);
    }

    private static MultipartFormDataContent OneFile(string marker) => new()
    {
        { new StringContent($"A single note {marker} about harbour cranes.", Encoding.UTF8), "files", $"{marker}.txt" },
    };

    private static MultipartFormDataContent SlowUpload(string marker) => ManyTextFiles(marker, SlowJobFiles);

    private async Task<string> UploadAsync(MultipartFormDataContent form)
    {
        using (form)
        {
            using var response = await PostFormAsync("api/ingest", form);
            Assert.Equal(HttpStatusCode.Accepted, response.StatusCode);
            return (await ReadJsonAsync(response)).GetProperty("job_id").GetString()!;
        }
    }

    private async Task<JsonElement> WaitUntilAsync(string jobId, Func<JsonElement, bool> condition)
    {
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (true)
        {
            var job = await Client.GetFromJsonAsync<JsonElement>($"api/jobs/{jobId}");
            if (condition(job))
            {
                return job;
            }

            Assert.True(job.GetProperty("state").GetString() is "queued" or "running", $"job ended before it could be cancelled: {job}");
            Assert.True(DateTime.UtcNow < deadline, $"job {jobId}: {job}");
            await Task.Delay(50);
        }
    }

    private async Task<IEnumerable<JsonElement>> DocumentsAsync(string marker)
    {
        var documents = (await Client.GetFromJsonAsync<JsonElement>("api/documents")).GetProperty("documents");
        return [.. documents.EnumerateArray().Where(d => d.GetProperty("source").GetString()!.Contains(marker, StringComparison.Ordinal))];
    }
}
