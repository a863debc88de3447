using Microsoft.Extensions.AI;
using Mmrag.Ingestion.Pipeline;
using Mmrag.Ingestion.Tests.Support;
using Mmrag.Knowledge;
using Mmrag.Storage;
using Mmrag.Storage.ContractTests;

namespace Mmrag.Ingestion.Tests.Pipeline;

public sealed class IngestionPipelineTests
{
    /// <summary>A JPEG header followed by noise: sniffed as JPEG, undecodable by the image decoder.</summary>
    private static byte[] CorruptJpeg()
    {
        var bytes = new byte[4000];
        new Random(21).NextBytes(bytes);
        bytes[0] = 0xFF;
        bytes[1] = 0xD8;
        bytes[2] = 0xFF;
        return bytes;
    }

    [Fact]
    public async Task IngestAsync_FirstRun_AddsEveryFileWithUnitVectors()
    {
        using var harness = new IngestionHarness().WithSampleFiles();

        var summary = await harness.RunAsync();

        Assert.Equal(IngestionHarness.SampleFiles, summary.Files);
        Assert.Equal(IngestionHarness.SampleFiles, summary.Added);
        Assert.Equal(0, summary.Unchanged + summary.Replaced + summary.Failed + summary.Pruned);
        Assert.Empty(summary.Failures);
        Assert.Equal([harness.PathOf("data.xyz")], summary.Skipped);
        Assert.Equal(harness.Store.Items.Count, summary.Items);
        Assert.Equal(
            new[] { "guide.md", "notes.txt", "photos/fox.jpg", "photos/otter.png", "report.pdf" }.Select(harness.PathOf).Order(StringComparer.Ordinal),
            harness.Store.Documents.Select(d => d.SourcePath));

        foreach (var document in harness.Store.Documents)
        {
            var items = harness.Store.ItemsOf(document.Id);
            Assert.Equal(document.ItemCount, items.Count);
            Assert.Equal(DocumentIds.ForPath(document.SourcePath), document.Id);
            Assert.Equal(DocumentIds.Sha256Hex(File.ReadAllBytes(document.SourcePath)), document.ContentHash);
            Assert.All(items, item =>
            {
                Assert.Equal(32, item.Vector.Length);
                Assert.Equal(1.0, Math.Sqrt(item.Vector.ToArray().Sum(v => (double)v * v)), 4);
                Assert.Equal(DocumentIds.ForItem(document.Id, item.Provenance.Position, item.ContentHash), item.Id);
            });
        }

        var fox = Assert.Single(harness.Store.ItemsOf(harness.DocumentOf("photos/fox.jpg").Id));
        Assert.Equal("A red fox in winter.", fox.Description);
        Assert.Equal(DocumentIds.Sha256Hex(Fixtures.Jpeg), fox.ContentHash);
        Assert.Equal("A small otter portrait.", Assert.Single(harness.Store.ItemsOf(harness.DocumentOf("photos/otter.png").Id)).Description);
        var report = harness.Store.ItemsOf(harness.DocumentOf("report.pdf").Id);
        Assert.Equal(2, report.Count(i => i.Kind == ItemKind.Image));
        Assert.Contains(report, i => i.Kind == ItemKind.TextChunk && i.Provenance.Page == 2);
    }

    [Fact]
    public async Task IngestAsync_SameContentTwice_EmbeddedOnce()
    {
        using var harness = new IngestionHarness().WithSampleFiles();

        var summary = await harness.RunAsync();

        // The fox JPEG is in report.pdf and photos/fox.jpg; the otter PNG in guide.md and photos/otter.png.
        var distinct = harness.Store.Items.Select(i => i.ContentHash).Distinct().Count();
        Assert.Equal(distinct, summary.Embedded);
        Assert.Equal(distinct, harness.Text.Inputs + harness.Images.Inputs);
        Assert.True(harness.Store.Items.Count > distinct);
    }

