using System.Diagnostics;
using Mmrag.Ingestion.Ocr;
using Mmrag.Ingestion.Tests.Support;
using Xunit.Abstractions;

namespace Mmrag.Ingestion.Tests.Ocr;

public sealed class TesseractOcrTests(ITestOutputHelper output) : IDisposable
{
    private static readonly string[] Paragraph =
    [
        "The quick brown fox jumps over the lazy dog.",
        "Harbour lights were seen at 11 past nine.",
        "Invoice 4821: three boxes of copper wire.",
    ];

    private readonly TemporaryDirectory _temp = new();

    public void Dispose() => _temp.Dispose();

    /// <summary>The renderings the character error rate is measured on: name, font, size, photo background, rotation, bound.</summary>
    public static TheoryData<string, string, float, bool, float, double> Renderings => new()
    {
        { "serif 28px on paper", TextRenderings.Serif, 28, false, 0, 0.05 },
        { "sans 18px on paper", TextRenderings.Sans, 18, false, 0, 0.05 },
        { "mono bold 24px on paper", TextRenderings.MonoBold, 24, false, 0, 0.05 },
        { "sans 26px on a photo", TextRenderings.Sans, 26, true, 0, 0.15 },
        { "sans 12px on paper", TextRenderings.Sans, 12, false, 0, 0.10 },
        { "serif 28px rotated 4°", TextRenderings.Serif, 28, false, 4, 0.15 },
    };

    [OcrTheory]
    [MemberData(nameof(Renderings))]
    public async Task Tesseract_PrintedRendering_CharacterErrorRateWithinBound(string name, string font, float size, bool photo, float rotate, double bound)
    {
        var png = TextRenderings.Png(Paragraph, font, size, photo, rotate);
        var ocr = new TesseractOcr();

        var clock = Stopwatch.StartNew();
        var text = await ocr.RecognizeAsync(png, name);
        var cer = TextRenderings.CharacterErrorRate(text, string.Join(' ', Paragraph));

        output.WriteLine($"{name}: CER {cer:P1} in {clock.Elapsed.TotalSeconds:F2} s; read: {text.ReplaceLineEndings(" | ")}");
        Assert.True(cer <= bound, $"{name}: character error rate {cer:P1} is over {bound:P0}; Tesseract read: {text}");
    }

    [Fact]
    public async Task TesseractOcr_ExecutableMissing_ThrowsNamingInputAndInstall()
    {
        var image = _temp.Write("sign.png", Fixtures.Png);
        var ocr = new TesseractOcr(new TesseractOcrOptions { ExecutablePath = _temp.Combine("no-such-tesseract") });

        var error = await Assert.ThrowsAsync<OcrException>(() => ocr.RecognizeFileAsync(image));
        var verify = await Assert.ThrowsAsync<OcrException>(() => ocr.VerifyAsync());

        Assert.Contains(image, error.Message, StringComparison.Ordinal);
        Assert.Contains(TesseractOcrOptions.InstallHint, error.Message, StringComparison.Ordinal);
        Assert.Contains(TesseractOcrOptions.InstallHint, verify.Message, StringComparison.Ordinal);
    }

