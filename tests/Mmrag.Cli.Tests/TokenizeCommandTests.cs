using System.Text.Json;

namespace Mmrag.Cli.Tests;

public class TokenizeCommandTests
{
    [Fact]
    public async Task Tokenize_Texts_PrintsOneJsonObjectPerTextWithReferenceIds()
    {
        var (exitCode, output, error) = await CliRunner.RunAsync("tokenize", "--model", Fixtures.TinyModel, "a photo of a cat", "Hello, world!");

        Assert.True(exitCode == 0, error);
        var lines = output.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(2, lines.Length);
        using var first = JsonDocument.Parse(lines[0]);
        Assert.Equal("a photo of a cat", first.RootElement.GetProperty("text").GetString());
        Assert.Equal([320, 1125, 539, 320, 2368], first.RootElement.GetProperty("ids").EnumerateArray().Select(static e => e.GetInt32()));
        var inputIds = first.RootElement.GetProperty("input_ids").EnumerateArray().Select(static e => e.GetInt32()).ToArray();
        Assert.Equal(77, inputIds.Length);
        Assert.Equal([49406, 320, 1125, 539, 320, 2368, 49407, 49407], inputIds[..8]);
        Assert.Equal(7, first.RootElement.GetProperty("attention_mask").EnumerateArray().Count(static e => e.GetInt32() == 1));
        using var second = JsonDocument.Parse(lines[1]);
        Assert.Equal([3306, 267, 1002, 256], second.RootElement.GetProperty("ids").EnumerateArray().Select(static e => e.GetInt32()));
    }

    [Fact]
    public async Task Tokenize_MissingModelFolder_FailsWithMessageNamingIt()
    {
        var (exitCode, _, error) = await CliRunner.RunAsync("tokenize", "--model", "/nonexistent/model", "x");

        Assert.NotEqual(0, exitCode);
        Assert.Contains("/nonexistent/model", error, StringComparison.Ordinal);
    }
}
