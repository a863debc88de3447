using Mmrag.Ingestion.Loaders;
using Mmrag.Ingestion.Pipeline;
using Mmrag.Ingestion.Tests.Support;
using Mmrag.Knowledge;

namespace Mmrag.Ingestion.Tests.Pipeline;

/// <summary>Every outcome of a run is visible and counted: failures and warnings agree with what is stored, limits are reported.</summary>
public sealed class IngestionOutcomeTests
{
    private static void AssertSummaryAgreesWithStore(IngestionSummary summary, IReadOnlyList<IngestionFailure> stored)
    {
        Assert.Equal(summary.Failures.Count, summary.Failed + summary.Warnings.Count);
        static string Key(IngestionFailure f) => $"{f.SourcePath}|{f.Reason}|{f.Detail}";
        Assert.Equal(summary.Failures.Select(Key).Order(StringComparer.Ordinal), stored.Select(Key).Order(StringComparer.Ordinal));
    }

    [Fact]
    public async Task IngestAsync_MissingPath_CountedAsFailedAndStored()
    {
        using var harness = new IngestionHarness().WithSampleFiles();
        var missing = harness.Temp.Combine("nowhere");

        var summary = await harness.Pipeline.IngestAsync([harness.Root, missing]);

        Assert.Equal(1, summary.Failed);
        Assert.Equal(missing, Assert.Single(await harness.Store.ListFailuresAsync()).SourcePath);
        AssertSummaryAgreesWithStore(summary, await harness.Store.ListFailuresAsync());
    }

    [Fact]
    public async Task IngestAsync_PathFailedEarlierAndPresentNow_OldFailureCleared()
    {
        using var harness = new IngestionHarness();
        var later = harness.Temp.Combine("later");
        await harness.Pipeline.IngestAsync([later]);
        Assert.Single(await harness.Store.ListFailuresAsync());

        harness.Temp.Write("later/a.txt", "Now it exists.");
        var summary = await harness.Pipeline.IngestAsync([later]);

        Assert.Equal((1, 0), (summary.Added, summary.Failed));
        Assert.Empty(await harness.Store.ListFailuresAsync());
    }

