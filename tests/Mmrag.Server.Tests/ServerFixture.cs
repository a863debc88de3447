using System.Net.Http.Headers;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.AI;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Logging;
using Mmrag.Answering.Llm;
using Mmrag.Answering.Tests.Fakes;
using Mmrag.Clip.Inference;
using Mmrag.Ingestion.Chunking;
using Mmrag.Ingestion.Loaders;
using Mmrag.Ingestion.Pipeline;
using Mmrag.Knowledge;
using Mmrag.Hosting;
using Mmrag.Storage;

namespace Mmrag.Server.Tests;

/// <summary>
/// A copy of samples/kb ingested with the tiny CLIP model, the loopback OpenAI-compatible server as the LLM, and an
/// <see cref="MmragServer"/> on 127.0.0.1:0 over them. Shared by the tests of the "server" collection (run one after another).
/// </summary>
public sealed class ServerFixture : IAsyncLifetime
{
    private readonly string _temp = Path.Combine(Path.GetTempPath(), "mmrag-server-test-" + Guid.NewGuid().ToString("N"));

    public string Samples => Path.Combine(_temp, "samples");

    public string KnowledgeBaseFolder => Path.Combine(_temp, "kb");

    /// <summary>A folder outside every allowed root (for escape attempts).</summary>
    public string Outside => Path.Combine(_temp, "outside");

    /// <summary>The knowledge base, opened through the composition root as <c>mmrag serve</c> opens it.</summary>
    public MmragKnowledgeBase KnowledgeBase { get; private set; } = null!;

    public IKnowledgeStore Store => KnowledgeBase.Store;

    public ClipModel Model => KnowledgeBase.Model;

    internal FakeOpenAiServer Llm { get; } = new();

    public IChatClient Chat { get; private set; } = null!;

    public MmragServer Server { get; private set; } = null!;

    public HttpClient Client { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        CopyDirectory(SampleFolder(), Samples);
        Directory.CreateDirectory(Outside);
        await File.WriteAllTextAsync(Path.Combine(Outside, "secret.txt"), "top secret outside the roots");
        Chat = OpenAiCompatibleChatClientFactory.Create(new LlmOptions { BaseUrl = Llm.BaseUrl, Model = "fake-vision", ApiKey = "k", MaxRetries = 0 });
        KnowledgeBase = await MmragKnowledgeBase.OpenAsync(new MmragOptions
        {
            Folder = KnowledgeBaseFolder, Model = Path.Combine(Fixtures.Clip, "tiny-clip"), CreateIfMissing = true, Offline = true, ChatClient = Chat,
        });
        var summary = await KnowledgeBase.CreatePipeline().IngestAsync([Samples], new IngestionOptions { KnowledgeBaseDirectory = KnowledgeBaseFolder });
        Assert.True(summary.Failed == 0 && summary.Items > 0, $"sample ingestion: {summary.Failed} failed, {summary.Items} items");

        Server = await StartAsync(new() { KnowledgeBase = KnowledgeBase, Urls = ["http://127.0.0.1:0"], AllowedRoots = [Samples] });
        Client = CreateClient(Server);
    }

    /// <summary>Starts a server; <paramref name="configuration"/> holds keys its host's configuration adds (e.g. <c>Mmrag:Ingestion:MaxDepth</c>).</summary>
    public static async Task<MmragServer> StartAsync(MmragServerOptions options, IReadOnlyDictionary<string, string?>? configuration = null)
    {
        var server = MmragServer.Create(options, builder =>
        {
            builder.Logging.ClearProviders();
            builder.Configuration.AddInMemoryCollection(configuration ?? new Dictionary<string, string?>());
        });
        await server.StartAsync();
        return server;
    }

    public static HttpClient CreateClient(MmragServer server, string? apiKey = null)
    {
        var client = new HttpClient { BaseAddress = server.BaseAddress, Timeout = TimeSpan.FromSeconds(60) };
        if (apiKey is not null)
        {
            client.DefaultRequestHeaders.Add("X-Api-Key", apiKey);
        }

        client.DefaultRequestHeaders.Accept.Add(new MediaTypeWithQualityHeaderValue("application/json"));
        return client;
    }

    /// <summary>Options for another server over the same knowledge base.</summary>
    public MmragServerOptions Options(string? apiKey = null, long? maxUploadBytes = null) => new()
    {
        KnowledgeBase = KnowledgeBase,
        Urls = ["http://127.0.0.1:0"],
        ApiKey = apiKey,
        AllowedRoots = [Samples],
        MaxUploadBytes = maxUploadBytes ?? 64L * 1024 * 1024,
    };

    public async Task DisposeAsync()
    {
        Client?.Dispose();
        if (Server is not null)
        {
            await Server.DisposeAsync();
        }

        if (KnowledgeBase is not null)
        {
            await KnowledgeBase.DisposeAsync();
        }

        Chat?.Dispose();
        await Llm.DisposeAsync();
        try
        {
            Directory.Delete(_temp, recursive: true);
        }
        catch (IOException)
        {
            // Best effort.
        }
    }

    internal static string SampleFolder()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "Mmrag.slnx")))
            {
                return Path.Combine(dir.FullName, "samples", "kb");
            }
        }

        throw new DirectoryNotFoundException("samples/kb not found above the test binaries.");
    }

    internal static void CopyDirectory(string from, string to)
    {
        foreach (var file in Directory.EnumerateFiles(from, "*", SearchOption.AllDirectories))
        {
            var target = Path.Combine(to, Path.GetRelativePath(from, file));
            Directory.CreateDirectory(Path.GetDirectoryName(target)!);
            File.Copy(file, target);
        }
    }
}

[CollectionDefinition("server")]
public sealed class ServerCollection : ICollectionFixture<ServerFixture>;

/// <summary>The shared CLIP fixtures (see <see cref="Mmrag.Testing.ClipFixtureLocator"/>).</summary>
internal static class Fixtures
{
    public static string Clip => Mmrag.Testing.ClipFixtureLocator.Directory;

    public static string Image(string name) => Mmrag.Testing.ClipFixtureLocator.ImagePath(name);
}
