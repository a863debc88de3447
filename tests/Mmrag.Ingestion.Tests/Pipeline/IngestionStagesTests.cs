using Microsoft.Extensions.AI;
using Mmrag.Clip.Inference;
using Mmrag.Ingestion.Loaders;
using Mmrag.Ingestion.Pipeline;
using Mmrag.Ingestion.Tests.Support;
using Mmrag.Storage.ContractTests;
using SkiaSharp;

namespace Mmrag.Ingestion.Tests.Pipeline;

/// <summary>
/// The run's stages side by side: a group of files is stored while the next one is embedded, and nothing is lost,
/// stored twice, embedded twice or given another file's vector on the way.
/// </summary>
public sealed class IngestionStagesTests : IDisposable
{
    private readonly IngestionHarness _harness = new();
    private readonly TaskCompletionSource _secondImageCall = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public IngestionStagesTests()
    {
        _harness.Images.BeforeCall = call =>
        {
            if (call == 2)
            {
                _secondImageCall.TrySetResult();
            }
        };
    }

    public void Dispose() => _harness.Dispose();

    [Fact]
    public async Task IngestAsync_GroupBeingStored_NextGroupEmbeddedMeanwhile()
    {
        var paths = Enumerable.Range(0, 4).Select(i => WritePng($"p{i}.png", i)).ToList();
        var overlapped = HoldWriteUntilSecondImageCall(paths[0]);

        var summary = await _harness.RunAsync(new IngestionOptions { EmbeddingBatchSize = 2 });

        // Stored one group after the other, the first write would wait for a call that only comes after it (10 s, then give up).
        Assert.True(await overlapped, "The second group was not embedded while the first one was being stored.");
        Assert.Equal((4, 4, 0), (summary.Added, summary.Items, summary.Failed));
        Assert.Equal((2, 4), (_harness.Images.Calls, _harness.Images.Inputs));
    }

    [Fact]
    public async Task IngestAsync_PhotosAcrossGroups_EveryFileStoredOnceWithTheVectorOfItsOwnImage()
    {
        // Groups of three in path order: [p0 p1 p2] [p3 p4 p5] [p6 p7 p8]. p4 repeats p0 while p0's group is held
        // unstored (so its vector can only come from the group in flight); p8 repeats p1 once that group is stored.
        var paths = Enumerable.Range(0, 9).Select(i => WritePng($"p{i}.png", i switch { 4 => 0, 8 => 1, _ => i })).ToList();
        var overlapped = HoldWriteUntilSecondImageCall(paths[0]);

        var summary = await _harness.RunAsync(new IngestionOptions { EmbeddingBatchSize = 3 });

        Assert.True(await overlapped);
        Assert.Equal((9, 9, 7, 0), (summary.Added, summary.Items, summary.Embedded, summary.Failed));
        Assert.Equal(7, _harness.Images.Inputs);
        Assert.Equal(9, _harness.Store.Upserts);
        Assert.Equal(paths, _harness.Store.Documents.Select(d => d.SourcePath));
        using var alone = new ClipImageEmbeddingGenerator(Fixtures.Model);
        foreach (var path in paths)
        {
            var bytes = File.ReadAllBytes(path);
            var item = Assert.Single(_harness.Store.ItemsOf(_harness.DocumentOf(Path.GetFileName(path)).Id));
            Assert.Equal(DocumentIds.Sha256Hex(bytes), item.ContentHash);
            var expected = (await alone.GenerateAsync([new DataContent(bytes, "image/png")]))[0].Vector.ToArray();
            var stored = item.Vector.ToArray();
            Assert.Equal(expected.Length, stored.Length);
            for (var d = 0; d < expected.Length; d++)
            {
                Assert.Equal(expected[d], stored[d], 5);
            }
        }
    }

    [Fact]
    public async Task IngestAsync_TruncatedImageInAGroup_OnlyThatFileFailsAndTheGroupIsEmbeddedInOneCall()
    {
        var paths = Enumerable.Range(0, 7).Select(i => WritePng($"p{i}.png", i)).ToList();
        var whole = GeneratedPngs.Create(64, 48, SKColors.Teal);
        var broken = _harness.Write("p3-broken.png", whole[..(whole.Length / 2)]);

        var summary = await _harness.RunAsync(new IngestionOptions { EmbeddingBatchSize = 8 });

        var failure = Assert.Single(summary.Failures);
        Assert.Equal(broken, failure.SourcePath);
        Assert.Contains(broken, failure.Reason, StringComparison.Ordinal);
        Assert.Contains("truncated", failure.Reason, StringComparison.Ordinal);
        Assert.Equal((7, 7, 7, 1), (summary.Added, summary.Items, summary.Embedded, summary.Failed));
        Assert.Equal(paths, _harness.Store.Documents.Select(d => d.SourcePath));
        // One call for the group's eight images: the bad one fails alone inside it, the others are not embedded again.
        Assert.Equal((1, 8), (_harness.Images.Calls, _harness.Images.Inputs));
    }