    [Fact]
    public async Task IngestAsync_FolderOfPhotos_EmbedsThemTogetherInFullBatches()
    {
        using var harness = new IngestionHarness();
        for (var i = 0; i < 10; i++)
        {
            // Bytes after the end-of-image marker make each file a distinct image that decodes like the fixture.
            harness.Write($"photos/p{i}.jpg", [.. Fixtures.Jpeg, .. System.Text.Encoding.ASCII.GetBytes($"copy {i}")]);
        }

        var summary = await harness.RunAsync();

        Assert.Equal((10, 10, 10), (summary.Added, summary.Items, summary.Embedded));
        Assert.Equal((1, 10), (harness.Images.Calls, harness.Images.Inputs));
        Assert.Equal(10, harness.Store.Items.Count(i => i.Kind == ItemKind.Image && i.Vector.Length == harness.Store.Space.Dimension));
    }

    [Fact]
    public async Task IngestAsync_SecondRun_EverythingUnchangedAndNothingEmbedded()
    {
        using var harness = new IngestionHarness().WithSampleFiles();
        await harness.RunAsync();
        var upserts = harness.Store.Upserts;
        var (textCalls, imageCalls) = (harness.Text.Calls, harness.Images.Calls);

        var summary = await harness.RunAsync();

        Assert.Equal(IngestionHarness.SampleFiles, summary.Unchanged);
        Assert.Equal(0, summary.Added + summary.Replaced + summary.Failed + summary.Items + summary.Embedded);
        Assert.Equal((textCalls, imageCalls), (harness.Text.Calls, harness.Images.Calls));
        Assert.Equal(upserts, harness.Store.Upserts);
    }

    [Fact]
    public async Task IngestAsync_ModifiedFile_ReplacedAndOthersUnchanged()
    {
        using var harness = new IngestionHarness().WithSampleFiles();
        await harness.RunAsync();
        var before = harness.Store.ItemsOf(harness.DocumentOf("notes.txt").Id).Select(i => i.Id).ToHashSet();
        var textInputs = harness.Text.Inputs;

        harness.Write("notes.txt", "Field notes\n\nOnly one short observation now.");
        var summary = await harness.RunAsync();

        Assert.Equal(1, summary.Replaced);
        Assert.Equal(IngestionHarness.SampleFiles - 1, summary.Unchanged);
        var notes = harness.DocumentOf("notes.txt");
        var item = Assert.Single(harness.Store.ItemsOf(notes.Id));
        Assert.Equal("Field notes\n\nOnly one short observation now.", item.Text);
        Assert.Equal(1, notes.ItemCount);
        Assert.DoesNotContain(item.Id, before);
        Assert.DoesNotContain(harness.Store.Items, i => before.Contains(i.Id));
        Assert.Equal(textInputs + 1, harness.Text.Inputs);
    }

    [Fact]
    public async Task IngestAsync_DescriptionChanged_ImageReplacedWithItsStoredVector()
    {
        using var harness = new IngestionHarness().WithSampleFiles();
        await harness.RunAsync();
        var imageInputs = harness.Images.Inputs;

        harness.Write("description.json", """{"image_path": "photos/fox.jpg", "description": "A fox asleep."}""");
        var summary = await harness.RunAsync();

        Assert.Equal(1, summary.Replaced);
        Assert.Equal(0, summary.Embedded);
        Assert.Equal(imageInputs, harness.Images.Inputs);
        Assert.Equal("A fox asleep.", Assert.Single(harness.Store.ItemsOf(harness.DocumentOf("photos/fox.jpg").Id)).Description);
    }

    [Fact]
    public async Task IngestAsync_DeletedFile_PrunedOnlyWhenAsked()
    {
        using var harness = new IngestionHarness().WithSampleFiles();
        await harness.RunAsync();
        File.Delete(harness.PathOf("notes.txt"));

        var kept = await harness.RunAsync();
        Assert.Equal(0, kept.Pruned);
        Assert.Contains(harness.Store.Documents, d => d.SourcePath == harness.PathOf("notes.txt"));

        var pruned = await harness.RunAsync(new IngestionOptions { Prune = true });

        Assert.Equal(1, pruned.Pruned);
        Assert.Equal(IngestionHarness.SampleFiles - 1, pruned.Unchanged);
        Assert.DoesNotContain(harness.Store.Documents, d => d.SourcePath == harness.PathOf("notes.txt"));
        Assert.DoesNotContain(harness.Store.Items, i => i.Provenance.SourcePath == harness.PathOf("notes.txt"));
        Assert.Equal(IngestionHarness.SampleFiles - 1, harness.Store.Documents.Count);
    }

