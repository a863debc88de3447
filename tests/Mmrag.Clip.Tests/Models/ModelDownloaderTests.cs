using System.Net;
using System.Net.Sockets;
using Mmrag.Clip.Models;

namespace Mmrag.Clip.Tests.Models;

public class ModelDownloaderTests : ModelTestBase
{
    private const int CutAt = 1_000_000;

    [Fact]
    public async Task Download_FromHub_PlacesVerifiedFilesAndReportsProgress()
    {
        await using var hub = StartHub();
        using var downloader = CreateDownloader();
        var reports = new List<ModelDownloadProgress>();

        var directory = await downloader.EnsureModelAsync("clip-vit-base-patch32", Options(hub), new SyncProgress<ModelDownloadProgress>(reports.Add));

        Assert.Equal(ModelDirectory(), directory);
        AssertFilesMatchHub(directory, Float32Files);

        // LFS files: HEAD answered by the redirect itself (not followed), bytes fetched from the storage address.
        Assert.Single(hub.Requests, r => r.Method == "HEAD" && r.Path.EndsWith("/onnx/text_model.onnx", StringComparison.Ordinal));
        Assert.DoesNotContain(hub.Requests, r => r.Method == "HEAD" && r.Path.StartsWith("/lfs/", StringComparison.Ordinal));
        Assert.Contains(hub.Requests, r => r.Method == "GET" && r.Path == $"/lfs/{hub.Sha256Of(ModelLayout.TextModel)}");

        var total = Float32Files.Sum(f => (long)HubFiles[f].Length);
        var last = reports[^1];
        Assert.Equal((ModelLayout.VisionModel, ModelDownloadStage.Completed, 8, 9), (last.File, last.Stage, last.FileIndex, last.FileCount));
        Assert.Equal(total, last.OverallBytes);
        Assert.Equal(total, last.OverallTotalBytes);
        Assert.Equal(9, reports.Count(r => r.Stage == ModelDownloadStage.Completed));
        Assert.True(Cache.List().Single().IsComplete);
    }

    [Fact]
    public async Task Download_BranchRevision_FetchesEveryLaterFileFromTheReportedCommit()
    {
        await using var hub = StartHub();
        using var downloader = CreateDownloader();

        await downloader.EnsureModelAsync("clip-vit-base-patch32", Options(hub));

        var resolves = hub.Requests.Where(r => r.Revision is not null).ToList();
        Assert.Equal("main", resolves[0].Revision);
        Assert.All(resolves.Skip(1), r => Assert.Equal(FakeHub.Commit, r.Revision));
    }

    [Fact]
    public async Task Download_ConnectionCutMidway_NextRunResumesWithRangeRequest()
    {
        await using var hub = StartHub();
        using var downloader = CreateDownloader();
        hub.CutAfter[ModelLayout.TextModel] = CutAt;

        var error = await Assert.ThrowsAsync<ModelDownloadException>(
            () => downloader.EnsureModelAsync("clip-vit-base-patch32", Options(hub, maxRetries: 0)));

        Assert.Equal(ModelDownloadFailure.Network, error.Failure);
        Assert.Equal(ModelLayout.TextModel, error.File);
        Assert.False(File.Exists(PathIn(ModelLayout.TextModel)));
        Assert.Equal(CutAt, new FileInfo(PathIn(ModelLayout.TextModel) + ".partial").Length);
        Assert.Equal([ModelLayout.TextModel, ModelLayout.VisionModel], error.MissingFiles);

        var directory = await downloader.EnsureModelAsync("clip-vit-base-patch32", Options(hub, maxRetries: 0));

        Assert.Contains(hub.RequestsFor(ModelLayout.TextModel), r => r.Method == "GET" && r.Range == $"bytes={CutAt}-" && r.Path.StartsWith("/lfs/", StringComparison.Ordinal));
        Assert.Equal(hub.Sha256Of(ModelLayout.TextModel), Sha256OfFile(PathIn(ModelLayout.TextModel)));
        AssertFilesMatchHub(directory, Float32Files);
    }