    [Fact]
    public async Task IngestAsync_LastFileSlowToLoad_FirstGroupStoredBeforeItIsPrepared()
    {
        // The first group [p0 p1] is embedded while z-slow.png is loaded; its load waits (at most 10 s, then gives up)
        // until the first group is stored. Stored only once the next group is gathered, the two would wait on each other.
        var firstGroupStored = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var loader = new GatedLoader(new ImageFileLoader(), "z-slow.png", firstGroupStored.Task);
        using var harness = new IngestionHarness(loaders: new LoaderRegistry([loader]));
        loader.Store = harness.Store;
        var paths = new[] { "p0.png", "p1.png", "z-slow.png" }
            .Select((name, i) => harness.Write(name, GeneratedPngs.Create(64, 48, new SKColor((byte)(i * 80), 40, 200)))).ToList();
        var progress = new CallbackProgress<IngestionProgress>(p =>
        {
            if (p.FilesDone >= 2)
            {
                firstGroupStored.TrySetResult();
            }
        });

        var summary = await harness.Pipeline.IngestAsync([harness.Root], new IngestionOptions { EmbeddingBatchSize = 2 }, progress);

        Assert.True(loader.GateOpened, "The first group was not stored before the last file was prepared.");
        Assert.Equal(paths[..2], loader.StoredWhenLoaded);
        Assert.Equal((3, 3, 0), (summary.Added, summary.Items, summary.Failed));
        Assert.Equal(paths, harness.Store.Documents.Select(d => d.SourcePath));
    }

    [Fact]
    public async Task IngestAsync_StoreFailsWhileAFileIsPrepared_ThatFailureIsReportedNotACancellation()
    {
        for (var i = 0; i < 6; i++)
        {
            WritePng($"p{i}.png", i);
        }

        var asked = 0;
        _harness.Store.BeforeGetDocument = _ =>
        {
            if (Interlocked.Increment(ref asked) == 4)
            {
                throw new Mmrag.Storage.KnowledgeStoreException("the store went away");
            }
        };

        var failure = await Assert.ThrowsAsync<Mmrag.Storage.KnowledgeStoreException>(() => _harness.RunAsync(new IngestionOptions { EmbeddingBatchSize = 2 }));

        Assert.Equal("the store went away", failure.Message);
    }

    [Fact]
    public async Task IngestAsync_EmbeddingFailsWhileAGroupIsStored_StoreStopsAfterTheDocumentInHandWhichStaysWhole()
    {
        // Groups of three: [a0 a1 a2] is being stored (its write of a0 held) when [b0 b1 b2]'s embedding fails (vectors
        // of another dimension). The run has failed: the store stage stops after a0 instead of storing a1 and a2.
        var paths = new[] { "a0", "a1", "a2", "b0", "b1", "b2" }.Select((name, i) => WritePng(name + ".png", i)).ToList();
        WritePng("c0.png", 9);
        var stopped = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var lastLoadStarted = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var loaders = new LoaderRegistry([new LoadUntilCancelled(new ImageFileLoader(), "c0.png", lastLoadStarted, stopped)]);
        var firstWrite = HoldWriteUntil(paths[0], stopped.Task);
        using var images = new GatedImageGenerator(_harness.Images)
        {
            // The failure comes once a0's write has begun and c0 is being loaded.
            BeforeCall = (call, _) => call == 2 ? Task.WhenAll(lastLoadStarted.Task, firstWrite).WaitAsync(TimeSpan.FromSeconds(10)) : Task.CompletedTask,
            WrongDimensionOnCall = 2,
        };
        var pipeline = new IngestionPipeline(_harness.Store, _harness.Text, images, loaders);

        await Assert.ThrowsAsync<Mmrag.Storage.EmbeddingSpaceMismatchException>(() =>
            pipeline.IngestAsync([_harness.Root], new IngestionOptions { EmbeddingBatchSize = 3 }));

        AssertOnlyStoredWhole(paths[0]);
    }

