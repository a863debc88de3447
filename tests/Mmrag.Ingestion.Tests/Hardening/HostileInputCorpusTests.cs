using System.Diagnostics;
using System.Text;
using Mmrag.Ingestion.Pipeline;
using Mmrag.Ingestion.Tests.Pipeline;
using Mmrag.Ingestion.Tests.Support;
using Mmrag.Knowledge;
using Xunit.Abstractions;

namespace Mmrag.Ingestion.Tests.Hardening;

/// <summary>Runs alone, so that the memory each input costs can be measured without other tests' allocations.</summary>
[CollectionDefinition(nameof(HostileInputCorpusTests), DisableParallelization = true)]
public sealed class HostileInputCollection;

/// <summary>
/// A corpus of hostile and unlucky inputs, generated here (nothing binary is committed). Each is ingested beside a good
/// file, under a time bound and an allocation bound: the good file must be stored, and the input must end with a
/// named outcome — a failure or a warning naming its path and the reason, or a listing as hidden — never a hang, a
/// crash or silence.
/// </summary>
[Collection(nameof(HostileInputCorpusTests))]
public sealed class HostileInputCorpusTests(ITestOutputHelper output)
{
    private static readonly TimeSpan TimeBound = TimeSpan.FromSeconds(20);
    private const long AllocationBound = 256L * 1024 * 1024;

    private enum Outcome
    {
        Failed,
        Warning,
        Hidden,
    }

    /// <summary>One input: how to make it (returns the paths to ingest), the path the outcome must name, and what it must say.</summary>
    private sealed record Input(Func<IngestionHarness, IReadOnlyList<string>> Create, string NamedPath, Outcome Outcome, string Says, bool NeedsNonRoot = false);

