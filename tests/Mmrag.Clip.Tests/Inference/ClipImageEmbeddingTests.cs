using Microsoft.Extensions.AI;
using Mmrag.Clip.Inference;
using Mmrag.Clip.Preprocessing;

namespace Mmrag.Clip.Tests.Inference;

public class ClipImageEmbeddingTests
{
    public static TheoryData<string> AllImages => ImageEmbeddingCases.Names();

    public static TheoryData<string> LosslessImages => ImageEmbeddingCases.Names(lossy: false);

    public static TheoryData<string> JpegImages => ImageEmbeddingCases.Names(lossy: true);

    [Theory]
    [MemberData(nameof(AllImages))]
    public void EmbedPixelValues_FixtureCrop_MatchesReferenceTightly(string name)
    {
        var model = SharedModel.Instance;
        var image = ImageEmbeddingCases.Get(name);
        var crop = File.ReadAllBytes(ClipFixtures.PathOf(image.GetProperty("crop_u8").GetString()!));
        var pixels = new float[model.PixelValuesLength];
        model.ImagePreprocessor.WritePixelValues(crop, pixels);
        var actual = new float[model.Dimension];

        model.EmbedPixelValues(pixels, 1, actual);

        EmbeddingAssert.Close(ImageEmbeddingCases.Embeds(image), actual, minCosine: 0.99999, maxAbs: 1e-4);
    }

    [Theory]
    [MemberData(nameof(LosslessImages))]
    public async Task GenerateAsync_LosslessFile_MatchesReferenceEndToEnd(string name) =>
        await AssertFileMatches(name, minCosine: 0.9999);

    [Theory]
    [MemberData(nameof(JpegImages))]
    public async Task GenerateAsync_JpegFile_MatchesReferenceWithinDecoderTolerance(string name) =>
        await AssertFileMatches(name, minCosine: 0.99);

    [Fact]
    public async Task GenerateAsync_ExifOrientationApplied_MatchesTransposedReference()
    {
        var image = ImageEmbeddingCases.Get("exif_orientation6_640x480");
        using var model = ClipModel.Load(ClipFixtures.ModelDirectory,
            new ClipModelOptions { ImageDecoding = new ImageDecodeOptions { ApplyExifOrientation = true }, IntraOpThreads = 1 });
        using var generator = new ClipImageEmbeddingGenerator(model);
        var bytes = await File.ReadAllBytesAsync(ClipFixtures.PathOf(image.GetProperty("file").GetString()!));

        var embedding = await generator.GenerateAsync(new DataContent(bytes, "image/jpeg"));

        var expected = ImageEmbeddingCases.Embeds(image.GetProperty("alt_exif_transposed"));
        EmbeddingAssert.Close(EmbeddingAssert.Normalized(expected), embedding.Vector.Span, minCosine: 0.99);
    }

    [Fact]
    public async Task GenerateAsync_ManyImagesInSmallBatches_EqualsOneByOneInInputOrder()
    {
        var files = Directory.GetFiles(ClipFixtures.PathOf("images")).Order(StringComparer.Ordinal).ToArray();
        using var model = ClipModel.Load(ClipFixtures.ModelDirectory, new ClipModelOptions { MaxBatchSize = 4, IntraOpThreads = 1 });
        using var generator = new ClipImageEmbeddingGenerator(model);
        var contents = files.Select(f => new DataContent(File.ReadAllBytes(f), "application/octet-stream") { Name = Path.GetFileName(f) }).ToArray();

        var batched = await generator.GenerateAsync(contents);

        for (var i = 0; i < contents.Length; i++)
        {
            var single = await generator.GenerateAsync(contents[i]);
            EmbeddingAssert.Close(single.Vector.Span, batched[i].Vector.Span, minCosine: 0.999999, maxAbs: 1e-5);
        }
    }

    [Fact]
    public async Task EmbedImageFilesAsync_CorruptAndMissingFilesAmongGood_ReportsThemAndEmbedsTheRest()
    {
        using var folder = new TemporaryDirectory();
        var corrupt = Path.Combine(folder.Path, "corrupt.png");
        var source = await File.ReadAllBytesAsync(ClipFixtures.PathOf("images/gradient_640x480.png"));
        await File.WriteAllBytesAsync(corrupt, source[..(source.Length / 3)]);
        var paths = new[]
        {
            ClipFixtures.PathOf("images/noise_224x224.png"), corrupt, Path.Combine(folder.Path, "missing.jpg"), ClipFixtures.PathOf("images/tiny_50x50.png"),
        };

        var results = await SharedModel.Instance.EmbedImageFilesAsync(paths);

        Assert.True(results[0].Succeeded);
        Assert.False(results[1].Succeeded);
        Assert.False(results[2].Succeeded);
        Assert.Contains("missing.jpg", results[2].Error!.Message, StringComparison.Ordinal);
        Assert.True(results[3].Succeeded);
        EmbeddingAssert.Close(ImageEmbeddingCases.Embeds(ImageEmbeddingCases.Get("tiny_50x50")), results[3].Vector.Span, minCosine: 0.9999);
    }

