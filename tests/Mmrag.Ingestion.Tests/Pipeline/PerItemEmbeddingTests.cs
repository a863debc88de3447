using Microsoft.Extensions.AI;
using Mmrag.Clip.Inference;
using Mmrag.Embeddings;
using Mmrag.Ingestion.Tests.Support;
using SkiaSharp;

namespace Mmrag.Ingestion.Tests.Pipeline;

public sealed class PerItemEmbeddingTests
{
    [Fact]
    public async Task GeneratePerItemAsync_PerItemCallFailsAsAWhole_EachInputTriedAloneSoOnlyTheBadOneFails()
    {
        using var clip = new ClipImageEmbeddingGenerator(Fixtures.Model);
        var failing = new WholeBatchFailing(clip);
        IEmbeddingGenerator<DataContent, Embedding<float>> generator = failing;
        byte[] red = GeneratedPngs.Create(32, 32, SKColors.Red), blue = GeneratedPngs.Create(32, 32, SKColors.Blue);
        DataContent[] images = [new(red, "image/png"), new(red[..40], "image/png"), new(blue, "image/png")];

        IReadOnlyList<ItemEmbedding> results = await generator.GeneratePerItemAsync(images);

        Assert.Equal(1, failing.WholeCalls);
        Assert.Equal([true, false, true], results.Select(static r => r.Succeeded));
        Assert.NotNull(results[1].Error);
        Assert.Equal((await clip.GenerateAsync([images[2]]))[0].Vector.ToArray(), results[2].Embedding!.Vector.ToArray());
    }

    [Fact]
    public async Task GeneratePerItemAsync_CancelledDuringTheWholeCall_ThrowsInsteadOfTryingEachInput()
    {
        using var clip = new ClipImageEmbeddingGenerator(Fixtures.Model);
        IEmbeddingGenerator<DataContent, Embedding<float>> generator = new WholeBatchFailing(clip);
        using var cancelled = new CancellationTokenSource();
        await cancelled.CancelAsync();
        DataContent[] images = [new(GeneratedPngs.Create(8, 8, SKColors.Red), "image/png"), new(GeneratedPngs.Create(8, 8, SKColors.Blue), "image/png")];

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => generator.GeneratePerItemAsync(images, cancellationToken: cancelled.Token));
    }

    /// <summary>The real CLIP generator, whose per-item call fails as a whole for a batch (as a failed model run would).</summary>
    private sealed class WholeBatchFailing(IEmbeddingGenerator<DataContent, Embedding<float>> inner)
        : DelegatingEmbeddingGenerator<DataContent, Embedding<float>>(inner), IPerItemEmbeddingGenerator<DataContent>
    {
        public int WholeCalls { get; private set; }

        public Task<IReadOnlyList<ItemEmbedding>> GeneratePerItemAsync(IEnumerable<DataContent> values, EmbeddingGenerationOptions? options = null,
            CancellationToken cancellationToken = default)
        {
            cancellationToken.ThrowIfCancellationRequested();
            WholeCalls++;
            throw new InvalidOperationException("The model run failed.");
        }
    }
}
