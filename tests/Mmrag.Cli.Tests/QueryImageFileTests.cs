using System.Diagnostics;

namespace Mmrag.Cli.Tests;

/// <summary>An --image that is not a regular file (a FIFO, /dev/zero) is an error naming it, never a hang.</summary>
public sealed class QueryImageFileTests : IDisposable
{
    private readonly string _folder = Directory.CreateTempSubdirectory("mmrag-query-image-").FullName;

    public void Dispose() => Directory.Delete(_folder, recursive: true);

    private string MakeFifo()
    {
        var fifo = Path.Combine(_folder, "photo.jpg");
        using var mkfifo = Process.Start("mkfifo", [fifo]);
        mkfifo.WaitForExit();
        Assert.Equal(0, mkfifo.ExitCode);
        return fifo;
    }

    [Fact]
    public async Task Embed_ImageIsAFifo_ReportsItByNameWithoutHanging()
    {
        var fifo = MakeFifo();

        var run = CliRunner.RunAsync("embed", "--model", Fixtures.TinyModel, "--image", fifo, "--text", "a cat");

        Assert.Same(run, await Task.WhenAny(run, Task.Delay(TimeSpan.FromSeconds(30))));
        var (_, output, error) = await run;
        Assert.Contains(fifo, error, StringComparison.Ordinal);
        Assert.Contains("FIFO", error, StringComparison.Ordinal);
        Assert.Contains("\"text\"", output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Search_ImageIsALinkToDevZero_FailsNamingItWithoutHanging()
    {
        var docs = Path.Combine(_folder, "docs");
        Directory.CreateDirectory(docs);
        await File.WriteAllTextAsync(Path.Combine(docs, "note.txt"), "a note");
        var kb = Path.Combine(_folder, "kb");
        Assert.Equal(0, (await CliRunner.RunAsync("ingest", docs, "--kb", kb, "--model", Fixtures.TinyModel)).ExitCode);
        var zero = Path.Combine(_folder, "zero.png");
        File.CreateSymbolicLink(zero, "/dev/zero");

        var run = CliRunner.RunAsync("search", "--kb", kb, "--image", zero);

        Assert.Same(run, await Task.WhenAny(run, Task.Delay(TimeSpan.FromSeconds(30))));
        var (exitCode, _, error) = await run;
        Assert.NotEqual(0, exitCode);
        Assert.Contains(zero, error, StringComparison.Ordinal);
        Assert.Contains("not a regular file", error, StringComparison.Ordinal);
    }
}