    [Fact]
    public async Task IngestAsync_PruneWithAnotherFolder_LeavesDocumentsOutsideTheIngestedRoots()
    {
        using var harness = new IngestionHarness().WithSampleFiles();
        var elsewhere = harness.Temp.Write("elsewhere/note.txt", "Another folder.");
        await harness.Pipeline.IngestAsync([harness.Root, elsewhere]);
        File.Delete(elsewhere);
        File.Delete(harness.PathOf("notes.txt"));

        var summary = await harness.RunAsync(new IngestionOptions { Prune = true });

        Assert.Equal(1, summary.Pruned);
        Assert.Contains(harness.Store.Documents, d => d.SourcePath == elsewhere);
    }

    [Fact]
    public async Task IngestAsync_CorruptImageFileAmongGoodOnes_RecordedAndOthersStored()
    {
        using var harness = new IngestionHarness().WithSampleFiles();
        var broken = harness.Write("photos/broken.jpg", CorruptJpeg());

        var summary = await harness.RunAsync();

        Assert.Equal(1, summary.Failed);
        Assert.Equal(IngestionHarness.SampleFiles, summary.Added);
        var failure = Assert.Single(summary.Failures);
        Assert.Equal(broken, failure.SourcePath);
        Assert.Equal(failure.SourcePath, Assert.Single(await harness.Store.ListFailuresAsync()).SourcePath);
        Assert.DoesNotContain(harness.Store.Documents, d => d.SourcePath == broken);

        // Fixed: stored, and its failure is forgotten.
        harness.Write("photos/broken.jpg", Fixtures.Image("gray_jpeg_250x250.jpg"));
        var fixedRun = await harness.RunAsync();

        Assert.Equal(1, fixedRun.Added);
        Assert.Empty(await harness.Store.ListFailuresAsync());
    }

    [Fact]
    public async Task IngestAsync_CorruptImageInsideDocument_DroppedAndRecordedRestStored()
    {
        using var harness = new IngestionHarness();
        harness.Write("broken.png", [0x89, (byte)'P', (byte)'N', (byte)'G', 0x0D, 0x0A, 0x1A, 0x0A, 1, 2, 3, 4]);
        harness.Write("good.png", Fixtures.Png);
        harness.Write("page.md", "# Page\n\nSome text.\n\n![bad](broken.png)\n\n![good](good.png)\n");

        var summary = await harness.Pipeline.IngestAsync([harness.PathOf("page.md")]);

        Assert.Equal(1, summary.Added);
        Assert.Equal(0, summary.Failed);
        var page = harness.DocumentOf("page.md");
        var items = harness.Store.ItemsOf(page.Id);
        Assert.Equal([ItemKind.TextChunk, ItemKind.Image], items.Select(i => i.Kind));
        Assert.Equal(harness.PathOf("good.png"), items[1].ImagePath);
        Assert.Equal([0, 2], items.Select(i => i.Provenance.Position));
        var failure = Assert.Single(await harness.Store.ListFailuresAsync());
        Assert.Equal(harness.PathOf("page.md"), failure.SourcePath);
        Assert.Contains(harness.PathOf("broken.png"), failure.Reason, StringComparison.Ordinal);
        Assert.Equal("item 1", failure.Detail);
    }

    [Fact]
    public async Task IngestAsync_UnreadableFiles_RecordedAndRunGoesOn()
    {
        using var harness = new IngestionHarness().WithSampleFiles();
        var random = new byte[3000];
        new Random(5).NextBytes(random);
        var badPdf = harness.Write("bad.pdf", random);
        var notAnImage = harness.Write("photos/notes.png", "text in disguise");

        var summary = await harness.RunAsync();

        Assert.Equal(2, summary.Failed);
        Assert.Equal(IngestionHarness.SampleFiles, summary.Added);
        Assert.Equal([badPdf, notAnImage], (await harness.Store.ListFailuresAsync()).Select(f => f.SourcePath).Order(StringComparer.Ordinal));
    }

