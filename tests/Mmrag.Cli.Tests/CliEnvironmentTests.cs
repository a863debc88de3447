using Mmrag.Hosting;

namespace Mmrag.Cli.Tests;

/// <summary>
/// The model settings the commands read from the environment (<c>MMRAG_MODEL</c>, <c>MMRAG_HOME</c>, <c>MMRAG_OFFLINE</c>)
/// come through <see cref="CliEnvironment"/>, so a test's per-flow override is what the command sees.
/// </summary>
public class CliEnvironmentTests
{
    [Fact]
    public async Task Ingest_ModelNamedOnlyInTheFlowsEnvironment_NewKnowledgeBaseGetsThatModel()
    {
        using var temp = new TemporaryDirectory();
        var photos = Directory.CreateDirectory(Path.Combine(temp.Path, "photos")).FullName;
        File.Copy(Fixtures.Image("tiny_50x50.png"), Path.Combine(photos, "tiny.png"));
        var kb = Path.Combine(temp.Path, "kb");
        // Offline, with an empty model cache: the default model cannot be had, so only MMRAG_MODEL can make this work.
        CliEnvironment.Override(new Dictionary<string, string?>
        {
            [MmragOptions.ModelVariable] = Fixtures.TinyModel,
            ["MMRAG_HOME"] = Path.Combine(temp.Path, "home"),
            ["MMRAG_OFFLINE"] = "1",
        });

        var (exitCode, output, error) = await CliRunner.RunAsync("ingest", photos, "--kb", kb);

        Assert.True(exitCode == 0, error + output);
        Assert.Equal(Path.GetFullPath(Fixtures.TinyModel), KnowledgeBaseRecord.ReadModel(kb));
    }

    [Fact]
    public async Task ModelsList_HomeSetInTheFlowsEnvironment_ListsThatCache()
    {
        using var temp = new TemporaryDirectory();
        var home = Path.Combine(temp.Path, "home");
        CliEnvironment.Override(new Dictionary<string, string?> { ["MMRAG_HOME"] = home });

        var (exitCode, output, error) = await CliRunner.RunAsync("models", "list");

        Assert.True(exitCode == 0, error);
        Assert.Contains($"cache: {Path.Combine(home, "models")}", output, StringComparison.Ordinal);
    }
}