    [Fact]
    public async Task IngestAsync_PreparationFailsWhileAGroupIsStored_StoreStopsAfterTheDocumentInHandWhichStaysWhole()
    {
        // [a0 a1 a2] is being stored (its write of a0 held) and [b0 b1 b2] embedded when the store fails for c0 as it is
        // prepared: the store stage stops after a0.
        var paths = new[] { "a0", "a1", "a2", "b0", "b1", "b2" }.Select((name, i) => WritePng(name + ".png", i)).ToList();
        var last = WritePng("c0.png", 9);
        var stopped = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var secondCall = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        using var images = new GatedImageGenerator(_harness.Images)
        {
            BeforeCall = async (call, cancellationToken) =>
            {
                if (call == 2)
                {
                    secondCall.TrySetResult();
                    try
                    {
                        await Task.Delay(TimeSpan.FromSeconds(10), cancellationToken);
                    }
                    finally
                    {
                        stopped.TrySetResult();
                    }
                }
            },
        };
        var firstWrite = HoldWriteUntil(paths[0], stopped.Task);
        _harness.Store.BeforeGetDocument = id =>
        {
            if (id == DocumentIds.ForPath(last))
            {
                // The failure comes once a0's write has begun and b0 b1 b2 are being embedded.
                Task.WhenAll(secondCall.Task, firstWrite).Wait(TimeSpan.FromSeconds(10));
                throw new Mmrag.Storage.KnowledgeStoreException("the store went away");
            }
        };
        var pipeline = new IngestionPipeline(_harness.Store, _harness.Text, images, TestChunkers.Loaders);

        var failure = await Assert.ThrowsAsync<Mmrag.Storage.KnowledgeStoreException>(() =>
            pipeline.IngestAsync([_harness.Root], new IngestionOptions { EmbeddingBatchSize = 3 }));

        Assert.Equal("the store went away", failure.Message);
        AssertOnlyStoredWhole(paths[0]);
    }

    [Fact]
    public async Task IngestAsync_ProgressCallbackBlocksOnTheEmbeddingStagesReport_StoreStageGoesOnAndCallsStaySerializedInOrder()
    {
        // Groups of two: [p0 p1] is stored while [p2 p3] is embedded. The callback, given the embedding stage's report on
        // p2, waits (at most 10 s) until the store stage has reached p1's write; the store stage reports on its way there.
        var paths = Enumerable.Range(0, 4).Select(i => WritePng($"p{i}.png", i)).ToList();
        var callbackBlocking = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var secondWriteReached = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var storeWentOn = false;
        var inCallback = 0;
        var overlapped = false;
        var reports = new List<IngestionProgress>();
        var progress = new CallbackProgress<IngestionProgress>(p =>
        {
            overlapped |= Interlocked.Increment(ref inCallback) > 1;
            reports.Add(p);
            if (p.CurrentFile == paths[2] && p.FileItemsTotal > 0 && !callbackBlocking.Task.IsCompleted)
            {
                callbackBlocking.TrySetResult();
                storeWentOn = secondWriteReached.Task.Wait(TimeSpan.FromSeconds(10));
            }

            Interlocked.Decrement(ref inCallback);
        });
        _harness.Store.BeforeUpsert = async (document, cancellationToken) =>
        {
            if (document.SourcePath == paths[0])
            {
                // The first group's write starts once the callback is blocked on the second group's embedding.
                await Task.WhenAny(callbackBlocking.Task, Task.Delay(TimeSpan.FromSeconds(10), cancellationToken));
            }
            else if (document.SourcePath == paths[1])
            {
                secondWriteReached.TrySetResult();
            }
        };

        var summary = await _harness.Pipeline.IngestAsync([_harness.Root], new IngestionOptions { EmbeddingBatchSize = 2 }, progress);

        Assert.True(callbackBlocking.Task.IsCompleted, "The embedding stage never reported on the second group.");
        Assert.True(storeWentOn, "The store stage stood still while the callback was busy with the embedding stage's report.");
        Assert.False(overlapped);
        Assert.Equal((4, 4, 0), (summary.Added, summary.Items, summary.Failed));
        Assert.Equal(4, reports[^1].FilesDone);
        Assert.Equal(reports.Select(r => r.FilesDone).Order(), reports.Select(r => r.FilesDone));
    }

    /// <summary>
    /// The store's write of <paramref name="path"/> waits for <paramref name="gate"/> (at most 10 s); the task returned
    /// completes when that write has begun.
    /// </summary>
    private Task HoldWriteUntil(string path, Task gate)
    {
        var reached = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        _harness.Store.BeforeUpsert = async (document, cancellationToken) =>
        {
            if (document.SourcePath == path)
            {
                reached.TrySetResult();
                await Task.WhenAny(gate, Task.Delay(TimeSpan.FromSeconds(10), cancellationToken));
            }
        };
        return reached.Task;
    }

    /// <summary>The store holds <paramref name="path"/> alone, with its image item and vector, and no failure.</summary>
    private void AssertOnlyStoredWhole(string path)
    {
        Assert.Equal([path], _harness.Store.Documents.Select(d => d.SourcePath));
        Assert.Equal(1, _harness.Store.Upserts);
        var item = Assert.Single(_harness.Store.ItemsOf(DocumentIds.ForPath(path)));
        Assert.Equal(DocumentIds.Sha256Hex(File.ReadAllBytes(path)), item.ContentHash);
        Assert.Equal(Fixtures.Model.Dimension, item.Vector.Length);
        Assert.Empty(_harness.Store.ListFailuresAsync().GetAwaiter().GetResult());
    }