    [Fact]
    public async Task IngestAsync_FileOverTheSizeLimit_RecordedAsFailure()
    {
        using var harness = new IngestionHarness().WithSampleFiles();

        var summary = await harness.RunAsync(new IngestionOptions { MaxFileBytes = 50_000 });

        Assert.Equal(2, summary.Failed);
        Assert.All(summary.Failures, f => Assert.Contains("MaxFileBytes", f.Reason, StringComparison.Ordinal));
        Assert.Equal(
            new[] { "photos/fox.jpg", "report.pdf" }.Select(harness.PathOf),
            summary.Failures.Select(f => f.SourcePath).Order(StringComparer.Ordinal));
    }

    [Fact]
    public async Task IngestAsync_CancelledMidRun_LeavesOnlyWholeDocumentsAndResumesWithoutReembedding()
    {
        using var reference = new IngestionHarness().WithSampleFiles();
        await reference.RunAsync();
        // Ids hash absolute paths, and the reference lives in another folder: compare relative paths and item contents.
        static List<string> Shape(InMemoryKnowledgeStore store, DocumentRecord document) =>
            [.. store.ItemsOf(document.Id).Select(i => $"{i.Provenance.Position} {i.Kind} {i.ContentHash}")];
        var expected = reference.Store.Documents.ToDictionary(d => Path.GetRelativePath(reference.Root, d.SourcePath), d => Shape(reference.Store, d));

        using var harness = new IngestionHarness().WithSampleFiles();
        using var cancel = new CancellationTokenSource();
        harness.Images.BeforeCall = call =>
        {
            if (call == 2)
            {
                cancel.Cancel();
            }
        };

        // Batches of one: files are then embedded one by one, so the second image call falls in the middle of the run
        // (with full batches the sample folder's images all go in one call).
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() =>
            harness.RunAsync(new IngestionOptions { EmbeddingBatchSize = 1 }, cancellationToken: cancel.Token));

        var stored = harness.Store.Documents;
        Assert.InRange(stored.Count, 1, IngestionHarness.SampleFiles - 1);
        foreach (var document in stored)
        {
            Assert.Equal(document.ItemCount, harness.Store.ItemsOf(document.Id).Count);
            Assert.Equal(expected[Path.GetRelativePath(harness.Root, document.SourcePath)], Shape(harness.Store, document));
        }

        Assert.Equal(stored.Count, harness.Store.Upserts);
        var storedHashes = harness.Store.Items.Select(i => i.ContentHash).ToHashSet();
        var seenText = harness.Text.Seen.Count;
        var seenImages = harness.Images.Seen.Count;
        harness.Images.BeforeCall = null;

        var resumed = await harness.RunAsync();