    [Fact]
    public async Task GenerateAsync_UndecodableImage_ThrowsNamingIt()
    {
        using var generator = new ClipImageEmbeddingGenerator(SharedModel.Instance);
        var error = await Assert.ThrowsAsync<ImageDecodeException>(() =>
            generator.GenerateAsync([new DataContent(new byte[] { 1, 2, 3, 4 }, "image/png") { Name = "broken.png" }]));
        Assert.Contains("broken.png", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task GeneratePerItemAsync_TruncatedImageAmongGood_OnlyItFailsAndTheOthersMatchTheirOwnEmbeddings()
    {
        using var generator = new ClipImageEmbeddingGenerator(SharedModel.Instance);
        var good = await Task.WhenAll(new[] { "images/noise_224x224.png", "images/tiny_50x50.png" }.Select(f => File.ReadAllBytesAsync(ClipFixtures.PathOf(f))));
        var source = await File.ReadAllBytesAsync(ClipFixtures.PathOf("images/gradient_640x480.png"));
        DataContent[] batch = [new(good[0], "image/png"), new(source[..(source.Length / 2)], "image/png") { Name = "cut.png" }, new(good[1], "image/png")];

        var results = await generator.GeneratePerItemAsync(batch);

        Assert.Equal([true, false, true], results.Select(r => r.Succeeded));
        Assert.IsType<ImageDecodeException>(results[1].Error);
        Assert.Null(results[1].Embedding);
        var alone = await generator.GenerateAsync([batch[0], batch[2]]);
        Assert.Equal(alone[0].Vector.ToArray(), results[0].Embedding!.Vector.ToArray());
        Assert.Equal(alone[1].Vector.ToArray(), results[2].Embedding!.Vector.ToArray());
    }

    [Fact]
    public async Task GenerateAsync_ImageOverTheGeneratorsPixelLimit_ThrowsImageTooLargeNamingIt()
    {
        // The server gives its own limit to the generator, so queries and ingested files obey it alike.
        using var generator = new ClipImageEmbeddingGenerator(SharedModel.Instance, new ClipEmbeddingOptions { MaxImagePixels = 2_499 });
        var bytes = await File.ReadAllBytesAsync(ClipFixtures.PathOf("images/tiny_50x50.png"));

        var error = await Assert.ThrowsAsync<ImageTooLargeException>(() =>
            generator.GenerateAsync([new DataContent(bytes, "image/png") { Name = "query.png" }]));

        Assert.Contains("query.png", error.Message, StringComparison.Ordinal);
        Assert.Equal(2_499, error.MaxPixels);
        using var unlimited = new ClipImageEmbeddingGenerator(SharedModel.Instance, new ClipEmbeddingOptions { MaxImagePixels = 2_500 });
        Assert.Single(await unlimited.GenerateAsync([new DataContent(bytes, "image/png")]));
    }

    [Fact]
    public async Task GenerateAsync_ForgedJpegOverTheModelsDefaultLimit_ThrowsImageTooLarge()
    {
        using var generator = new ClipImageEmbeddingGenerator(SharedModel.Instance);
        var jpeg = Preprocessing.TestJpeg.WithStrayByteBeforeDqt(Preprocessing.TestJpeg.ClaimingSize(9000, 9000));

        var error = await Assert.ThrowsAsync<ImageTooLargeException>(() => generator.GenerateAsync([new DataContent(jpeg, "image/jpeg")]));

        Assert.Equal(ImageDecodeOptions.DefaultMaxPixels, error.MaxPixels);
    }

    [Fact]
    public async Task GenerateAsync_CancelledToken_ThrowsOperationCanceled()
    {
        using var generator = new ClipImageEmbeddingGenerator(SharedModel.Instance);
        using var cancellation = new CancellationTokenSource();
        await cancellation.CancelAsync();
        var bytes = await File.ReadAllBytesAsync(ClipFixtures.PathOf("images/noise_224x224.png"));
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() =>
            generator.GenerateAsync([new DataContent(bytes, "image/png")], cancellationToken: cancellation.Token));
    }

    [Fact]
    public async Task TextAndImageGenerators_ShareOneModelAndSpace()
    {
        using var texts = new ClipTextEmbeddingGenerator(SharedModel.Instance);
        using var images = new ClipImageEmbeddingGenerator(SharedModel.Instance);
        var text = await texts.GenerateAsync("a photo");
        var image = await images.GenerateAsync(new DataContent(await File.ReadAllBytesAsync(ClipFixtures.PathOf("images/noise_224x224.png")), "image/png"));

        Assert.Equal(text.Vector.Length, image.Vector.Length);
        Assert.Equal(texts.GetService<EmbeddingGeneratorMetadata>()!.DefaultModelId, images.GetService<EmbeddingGeneratorMetadata>()!.DefaultModelId);
    }

    [Fact]
    public async Task GenerateAsync_TwoThreads_DecodesTheImagesOfABatchAtOnce()
    {
        // Two decodes must be in flight together: each waits (up to a bound) for the other. One decoding thread beside
        // the tower would decode them one after the other.
        var decoder = new RendezvousDecoder(2);
        using var model = ClipModel.Load(ClipFixtures.ModelDirectory, new ClipModelOptions { IntraOpThreads = 2, ImageDecoder = decoder });
        using var generator = new ClipImageEmbeddingGenerator(model);
        var bytes = await File.ReadAllBytesAsync(ClipFixtures.PathOf("images/noise_224x224.png"));

        var embeddings = await generator.GenerateAsync([new DataContent(bytes, "image/png"), new DataContent(bytes, "image/png")]);

        Assert.Equal(2, embeddings.Count);
        Assert.True(decoder.MetAll, "the two images of the batch were not decoded at the same time");
    }

    [Fact]
    public async Task GenerateAsync_FastJpegDecodeOnLargePhotos_CloseToTheExactVectors()
    {
        using var fast = ClipModel.Load(ClipFixtures.ModelDirectory, new ClipModelOptions { IntraOpThreads = 1, FastJpegDecode = true });
        using var exactGenerator = new ClipImageEmbeddingGenerator(SharedModel.Instance);
        using var fastGenerator = new ClipImageEmbeddingGenerator(fast);
        var photos = Enumerable.Range(0, 3).Select(i => new DataContent(Preprocessing.TestJpeg.Photo(1600, 1200, seed: i), "image/jpeg")).ToArray();

        var exact = await exactGenerator.GenerateAsync(photos);
        var drafted = await fastGenerator.GenerateAsync(photos);

        Assert.NotNull(fast.ImageDecoding.DraftSize);
        Assert.Null(SharedModel.Instance.ImageDecoding.DraftSize);
        Assert.Equal((298, 224), fast.ImageDecoding.DraftSize!(1600, 1200) is var (w, h) ? (w, h) : default);
        for (var i = 0; i < photos.Length; i++)
        {
            Assert.NotEqual(exact[i].Vector.ToArray(), drafted[i].Vector.ToArray());
            EmbeddingAssert.Close(exact[i].Vector.Span, drafted[i].Vector.Span, minCosine: 0.99);
        }
    }

    /// <summary>The real decoder, but each call waits (up to 10 s) until <c>parties</c> calls are in flight together.</summary>
    private sealed class RendezvousDecoder(int parties) : IImageDecoder
    {
        private readonly CountdownEvent _arrived = new(parties);
        private int _met = 1;

        public bool MetAll => Volatile.Read(ref _met) == 1;

        public RgbImage Decode(ReadOnlySpan<byte> encoded, ImageDecodeOptions? options = null)
        {
            if (!_arrived.IsSet)
            {
                _arrived.Signal();
            }

            if (!_arrived.Wait(TimeSpan.FromSeconds(10)))
            {
                Volatile.Write(ref _met, 0);
            }

            return SkiaImageDecoder.Instance.Decode(encoded, options);
        }
    }

    private static async Task AssertFileMatches(string name, double minCosine)
    {
        var image = ImageEmbeddingCases.Get(name);
        using var generator = new ClipImageEmbeddingGenerator(SharedModel.Instance);
        var bytes = await File.ReadAllBytesAsync(ClipFixtures.PathOf(image.GetProperty("file").GetString()!));

        var embedding = await generator.GenerateAsync(new DataContent(bytes, "application/octet-stream") { Name = name });

        EmbeddingAssert.Close(EmbeddingAssert.Normalized(ImageEmbeddingCases.Embeds(image)), embedding.Vector.Span, minCosine);
    }
}
