using System.Diagnostics;
using Mmrag.Ingestion.Ocr;
using Mmrag.Ingestion.Pipeline;
using Mmrag.Ingestion.Tests.Support;
using Mmrag.Knowledge;
using UglyToad.PdfPig.Content;
using UglyToad.PdfPig.Core;
using UglyToad.PdfPig.Writer;
using Xunit.Abstractions;

namespace Mmrag.Ingestion.Tests.Pipeline;

public sealed class IngestionOcrTests(ITestOutputHelper output)
{
    private static readonly IngestionOptions WithOcr = new() { Ocr = new TesseractOcrOptions() };

    private static readonly string[] ScannedPage = ["Minutes of the annual meeting", "The treasurer reported a surplus."];

    /// <summary>Three signs whose file names say nothing of what is printed on them.</summary>
    private static IngestionHarness SignsFolder()
    {
        var harness = new IngestionHarness();
        harness.Write("scan1.png", TextRenderings.Png(["Lighthouse keepers", "wanted at the harbour"], TextRenderings.Serif, 30));
        harness.Write("scan2.png", TextRenderings.Png(["Fresh bread baked", "every morning"], TextRenderings.Sans, 24, photo: true));
        harness.Write("scan3.png", TextRenderings.Png(["Closed for repairs", "until further notice"], TextRenderings.MonoBold, 26, rotateDegrees: 3));
        return harness;
    }

    [OcrFact]
    public async Task Ingest_WithOcr_KeywordSearchFindsTheImageThatPrintsTheWordFirst()
    {
        using var harness = SignsFolder();

        var clock = Stopwatch.StartNew();
        var summary = await harness.RunAsync(WithOcr);
        output.WriteLine($"3 images ingested with OCR in {clock.Elapsed.TotalSeconds:F2} s");

        Assert.Equal(3, summary.Added);
        foreach (var (word, file) in new[] { ("lighthouse", "scan1.png"), ("bread", "scan2.png"), ("repairs", "scan3.png") })
        {
            var hits = await harness.Store.SearchKeywordsAsync(word, 5);
            Assert.NotEmpty(hits);
            Assert.Equal(ItemKind.Image, hits[0].Item.Kind);
            Assert.Equal(harness.PathOf(file), hits[0].Item.Provenance.SourcePath);
            Assert.Contains(word, hits[0].Item.Text, StringComparison.OrdinalIgnoreCase);
        }

        Assert.Equal("eng", await harness.Store.GetSettingAsync(IngestionOptions.OcrLanguagesSettingKey));
    }

