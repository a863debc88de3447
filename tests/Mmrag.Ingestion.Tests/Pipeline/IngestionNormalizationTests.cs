using System.Numerics.Tensors;
using Microsoft.Extensions.AI;
using Mmrag.Ingestion.Pipeline;
using Mmrag.Ingestion.Tests.Support;
using Mmrag.Knowledge;
using Mmrag.Storage.ContractTests;

namespace Mmrag.Ingestion.Tests.Pipeline;

/// <summary>
/// A vector is normalised once on the ingest path: by the generator (the CLIP generators normalise by default), or, for
/// a generator that does not, by the store at write time. The pipeline passes vectors on as generated, and the store
/// only checks a unit vector's length (within its tolerance) without rescaling it.
/// </summary>
public sealed class IngestionNormalizationTests
{
    private const int Dimension = 16;

    /// <summary>
    /// Unit length as float rounding leaves it (well within the stores' 1e-4 tolerance), yet far enough from 1 that
    /// normalising again changes the bits: so a second normalisation anywhere on the path shows.
    /// </summary>
    private const float UnitWithinTolerance = 1.00003f;

    [Fact]
    public async Task IngestAsync_GeneratorReturnsUnitVectors_StoreReceivesThemBitForBit()
    {
        var (store, text, images, summary) = await IngestAsync(UnitWithinTolerance);

        Assert.Equal(2, summary.Added);
        Assert.Contains(store.Items, i => i.Kind == ItemKind.Image);
        Assert.True(store.Items.Count(i => i.Kind == ItemKind.TextChunk) >= 2);
        foreach (var item in store.Items)
        {
            var generated = (item.Kind == ItemKind.Image ? images.ByContentHash : text.ByContentHash)[item.ContentHash];
            Assert.Equal(generated, item.Vector.ToArray());
        }
    }

    [Fact]
    public async Task IngestAsync_GeneratorReturnsVectorsNotOfUnitLength_StoresThemAtUnitLength()
    {
        var (store, text, images, _) = await IngestAsync(norm: 3.5f);

        Assert.NotEmpty(store.Items);
        foreach (var item in store.Items)
        {
            var generated = (item.Kind == ItemKind.Image ? images.ByContentHash : text.ByContentHash)[item.ContentHash];
            Assert.Equal(1f, TensorPrimitives.Norm(item.Vector.Span), 1e-5f);
            Assert.Equal(1f, TensorPrimitives.CosineSimilarity(generated, item.Vector.Span), 1e-5f);
        }
    }

    private static async Task<(InMemoryKnowledgeStore Store, FixedVectorEmbeddingGenerator<string> Text,
        FixedVectorEmbeddingGenerator<DataContent> Images, IngestionSummary Summary)> IngestAsync(float norm)
    {
        using var folder = new TemporaryDirectory();
        folder.Write("notes.txt", "Field notes\n\nWe saw three foxes near the river at dawn.\n\n" + string.Join(' ',
            Enumerable.Range(0, 20).Select(i => $"Observation {i} recorded an otter crossing the meadow.")));
        folder.Write("otter.png", Fixtures.Png);
        var store = new InMemoryKnowledgeStore(new EmbeddingSpace("fixed", Dimension));
        var text = new FixedVectorEmbeddingGenerator<string>(Dimension, norm);
        var images = new FixedVectorEmbeddingGenerator<DataContent>(Dimension, norm);
        var pipeline = new IngestionPipeline(store, text, images, TestChunkers.Loaders);

        var summary = await pipeline.IngestAsync([folder.Path]);

        Assert.Empty(summary.Failures);
        return (store, text, images, summary);
    }
}
