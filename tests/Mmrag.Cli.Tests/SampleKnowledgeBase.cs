namespace Mmrag.Cli.Tests;

/// <summary>The repository's sample knowledge base (<c>samples/kb</c>) and throw-away copies of it.</summary>
internal static class SampleKnowledgeBase
{
    public static string Folder => Path.Combine(Mmrag.Testing.ClipFixtureLocator.RepositoryRoot, "samples", "kb");

    /// <summary>Copies the sample into <paramref name="destination"/> so a test may change files.</summary>
    public static string CopyTo(string destination)
    {
        foreach (var file in Directory.EnumerateFiles(Folder, "*", SearchOption.AllDirectories))
        {
            var target = Path.Combine(destination, Path.GetRelativePath(Folder, file));
            Directory.CreateDirectory(Path.GetDirectoryName(target)!);
            File.Copy(file, target);
        }

        return destination;
    }
}

/// <summary>A fresh folder under the system temp directory, deleted on dispose.</summary>
internal sealed class TemporaryDirectory : IDisposable
{
    public TemporaryDirectory()
    {
        Path = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "mmrag-cli-test-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(Path);
    }

    public string Path { get; }

    public void Dispose()
    {
        try
        {
            Directory.Delete(Path, recursive: true);
        }
        catch (IOException)
        {
            // Best effort.
        }
    }
}
