using Microsoft.Extensions.AI;
using Mmrag.Clip.Inference;
using Mmrag.Ingestion.Pipeline;
using Mmrag.Ingestion.Tests.Support;
using Mmrag.Knowledge;
using Mmrag.Storage.ContractTests;

namespace Mmrag.Ingestion.Tests.Pipeline;

/// <summary>
/// A sample folder, an in-memory store and the pipeline over the tiny CLIP model, with counting generators.
/// The folder holds: guide.md (text + photos/otter.png), notes.txt, report.pdf (text + the fox JPEG + a PNG),
/// photos/fox.jpg (described in description.json), photos/otter.png (described by photos/otter.txt),
/// data.xyz (no loader) and .hidden/secret.txt (hidden).
/// </summary>
internal sealed class IngestionHarness : IDisposable
{
    public const int SampleFiles = 5;

    public IngestionHarness(EmbeddingSpace? space = null, Mmrag.Ingestion.Loaders.LoaderRegistry? loaders = null)
    {
        Root = Temp.Combine("library");
        Store = new InMemoryKnowledgeStore(space ?? new EmbeddingSpace(Fixtures.Model.ModelId, Fixtures.Model.Dimension));
        Text = new CountingEmbeddingGenerator<string>(new ClipTextEmbeddingGenerator(Fixtures.Model));
        Images = new CountingEmbeddingGenerator<DataContent>(new ClipImageEmbeddingGenerator(Fixtures.Model));
        Pipeline = new IngestionPipeline(Store, Text, Images, loaders ?? TestChunkers.Loaders);
    }

    public TemporaryDirectory Temp { get; } = new();

    public string Root { get; }

    public InMemoryKnowledgeStore Store { get; }

    public CountingEmbeddingGenerator<string> Text { get; }

    public CountingEmbeddingGenerator<DataContent> Images { get; }

    public IngestionPipeline Pipeline { get; }

    public ListProgress<IngestionProgress> Progress { get; } = new();

    public string PathOf(string relative) => Path.Combine(Root, relative);

    public IngestionHarness WithSampleFiles()
    {
        Write("guide.md", """
            # Guide

            Otters are semi-aquatic mammals that eat fish and shellfish.

            ![An otter](photos/otter.png)
            """);
        Write("notes.txt", "Field notes\n\nWe saw three foxes near the river at dawn. " + string.Join(' ',
            Enumerable.Range(0, 20).Select(i => $"Observation {i} recorded a fox crossing the meadow.")));
        Write("report.pdf", TestPdfs.TwoPagesWithJpegAndPng());
        Write("photos/fox.jpg", Fixtures.Jpeg);
        Write("photos/otter.png", Fixtures.Png);
        Write("photos/otter.txt", "A small otter portrait.");
        Write("description.json", """{"image_path": "photos/fox.jpg", "description": "A red fox in winter."}""");
        Write("data.xyz", "no loader reads this");
        Write(".hidden/secret.txt", "hidden files are not ingested");
        return this;
    }

    public string Write(string relative, string text) => Temp.Write(Path.Combine("library", relative), text);

    public string Write(string relative, byte[] bytes) => Temp.Write(Path.Combine("library", relative), bytes);

    public Task<IngestionSummary> RunAsync(IngestionOptions? options = null, CancellationToken cancellationToken = default) =>
        Pipeline.IngestAsync([Root], options, Progress, cancellationToken);

    public DocumentRecord DocumentOf(string relative) =>
        Assert.Single(Store.Documents, d => d.SourcePath == PathOf(relative));

    public void Dispose() => Temp.Dispose();
}
