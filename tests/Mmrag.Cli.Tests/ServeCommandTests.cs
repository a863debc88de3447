namespace Mmrag.Cli.Tests;

/// <summary><c>mmrag serve</c>'s start-up rules (the server itself is tested in Mmrag.Server.Tests).</summary>
public sealed class ServeCommandTests
{
    [Fact]
    public async Task Serve_NonLoopbackAddressWithoutApiKey_RefusesBeforeOpeningAnything()
    {
        if (!string.IsNullOrEmpty(Environment.GetEnvironmentVariable("MMRAG_API_KEY")))
        {
            return; // The rule under test needs the key unset; a developer's shell may set it.
        }

        using var temp = new TemporaryDirectory();
        var kb = Path.Combine(temp.Path, "kb");

        var (exitCode, _, error) = await CliRunner.RunAsync("serve", "--kb", kb, "--urls", "http://0.0.0.0:5077");

        Assert.Equal(1, exitCode);
        Assert.Contains("MMRAG_API_KEY", error, StringComparison.Ordinal);
        Assert.False(Directory.Exists(kb));
    }
}
