namespace Mmrag.Cli.Tests; public class Placeholder { [Fact] public void Runs() => Assert.True(true); }