    /// <summary>The store's write of <paramref name="path"/> waits (at most 10 s) for the image generator's second call; true if it came.</summary>
    private Task<bool> HoldWriteUntilSecondImageCall(string path)
    {
        var result = new TaskCompletionSource<bool>(TaskCreationOptions.RunContinuationsAsynchronously);
        _harness.Store.BeforeUpsert = async (document, cancellationToken) =>
        {
            if (document.SourcePath == path)
            {
                var first = await Task.WhenAny(_secondImageCall.Task, Task.Delay(TimeSpan.FromSeconds(10), cancellationToken));
                result.TrySetResult(first == _secondImageCall.Task);
            }
        };
        return result.Task;
    }

    /// <summary>Reports synchronously to a callback.</summary>
    private sealed class CallbackProgress<T>(Action<T> report) : IProgress<T>
    {
        public void Report(T value) => report(value);
    }

    /// <summary>
    /// Loads like <paramref name="inner"/>, except that the file named <paramref name="gatedName"/> waits for
    /// <paramref name="gate"/> first (at most 10 s); records whether the gate opened and what the store held then.
    /// </summary>
    private sealed class GatedLoader(IDocumentLoader inner, string gatedName, Task gate) : IDocumentLoader
    {
        public bool GateOpened { get; private set; }

        public IReadOnlyList<string> StoredWhenLoaded { get; private set; } = [];

        /// <summary>The store whose documents <see cref="StoredWhenLoaded"/> lists.</summary>
        public InMemoryKnowledgeStore? Store { get; set; }

        public bool CanLoad(string path) => inner.CanLoad(path);

        public async Task<LoadedDocument> LoadAsync(string path, DocumentLoadContext context, CancellationToken cancellationToken = default)
        {
            if (Path.GetFileName(path) == gatedName)
            {
                GateOpened = await Task.WhenAny(gate, Task.Delay(TimeSpan.FromSeconds(10), cancellationToken)) == gate;
                StoredWhenLoaded = [.. Store!.Documents.Select(d => d.SourcePath)];
            }

            return await inner.LoadAsync(path, context, cancellationToken);
        }
    }

    /// <summary>
    /// Loads like <paramref name="inner"/>, except that <paramref name="name"/> says it started and then waits until its
    /// load is cancelled (at most 30 s), which it says through <paramref name="cancelled"/>.
    /// </summary>
    private sealed class LoadUntilCancelled(IDocumentLoader inner, string name, TaskCompletionSource started, TaskCompletionSource cancelled)
        : IDocumentLoader
    {
        public bool CanLoad(string path) => inner.CanLoad(path);

        public async Task<LoadedDocument> LoadAsync(string path, DocumentLoadContext context, CancellationToken cancellationToken = default)
        {
            if (Path.GetFileName(path) == name)
            {
                started.TrySetResult();
                try
                {
                    await Task.Delay(TimeSpan.FromSeconds(30), cancellationToken);
                }
                finally
                {
                    cancelled.TrySetResult();
                }
            }

            return await inner.LoadAsync(path, context, cancellationToken);
        }
    }

    /// <summary>
    /// Passes image calls on to the real generator, first awaiting <see cref="BeforeCall"/> with the call's number and
    /// token; call <see cref="WrongDimensionOnCall"/> answers vectors one longer than the model's (another model).
    /// </summary>
    private sealed class GatedImageGenerator(IEmbeddingGenerator<DataContent, Embedding<float>> inner)
        : DelegatingEmbeddingGenerator<DataContent, Embedding<float>>(inner)
    {
        private int _calls;

        public Func<int, CancellationToken, Task>? BeforeCall { get; init; }

        public int? WrongDimensionOnCall { get; init; }

        public override async Task<GeneratedEmbeddings<Embedding<float>>> GenerateAsync(IEnumerable<DataContent> values,
            EmbeddingGenerationOptions? options = null, CancellationToken cancellationToken = default)
        {
            var call = Interlocked.Increment(ref _calls);
            if (BeforeCall is { } before)
            {
                await before(call, cancellationToken);
            }

            var embeddings = await base.GenerateAsync(values, options, cancellationToken);
            return call == WrongDimensionOnCall
                ? new GeneratedEmbeddings<Embedding<float>>(embeddings.Select(e => new Embedding<float>(e.Vector.ToArray().Append(0f).ToArray())))
                : embeddings;
        }
    }

    /// <summary>A distinct picture for each <paramref name="seed"/> (the same seed gives the same bytes).</summary>
    private string WritePng(string name, int seed) =>
        _harness.Write(name, GeneratedPngs.Create(64, 48, new SKColor((byte)(seed * 53), (byte)(255 - (seed * 29)), (byte)(seed * 97 % 256))));
}