        Assert.Equal(stored.Count, resumed.Unchanged);
        Assert.Equal(IngestionHarness.SampleFiles - stored.Count, resumed.Added);
        Assert.DoesNotContain(harness.Text.Seen.Skip(seenText), text => storedHashes.Contains(DocumentIds.Sha256Hex(text)));
        Assert.DoesNotContain(harness.Images.Seen.Skip(seenImages), image => storedHashes.Contains(DocumentIds.Sha256Hex(image.Data.Span)));
        Assert.Equal(expected.Count, harness.Store.Documents.Count);
        Assert.All(harness.Store.Documents, d => Assert.Equal(expected[Path.GetRelativePath(harness.Root, d.SourcePath)], Shape(harness.Store, d)));
    }

    [Fact]
    public async Task IngestAsync_Progress_ReportsEveryFileAndFinalTotals()
    {
        using var harness = new IngestionHarness().WithSampleFiles();
        harness.Write("photos/broken.jpg", CorruptJpeg());

        var summary = await harness.RunAsync();

        var reports = harness.Progress.Reports;
        Assert.All(reports, r => Assert.Equal(IngestionHarness.SampleFiles + 1, r.FilesTotal));
        Assert.Equal(0, reports[0].FilesDone);
        var last = reports[^1];
        Assert.Equal(IngestionHarness.SampleFiles + 1, last.FilesDone);
        Assert.Equal(summary.Items, last.ItemsStored);
        Assert.Equal(1, last.Failures);
        Assert.Null(last.CurrentFile);
        Assert.True(last.ItemsPerSecond > 0);
        Assert.Contains(reports, r => r.CurrentFile == harness.PathOf("photos/broken.jpg"));
        Assert.Equal(reports.Select(r => r.FilesDone).Order(), reports.Select(r => r.FilesDone));
    }

    [Fact]
    public async Task IngestAsync_KnowledgeBaseFolderHiddenFoldersAndSymlinkLoops_Skipped()
    {
        using var harness = new IngestionHarness();
        harness.Write("a.txt", "Visible.");
        harness.Write("kb/store.txt", "The knowledge base's own files.");
        harness.Write(".git/config.txt", "Hidden.");
        Directory.CreateSymbolicLink(harness.PathOf("loop"), harness.Root);

        var summary = await harness.RunAsync(new IngestionOptions { KnowledgeBaseDirectory = harness.PathOf("kb") });

        Assert.Equal(1, summary.Added);
        Assert.Equal(harness.PathOf("a.txt"), Assert.Single(harness.Store.Documents).SourcePath);
    }

    [Fact]
    public async Task IngestAsync_ExplicitDescriptionsFile_OverridesSidecars()
    {
        using var harness = new IngestionHarness().WithSampleFiles();
        var extra = harness.Temp.Write("captions.csv", "image_path,description\nlibrary/photos/otter.png,Explicit otter.\n");

        await harness.RunAsync(new IngestionOptions { DescriptionsFile = extra });

        Assert.Equal("Explicit otter.", Assert.Single(harness.Store.ItemsOf(harness.DocumentOf("photos/otter.png").Id)).Description);
    }

    [Fact]
    public async Task IngestAsync_ExplicitDescriptionsFileInsideTheRoot_NotReportedAsSkipped()
    {
        using var harness = new IngestionHarness().WithSampleFiles();
        var extra = harness.Write("captions.tsv", "image_path,description\nphotos/fox.jpg,Explicit fox.\n");

        var summary = await harness.RunAsync(new IngestionOptions { DescriptionsFile = extra });

        Assert.DoesNotContain(extra, summary.Skipped);
        Assert.Equal("Explicit fox.", Assert.Single(harness.Store.ItemsOf(harness.DocumentOf("photos/fox.jpg").Id)).Description);
    }

    [Fact]
    public async Task IngestAsync_BadSidecarLine_RecordedAgainstTheSidecarAndClearedWhenFixed()
    {
        using var harness = new IngestionHarness().WithSampleFiles();
        var sidecar = harness.Write("description.json", "{\"image_path\": \"photos/fox.jpg\", \"description\": \"Fox.\"}\n{broken\n");

        var summary = await harness.RunAsync();

        Assert.Equal(IngestionHarness.SampleFiles, summary.Added);
        var failure = Assert.Single(await harness.Store.ListFailuresAsync());
        Assert.Equal((sidecar, "line 2"), (failure.SourcePath, failure.Detail));

        harness.Write("description.json", "{\"image_path\": \"photos/fox.jpg\", \"description\": \"Fox.\"}\n");
        await harness.RunAsync();

        Assert.Empty(await harness.Store.ListFailuresAsync());
    }

    [Fact]
    public async Task IngestAsync_ImageCacheDirectory_ExtractedImagesWrittenByContentHash()
    {
        using var harness = new IngestionHarness();
        harness.Write("report.pdf", TestPdfs.TwoPagesWithJpegAndPng());
        var cache = harness.Temp.Combine("cache");

        await harness.RunAsync(new IngestionOptions { ImageCacheDirectory = cache });

        var images = harness.Store.Items.Where(i => i.Kind == ItemKind.Image).ToList();
        Assert.Equal(2, images.Count);
        Assert.All(images, image =>
        {
            Assert.StartsWith(cache, image.ImagePath, StringComparison.Ordinal);
            Assert.Equal(image.ContentHash, DocumentIds.Sha256Hex(File.ReadAllBytes(image.ImagePath!)));
        });
        Assert.Contains(images, i => i.ImagePath!.EndsWith(".jpg", StringComparison.Ordinal));
    }

    [Fact]
    public async Task IngestAsync_TagsOption_OnDocumentsAndItems()
    {
        using var harness = new IngestionHarness();
        harness.Write("a.txt", "Tagged text.");

        await harness.RunAsync(new IngestionOptions { Tags = ["animals", "2024"] });

        Assert.Equal(["animals", "2024"], Assert.Single(harness.Store.Documents).Tags);
        Assert.Equal(["animals", "2024"], Assert.Single(harness.Store.Items).Tags);
    }

    [Fact]
    public async Task IngestAsync_GeneratorDimensionDiffersFromStore_ThrowsSpaceMismatch()
    {
        using var harness = new IngestionHarness(new EmbeddingSpace("other-model", 64));
        harness.Write("a.txt", "Some text.");

        var error = await Assert.ThrowsAsync<EmbeddingSpaceMismatchException>(() => harness.RunAsync());

        Assert.Contains("other-model", error.Message, StringComparison.Ordinal);
        Assert.Empty(harness.Store.Documents);
    }

    [Fact]
    public async Task IngestAsync_MissingPath_ReportedInSummary()
    {
        using var harness = new IngestionHarness();
        var missing = harness.PathOf("nowhere");

        var summary = await harness.Pipeline.IngestAsync([missing]);

        Assert.Equal(missing, Assert.Single(summary.Failures).SourcePath);
        Assert.Equal(0, summary.Files);
    }

    [Fact]
    public async Task IngestAsync_InvalidOptions_ThrowNamingTheSetting()
    {
        using var harness = new IngestionHarness();

        var error = await Assert.ThrowsAsync<ArgumentOutOfRangeException>(() => harness.RunAsync(new IngestionOptions { EmbeddingBatchSize = 0 }));

        Assert.Contains("IngestionOptions.EmbeddingBatchSize", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task DeletePathAsync_FolderAndFile_DeleteTheirDocumentsAndFailures()
    {
        using var harness = new IngestionHarness().WithSampleFiles();
        harness.Write("photos/broken.jpg", CorruptJpeg());
        await harness.RunAsync();

        var deletedFolder = await harness.Store.DeletePathAsync(harness.PathOf("photos"));
        var deletedFile = await harness.Store.DeletePathAsync(harness.PathOf("notes.txt"));

        Assert.Equal((2, 1), (deletedFolder, deletedFile));
        Assert.Equal(
            new[] { "guide.md", "report.pdf" }.Select(harness.PathOf),
            harness.Store.Documents.Select(d => d.SourcePath));
        Assert.Empty(await harness.Store.ListFailuresAsync());
    }

    [Fact]
    public async Task DeleteDocumentAndFailuresAsync_ById_Deletes()
    {
        using var harness = new IngestionHarness().WithSampleFiles();
        await harness.RunAsync();
        var id = DocumentIds.ForPath(harness.PathOf("guide.md"));

        Assert.True(await harness.Store.DeleteDocumentAndFailuresAsync(id));
        Assert.False(await harness.Store.DeleteDocumentAndFailuresAsync(id));
        Assert.DoesNotContain(harness.Store.Items, i => i.DocumentId == id);
    }

    [Fact]
    public void DocumentIds_ForPath_StableForEquivalentSpellings()
    {
        var root = Path.GetTempPath();

        Assert.Equal(DocumentIds.ForPath(Path.Combine(root, "a", "b.txt")), DocumentIds.ForPath(Path.Combine(root, "a", ".", "x", "..", "b.txt")));
        Assert.NotEqual(DocumentIds.ForPath(Path.Combine(root, "a", "b.txt")), DocumentIds.ForPath(Path.Combine(root, "a", "c.txt")));
        Assert.Equal(32, DocumentIds.ForPath("/x").Length);
    }
}
