using Mmrag.Hosting.Maintenance;
using Mmrag.Ingestion.Pipeline;
using Mmrag.Knowledge;

namespace Mmrag.Hosting.Tests;

/// <summary>Re-embedding carries everything and survives being stopped half-way (its swap hook is process-wide, so these run one after another).</summary>
[Collection(nameof(KnowledgeBaseReembedTests))]
public sealed class KnowledgeBaseReembedTests : IDisposable
{
    private readonly TestKnowledgeBases _kb = new();

    public void Dispose()
    {
        ReembedSwap.BeforeStep = null;
        _kb.Dispose();
    }

    private sealed record Snapshot(string ModelId, int Documents, int Items, int Tagged, IReadOnlyList<string?> Descriptions, IReadOnlyList<string> Sources);

    private async Task<int> IngestAsync()
    {
        await using var kb = await MmragKnowledgeBase.OpenAsync(_kb.Options(TestKnowledgeBases.TinyClip));
        var summary = await kb.CreatePipeline().IngestAsync([_kb.Corpus],
            kb.CreateIngestionOptions(o => o with { Tags = ["garden"], DescriptionsFile = _kb.Descriptions }));
        Assert.Equal(0, summary.Failed);

        // A file uploaded through the server lives in the knowledge base's own uploads folder.
        var upload = Path.Combine(kb.UploadsFolder, "job-1", "note.txt");
        Directory.CreateDirectory(Path.GetDirectoryName(upload)!);
        await File.WriteAllTextAsync(upload, "An uploaded note about the shed roof.");
        var uploaded = await kb.CreatePipeline().IngestAsync([upload], kb.CreateIngestionOptions());
        Assert.Equal(1, uploaded.Added);
        return summary.Items + uploaded.Items;
    }

    private static MmragOptions NoModel(MmragOptions options)
    {
        options.LoadModel = false;
        return options;
    }

    private async Task<Snapshot> SnapshotAsync()
    {
        await using var kb = await MmragKnowledgeBase.OpenAsync(NoModel(_kb.Options(create: false)));
        List<KnowledgeItem> items = [];
        List<string> sources = [];
        await foreach (var document in kb.Store.ListDocumentsAsync())
        {
            sources.Add(document.SourcePath);
            items.AddRange(await KnowledgeStoreTransfer.ReadItemsAsync(kb.Store, document));
        }

        sources.Sort(StringComparer.Ordinal);
        return new Snapshot(kb.Store.Space.ModelId, sources.Count, items.Count, items.Count(static i => i.Tags.Contains("garden")),
            [.. items.Where(static i => i.Kind == ItemKind.Image).Select(static i => i.Description)], sources);
    }

    [Fact]
    public async Task Reembed_ToAnotherModelAndBack_KeepsEveryDocumentTagDescriptionAndUploadedFile()
    {
        var ingested = await IngestAsync();
        var before = await SnapshotAsync();
        Assert.Equal(ingested, before.Items);
        Assert.True(before.Tagged > 0);
        Assert.Contains(before.Descriptions, static d => d is not null && d.Contains("\"quoted\"", StringComparison.Ordinal));

        var there = await KnowledgeBaseReembed.RunAsync(_kb.Options(TestKnowledgeBases.ShapesClip, create: false));
        var middle = await SnapshotAsync();
        var back = await KnowledgeBaseReembed.RunAsync(_kb.Options(TestKnowledgeBases.TinyClip, create: false));
        var after = await SnapshotAsync();

        Assert.NotEqual(before.ModelId, middle.ModelId);
        Assert.Equal(there.Model, middle.ModelId);
        Assert.Equal(back.Model, after.ModelId);
        foreach (var snapshot in new[] { middle, after })
        {
            Assert.Equal(before with { ModelId = snapshot.ModelId }, snapshot with { Descriptions = before.Descriptions, Sources = before.Sources });
            Assert.Equal(before.Descriptions, snapshot.Descriptions);
            Assert.Equal(before.Sources, snapshot.Sources);
        }

        Assert.True(File.Exists(Path.Combine(_kb.Folder, MmragKnowledgeBase.UploadsFolderName, "job-1", "note.txt")));
        Assert.Equal(Path.GetFullPath(TestKnowledgeBases.TinyClip), KnowledgeBaseRecord.ReadModel(_kb.Folder));
        Assert.False(Directory.Exists(Path.Combine(_kb.Folder, ReembedSwap.StagingFolderName)));
    }

    [Theory]
    [InlineData("move-out")]
    [InlineData("phase")]
    [InlineData("move-in")]
    [InlineData("record")]
    [InlineData("journal")]
    [InlineData("cleanup")]
    public async Task Reembed_StoppedDuringTheSwap_NextOpenFinishesItWithNothingLost(string step)
    {
        var ingested = await IngestAsync();
        var before = await SnapshotAsync();
        ReembedSwap.BeforeStep = name =>
        {
            if (name == step)
            {
                throw new IOException($"killed before {step}");
            }
        };

        await Assert.ThrowsAsync<IOException>(() => KnowledgeBaseReembed.RunAsync(_kb.Options(TestKnowledgeBases.ShapesClip, create: false)));
        ReembedSwap.BeforeStep = null;

        var after = await SnapshotAsync();
        Assert.NotEqual(before.ModelId, after.ModelId);
        Assert.Equal(ingested, after.Items);
        Assert.Equal(before.Sources, after.Sources);
        Assert.Equal(Path.GetFullPath(TestKnowledgeBases.ShapesClip), KnowledgeBaseRecord.ReadModel(_kb.Folder));
        // And the knowledge base works with its new model.
        await using var kb = await MmragKnowledgeBase.OpenAsync(_kb.Options(create: false));
        Assert.Equal(after.ModelId, kb.Model.ModelId);
    }

    [Fact]
    public async Task Reembed_ImageFileGone_RefusesNamingItAndChangesNothing()
    {
        await IngestAsync();
        var before = await SnapshotAsync();
        foreach (var photo in Directory.EnumerateFiles(_kb.Corpus, "photo.*"))
        {
            File.Delete(photo);
        }

        var error = await Assert.ThrowsAsync<Mmrag.Storage.KnowledgeStoreException>(
            () => KnowledgeBaseReembed.RunAsync(_kb.Options(TestKnowledgeBases.ShapesClip, create: false)));

        Assert.Contains("photo", error.Message, StringComparison.Ordinal);
        Assert.Contains("Nothing was changed", error.Message, StringComparison.Ordinal);
        Assert.Equal(before, await SnapshotAsync() with { Descriptions = before.Descriptions, Sources = before.Sources });
    }
}
