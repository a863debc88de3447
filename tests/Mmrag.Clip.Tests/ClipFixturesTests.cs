namespace Mmrag.Clip.Tests;

public class ClipFixturesTests
{
    [Fact]
    public void Fixtures_AreFound_WithTheTinyModel()
    {
        Assert.True(File.Exists(Path.Combine(ClipFixtures.ModelDirectory, "vocab.json")));
    }
}
