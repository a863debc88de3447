using System.Text;
using System.Text.Json;
using Mmrag.Testing;
using UglyToad.PdfPig.Content;
using UglyToad.PdfPig.Core;
using UglyToad.PdfPig.Fonts.Standard14Fonts;
using UglyToad.PdfPig.Writer;

namespace Mmrag.Cli.Tests;

public sealed class WebIngestCommandTests : IDisposable
{
    private readonly LoopbackSite _site = new();
    private readonly TemporaryDirectory _temp = new();

    private string KnowledgeBase => Path.Combine(_temp.Path, "kb");

    [Fact]
    public async Task Ingest_UrlAndPathWithAllowPrivateHosts_StoresBothAndHitsCiteTheUrl()
    {
        _site.Html("/lighthouse", """
            <html><head><title>Lighthouse</title></head><body><main>
            <p>The lighthouse on the rocky island guides ferries into the quarantine harbour.</p>
            <a href="/guide.pdf">guide</a>
            </main></body></html>
            """)
            .Content("/guide.pdf", "application/pdf", Encoding.UTF8.GetBytes("not fetched without --follow pdf"));
        var notes = Path.Combine(_temp.Path, "notes.txt");
        await File.WriteAllTextAsync(notes, "Field notes about otters and rivers.");
        var url = _site.Url("/lighthouse");

        var ingest = await CliRunner.RunAsync("ingest", url, notes, "--allow-private-hosts", "--kb", KnowledgeBase, "--model", Fixtures.TinyModel);
        var search = await CliRunner.RunAsync("search", "--kb", KnowledgeBase, "--text", "quarantine harbour lighthouse", "--threshold", "0", "--format", "json");

        Assert.True(ingest.ExitCode == 0, ingest.Error + ingest.Output);
        Assert.Contains("2 files: 2 added", ingest.Output, StringComparison.Ordinal);
        Assert.Equal(0, _site.RequestsFor("/guide.pdf"));
        Assert.True(search.ExitCode == 0, search.Error + search.Output);
        using var hits = JsonDocument.Parse(search.Output);
        var array = hits.RootElement.ValueKind == JsonValueKind.Array ? hits.RootElement : hits.RootElement.GetProperty("hits");
        Assert.Contains(array.EnumerateArray(), h => h.GetProperty("source").GetString() == url);
    }

    [Fact]
    public async Task Ingest_LoopbackUrlWithoutOptIn_RefusedAndListedByKbFailures()
    {
        _site.Html("/page", "<p>never read</p>");
        var url = _site.Url("/page");

        var ingest = await CliRunner.RunAsync("ingest", url, "--kb", KnowledgeBase, "--model", Fixtures.TinyModel);
        var failures = await CliRunner.RunAsync("kb", "failures", "--kb", KnowledgeBase);

        Assert.Equal(3, ingest.ExitCode);
        Assert.Contains($"failed: {url}", ingest.Output, StringComparison.Ordinal);
        Assert.Contains("--allow-private-hosts", ingest.Output, StringComparison.Ordinal);
        Assert.Empty(_site.Requests);
        Assert.Contains(url, failures.Output, StringComparison.Ordinal);
        Assert.Contains("loopback", failures.Output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Ingest_FollowPdfAndDepth_LinkedPdfIngestedWithItsUrl()
    {
        _site.Html("/", "<html><body><p>Reports index.</p><a href=\"/report.pdf\">report</a></body></html>")
            .Content("/report.pdf", "application/pdf", Pdf("Seventeen lighthouses were counted."));

        var ingest = await CliRunner.RunAsync("ingest", _site.Url("/"), "--follow", "pdf", "--allow-private-hosts", "--kb", KnowledgeBase, "--model", Fixtures.TinyModel);
        var documents = await CliRunner.RunAsync("kb", "documents", "--kb", KnowledgeBase);

        Assert.True(ingest.ExitCode == 0, ingest.Error + ingest.Output);
        Assert.Contains("2 files: 2 added", ingest.Output, StringComparison.Ordinal);
        Assert.Contains(_site.Url("/report.pdf"), documents.Output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Ingest_FollowUnknownKind_UsageErrorAndNoKnowledgeBase()
    {
        var ingest = await CliRunner.RunAsync("ingest", _site.Url("/"), "--follow", "zip", "--kb", KnowledgeBase, "--model", Fixtures.TinyModel);

        Assert.NotEqual(0, ingest.ExitCode);
        Assert.Contains("zip", ingest.Error + ingest.Output, StringComparison.Ordinal);
        Assert.False(Directory.Exists(KnowledgeBase));
    }

    private static byte[] Pdf(string text)
    {
        using var builder = new PdfDocumentBuilder();
        var font = builder.AddStandard14Font(Standard14Font.Helvetica);
        builder.AddPage(PageSize.A4).AddText(text, 12, new PdfPoint(50, 700), font);
        return builder.Build();
    }

    public void Dispose()
    {
        _site.Dispose();
        _temp.Dispose();
    }
}
