using Mmrag.Answering.Tests.Fakes;
using Mmrag.Testing;

namespace Mmrag.Server.Tests.Browser;

[CollectionDefinition(Name)]
public sealed class ServeProcessCollection : ICollectionFixture<ServeProcessFixture>
{
    public const string Name = "mmrag serve process";
}

/// <summary>
/// What a user runs: <c>mmrag ingest</c> of a copy of samples/kb with the tiny CLIP model, then <c>mmrag serve</c> on a
/// free loopback port, as separate processes, with the loopback OpenAI-compatible server as the LLM (through the
/// <c>MMRAG_LLM_*</c> variables). The serve process is killed at the end.
/// </summary>
public sealed class ServeProcessFixture : IAsyncLifetime
{
    private readonly string _temp = Path.Combine(Path.GetTempPath(), "mmrag-serve-test-" + Guid.NewGuid().ToString("N"));
    private MmragServeProcess? _serve;

    public string Samples => Path.Combine(_temp, "samples");

    public string KnowledgeBaseFolder => Path.Combine(_temp, "kb");

    internal FakeOpenAiServer Llm { get; } = new();

    /// <summary>Where the started <c>mmrag serve</c> listens.</summary>
    public Uri BaseAddress { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        ServerFixture.CopyDirectory(ServerFixture.SampleFolder(), Samples);
        var ingest = await MmragProcess.RunAsync("ingest", Samples, "--kb", KnowledgeBaseFolder, "--model", ClipFixtureLocator.ModelDirectory);
        Assert.True(ingest.ExitCode == 0, $"mmrag ingest failed: {ingest.Output}");

        // The LLM is the loopback fake; no API key, so the page needs none.
        _serve = MmragServeProcess.Start(new Dictionary<string, string?>
        {
            ["MMRAG_LLM_BASE_URL"] = Llm.BaseUrl,
            ["MMRAG_LLM_MODEL"] = "fake-vision",
            ["MMRAG_LLM_API_KEY"] = "k",
            ["MMRAG_API_KEY"] = null,
            // The web page's URL box is tested against a loopback site: the server's configuration key allows it.
            ["Mmrag__Ingestion__AllowPrivateHosts"] = "true",
        }, "--kb", KnowledgeBaseFolder, "--urls", "http://127.0.0.1:0", "--ingest-root", Samples);
        BaseAddress = await _serve.AddressAsync();
    }

    public async Task DisposeAsync()
    {
        if (_serve is { } serve)
        {
            await serve.DisposeAsync();
        }

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
}
