using System.Text.Json;
using Mmrag.Ingestion.Tests.Support;

namespace Mmrag.Cli.Tests;

public class OcrCommandTests
{
    [OcrFact]
    public async Task Ingest_WithOcr_SearchHitMatchesAndShowsThePrintedWords()
    {
        using var temp = new TemporaryDirectory();
        var kb = Path.Combine(temp.Path, "kb");
        var folder = Directory.CreateDirectory(Path.Combine(temp.Path, "scans")).FullName;
        await File.WriteAllBytesAsync(Path.Combine(folder, "scan1.png"), TextRenderings.Png(["Lighthouse keepers wanted"], TextRenderings.Serif, 30));
        await File.WriteAllBytesAsync(Path.Combine(folder, "scan2.png"), TextRenderings.Png(["Fresh bread every morning"], TextRenderings.Sans, 24));

        var ingest = await CliRunner.RunAsync("ingest", folder, "--kb", kb, "--model", Fixtures.TinyModel, "--ocr");
        var search = await CliRunner.RunAsync("search", "--kb", kb, "--text", "lighthouse keepers", "--target", "images", "--threshold", "0", "--format", "json");

        Assert.True(ingest.ExitCode == 0, ingest.Error + ingest.Output);
        Assert.Contains("2 added", ingest.Output, StringComparison.Ordinal);
        Assert.True(search.ExitCode == 0, search.Error + search.Output);
        var hit = FindHit(search.Output, "scan1.png");
        Assert.Equal("both", hit.GetProperty("matched_by").GetString());
        Assert.Contains("Lighthouse keepers", hit.GetProperty("description").GetString(), StringComparison.Ordinal);
    }

    [OcrFact]
    public async Task Ingest_OcrLanguageNotInstalled_OneLineErrorNamingThePackage()
    {
        using var temp = new TemporaryDirectory();
        var folder = Directory.CreateDirectory(Path.Combine(temp.Path, "scans")).FullName;
        await File.WriteAllBytesAsync(Path.Combine(folder, "scan.png"), TextRenderings.Png(["Lighthouse"], TextRenderings.Serif, 30));

        var ingest = await CliRunner.RunAsync("ingest", folder, "--kb", Path.Combine(temp.Path, "kb"), "--model", Fixtures.TinyModel, "--ocr-lang", "eng+qqq");

        Assert.Equal(1, ingest.ExitCode);
        Assert.StartsWith("error: ", ingest.Error, StringComparison.Ordinal);
        Assert.Contains("apt-get install tesseract-ocr-qqq", ingest.Error, StringComparison.Ordinal);
    }

    private static JsonElement FindHit(string json, string fileName)
    {
        using var document = JsonDocument.Parse(json);
        var hits = document.RootElement.ValueKind == JsonValueKind.Array ? document.RootElement : document.RootElement.GetProperty("hits");
        return hits.EnumerateArray().Single(h => h.GetProperty("source").GetString()!.EndsWith(fileName, StringComparison.Ordinal)).Clone();
    }
}
