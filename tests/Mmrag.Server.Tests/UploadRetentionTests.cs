using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;

namespace Mmrag.Server.Tests;

/// <summary>
/// What is kept of uploads: the files of stored documents (their only copy), nothing else; and uploads that would
/// ingest nothing say so instead of "succeeding" with 0 files.
/// </summary>
[Collection("server")]
public sealed class UploadRetentionTests(ServerFixture fixture) : ApiTestBase(fixture)
{
    [Fact]
    public async Task Upload_StoredFailedAndSkippedFiles_KeepsOnlyTheStoredDocumentsFilesAndTheirSidecars()
    {
        var marker = Marker("keep");
        using var form = new MultipartFormDataContent
        {
            { new StringContent($"Note {marker} on tide tables.", Encoding.UTF8), "files", $"{marker}-note.txt" },
            { new ByteArrayContent("definitely not a jpeg"u8.ToArray()), "files", $"{marker}-broken.jpg" },
            { new ByteArrayContent(await File.ReadAllBytesAsync(Fixtures.Image("checker_225x224.png"))), "files", $"{marker}-checker.png" },
            { new StringContent("A black and white checkerboard.", Encoding.UTF8), "files", $"{marker}-checker.txt" },
            { new StringContent("no loader reads this", Encoding.UTF8), "files", $"{marker}-other.xyz" },
        };

        var (jobId, job) = await UploadAndWaitAsync(form);

        Assert.Equal("succeeded", job.GetProperty("state").GetString());
        Assert.Equal(1, job.GetProperty("summary").GetProperty("failed").GetInt32());
        Assert.Equal(2, job.GetProperty("summary").GetProperty("added").GetInt32());
        var kept = Directory.GetFiles(JobFolder(jobId), "*", SearchOption.AllDirectories).Select(Path.GetFileName).Order(StringComparer.Ordinal);
        Assert.Equal([$"{marker}-checker.png", $"{marker}-checker.txt", $"{marker}-note.txt"], kept);
    }

    [Fact]
    public async Task DeleteDocument_Uploaded_RemovesItsFileAndTheEmptiedFolder()
    {
        var marker = Marker("keep");
        using var form = new MultipartFormDataContent
        {
            { new StringContent($"Note {marker} on lighthouse lenses.", Encoding.UTF8), "files", $"sub/{marker}.txt" },
        };
        var (jobId, _) = await UploadAndWaitAsync(form);
        var documents = (await Client.GetFromJsonAsync<JsonElement>("api/documents")).GetProperty("documents");
        var document = documents.EnumerateArray().Single(d => d.GetProperty("source").GetString()!.Contains(marker, StringComparison.Ordinal));
        Assert.True(File.Exists(document.GetProperty("source").GetString()));

        using var deleted = await Client.DeleteAsync($"api/documents/{document.GetProperty("id").GetString()}");

        Assert.Equal(HttpStatusCode.NoContent, deleted.StatusCode);
        Assert.False(Directory.Exists(JobFolder(jobId)));
    }

    [Fact]
    public async Task Upload_OnlyUnsupportedFiles_JobFailsSayingNothingToIngestAndLeavesNoFolder()
    {
        using var form = new MultipartFormDataContent
        {
            { new StringContent("binary-ish", Encoding.UTF8), "files", $"{Marker("keep")}.xyz" },
        };

        var (jobId, job) = await UploadAndWaitAsync(form);

        Assert.Equal("failed", job.GetProperty("state").GetString());
        Assert.Contains("Nothing to ingest", job.GetProperty("error").GetString(), StringComparison.Ordinal);
        Assert.Contains(".xyz", job.GetProperty("error").GetString(), StringComparison.Ordinal);
        Assert.False(Directory.Exists(JobFolder(jobId)));
    }

    [Fact]
    public async Task Upload_OnlyAHiddenFile_Returns400NamingIt()
    {
        var before = UploadFolders();
        using var form = new MultipartFormDataContent
        {
            { new StringContent("hidden text", Encoding.UTF8), "files", ".hidden.txt" },
        };

        using var response = await PostFormAsync("api/ingest", form);

        var problem = await AssertProblemAsync(response, 400);
        Assert.Contains(".hidden.txt", problem.GetProperty("detail").GetString(), StringComparison.Ordinal);
        Assert.Equal(before, UploadFolders());
    }

    [Fact]
    public async Task Upload_HiddenFileBesideAnother_IngestsTheOtherAndReportsTheHiddenOne()
    {
        var marker = Marker("keep");
        using var form = new MultipartFormDataContent
        {
            { new StringContent("hidden text", Encoding.UTF8), "files", "folder/.DS_Store" },
            { new StringContent($"Note {marker} on buoys.", Encoding.UTF8), "files", $"folder/{marker}.txt" },
        };

        using var response = await PostFormAsync("api/ingest", form);

        Assert.Equal(HttpStatusCode.Accepted, response.StatusCode);
        var accepted = await ReadJsonAsync(response);
        Assert.Equal("folder/.DS_Store", Assert.Single(accepted.GetProperty("skipped_hidden").EnumerateArray()).GetString());
        var job = await WaitForJobAsync(accepted.GetProperty("job_id").GetString()!);
        Assert.Equal(1, job.GetProperty("summary").GetProperty("added").GetInt32());
    }

    private string JobFolder(string jobId) => Path.Combine(Fixture.KnowledgeBaseFolder, "uploads", jobId);

    private async Task<(string JobId, JsonElement Job)> UploadAndWaitAsync(MultipartFormDataContent form)
    {
        using var response = await PostFormAsync("api/ingest", form);
        Assert.Equal(HttpStatusCode.Accepted, response.StatusCode);
        var jobId = (await ReadJsonAsync(response)).GetProperty("job_id").GetString()!;
        return (jobId, await WaitForJobAsync(jobId));
    }
}
