using System.Text.Json;
using Mmrag.Answering.Tests.Fakes;
using Mmrag.Ingestion.Tests.Support;

namespace Mmrag.Cli.Tests;

/// <summary>
/// <c>mmrag ingest --wikipedia Helsinki</c> from a loopback MediaWiki (the recorded article and its photos) with the tiny
/// CLIP model, then <c>mmrag ask</c> the Helsinki question against the loopback LLM server: the prompt carries the
/// article's text and photos, the citations point at the article, and the photos' credits are shown.
/// </summary>
public sealed class WikipediaCommandTests : IAsyncLifetime
{
    private const string Question = "What are some of the popular tourist attractions in Helsinki?";
    private readonly TemporaryDirectory _temp = new();
    private readonly LoopbackMediaWiki _wiki = new();
    private string _kb = "";

    public async Task InitializeAsync()
    {
        _kb = Path.Combine(_temp.Path, "kb");
        var (exitCode, output, error) = await IngestAsync(_kb, "--wikipedia", "Helsinki");
        Assert.True(exitCode == 0, error + output);
        Assert.Contains("1 added", output, StringComparison.Ordinal);
        Assert.Empty(_wiki.Violations);
    }

    public async Task DisposeAsync()
    {
        await _wiki.DisposeAsync();
        _temp.Dispose();
    }

    private Task<(int ExitCode, string Output, string Error)> IngestAsync(string kb, params string[] arguments) =>
        CliRunner.RunAsync(["ingest", .. arguments, "--wikipedia-api", _wiki.ApiUrl, "--allow-private-hosts", "--kb", kb, "--model", Fixtures.TinyModel]);

