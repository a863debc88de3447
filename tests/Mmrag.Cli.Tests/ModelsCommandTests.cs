namespace Mmrag.Cli.Tests;

public class ModelsCommandTests
{
    [Fact]
    public async Task ModelsList_ShowsKnownModelsAndTheDefault()
    {
        var (exitCode, output, error) = await CliRunner.RunAsync("models", "list");

        Assert.True(exitCode == 0, error);
        Assert.Contains("clip-vit-base-patch32", output, StringComparison.Ordinal);
        Assert.Contains("clip-vit-base-patch16", output, StringComparison.Ordinal);
        Assert.Contains("(default)", output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Embed_UnknownModelNameOffline_FailsNamingWhatIsNeeded()
    {
        var (exitCode, _, error) = await CliRunner.RunAsync("embed", "--model", "clip-vit-base-patch16", "--offline", "--text", "x");

        Assert.NotEqual(0, exitCode);
        Assert.Contains("text_model.onnx", error, StringComparison.Ordinal);
    }
}