    private static readonly Dictionary<string, Input> Corpus = new()
    {
        ["truncated-pdf"] = new(h => Root(h, h.Write("doc.pdf", TestPdfs.TwoPagesWithJpegAndPng()[..600])), "doc.pdf", Outcome.Failed, "doc.pdf"),
        ["pdf-header-then-noise"] = new(h => Root(h, h.Write("noise.pdf", [.. "%PDF-1.7\n"u8, .. Noise(20_000, 1)])), "noise.pdf", Outcome.Failed, "noise.pdf"),
        ["blank-pdf"] = new(h => Root(h, h.Write("blank.pdf", TestPdfs.BlankPages(50))), "blank.pdf", Outcome.Warning, "empty document"),
        ["truncated-png"] = new(h => Root(h, h.Write("cut.png", Fixtures.Png[..60])), "cut.png", Outcome.Failed, "cut.png"),
        ["truncated-jpeg"] = new(h => Root(h, h.Write("cut.jpg", Fixtures.Jpeg[..500])), "cut.jpg", Outcome.Failed, "cut.jpg"),
        ["zero-byte-image"] = new(h => Root(h, h.Write("nothing.png", [])), "nothing.png", Outcome.Failed, "nothing.png"),
        ["empty-text"] = new(h => Root(h, h.Write("empty.txt", [])), "empty.txt", Outcome.Warning, "empty document"),
        ["empty-markdown"] = new(h => Root(h, h.Write("empty.md", "\n\n   \n")), "empty.md", Outcome.Warning, "empty document"),
        ["empty-html"] = new(h => Root(h, h.Write("empty.html", "<html><body></body></html>")), "empty.html", Outcome.Warning, "empty document"),
        ["huge-line"] = new(h => Root(h, h.Write("line.txt", Encoding.ASCII.GetBytes(string.Concat(Enumerable.Repeat("otter ", 8 * 1024 * 1024 / 6))))),
            "line.txt", Outcome.Warning, "MaxItemsPerFile"),
        ["thirty-megabytes-of-text"] = new(h => Root(h, WriteRepeated(h, "big.txt", "Otters hold hands while they sleep.\n\n", 30_000_000)),
            "big.txt", Outcome.Warning, "MaxItemsPerFile"),
        ["invalid-utf8"] = new(h => Root(h, h.Write("latin1.txt", [.. "Caf"u8, 0xE9, .. " au lait "u8, 0xFF, 0xFE, 0xC0, 0x80])), "latin1.txt", Outcome.Warning, "Invalid UTF-8"),
        ["nul-bytes"] = new(h => Root(h, h.Write("nul.md", [.. "# Title\n\n"u8, .. new byte[10_000], .. "\n\n![x](\0.png)"u8])), "nul.md", Outcome.Warning, "does not exist"),
        ["garbage-html"] = new(h => Root(h, h.Write("garbage.html", Noise(50_000, 2))), "garbage.html", Outcome.Warning, "Invalid UTF-8"),
        ["nested-html"] = new(h => Root(h, h.Write("deep.html", "<html><body>" + string.Concat(Enumerable.Repeat("<div>", 200_000)) + "x"
            + string.Concat(Enumerable.Repeat("</div>", 200_000)) + "</body></html>")), "deep.html", Outcome.Failed, "MaxNestingDepth"),
        ["unclosed-html"] = new(h => Root(h, h.Write("unclosed.html", "<html><body>" + string.Concat(Enumerable.Repeat("<span><b><i>", 100_000)))),
            "unclosed.html", Outcome.Failed, "MaxNestingDepth"),
        ["nested-markdown-brackets"] = new(h => Root(h, h.Write("brackets.md", new string('[', 50_000) + "x" + new string(']', 50_000))),
            "brackets.md", Outcome.Failed, "nested too deeply"),
        ["nested-markdown-emphasis"] = new(h => Root(h, h.Write("emphasis.md", string.Concat(Enumerable.Repeat("*a ", 20_000)) + string.Concat(Enumerable.Repeat("a* ", 20_000)))),
            "emphasis.md", Outcome.Failed, "nested too deeply"),
        ["fifo"] = new(h => Root(h, UnixFiles.MakeFifo(h.PathOf("pipe.txt"))), "pipe.txt", Outcome.Failed, "FIFO"),
        ["fifo-sidecar"] = new(h => Root(h, h.Write("fox.jpg", Fixtures.Jpeg), UnixFiles.MakeFifo(h.PathOf("fox.jpg.txt"))), "fox.jpg.txt", Outcome.Warning, "FIFO"),
        ["link-to-dev-zero"] = new(h => Root(h, Link(h.PathOf("zero.txt"), "/dev/zero")), "zero.txt", Outcome.Failed, "outside the ingested folder"),
        ["explicit-link-to-dev-zero"] = new(h => [h.PathOf("good.txt"), Link(h.PathOf("zero.md"), "/dev/zero")], "zero.md", Outcome.Failed, "character device"),
        ["link-out-folder"] = new(h => Root(h, FolderLink(h.PathOf("link-out"), Path.GetDirectoryName(h.Temp.Write("outside/secret.txt", "Secret."))!)),
            "link-out", Outcome.Failed, "outside the ingested folder"),
        ["link-out-file"] = new(h => Root(h, Link(h.PathOf("passwd.txt"), h.Temp.Write("outside/passwd.txt", "root:x:0:0"))), "passwd.txt", Outcome.Failed,
            "outside the ingested folder"),
        ["link-loop"] = new(h => Root(h, Link(h.PathOf("a.txt"), h.PathOf("b.txt")), Link(h.PathOf("b.txt"), h.PathOf("a.txt"))), "a.txt", Outcome.Failed,
            "cannot be resolved"),
        ["dangling-link"] = new(h => Root(h, Link(h.PathOf("gone.txt"), h.PathOf("never-there.txt"))), "gone.txt", Outcome.Failed, "does not exist"),
        ["sidecar-climbing-out"] = new(h => Root(h, h.Write("photo.png", Fixtures.Png),
            h.Write("description.json", """{"image_path": "../../../../etc/passwd", "description": "Climb."}""")), "description.json", Outcome.Warning, "outside"),
        ["sidecar-absolute-path"] = new(h => Root(h, h.Write("description.json", """{"image_path": "/etc/hostname", "description": "Absolute."}""")),
            "description.json", Outcome.Warning, "outside"),
        ["sidecar-missing-image"] = new(h => Root(h, h.Write("description.csv", "image_path,description\nghost.png,A ghost.\n")), "description.csv",
            Outcome.Warning, "names no file"),
        ["sidecar-megabyte-description"] = new(h => Root(h, h.Write("photo.png", Fixtures.Png), h.Write("photo.png.txt", new string('d', 1_000_000))),
            "photo.png.txt", Outcome.Warning, "MaxDescriptionLength"),
        ["sidecar-link-out"] = new(h => Root(h, h.Write("photo.png", Fixtures.Png), Link(h.PathOf("description.json"),
            h.Temp.Write("outside/d.json", """{"image_path": "photo.png", "description": "From outside."}"""))), "description.json", Outcome.Warning, "outside"),
        ["markdown-image-outside"] = new(h => Root(h, h.Write("page.md", "# Page\n\nText.\n\n![secret](/etc/hostname)\n\n![up](../../x.png)\n")),
            "page.md", Outcome.Warning, "outside the ingested folder"),
        ["html-file-uri-image"] = new(h => Root(h, h.Write("page.html", "<html><body><p>Text.</p><img src=\"file:///etc/hostname\" alt=\"x\"></body></html>")),
            "page.html", Outcome.Warning, "outside the ingested folder"),
        ["hidden-upload"] = new(h => Root(h, h.Write(".hidden.txt", "Uploaded with a dot.")), ".hidden.txt", Outcome.Hidden, ".hidden.txt"),
        ["unreadable-folder"] = new(h => Root(h, Locked(h.Write("locked/secret.txt", "Locked."))), "locked", Outcome.Failed, "cannot be listed",
            NeedsNonRoot: true),
    };