    [Fact]
    public async Task Download_ConnectionCutMidway_RetriesAndResumesWithinOneCall()
    {
        await using var hub = StartHub();
        using var downloader = CreateDownloader();
        hub.CutAfter[ModelLayout.TextModel] = CutAt;
        var stages = new List<ModelDownloadStage>();

        var directory = await downloader.EnsureModelAsync(
            "clip-vit-base-patch32", Options(hub, maxRetries: 1), new SyncProgress<ModelDownloadProgress>(p => stages.Add(p.Stage)));

        var gets = hub.RequestsFor(ModelLayout.TextModel).Where(r => r.Method == "GET" && r.Path.StartsWith("/lfs/", StringComparison.Ordinal)).ToList();
        Assert.Equal([null, $"bytes={CutAt}-"], gets.Select(r => r.Range));
        Assert.Contains(ModelDownloadStage.Retrying, stages);
        AssertFilesMatchHub(directory, Float32Files);
    }

    [Fact]
    public async Task Download_CorruptedBytes_FailsNamingBothHashes_AndLeavesNoFile()
    {
        await using var hub = StartHub();
        using var downloader = CreateDownloader();
        hub.Corrupt[ModelLayout.TextModel] = true;
        var corrupted = (byte[])HubFiles[ModelLayout.TextModel].Clone();
        corrupted[corrupted.Length / 2] ^= 0xFF;

        var error = await Assert.ThrowsAsync<ModelDownloadException>(
            () => downloader.EnsureModelAsync("clip-vit-base-patch32", Options(hub)));

        Assert.Equal(ModelDownloadFailure.Verification, error.Failure);
        Assert.Equal(ModelLayout.TextModel, error.File);
        Assert.Contains(ModelLayout.TextModel, error.Message, StringComparison.Ordinal);
        Assert.Contains(hub.Sha256Of(ModelLayout.TextModel), error.Message, StringComparison.Ordinal);
        Assert.Contains(Sha256(corrupted), error.Message, StringComparison.Ordinal);
        Assert.False(File.Exists(PathIn(ModelLayout.TextModel)));
        Assert.False(File.Exists(PathIn(ModelLayout.TextModel) + ".partial"));
        Assert.False(File.Exists(PathIn(ModelLayout.VisionModel)));
    }

    [Fact]
    public async Task Download_ServerIgnoresRange_StartsTheFileAgainFromZero()
    {
        await using var hub = StartHub();
        using var downloader = CreateDownloader();
        hub.IgnoreRange = true;
        WritePartial(ModelLayout.TextModel, HubFiles[ModelLayout.TextModel][..CutAt]);

        var directory = await downloader.EnsureModelAsync("clip-vit-base-patch32", Options(hub));

        Assert.Contains(hub.RequestsFor(ModelLayout.TextModel), r => r.Range == $"bytes={CutAt}-");
        AssertFilesMatchHub(directory, Float32Files);
    }

    [Fact]
    public async Task Download_PartialAlreadyWhole_IsVerifiedWithoutFetchingItAgain()
    {
        await using var hub = StartHub();
        using var downloader = CreateDownloader();
        WritePartial(ModelLayout.TextModel, HubFiles[ModelLayout.TextModel]);

        var directory = await downloader.EnsureModelAsync("clip-vit-base-patch32", Options(hub));

        Assert.DoesNotContain(hub.RequestsFor(ModelLayout.TextModel), r => r.Method == "GET");
        AssertFilesMatchHub(directory, Float32Files);
    }

    [Fact]
    public async Task Download_PartialLongerThanThePublishedSize_IsDiscarded()
    {
        await using var hub = StartHub();
        using var downloader = CreateDownloader();
        WritePartial(ModelLayout.TextModel, [.. HubFiles[ModelLayout.TextModel], 1, 2, 3]);

        var directory = await downloader.EnsureModelAsync("clip-vit-base-patch32", Options(hub));

        Assert.All(hub.RequestsFor(ModelLayout.TextModel), r => Assert.Null(r.Range));
        AssertFilesMatchHub(directory, Float32Files);
    }

