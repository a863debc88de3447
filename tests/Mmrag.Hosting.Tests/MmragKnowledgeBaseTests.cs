using Microsoft.Extensions.DependencyInjection;
using Mmrag.Knowledge;
using Mmrag.Retrieval.Search;
using Mmrag.Storage;

namespace Mmrag.Hosting.Tests;

public sealed class MmragKnowledgeBaseTests : IDisposable
{
    private readonly TestKnowledgeBases _kb = new();

    public void Dispose() => _kb.Dispose();

    [Fact]
    public async Task OpenAsync_NewKnowledgeBaseWithARelativeModelPath_RecordsTheFullPath()
    {
        var relative = Path.GetRelativePath(Environment.CurrentDirectory, TestKnowledgeBases.TinyClip);
        Assert.False(Path.IsPathRooted(relative));

        await using (await MmragKnowledgeBase.OpenAsync(_kb.Options(relative)))
        {
        }

        // Recorded as a full path, the knowledge base opens from any working folder.
        Assert.Equal(Path.GetFullPath(TestKnowledgeBases.TinyClip), KnowledgeBaseRecord.ReadModel(_kb.Folder));
    }

    [Fact]
    public async Task OpenAsync_MissingKnowledgeBase_SaysWhereAndHowToCreateOne()
    {
        var error = await Assert.ThrowsAsync<KnowledgeStoreException>(() => MmragKnowledgeBase.OpenAsync(_kb.Options(create: false)));

        Assert.Contains(_kb.Folder, error.Message, StringComparison.Ordinal);
        Assert.Contains("mmrag ingest", error.Message, StringComparison.Ordinal);
        Assert.False(Directory.Exists(_kb.Folder));
    }

    [Fact]
    public async Task OpenAsync_WithAnotherModelThanTheKnowledgeBases_RefusesNamingBoth()
    {
        await using (await MmragKnowledgeBase.OpenAsync(_kb.Options(TestKnowledgeBases.TinyClip)))
        {
        }

        var error = await Assert.ThrowsAsync<EmbeddingSpaceMismatchException>(
            () => MmragKnowledgeBase.OpenAsync(_kb.Options(TestKnowledgeBases.ShapesClip, create: false)));

        Assert.Contains("reembed", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task OpenAsync_WithoutModel_GivesTheStoreAndRefusesModelParts()
    {
        await using (await MmragKnowledgeBase.OpenAsync(_kb.Options(TestKnowledgeBases.TinyClip)))
        {
        }

        var options = _kb.Options(create: false);
        options.LoadModel = false;
        await using var kb = await MmragKnowledgeBase.OpenAsync(options);

        Assert.Equal(0, (await kb.Store.GetStatsAsync()).Documents);
        Assert.False(kb.HasModel);
        Assert.Throws<InvalidOperationException>(() => kb.Searcher);
    }

    /// <summary>The library sample of the README, as written there.</summary>
    [Fact]
    public async Task LibrarySample_AddMmrag_IngestsAndSearches()
    {
        var knowledgeBaseFolder = _kb.Folder;
        var modelFolder = TestKnowledgeBases.TinyClip;
        var documentsFolder = _kb.Corpus;

        // README sample begins
        var services = new ServiceCollection().AddMmrag(new MmragOptions
        {
            Folder = knowledgeBaseFolder,   // an embedded knowledge base (or PostgresConnection = "Host=…")
            Model = modelFolder,            // a model folder, or a catalogue name such as "clip-vit-base-patch32"
            CreateIfMissing = true,
        });
        await using var provider = services.BuildServiceProvider();
        var knowledgeBase = provider.GetRequiredService<MmragKnowledgeBase>();
        await knowledgeBase.CreatePipeline().IngestAsync([documentsFolder], knowledgeBase.CreateIngestionOptions());

        var searcher = provider.GetRequiredService<KnowledgeSearcher>();
        var result = await searcher.SearchAsync(new SearchRequest { Text = "wooden deck", Target = SearchTarget.Text, Threshold = 0 });
        foreach (var hit in result.Hits)
        {
            Console.WriteLine($"{hit.Score:0.00} {hit.Item.Provenance.SourcePath}: {hit.Item.Text}");
        }
        // README sample ends

        Assert.Contains(result.Hits, static hit => hit.Item.Provenance.SourcePath.EndsWith("deck.txt", StringComparison.Ordinal));
        Assert.Same(knowledgeBase.Store, provider.GetRequiredService<IKnowledgeStore>());
    }
}