    /// <summary>The inputs; permission tests only when not root (root reads any folder whatever its permissions; CI runs as a user).</summary>
    public static TheoryData<string> Names => [.. Corpus.Where(input => !(input.Value.NeedsNonRoot && UnixFiles.IsRoot)).Select(input => input.Key)];

    [Theory]
    [MemberData(nameof(Names))]
    public async Task IngestAsync_HostileInputBesideAGoodFile_GoodFileStoredAndInputNamed(string name)
    {
        var input = Corpus[name];
        using var harness = new IngestionHarness();
        harness.Write("good.txt", "A good file about otters.");
        var paths = input.Create(harness);
        var named = harness.PathOf(input.NamedPath);
        var allocated = GC.GetTotalAllocatedBytes();
        var clock = Stopwatch.StartNew();

        IngestionSummary summary;
        try
        {
            summary = await harness.Pipeline.IngestAsync(paths, new IngestionOptions { FileTimeout = TimeSpan.FromSeconds(15), MaxItemsPerFile = 200 })
                .WaitAsync(TimeBound);
        }
        finally
        {
            Unlock(harness);
        }

        var cost = GC.GetTotalAllocatedBytes() - allocated;
        output.WriteLine($"{name}: {clock.Elapsed.TotalSeconds:F2} s, {cost / 1048576.0:F1} MiB allocated, {summary.Failed} failed, {summary.Warnings.Count} warnings");
        Assert.True(cost < AllocationBound, $"{name}: allocated {cost:N0} bytes");
        Assert.True(clock.Elapsed < TimeBound, $"{name}: took {clock.Elapsed}");
        Assert.Contains(harness.Store.Documents, d => d.SourcePath == harness.PathOf("good.txt"));
        Assert.Equal(summary.Failures.Count, summary.Failed + summary.Warnings.Count);
        switch (input.Outcome)
        {
            case Outcome.Hidden:
                Assert.Contains(named, summary.Hidden);
                break;
            case Outcome.Failed:
                var failure = Assert.Single(summary.Failures, f => f.SourcePath == named && !summary.Warnings.Contains(f));
                Assert.Contains(input.Says, failure.Reason, StringComparison.Ordinal);
                Assert.DoesNotContain(harness.Store.Documents, d => d.SourcePath == named);
                break;
            case Outcome.Warning:
                Assert.Contains(summary.Warnings, w => w.SourcePath == named && w.Reason.Contains(input.Says, StringComparison.Ordinal));
                Assert.Equal(0, summary.Failed);
                break;
        }

        // Nothing from outside the folder became searchable.
        Assert.DoesNotContain(harness.Store.Items, i => i.Text.Contains("root:x", StringComparison.Ordinal) || i.Text.Contains("Secret.", StringComparison.Ordinal)
            || i.Description?.Contains("outside", StringComparison.OrdinalIgnoreCase) == true);
        var stored = await harness.Store.ListFailuresAsync();
        Assert.Equal(summary.Failures.Count, stored.Count);
    }

    private static string[] Root(IngestionHarness harness, params string[] made)
    {
        _ = made;
        return [harness.Root];
    }

    private static byte[] Noise(int length, int seed)
    {
        var bytes = new byte[length];
        new Random(seed).NextBytes(bytes);
        return bytes;
    }

    private static string WriteRepeated(IngestionHarness harness, string relative, string text, long bytes)
    {
        var path = harness.Write(relative, string.Empty);
        var block = Encoding.UTF8.GetBytes(string.Concat(Enumerable.Repeat(text, 1 + (1 << 16) / text.Length)));
        using var file = File.OpenWrite(path);
        for (long written = 0; written < bytes; written += block.Length)
        {
            file.Write(block);
        }

        return path;
    }

    private static string Link(string path, string target)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        File.CreateSymbolicLink(path, target);
        return path;
    }

    private static string FolderLink(string path, string target)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        Directory.CreateSymbolicLink(path, target);
        return path;
    }

    private static string Locked(string file)
    {
        var folder = Path.GetDirectoryName(file)!;
        if (!OperatingSystem.IsWindows())
        {
            File.SetUnixFileMode(folder, UnixFileMode.None);
        }

        return folder;
    }

    private static void Unlock(IngestionHarness harness)
    {
        var locked = harness.PathOf("locked");
        if (!OperatingSystem.IsWindows() && Directory.Exists(locked))
        {
            File.SetUnixFileMode(locked, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        }
    }
}
