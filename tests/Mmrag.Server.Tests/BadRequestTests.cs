using System.Net.Http.Headers;
using System.Text;

namespace Mmrag.Server.Tests;

/// <summary>Malformed requests are 400 problems naming what is wrong, never 500s, and leave nothing behind.</summary>
[Collection("server")]
public sealed class BadRequestTests(ServerFixture fixture) : ApiTestBase(fixture)
{
    [Theory]
    [InlineData("api/search", "text")]
    [InlineData("api/ask", "question")]
    [InlineData("api/ingest", "path")]
    public async Task Post_JsonWithLoneSurrogate_Returns400(string path, string field)
    {
        using var content = RawJson(Encoding.UTF8.GetBytes($$"""{"{{field}}": "a\ud800b"}"""));

        using var response = await Client.PostAsync(path, content);

        var problem = await AssertProblemAsync(response, 400);
        Assert.Contains($"'{field}'", problem.GetProperty("detail").GetString(), StringComparison.Ordinal);
        Assert.Contains("surrogate", problem.GetProperty("detail").GetString(), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("api/search", "text")]
    [InlineData("api/ask", "question")]
    [InlineData("api/ingest", "path")]
    public async Task Post_JsonWithInvalidUtf8_Returns400(string path, string field)
    {
        byte[] body = [.. Encoding.UTF8.GetBytes($$"""{"{{field}}": "a"""), 0xFF, 0xFE, .. Encoding.UTF8.GetBytes("b\"}")];
        using var content = RawJson(body);

        using var response = await Client.PostAsync(path, content);

        var problem = await AssertProblemAsync(response, 400);
        Assert.Contains("UTF-8", problem.GetProperty("detail").GetString(), StringComparison.OrdinalIgnoreCase);
    }

    [Fact]
    public async Task Upload_FileNameOf300Characters_Returns400AndLeavesNoFolder()
    {
        var before = UploadFolders();
        using var form = new MultipartFormDataContent
        {
            { new StringContent("a note with a very long name", Encoding.UTF8), "files", new string('n', 296) + ".txt" },
        };

        using var response = await PostFormAsync("api/ingest", form);

        var problem = await AssertProblemAsync(response, 400);
        Assert.Contains("name", problem.GetProperty("detail").GetString(), StringComparison.Ordinal);
        Assert.Equal(before, UploadFolders());
    }

    private static ByteArrayContent RawJson(byte[] body)
    {
        var content = new ByteArrayContent(body);
        content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
        return content;
    }
}
