using System.Diagnostics;
using System.Text.Json;
using Mmrag.Testing;

namespace Mmrag.Storage.Postgres.Tests;

/// <summary><c>mmrag kb migrate</c> as a user runs it: the sample knowledge base, copied into PostgreSQL, answers searches as before.</summary>
[Collection(PostgresCollection.Name)]
public sealed class MigrateCommandTests(PostgresTestServer server) : IAsyncLifetime
{
    private readonly string _schema = PostgresTestServer.NewSchema();
    private readonly string _folder = Path.Combine(Path.GetTempPath(), "mmrag-migrate-cli-" + Guid.NewGuid().ToString("N"));

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync()
    {
        await server.DropSchemasAsync([_schema]);
        if (Directory.Exists(_folder))
        {
            Directory.Delete(_folder, recursive: true);
        }
    }

    [Fact]
    public async Task Migrate_SampleKnowledgeBase_PostgresReturnsTheSameSearchResults()
    {
        string kb = Path.Combine(_folder, "kb");
        string samples = Path.Combine(ClipFixtureLocator.RepositoryRoot, "samples", "kb");
        string connection = server.WithPoolSize(3);
        await MmragAsync("ingest", samples, "--kb", kb, "--model", ClipFixtureLocator.ModelDirectory);

        string copied = await MmragAsync("kb", "migrate", "--from", kb, "--to", connection, "--schema", _schema);
        Assert.Contains("copied 16 documents", copied, StringComparison.Ordinal);

        string[][] queries =
        [
            ["--text", "a flower in the garden"],
            ["--text", "wooden workbench"],
            ["--image", Path.Combine(samples, "photos", "garden.jpg")],
        ];
        foreach (string[] query in queries)
        {
            string[] common = ["search", .. query, "--no-hybrid", "--threshold", "0", "--k", "8", "--format", "json"];
            string[] embedded = HitIds(await MmragAsync([.. common, "--kb", kb]));
            string[] postgres = HitIds(await MmragAsync([.. common, "--store", "postgres", "--connection", connection, "--schema", _schema]));
            Assert.NotEmpty(embedded);
            Assert.Equal(embedded, postgres);
        }
    }

    private static string[] HitIds(string json)
    {
        using JsonDocument document = JsonDocument.Parse(json);
        return [.. document.RootElement.GetProperty("hits").EnumerateArray().Select(static h => h.GetProperty("id").GetString()!)];
    }

    private static async Task<string> MmragAsync(params string[] args)
    {
        var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        start.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "mmrag.dll"));
        foreach (string arg in args)
        {
            start.ArgumentList.Add(arg);
        }

        using Process process = Process.Start(start) ?? throw new InvalidOperationException("dotnet did not start.");
        Task<string> output = process.StandardOutput.ReadToEndAsync();
        Task<string> error = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(3));
        await process.WaitForExitAsync(timeout.Token);
        Assert.True(process.ExitCode == 0, $"mmrag {string.Join(' ', args)} exited with {process.ExitCode}: {await error}{await output}");
        return await output;
    }
}