    [Fact]
    public async Task Download_ResumedPrefixFromAnotherVersion_FetchesTheWholeFileOnce()
    {
        await using var hub = StartHub();
        using var downloader = CreateDownloader();
        WritePartial(ModelLayout.TextModel, new byte[CutAt]);

        var directory = await downloader.EnsureModelAsync("clip-vit-base-patch32", Options(hub));

        var gets = hub.RequestsFor(ModelLayout.TextModel).Where(r => r.Method == "GET" && r.Path.StartsWith("/lfs/", StringComparison.Ordinal)).ToList();
        Assert.Equal([$"bytes={CutAt}-", null], gets.Select(r => r.Range));
        AssertFilesMatchHub(directory, Float32Files);
    }

    [Fact]
    public async Task Download_NoPublishedSize_416OnAWholePartial_IsTreatedAsComplete()
    {
        await using var hub = StartHub();
        using var downloader = CreateDownloader();
        hub.OmitSizes = true;
        var whole = HubFiles[ModelLayout.TextModel];
        WritePartial(ModelLayout.TextModel, whole);
        WritePartial(ModelLayout.VisionModel, [.. HubFiles[ModelLayout.VisionModel], 9, 9]);

        var directory = await downloader.EnsureModelAsync("clip-vit-base-patch32", Options(hub));

        Assert.Single(hub.RequestsFor(ModelLayout.TextModel), r => r.Method == "GET" && r.Range == $"bytes={whole.Length}-" && r.Path.StartsWith("/lfs/", StringComparison.Ordinal));
        Assert.Contains(hub.RequestsFor(ModelLayout.VisionModel), r => r.Method == "GET" && r.Range is null && r.Path.StartsWith("/lfs/", StringComparison.Ordinal));
        AssertFilesMatchHub(directory, Float32Files);
    }

    [Fact]
    public async Task Download_Transient503_IsRetried()
    {
        await using var hub = StartHub();
        using var downloader = CreateDownloader();
        hub.Unavailable[ModelLayout.Config] = 2;
        hub.Unavailable[ModelLayout.VisionModel] = 1;

        var directory = await downloader.EnsureModelAsync("clip-vit-base-patch32", Options(hub, maxRetries: 2));

        Assert.Equal(3, hub.RequestsFor(ModelLayout.Config).Count(r => r.Method == "HEAD"));
        AssertFilesMatchHub(directory, Float32Files);
    }

    [Fact]
    public async Task Download_StalledTransfer_TimesOutAndResumes()
    {
        await using var hub = StartHub();
        using var downloader = CreateDownloader();
        hub.StallAfter[ModelLayout.VisionModel] = 100_000;

        var directory = await downloader.EnsureModelAsync(
            "clip-vit-base-patch32", Options(hub, maxRetries: 1) with { StallTimeout = TimeSpan.FromMilliseconds(300) });

        Assert.Contains(hub.RequestsFor(ModelLayout.VisionModel), r => r.Range == "bytes=100000-");
        AssertFilesMatchHub(directory, Float32Files);
    }

    [Fact]
    public async Task Download_QuantizedVariant_FetchesTheQuantizedTowers()
    {
        await using var hub = StartHub();
        using var downloader = CreateDownloader();
        var options = Options(hub) with { Variants = ModelVariants.Float32 | ModelVariants.Quantized };

        var directory = await downloader.EnsureModelAsync("clip-vit-base-patch32", options);

        AssertFilesMatchHub(directory, ModelLayout.RequiredFiles(options.Variants));
        Assert.Equal(ModelVariants.Float32 | ModelVariants.Quantized, Cache.List().Single().CompleteVariants);
    }