    [Theory]
    [InlineData(2, 2, 2)]
    [InlineData(1, 2, 1)]
    [InlineData(4, 1, 1)] // the process bound holds across files
    public async Task Ingest_OcrOnSeveralImages_RunsUpToParallelLoadsTesseractsAtOnce(int parallelLoads, int maxProcesses, int expectedAtOnce)
    {
        // A stand-in Tesseract that notes how many copies of it run at the same moment, so the test does not depend on
        // the machine's Tesseract or its speed.
        using var harness = new IngestionHarness();
        var running = harness.Temp.Write("running/.keep", "");
        var log = Path.Combine(harness.Temp.Path, "at-once.log");
        var script = harness.Temp.Write("fake-tesseract", $$"""
            #!/bin/sh
            if [ "$1" = "--list-langs" ]; then echo 'List of available languages in "/fake/" (1):'; echo eng; exit 0; fi
            touch '{{Path.GetDirectoryName(running)}}/'$$
            ls '{{Path.GetDirectoryName(running)}}' | wc -l >> '{{log}}'
            sleep 1
            rm '{{Path.GetDirectoryName(running)}}/'$$
            echo "sign number $$"
            """.Replace("\r\n", "\n", StringComparison.Ordinal));
        if (!OperatingSystem.IsWindows())
        {
            File.SetUnixFileMode(script, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        }

        for (var i = 0; i < 4; i++)
        {
            harness.Write($"sign{i}.png", TextRenderings.Png([$"Sign {i}"], TextRenderings.Sans, 20));
        }

        var summary = await harness.RunAsync(new IngestionOptions { Ocr = new TesseractOcrOptions { ExecutablePath = script, MaxParallelism = maxProcesses }, ParallelLoads = parallelLoads });

        Assert.Equal(4, summary.Added);
        // `ls` leaves out the hidden .keep file: each line is how many copies ran when one started.
        var atOnce = File.ReadAllLines(log).Select(line => int.Parse(line.Trim(), System.Globalization.CultureInfo.InvariantCulture)).ToList();
        Assert.Equal(4, atOnce.Count);
        Assert.Equal(expectedAtOnce, atOnce.Max());
    }

    [OcrFact]
    public async Task Ingest_WithoutOcr_ImagesKeepNoPrintedWords()
    {
        using var harness = SignsFolder();

        await harness.RunAsync();

        Assert.Empty(await harness.Store.SearchKeywordsAsync("lighthouse", 5));
        Assert.Null(await harness.Store.GetSettingAsync(IngestionOptions.OcrLanguagesSettingKey));
    }

    [OcrFact]
    public async Task Ingest_OcrTurnedOnThenOff_ReprocessesTheFileEachTime()
    {
        using var harness = SignsFolder();
        await harness.RunAsync();

        var on = await harness.RunAsync(WithOcr);
        var again = await harness.RunAsync(WithOcr);
        var off = await harness.RunAsync();

        Assert.Equal(3, on.Replaced);
        Assert.Equal(3, again.Unchanged);
        Assert.Equal(3, off.Replaced);
        Assert.Empty(await harness.Store.SearchKeywordsAsync("lighthouse", 5));
    }

    [OcrFact]
    public async Task Ingest_WithOcr_KeepsTheDescriptionAndAddsTheText()
    {
        using var harness = SignsFolder();
        harness.Write("scan1.txt", "A weathered sign on a pier.");

        await harness.RunAsync(WithOcr);

        var image = Assert.Single(harness.Store.Items, i => i.Provenance.SourcePath == harness.PathOf("scan1.png"));
        Assert.Equal("A weathered sign on a pier.", image.Description);
        Assert.StartsWith("A weathered sign on a pier.", image.Text, StringComparison.Ordinal);
        Assert.Contains("harbour", image.Text, StringComparison.OrdinalIgnoreCase);

        // What the hit shows and the prompt sends for the image: the user's description, then the text found in it.
        Assert.StartsWith("A weathered sign on a pier.\nOCR: Lighthouse keepers", image.DescribeImage(), StringComparison.Ordinal);
        Assert.StartsWith("Lighthouse keepers", image.OcrText(), StringComparison.Ordinal);
    }

    [OcrFact]
    public async Task Ingest_WithOcr_LongTextAlsoStoredAsChunksCitingTheImage()
    {
        using var harness = new IngestionHarness();
        string[] lines = [.. Enumerable.Range(1, 12).Select(i => $"Line {i}: the committee approved the budget for the new library wing.")];
        harness.Write("memo.png", TextRenderings.Png(lines, TextRenderings.Serif, 22));

        await harness.RunAsync(WithOcr);

        var chunks = harness.Store.Items.Where(i => i.Kind == ItemKind.TextChunk).ToList();
        Assert.True(chunks.Count > 1, $"{chunks.Count} chunk(s)");
        Assert.All(chunks, chunk =>
        {
            Assert.Equal(harness.PathOf("memo.png"), chunk.Provenance.SourcePath);
            Assert.Equal("text in image", chunk.Provenance.Caption);
        });
        Assert.Contains(chunks, chunk => chunk.Text.Contains("committee", StringComparison.OrdinalIgnoreCase));
    }

    [OcrFact]
    public async Task Ingest_WithOcr_ScannedPdfPageBecomesTextOfItsPage()
    {
        using var harness = new IngestionHarness();
        using (var builder = new PdfDocumentBuilder())
        {
            var page = builder.AddPage(PageSize.A4);
            page.AddPng(TextRenderings.Png(ScannedPage, TextRenderings.Serif, 28), new PdfRectangle(40, 500, 555, 800));
            harness.Write("scanned.pdf", builder.Build());
        }

        await harness.RunAsync(WithOcr);

        var text = Assert.Single(harness.Store.Items, i => i.Kind == ItemKind.TextChunk);
        var cer = TextRenderings.CharacterErrorRate(text.Text, string.Join(' ', ScannedPage));
        output.WriteLine($"scanned PDF page: CER {cer:P1}; read: {text.Text.ReplaceLineEndings(" | ")}");
        Assert.True(cer <= 0.05, $"character error rate {cer:P1}; read: {text.Text}");
        Assert.Equal(1, text.Provenance.Page);
        Assert.Equal("text in image", text.Provenance.Caption);
        Assert.Contains("treasurer", text.Text, StringComparison.OrdinalIgnoreCase);
        var hits = await harness.Store.SearchKeywordsAsync("treasurer surplus", 5);
        Assert.Equal(harness.PathOf("scanned.pdf"), hits[0].Item.Provenance.SourcePath);
    }

    [Fact]
    public async Task Ingest_WithOcrAndTesseractMissing_FailsAtTheStartSayingHowToInstall()
    {
        using var harness = new IngestionHarness();
        harness.Write("scan.png", Fixtures.Png);
        var options = new IngestionOptions { Ocr = new TesseractOcrOptions { ExecutablePath = harness.Temp.Combine("no-such-tesseract") } };

        var error = await Assert.ThrowsAsync<OcrException>(() => harness.RunAsync(options));

        Assert.Contains(TesseractOcrOptions.InstallHint, error.Message, StringComparison.Ordinal);
        Assert.Empty(harness.Store.Documents);
    }

    [OcrFact]
    public async Task Ingest_WithOcrOverPixelLimit_StoresTheImageWithAWarning()
    {
        using var harness = new IngestionHarness();
        harness.Write("scan.png", TextRenderings.Png(["Lighthouse"], TextRenderings.Serif, 30));
        var options = WithOcr with { Ocr = new TesseractOcrOptions { MaxImagePixels = 100 } };

        var summary = await harness.RunAsync(options);

        Assert.Equal(1, summary.Added);
        var warning = Assert.Single(summary.Warnings);
        Assert.Contains("MaxImagePixels", warning.Reason, StringComparison.Ordinal);
        Assert.Empty(await harness.Store.SearchKeywordsAsync("lighthouse", 5));
    }
}
