using Mmrag.Ingestion.Pipeline;
using Mmrag.Ingestion.Tests.Support;

namespace Mmrag.Ingestion.Tests.Pipeline;

/// <summary>The folder walk stays in the folder given: symbolic links leading out and special files are refused and reported.</summary>
public sealed class IngestionConfinementTests
{
    [Fact]
    public async Task IngestAsync_LinkToFolderOutsideTheRoot_NotFollowedAndCountedAsFailed()
    {
        using var harness = new IngestionHarness();
        harness.Write("inside.txt", "Inside the library.");
        harness.Temp.Write("outside/secret.txt", "Outside text that must not be searchable.");
        var link = harness.PathOf("link-out");
        Directory.CreateSymbolicLink(link, harness.Temp.Combine("outside"));

        var summary = await harness.RunAsync();

        Assert.Equal(harness.PathOf("inside.txt"), Assert.Single(harness.Store.Documents).SourcePath);
        Assert.DoesNotContain(harness.Store.Items, i => i.Text.Contains("Outside", StringComparison.Ordinal));
        Assert.Equal(1, summary.Failed);
        Outcomes.Single(summary.Failures, link, "outside the ingested folder");
        Assert.Equal(link, Assert.Single(await harness.Store.ListFailuresAsync()).SourcePath);
    }

    [Fact]
    public async Task IngestAsync_LinkToFileOutsideTheRoot_NotRead()
    {
        using var harness = new IngestionHarness();
        harness.Write("inside.txt", "Inside the library.");
        var secret = harness.Temp.Write("outside/passwd.txt", "root:x:0:0:root:/root:/bin/bash");
        File.CreateSymbolicLink(harness.PathOf("passwd.txt"), secret);

        var summary = await harness.RunAsync();

        Assert.DoesNotContain(harness.Store.Items, i => i.Text.Contains("root:x", StringComparison.Ordinal));
        Assert.Equal(1, summary.Failed);
        Assert.Equal(harness.PathOf("passwd.txt"), Assert.Single(summary.Failures).SourcePath);
    }

    [Fact]
    public async Task IngestAsync_LinkInsideASubfolderLeadingOutThroughDotDot_NotRead()
    {
        using var harness = new IngestionHarness();
        harness.Write("sub/inside.txt", "Inside.");
        harness.Temp.Write("outside.txt", "Outside text.");
        // Relative target: resolved from the link's folder, it climbs out of the root.
        File.CreateSymbolicLink(harness.PathOf("sub/escape.txt"), "../../outside.txt");

        var summary = await harness.RunAsync();

        Assert.Equal(harness.PathOf("sub/inside.txt"), Assert.Single(harness.Store.Documents).SourcePath);
        Assert.Equal(harness.PathOf("sub/escape.txt"), Assert.Single(summary.Failures).SourcePath);
    }

    [Fact]
    public async Task IngestAsync_LinksStayingInsideTheRoot_Followed()
    {
        using var harness = new IngestionHarness();
        harness.Write("docs/a.txt", "A document about otters.");
        File.CreateSymbolicLink(harness.PathOf("alias.txt"), harness.PathOf("docs/a.txt"));
        Directory.CreateSymbolicLink(harness.PathOf("more"), "docs");

        var summary = await harness.RunAsync();

        Assert.Equal(0, summary.Failed);
        Assert.Contains(harness.Store.Documents, d => d.SourcePath == harness.PathOf("alias.txt"));
        Assert.Contains(harness.Store.Documents, d => d.SourcePath == harness.PathOf("docs/a.txt"));
    }

    [Fact]
    public async Task IngestAsync_RootGivenThroughALink_FilesUnderItsTargetRead()
    {
        using var harness = new IngestionHarness();
        harness.Write("a.txt", "Through a linked root.");
        var linkedRoot = harness.Temp.Combine("linked-root");
        Directory.CreateSymbolicLink(linkedRoot, harness.Root);

        var summary = await harness.Pipeline.IngestAsync([linkedRoot]);

        Assert.Equal((1, 0), (summary.Added, summary.Failed));
    }

    [Fact]
    public async Task IngestAsync_ExplicitFileThatIsALink_ReadBecauseTheUserNamedIt()
    {
        using var harness = new IngestionHarness();
        var target = harness.Temp.Write("elsewhere/notes.txt", "Named on the command line.");
        var link = harness.PathOf("notes.txt");
        Directory.CreateDirectory(harness.Root);
        File.CreateSymbolicLink(link, target);

        var summary = await harness.Pipeline.IngestAsync([link]);

        Assert.Equal((1, 0), (summary.Added, summary.Failed));
        Assert.Equal(link, Assert.Single(harness.Store.Documents).SourcePath);
    }

    [Fact]
    public async Task IngestAsync_FifoNamedTxt_FailsAtOnceAndRunGoesOn()
    {
        using var harness = new IngestionHarness();
        harness.Write("good.txt", "A good file.");
        var fifo = UnixFiles.MakeFifo(harness.PathOf("pipe.txt"));

        var summary = await harness.RunAsync().WaitAsync(TimeSpan.FromSeconds(30));

        Assert.Equal((1, 1), (summary.Added, summary.Failed));
        Outcomes.Single(summary.Failures, fifo, "FIFO");
    }

    [Fact]
    public async Task IngestAsync_ExplicitLinkToDevZero_FailsAsNotARegularFile()
    {
        using var harness = new IngestionHarness();
        Directory.CreateDirectory(harness.Root);
        var zero = harness.PathOf("zero.txt");
        File.CreateSymbolicLink(zero, "/dev/zero");

        var summary = await harness.Pipeline.IngestAsync([zero]).WaitAsync(TimeSpan.FromSeconds(30));

        Assert.Equal(1, summary.Failed);
        Assert.Contains("character device", Assert.Single(summary.Failures).Reason, StringComparison.Ordinal);
        Assert.Empty(harness.Store.Documents);
    }

    [Fact]
    public async Task IngestAsync_LinkToDevZeroInsideTheFolder_RefusedAsLeavingIt()
    {
        using var harness = new IngestionHarness();
        harness.Write("good.txt", "A good file.");
        File.CreateSymbolicLink(harness.PathOf("zero.txt"), "/dev/zero");

        var summary = await harness.RunAsync().WaitAsync(TimeSpan.FromSeconds(30));

        Assert.Equal((1, 1), (summary.Added, summary.Failed));
        Assert.Equal(harness.PathOf("zero.txt"), Assert.Single(summary.Failures).SourcePath);
    }

    [Fact]
    public async Task IngestAsync_ImageReferencedThroughALinkLeavingTheRoot_NotRead()
    {
        using var harness = new IngestionHarness();
        var outside = harness.Temp.Write("outside/photo.png", Fixtures.Png);
        Directory.CreateDirectory(harness.PathOf("img"));
        Directory.CreateSymbolicLink(harness.PathOf("img/out"), Path.GetDirectoryName(outside)!);
        harness.Write("page.md", "# Page\n\nText.\n\n![photo](img/out/photo.png)\n");

        var summary = await harness.RunAsync();

        Assert.DoesNotContain(harness.Store.Items, i => i.Kind == Knowledge.ItemKind.Image);
        Assert.Contains(summary.Warnings, w => w.Reason.Contains("outside the ingested folder", StringComparison.Ordinal));
    }
}
