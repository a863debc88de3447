using System.Security.Cryptography;
using Mmrag.Clip.Models;

namespace Mmrag.Clip.Tests.Models;

/// <summary>A temporary cache root per test, the tiny fixture model as hub content, and small helpers.</summary>
public abstract class ModelTestBase : IDisposable
{
    private static readonly Lazy<IReadOnlyDictionary<string, byte[]>> FixtureFiles = new(LoadFixtureFiles);

    protected ModelTestBase()
    {
        TempRoot = Path.Combine(Path.GetTempPath(), "mmrag-model-tests", Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(TempRoot);
        Cache = new ModelCache(Path.Combine(TempRoot, "models"));
    }

    protected string TempRoot { get; }

    protected ModelCache Cache { get; }

    /// <summary>The fixture model's files as the hub serves them, plus stand-ins for the quantized towers.</summary>
    internal static IReadOnlyDictionary<string, byte[]> HubFiles => FixtureFiles.Value;

    internal static IReadOnlyList<string> Float32Files => ModelLayout.RequiredFiles(ModelVariants.Float32);

    internal static string Sha256(byte[] bytes) => Convert.ToHexStringLower(SHA256.HashData(bytes));

    internal static string Sha256OfFile(string path) => Sha256(File.ReadAllBytes(path));

    internal static FakeHub StartHub(string repository = "Xenova/clip-vit-base-patch32") => new(repository, HubFiles);

    /// <summary>Like <see cref="ModelDownloader.CreateHttpClient"/>, without a proxy so loopback is reached directly.</summary>
    internal static HttpClient CreateClient(bool allowAutoRedirect = false) =>
        new(new SocketsHttpHandler { AllowAutoRedirect = allowAutoRedirect, UseProxy = false, AutomaticDecompression = System.Net.DecompressionMethods.None });

    internal static ModelDownloadOptions Options(FakeHub hub, int maxRetries = 2) => new()
    {
        Endpoint = hub.Endpoint,
        Offline = false,
        MaxRetries = maxRetries,
        RetryBaseDelay = TimeSpan.FromMilliseconds(1),
        MaxRetryDelay = TimeSpan.FromMilliseconds(5),
    };

    internal ModelDownloader CreateDownloader(bool allowAutoRedirect = false) =>
        new(CreateClient(allowAutoRedirect), Cache, disposeHttpClient: true);

    internal string ModelDirectory(string name = ModelCatalog.DefaultModelName) => Path.Combine(Cache.Root, name);

    internal string PathIn(string file, string name = ModelCatalog.DefaultModelName) =>
        ModelLayout.FullPath(ModelDirectory(name), file);

    internal void AssertFilesMatchHub(string directory, IEnumerable<string> files)
    {
        foreach (var file in files)
        {
            var path = ModelLayout.FullPath(directory, file);
            Assert.True(File.Exists(path), $"{file} is missing");
            Assert.Equal(Sha256(HubFiles[file]), Sha256OfFile(path));
        }

        Assert.Empty(Directory.EnumerateFiles(directory, "*" + ModelLayout.PartialSuffix, SearchOption.AllDirectories));
    }

    internal void WritePartial(string file, byte[] content)
    {
        var path = PathIn(file) + ModelLayout.PartialSuffix;
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        File.WriteAllBytes(path, content);
    }

    internal void CopyFixtureModel(string directory, IEnumerable<string> files)
    {
        foreach (var file in files)
        {
            var path = ModelLayout.FullPath(directory, file);
            Directory.CreateDirectory(Path.GetDirectoryName(path)!);
            File.WriteAllBytes(path, HubFiles[file]);
        }
    }

    public void Dispose()
    {
        try
        {
            Directory.Delete(TempRoot, recursive: true);
        }
        catch (IOException)
        {
        }

        GC.SuppressFinalize(this);
    }

    private static IReadOnlyDictionary<string, byte[]> LoadFixtureFiles()
    {
        var files = Float32Files.ToDictionary(f => f, f => File.ReadAllBytes(ModelLayout.FullPath(ClipFixtures.ModelDirectory, f)));

        // The fixture has no quantized towers; any distinct bytes stand in for them.
        files[ModelLayout.QuantizedTextModel] = [.. files[ModelLayout.VisionModel], 1];
        files[ModelLayout.QuantizedVisionModel] = [.. files[ModelLayout.VisionModel], 2];
        return files;
    }
}

/// <summary>Reports synchronously on the caller's thread (unlike <see cref="Progress{T}"/>).</summary>
internal sealed class SyncProgress<T>(Action<T> onReport) : IProgress<T>
{
    public void Report(T value) => onReport(value);
}