    [NotRootFact]
    [System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
    public async Task IngestAsync_UnreadableFolder_CountedAsFailedAndStored()
    {
        using var harness = new IngestionHarness();
        harness.Write("good.txt", "Readable.");
        harness.Write("locked/secret.txt", "Unreadable.");
        File.SetUnixFileMode(harness.PathOf("locked"), UnixFileMode.None);
        try
        {
            var summary = await harness.RunAsync();

            Assert.Equal((1, 1), (summary.Added, summary.Failed));
            Assert.Equal(harness.PathOf("locked"), Assert.Single(await harness.Store.ListFailuresAsync()).SourcePath);
            AssertSummaryAgreesWithStore(summary, await harness.Store.ListFailuresAsync());
        }
        finally
        {
            File.SetUnixFileMode(harness.PathOf("locked"), UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        }
    }

    [Fact]
    public async Task IngestAsync_MixedProblems_SummaryCountsAgreeWithStoredFailures()
    {
        using var harness = new IngestionHarness().WithSampleFiles();
        harness.Write("empty.txt", string.Empty);
        harness.Write("bad.png", "not an image");
        harness.Write("latin1.txt", [(byte)'C', (byte)'a', (byte)'f', 0xE9]);
        harness.Write("description.json", "{\"image_path\": \"photos/fox.jpg\", \"description\": \"Fox.\"}\n{broken\n");
        File.CreateSymbolicLink(harness.PathOf("out.txt"), harness.Temp.Write("outside.txt", "Outside."));

        var summary = await harness.Pipeline.IngestAsync([harness.Root, harness.Temp.Combine("missing")]);

        Assert.Equal(3, summary.Failed); // bad.png, out.txt and the missing path; the rest are warnings
        AssertSummaryAgreesWithStore(summary, await harness.Store.ListFailuresAsync());
    }

    [Fact]
    public async Task IngestAsync_EmptyFileAndBlankPdf_StoredAndCountedAsEmptyWithWarnings()
    {
        using var harness = new IngestionHarness();
        harness.Write("good.txt", "Some text.");
        var empty = harness.Write("empty.txt", string.Empty);
        var blank = harness.Write("blank.pdf", TestPdfs.BlankPages(20));

        var summary = await harness.RunAsync();

        Assert.Equal((3, 2, 0), (summary.Added, summary.Empty, summary.Failed));
        Assert.Equal([blank, empty], summary.Warnings.Select(w => w.SourcePath).Order(StringComparer.Ordinal));
        Assert.All(summary.Warnings, w => Assert.Contains("empty document", w.Reason, StringComparison.Ordinal));
        AssertSummaryAgreesWithStore(summary, await harness.Store.ListFailuresAsync());

        var again = await harness.RunAsync();
        Assert.Equal(3, again.Unchanged);
    }

    [Fact]
    public async Task IngestAsync_SidecarEntryNamingAMissingImage_ReportedAgainstTheSidecarLine()
    {
        using var harness = new IngestionHarness().WithSampleFiles();
        var sidecar = harness.Write("description.json",
            "{\"image_path\": \"photos/fox.jpg\", \"description\": \"Fox.\"}\n{\"image_path\": \"photos/wolf.jpg\", \"description\": \"A wolf.\"}\n");

        var summary = await harness.RunAsync();

        var warning = Assert.Single(summary.Warnings);
        Assert.Equal((sidecar, "line 2"), (warning.SourcePath, warning.Detail));
        Assert.Contains("photos/wolf.jpg", warning.Reason, StringComparison.Ordinal);
        Assert.Equal(0, summary.Failed);
        Assert.Single(await harness.Store.ListFailuresAsync());
    }

    [Fact]
    public async Task IngestAsync_DescriptionLongerThanTheLimit_CutAndReported()
    {
        using var harness = new IngestionHarness().WithSampleFiles();
        var sidecar = harness.Write("description.json",
            "{\"image_path\": \"photos/fox.jpg\", \"description\": \"" + string.Concat(Enumerable.Repeat("fox ", 250_000)) + "\"}\n");

        var summary = await harness.RunAsync();

        var description = Assert.Single(harness.Store.ItemsOf(harness.DocumentOf("photos/fox.jpg").Id)).Description!;
        Assert.InRange(description.Length, 3_990, DescriptionSidecars.DefaultMaxDescriptionLength);
        var warning = Assert.Single(summary.Warnings);
        Assert.Equal((sidecar, "line 1"), (warning.SourcePath, warning.Detail));
        Assert.Contains("MaxDescriptionLength", warning.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public async Task IngestAsync_FolderHoldingOnlyAHiddenFile_ListsItAsHidden()
    {
        using var harness = new IngestionHarness();
        var hidden = harness.Write(".hidden.txt", "Uploaded with a leading dot.");

        var summary = await harness.RunAsync();

        Assert.Equal(0, summary.Files);
        Assert.Equal([hidden], summary.Hidden);
    }

    [Fact]
    public async Task IngestAsync_TextFileOverMaxItemsPerFile_KeepsTheFirstItemsWithAWarning()
    {
        using var harness = new IngestionHarness();
        var big = harness.Write("big.txt", string.Join("\n\n", Enumerable.Range(0, 400).Select(i => $"Paragraph {i} talks about a different animal, number {i}.")));

        var summary = await harness.RunAsync(new IngestionOptions { MaxItemsPerFile = 25 });

        Assert.Equal((1, 0), (summary.Added, summary.Failed));
        Assert.Equal(25, harness.DocumentOf("big.txt").ItemCount);
        Outcomes.Single(summary.Warnings, big, "MaxItemsPerFile");
    }

    [Fact]
    public async Task IngestAsync_Progress_ReportsItemsDoneWithinTheCurrentFile()
    {
        using var harness = new IngestionHarness();
        var big = harness.Write("big.txt", string.Join("\n\n", Enumerable.Range(0, 60).Select(i => $"Paragraph {i} talks about a different animal, number {i}.")));

        await harness.RunAsync(new IngestionOptions { EmbeddingBatchSize = 4 });

        var within = harness.Progress.Reports.Where(r => r.CurrentFile == big && r.FileItemsTotal > 0).ToList();
        var total = harness.DocumentOf("big.txt").ItemCount;
        Assert.True(within.Count >= total / 4, $"{within.Count} reports within the file");
        Assert.All(within, r => Assert.Equal(total, r.FileItemsTotal));
        Assert.Equal(within.Select(r => r.FileItemsDone).Order(), within.Select(r => r.FileItemsDone));
        Assert.Equal(total, within[^1].FileItemsDone);
        Assert.Equal(0, harness.Progress.Reports[^1].FileItemsTotal);
    }

    [Fact]
    public async Task IngestAsync_LoaderSlowerThanFileTimeout_ThatFileFailsAndTheRunGoesOn()
    {
        using var release = new ManualResetEventSlim();
        var loaders = new LoaderRegistry([new StuckLoader(release), .. TestChunkers.Loaders.Loaders]);
        using var harness = new IngestionHarness(loaders: loaders);
        harness.Write("a.txt", "Before.");
        var stuck = harness.Write("b.stuck", "Never finishes loading.");
        harness.Write("c.txt", "After.");
        try
        {
            var summary = await harness.RunAsync(new IngestionOptions { FileTimeout = TimeSpan.FromSeconds(1) }).WaitAsync(TimeSpan.FromSeconds(30));

            Assert.Equal((2, 1), (summary.Added, summary.Failed));
            Outcomes.Single(summary.Failures, stuck, "took longer than 1 s (FileTimeout)");
        }
        finally
        {
            release.Set();
        }
    }

    [Fact]
    public void IngestionOptions_NonPositiveLimits_ThrowNamingTheSetting()
    {
        Assert.Contains("FileTimeout", Assert.Throws<ArgumentOutOfRangeException>(() => new IngestionOptions { FileTimeout = TimeSpan.Zero }.Validate()).Message,
            StringComparison.Ordinal);
        Assert.Contains("MaxItemsPerFile", Assert.Throws<ArgumentOutOfRangeException>(() => new IngestionOptions { MaxItemsPerFile = 0 }.Validate()).Message,
            StringComparison.Ordinal);
        Assert.Contains("MaxDescriptionLength",
            Assert.Throws<ArgumentOutOfRangeException>(() => new IngestionOptions { MaxDescriptionLength = 0 }.Validate()).Message, StringComparison.Ordinal);
    }

    /// <summary>A loader that blocks its thread, ignoring cancellation, until released: the worst a third-party loader can do.</summary>
    private sealed class StuckLoader(ManualResetEventSlim release) : IDocumentLoader
    {
        public bool CanLoad(string path) => path.EndsWith(".stuck", StringComparison.Ordinal);

        public Task<LoadedDocument> LoadAsync(string path, DocumentLoadContext context, CancellationToken cancellationToken = default)
        {
            release.Wait(TimeSpan.FromMinutes(2), CancellationToken.None);
            throw new DocumentLoadException($"{path}: released.");
        }
    }
}
