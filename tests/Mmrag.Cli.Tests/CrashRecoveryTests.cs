using Mmrag.Testing;
using System.Diagnostics;
using SkiaSharp;

namespace Mmrag.Cli.Tests;

public class CrashRecoveryTests
{
    [Fact]
    public async Task Ingest_KilledWithSigkillAtRandomPoints_RerunLosesAndDuplicatesNothing()
    {
        using var temp = new TemporaryDirectory();
        var photos = GeneratePhotos(Path.Combine(temp.Path, "photos"), count: 120);
        var reference = Path.Combine(temp.Path, "reference-kb");
        var crashed = Path.Combine(temp.Path, "crashed-kb");

        var clean = await CliRunner.RunAsync("ingest", photos, "--kb", reference, "--model", Fixtures.TinyModel);
        Assert.True(clean.ExitCode == 0, clean.Error + clean.Output);

        var random = new Random(20261123);
        var kills = 0;
        for (var round = 0; round < 6; round++)
        {
            using var process = MmragProcess.Start(null, "ingest", photos, "--kb", crashed, "--model", Fixtures.TinyModel);
            process.OutputDataReceived += static (_, _) => { };
            process.ErrorDataReceived += static (_, _) => { };
            process.BeginOutputReadLine();
            process.BeginErrorReadLine();
            // The kill clock starts once the knowledge base records its model: on a loaded machine, starting the
            // process alone can take longer than the longest delay, and then no run would be killed mid-ingest.
            var record = Path.Combine(crashed, "mmrag.json");
            var started = DateTime.UtcNow;
            while (!File.Exists(record) && !process.HasExited && DateTime.UtcNow - started < TimeSpan.FromSeconds(60))
            {
                await Task.Delay(20);
            }

            var delay = TimeSpan.FromMilliseconds(random.Next(400, 3000));
            if (!process.WaitForExit(delay))
            {
                process.Kill(entireProcessTree: true);
                kills++;
            }

            await process.WaitForExitAsync();
        }

        var final = await CliRunner.RunAsync("ingest", photos, "--kb", crashed);
        Assert.True(final.ExitCode == 0, final.Error + final.Output);

        Assert.True(kills > 0, "no run was killed mid-way; the test did not exercise a crash");
        Assert.Equal(await Documents(reference), await Documents(crashed));
        Assert.Equal(StatsCounts((await CliRunner.RunAsync("kb", "stats", "--kb", reference)).Output),
            StatsCounts((await CliRunner.RunAsync("kb", "stats", "--kb", crashed)).Output));
        var search = await CliRunner.RunAsync("search", "--kb", crashed, "--image", Path.Combine(photos, "photo_007.jpg"), "--include-self", "--threshold", "0", "--format", "json");
        Assert.Contains("photo_007.jpg", search.Output, StringComparison.Ordinal);
    }

    private static async Task<string[]> Documents(string kb)
    {
        var (exitCode, output, error) = await CliRunner.RunAsync("kb", "documents", "--kb", kb);
        Assert.True(exitCode == 0, error);
        return [.. output.Split('\n', StringSplitOptions.RemoveEmptyEntries).Order(StringComparer.Ordinal)];
    }

    private static string[] StatsCounts(string stats) =>
        [.. stats.Split('\n').Where(static l => l.StartsWith("documents", StringComparison.Ordinal) || l.StartsWith("text chunks", StringComparison.Ordinal) || l.StartsWith("images", StringComparison.Ordinal))];

    private static string GeneratePhotos(string folder, int count)
    {
        Directory.CreateDirectory(folder);
        var random = new Random(7);
        using var descriptions = new StreamWriter(Path.Combine(folder, "description.json"));
        for (var i = 0; i < count; i++)
        {
            using var bitmap = new SKBitmap(160, 120);
            using (var canvas = new SKCanvas(bitmap))
            {
                canvas.Clear(new SKColor((byte)random.Next(256), (byte)random.Next(256), (byte)random.Next(256)));
                using var paint = new SKPaint { Color = new SKColor((byte)random.Next(256), (byte)random.Next(256), (byte)random.Next(256)) };
                canvas.DrawCircle(random.Next(160), random.Next(120), random.Next(10, 60), paint);
            }

            using var data = bitmap.Encode(SKEncodedImageFormat.Jpeg, 85);
            File.WriteAllBytes(Path.Combine(folder, $"photo_{i:D3}.jpg"), data.ToArray());
            descriptions.WriteLine($$"""{"image_path": "photo_{{i:D3}}.jpg", "description": "generated photo number {{i}} with a circle"}""");
        }

        return folder;
    }
}