    [Fact]
    public async Task Offline_NoRequestReachesTheServer_AndTheErrorListsFilesAndFolder()
    {
        await using var hub = StartHub();
        using var downloader = CreateDownloader();
        CopyFixtureModel(ModelDirectory(), [ModelLayout.Config]);

        var error = await Assert.ThrowsAsync<ModelDownloadException>(
            () => downloader.EnsureModelAsync("clip-vit-base-patch32", Options(hub) with { Offline = true }));

        Assert.Empty(hub.Requests);
        Assert.Equal(ModelDownloadFailure.Offline, error.Failure);
        Assert.Equal(ModelDirectory(), error.ModelDirectory);
        Assert.Equal(Float32Files.Skip(1), error.MissingFiles);
        Assert.Contains(ModelDirectory(), error.Message, StringComparison.Ordinal);
        Assert.Contains("MMRAG_OFFLINE", error.Message, StringComparison.Ordinal);
        foreach (var file in Float32Files.Skip(1))
        {
            Assert.Contains($"{file}  <-  {hub.Endpoint}Xenova/clip-vit-base-patch32/resolve/main/{file}", error.Message, StringComparison.Ordinal);
        }

        Assert.DoesNotContain($"  {ModelLayout.Config}  <-", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Offline_CompleteModel_IsReturnedWithoutNetwork()
    {
        await using var hub = StartHub();
        using var downloader = CreateDownloader();
        CopyFixtureModel(ModelDirectory(), Float32Files);

        var directory = await downloader.EnsureModelAsync("clip-vit-base-patch32", Options(hub) with { Offline = true });
        var local = await downloader.EnsureModelAsync(ClipFixtures.ModelDirectory, Options(hub) with { Offline = true });

        Assert.Equal(ModelDirectory(), directory);
        Assert.Equal(Path.GetFullPath(ClipFixtures.ModelDirectory), local);
        Assert.Empty(hub.Requests);
    }

    [Theory]
    [InlineData("1", true)]
    [InlineData("true", true)]
    [InlineData(" YES ", true)]
    [InlineData("0", false)]
    [InlineData("", false)]
    [InlineData(null, false)]
    public void OfflineVariable_TruthyValues_TurnOfflineOn(string? value, bool offline)
    {
        Assert.Equal(offline, ModelDownloadOptions.IsTruthy(value));
    }

    [Fact]
    public async Task UnreachableServer_FailsWithTheCauseAndManualInstructions()
    {
        var closed = new TcpListener(IPAddress.Loopback, 0);
        closed.Start();
        var port = ((IPEndPoint)closed.LocalEndpoint).Port;
        closed.Stop();
        using var downloader = CreateDownloader();
        var options = new ModelDownloadOptions
        {
            Endpoint = new Uri($"http://127.0.0.1:{port}/"),
            Offline = false,
            MaxRetries = 1,
            RetryBaseDelay = TimeSpan.FromMilliseconds(1),
        };

        var error = await Assert.ThrowsAsync<ModelDownloadException>(() => downloader.EnsureModelAsync("clip-vit-base-patch32", options));

        Assert.Equal(ModelDownloadFailure.Network, error.Failure);
        Assert.IsType<HttpRequestException>(error.InnerException);
        Assert.Contains($"127.0.0.1:{port}", error.Message, StringComparison.Ordinal);
        Assert.Contains("refused", error.Message, StringComparison.OrdinalIgnoreCase);
        Assert.Contains(ModelDirectory(), error.Message, StringComparison.Ordinal);
        Assert.Contains("onnx/vision_model.onnx  <-  ", error.Message, StringComparison.Ordinal);
        Assert.Equal(Float32Files, error.MissingFiles);
    }

    [Fact]
    public async Task Cancellation_MidDownload_ThrowsAndKeepsTheCacheConsistent()
    {
        await using var hub = StartHub();
        using var downloader = CreateDownloader();
        hub.StallAfter[ModelLayout.TextModel] = CutAt;
        using var cts = new CancellationTokenSource();

        var download = downloader.EnsureModelAsync("clip-vit-base-patch32", Options(hub), cancellationToken: cts.Token);
        await hub.StallReached.Task.WaitAsync(TimeSpan.FromSeconds(10));
        await cts.CancelAsync();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => download);
        Assert.False(File.Exists(PathIn(ModelLayout.TextModel)));
        var cached = Cache.List().Single();
        Assert.False(cached.IsComplete);
        Assert.Equal([ModelLayout.TextModel, ModelLayout.VisionModel], cached.MissingFiles);
        Assert.Equal([ModelLayout.TextModel], cached.PartialFiles);
        Assert.InRange(new FileInfo(PathIn(ModelLayout.TextModel) + ".partial").Length, 0, CutAt);

        var directory = await downloader.EnsureModelAsync("clip-vit-base-patch32", Options(hub));

        AssertFilesMatchHub(directory, Float32Files);
    }

    [Fact]
    public async Task ConcurrentDownloadOfTheSameFile_FailsAsFileInUse()
    {
        await using var hub = StartHub();
        using var downloader = CreateDownloader();
        WritePartial(ModelLayout.Config, []);
        using (new FileStream(PathIn(ModelLayout.Config) + ".partial", FileMode.Open, FileAccess.ReadWrite, FileShare.None))
        {
            var error = await Assert.ThrowsAsync<ModelDownloadException>(() => downloader.EnsureModelAsync("clip-vit-base-patch32", Options(hub)));

            Assert.Equal(ModelDownloadFailure.FileInUse, error.Failure);
            Assert.Equal(ModelLayout.Config, error.File);
        }

        AssertFilesMatchHub(await downloader.EnsureModelAsync("clip-vit-base-patch32", Options(hub)), Float32Files);
    }

    [Fact]
    public async Task MissingFileOnTheHub_FailsAsNotFound()
    {
        await using var hub = StartHub("Someone/other-clip");
        using var downloader = CreateDownloader();
        var model = new ModelDescriptor("other-clip", "Someone/other-clip", "main", 32, "test", [ModelLayout.Config, "extra.json"]);

        var error = await Assert.ThrowsAsync<ModelDownloadException>(() => downloader.DownloadAsync(model, Options(hub)));

        Assert.Equal(ModelDownloadFailure.NotFound, error.Failure);
        Assert.Equal("extra.json", error.File);
        Assert.Contains("404", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task PinnedRevision_IsRequestedAsIs()
    {
        await using var hub = StartHub("Someone/other-clip");
        using var downloader = CreateDownloader();
        var model = new ModelDescriptor("other-clip", "Someone/other-clip", FakeHub.Commit, 32, "test");

        var directory = await downloader.DownloadAsync(model, Options(hub));

        Assert.All(hub.Requests.Where(r => r.Revision is not null), r => Assert.Equal(FakeHub.Commit, r.Revision));
        AssertFilesMatchHub(directory, Float32Files);
    }

    [Fact]
    public async Task HttpClientFollowingRedirects_IsRejected()
    {
        await using var hub = StartHub();
        using var downloader = CreateDownloader(allowAutoRedirect: true);

        await Assert.ThrowsAsync<InvalidOperationException>(() => downloader.EnsureModelAsync("clip-vit-base-patch32", Options(hub)));
    }

    [Fact]
    public async Task EnsureModel_UnknownName_ThrowsListingTheCatalog()
    {
        using var downloader = CreateDownloader();

        var error = await Assert.ThrowsAsync<ClipModelException>(() => downloader.EnsureModelAsync("no-such-model", new ModelDownloadOptions { Offline = true }));

        Assert.Contains("clip-vit-base-patch32", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task EnsureModel_IncompleteLocalFolder_NamesTheMissingFilesAndDownloadsNothing()
    {
        var folder = Path.Combine(TempRoot, "mine");
        CopyFixtureModel(folder, Float32Files.Where(f => f != ModelLayout.VisionModel));
        using var downloader = CreateDownloader();

        var error = await Assert.ThrowsAsync<ClipModelException>(() => downloader.EnsureModelAsync(folder, new ModelDownloadOptions { Offline = false }));

        Assert.Contains(ModelLayout.VisionModel, error.Message, StringComparison.Ordinal);
        Assert.Contains(folder, error.Message, StringComparison.Ordinal);
    }
}
