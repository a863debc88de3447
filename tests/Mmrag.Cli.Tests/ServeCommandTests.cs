using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using Mmrag.Ingestion.Tests.Support;
using Mmrag.Testing;

namespace Mmrag.Cli.Tests;

/// <summary><c>mmrag serve</c>'s start-up rules and options (the server itself is tested in Mmrag.Server.Tests).</summary>
public sealed class ServeCommandTests
{
    [Theory]
    [InlineData("--urls", "http://0.0.0.0:5077", "MMRAG_API_KEY")]
    [InlineData("--wikipedia-api", "ftp://wiki.example/w/api.php", "--wikipedia-api 'ftp://wiki.example/w/api.php' must be an absolute http(s) URL")]
    public async Task Serve_RefusedOption_FailsBeforeOpeningAnything(string option, string value, string says)
    {
        if (!string.IsNullOrEmpty(Environment.GetEnvironmentVariable("MMRAG_API_KEY")))
        {
            return; // A non-loopback address is refused only with the key unset; a developer's shell may set it.
        }

        using var temp = new TemporaryDirectory();
        var kb = Path.Combine(temp.Path, "kb");

        var (exitCode, _, error) = await CliRunner.RunAsync("serve", "--kb", kb, option, value);

        Assert.Equal(1, exitCode);
        Assert.Contains(says, error, StringComparison.Ordinal);
        Assert.False(Directory.Exists(kb));
    }

    /// <summary>
    /// A real <c>mmrag serve --allow-private-hosts --wikipedia-api URL</c> process: a Wikipedia job it runs reads the
    /// article from the loopback wiki the option names (which only the private-host opt-in lets it reach).
    /// </summary>
    [Fact]
    public async Task Serve_AllowPrivateHostsAndWikipediaApi_WikipediaJobReadsTheLoopbackWiki()
    {
        using var temp = new TemporaryDirectory();
        await using var wiki = new LoopbackMediaWiki();
        await using var serve = MmragServeProcess.Start(new Dictionary<string, string?>
        {
            ["MMRAG_API_KEY"] = null,
            ["MMRAG_LLM_BASE_URL"] = null,
            ["Mmrag__Ingestion__AllowPrivateHosts"] = null,
            ["Mmrag__Ingestion__WikipediaApi"] = null,
        }, "--kb", Path.Combine(temp.Path, "kb"), "--model", Fixtures.TinyModel, "--urls", "http://127.0.0.1:0", "--allow-private-hosts", "--wikipedia-api", wiki.ApiUrl);
        using var client = new HttpClient { BaseAddress = await serve.AddressAsync(), Timeout = TimeSpan.FromSeconds(60) };

        using var response = await client.PostAsync("api/ingest", new StringContent("""{"wikipedia": ["Helsinki"]}""", Encoding.UTF8, "application/json"));
        Assert.True(response.IsSuccessStatusCode, await response.Content.ReadAsStringAsync());
        var jobId = (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("job_id").GetString();
        JsonElement job;
        var deadline = DateTime.UtcNow.AddSeconds(60);
        do
        {
            await Task.Delay(100);
            job = await client.GetFromJsonAsync<JsonElement>($"api/jobs/{jobId}");
            Assert.True(DateTime.UtcNow < deadline, $"job still {job.GetProperty("state").GetString()}");
        }
        while (job.GetProperty("state").GetString() is "queued" or "running");

        Assert.True(job.GetProperty("state").GetString() == "succeeded", job + serve.Output);
        Assert.Equal(1, job.GetProperty("summary").GetProperty("added").GetInt32());
        Assert.NotEmpty(wiki.ApiRequests);
    }
}