    [Fact]
    public async Task Ask_HelsinkiQuestion_PromptCarriesTheArticleTextAndPhotosAndCitationsPointAtTheArticle()
    {
        await using var server = new FakeOpenAiServer { DefaultReply = Reply.Text("Suomenlinna [1], [2], [3], [4], [5], [6], [7], [8], [9], [10].") };
        AskCommandTests.SetLlm(server.BaseUrl);

        var (exitCode, output, error) = await CliRunner.RunAsync("ask", "--kb", _kb, Question, "--threshold", "0", "--format", "json");

        Assert.True(exitCode == 0, error);
        var user = Assert.Single(server.Requests).Messages()[1]!;
        var prompt = Wire.AllText(user);
        Assert.Contains(Question, prompt, StringComparison.Ordinal);
        Assert.Contains("Suomenlinna", prompt, StringComparison.Ordinal);
        Assert.Contains("Temppeliaukio Church", prompt, StringComparison.Ordinal);
        var photos = Wire.ImageUrls(user);
        Assert.NotEmpty(photos);
        Assert.All(photos, static url => Assert.Matches("^data:image/(jpeg|png);base64,", url));
        using var json = JsonDocument.Parse(output);
        var citations = json.RootElement.GetProperty("citations").EnumerateArray().ToList();
        Assert.NotEmpty(citations);
        Assert.All(citations, c => Assert.Equal(_wiki.ArticleUrl, c.GetProperty("source").GetString()));
        var imageCitations = citations.Where(static c => c.GetProperty("kind").GetString() == "image").ToList();
        Assert.NotEmpty(imageCitations);
        Assert.All(imageCitations, static c => Assert.Contains("via https://commons.wikimedia.org/wiki/File:", c.GetProperty("attribution").GetString(), StringComparison.Ordinal));
        // The credit also reaches the LLM with each photo, so an answer can give it.
        Assert.Contains("Image credit: ", prompt, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Ask_TextOutput_ListsTheArticleUrlAndEachPhotosCredit()
    {
        await using var server = new FakeOpenAiServer { DefaultReply = Reply.Text("See [1] and [2].") };
        AskCommandTests.SetLlm(server.BaseUrl);

        var (exitCode, output, error) = await CliRunner.RunAsync("ask", "--kb", _kb, Question, "--threshold", "0");

        Assert.True(exitCode == 0, error);
        Assert.Contains(_wiki.ArticleUrl, output, StringComparison.Ordinal);
        Assert.Matches(@"credit: .+, CC[ A-Z0-9.\-]+ \(https://creativecommons\.org/", output);
    }

    [Fact]
    public async Task Search_ImageHits_CarryTheirAttributionInJsonAndTable()
    {
        string[] query = ["search", "--kb", _kb, "--text", "sea fortress of Suomenlinna", "--target", "image", "--threshold", "0"];

        var json = await CliRunner.RunAsync([.. query, "--format", "json"]);
        var table = await CliRunner.RunAsync(query);

        Assert.True(json.ExitCode == 0, json.Error);
        using var document = JsonDocument.Parse(json.Output);
        var hits = document.RootElement.GetProperty("hits").EnumerateArray().ToList();
        Assert.Equal(4, hits.Count);
        Assert.All(hits, h => Assert.Equal(_wiki.ArticleUrl, h.GetProperty("source").GetString()));
        Assert.Contains(hits, static h => h.GetProperty("attribution").GetString() == "Kari & Co, CC BY 2.0 (https://creativecommons.org/licenses/by/2.0), via https://commons.wikimedia.org/wiki/File:Suomenlinna_fortress.jpg");
        Assert.True(table.ExitCode == 0, table.Error);
        Assert.True(table.Output.Contains("      credit: Example Photographer, CC BY-SA 4.0 (https://creativecommons.org/licenses/by-sa/4.0), via https://commons.wikimedia.org/wiki/File:Helsinki_Senate_Square_aerial.jpg\n", StringComparison.Ordinal), table.Output);
    }

    [Fact]
    public async Task Ingest_UnknownTitleBesideAKnownOne_FailsNamingItStoresTheOtherAndExitsWith3()
    {
        var kb = Path.Combine(_temp.Path, "kb-two");

        var (exitCode, output, error) = await IngestAsync(kb, "--wikipedia", "Atlantis (city)", "wikipedia:Helsingfors");

        Assert.True(exitCode == 3, error + output);
        Assert.True(output.Contains("1 added", StringComparison.Ordinal), output);
        Assert.Contains("1 failed", output, StringComparison.Ordinal);
        Assert.Contains("Wikipedia article 'Atlantis (city)' (en) does not exist", output, StringComparison.Ordinal);
        var failures = await CliRunner.RunAsync("kb", "failures", "--kb", kb);
        Assert.Contains("'Atlantis (city)'", failures.Output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Ingest_TitleOver255Bytes_FailsNamingItWithoutAskingTheWiki()
    {
        // 128 two-byte letters: 256 UTF-8 bytes in fewer than 255 characters.
        var title = new string('ö', 128);
        var kb = Path.Combine(_temp.Path, "kb-long");
        _wiki.ClearRequests();

        var (exitCode, output, error) = await IngestAsync(kb, "--wikipedia", title);

        Assert.True(exitCode == 3, error + output);
        Assert.Contains("1 failed", output, StringComparison.Ordinal);
        Assert.Contains("more than 255 UTF-8 bytes", output, StringComparison.Ordinal);
        Assert.Contains(title[..40], output, StringComparison.Ordinal);
        Assert.Empty(_wiki.Requests);
    }

    [Fact]
    public async Task Ingest_SameArticleAgain_IsUnchangedAfterOneApiRequest()
    {
        _wiki.ClearRequests();

        var (exitCode, output, error) = await IngestAsync(_kb, "wikipedia:Helsinki");

        Assert.True(exitCode == 0, error + output);
        Assert.Contains("1 unchanged", output, StringComparison.Ordinal);
        Assert.Contains("(0 embedded)", output, StringComparison.Ordinal);
        Assert.Equal("parse", Assert.Single(_wiki.Requests)["action"]);
    }

    [Fact]
    public async Task Ingest_LoopbackWikiWithoutAllowPrivateHosts_IsRefused()
    {
        var kb = Path.Combine(_temp.Path, "kb-guarded");
        _wiki.ClearRequests();

        var (exitCode, output, _) = await CliRunner.RunAsync("ingest", "--wikipedia", "Helsinki", "--wikipedia-api", _wiki.ApiUrl, "--kb", kb, "--model", Fixtures.TinyModel);

        Assert.Equal(3, exitCode);
        Assert.Contains("1 failed", output, StringComparison.Ordinal);
        Assert.Empty(_wiki.Requests);
    }
}