    [OcrFact]
    public async Task TesseractOcr_LanguageDataMissing_ThrowsNamingThePackage()
    {
        var ocr = new TesseractOcr(new TesseractOcrOptions { Languages = "eng+qqq" });
        var png = TextRenderings.Png(["missing language"], TextRenderings.Sans, 24);

        var verify = await Assert.ThrowsAsync<OcrException>(() => ocr.VerifyAsync());
        var recognize = await Assert.ThrowsAsync<OcrException>(() => ocr.RecognizeAsync(png, "label.png"));

        Assert.Contains("apt-get install tesseract-ocr-qqq", verify.Message, StringComparison.Ordinal);
        Assert.Contains("label.png", recognize.Message, StringComparison.Ordinal);
        Assert.Contains("tesseract-ocr-", recognize.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task TesseractOcr_HungExecutable_KilledAtTimeout()
    {
        var hung = Script("hung-tesseract", "exec sleep 300");
        var ocr = new TesseractOcr(new TesseractOcrOptions { ExecutablePath = hung, Timeout = TimeSpan.FromSeconds(1) });

        var clock = Stopwatch.StartNew();
        var error = await Assert.ThrowsAsync<OcrException>(() => ocr.RecognizeAsync(Fixtures.Png, "stuck.png"));

        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(30), $"took {clock.Elapsed}");
        Assert.Contains("stuck.png", error.Message, StringComparison.Ordinal);
        Assert.Contains("took longer than 1 s", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task TesseractOcr_Cancelled_KillsTheProcessAndThrowsCanceled()
    {
        var marker = _temp.Combine("still-running");
        var hung = Script("hung-tesseract", $"sleep 3 && touch '{marker}'");
        var ocr = new TesseractOcr(new TesseractOcrOptions { ExecutablePath = hung, Timeout = TimeSpan.FromMinutes(5) });
        using var cancel = new CancellationTokenSource(TimeSpan.FromMilliseconds(300));

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => ocr.RecognizeAsync(Fixtures.Png, "stuck.png", cancel.Token));
        await Task.Delay(TimeSpan.FromSeconds(4));

        Assert.False(File.Exists(marker), "the script went on after the cancellation");
    }

    [Fact]
    public async Task TesseractOcr_EndlessOutput_KeepsTheBoundAndEnds()
    {
        var chatty = Script("chatty-tesseract", "yes 'abcdefghij' | head -c 20000000");
        var ocr = new TesseractOcr(new TesseractOcrOptions { ExecutablePath = chatty, MaxOutputChars = 1_000 });

        var text = await ocr.RecognizeAsync(Fixtures.Png, "chatty.png");

        Assert.InRange(text.Length, 900, 1_000);
    }

    [Fact]
    public async Task TesseractOcr_ImageOverPixelLimit_RefusedBeforeTesseractRuns()
    {
        // The executable is missing: only a refusal before starting it can give the pixel-limit message.
        var ocr = new TesseractOcr(new TesseractOcrOptions { ExecutablePath = _temp.Combine("no-such-tesseract"), MaxImagePixels = 2_000 });

        var error = await Assert.ThrowsAsync<OcrException>(() => ocr.RecognizeAsync(Fixtures.Png, "big.png"));

        Assert.Contains("50 × 50 pixels", error.Message, StringComparison.Ordinal);
        Assert.Contains("MaxImagePixels", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task TesseractOcr_GifFrameLargerThanItsLogicalScreen_RefusedNamingTheFile()
    {
        // A 10 × 10 screen with one 60000 × 60000 frame: only the screen was read before, which passed the limit.
        var ocr = new TesseractOcr(new TesseractOcrOptions { ExecutablePath = _temp.Combine("no-such-tesseract") });

        var error = await Assert.ThrowsAsync<OcrException>(() => ocr.RecognizeAsync(ForgedGifs.FrameLargerThanScreen(60_000, 60_000), "forged.gif"));

        Assert.Contains("'forged.gif'", error.Message, StringComparison.Ordinal);
        Assert.Contains("60000 × 60000 pixels", error.Message, StringComparison.Ordinal);
        Assert.Contains("MaxImagePixels", error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("eng;rm -rf /")]
    [InlineData("-l")]
    [InlineData("")]
    public void TesseractOcrOptions_LanguagesNotTesseractNames_Refused(string languages) =>
        Assert.Throws<ArgumentException>(() => new TesseractOcr(new TesseractOcrOptions { Languages = languages }));

    private string Script(string name, string body)
    {
        var path = _temp.Write(name, "#!/bin/sh\n" + body + "\n");
        if (!OperatingSystem.IsWindows())
        {
            File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        }

        return path;
    }
}
