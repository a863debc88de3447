using System.Diagnostics;
using System.Text;
using System.Text.RegularExpressions;
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
public sealed partial class ServeProcessFixture : IAsyncLifetime
{
    private readonly string _temp = Path.Combine(Path.GetTempPath(), "mmrag-serve-test-" + Guid.NewGuid().ToString("N"));
    private readonly StringBuilder _serveOutput = new();
    private Process? _serve;

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
        _serve = MmragProcess.Start(new Dictionary<string, string?>
        {
            ["MMRAG_LLM_BASE_URL"] = Llm.BaseUrl,
            ["MMRAG_LLM_MODEL"] = "fake-vision",
            ["MMRAG_LLM_API_KEY"] = "k",
            ["MMRAG_API_KEY"] = null,
            // The web page's URL box is tested against a loopback site: the server's configuration key allows it.
            ["Mmrag__Ingestion__AllowPrivateHosts"] = "true",
        }, "serve", "--kb", KnowledgeBaseFolder, "--urls", "http://127.0.0.1:0", "--ingest-root", Samples);
        var listening = new TaskCompletionSource<Uri>(TaskCreationOptions.RunContinuationsAsynchronously);
        _serve.OutputDataReceived += (_, e) => Watch(e.Data, listening);
        _serve.ErrorDataReceived += (_, e) => Watch(e.Data, listening);
        _serve.Exited += (_, _) => listening.TrySetException(new InvalidOperationException("mmrag serve exited: " + Output()));
        _serve.EnableRaisingEvents = true;
        _serve.BeginOutputReadLine();
        _serve.BeginErrorReadLine();
        BaseAddress = await listening.Task.WaitAsync(TimeSpan.FromMinutes(2));
    }

    public async Task DisposeAsync()
    {
        if (_serve is { } serve)
        {
            try
            {
                serve.Kill(entireProcessTree: true);
                await serve.WaitForExitAsync();
            }
            catch (InvalidOperationException)
            {
                // Already gone.
            }

            serve.Dispose();
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

    private void Watch(string? line, TaskCompletionSource<Uri> listening)
    {
        if (line is null)
        {
            return;
        }

        lock (_serveOutput)
        {
            _serveOutput.AppendLine(line);
        }

        // "serving KB (model) on http://127.0.0.1:PORT; Ctrl+C stops"
        if (ServingLine().Match(line) is { Success: true } match)
        {
            listening.TrySetResult(new Uri(match.Groups[1].Value + "/"));
        }
    }

    private string Output()
    {
        lock (_serveOutput)
        {
            return _serveOutput.ToString();
        }
    }

    [GeneratedRegex(@"^serving .* on (http://[^\s;,]+)")]
    private static partial Regex ServingLine();
}
