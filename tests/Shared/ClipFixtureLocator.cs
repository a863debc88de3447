namespace Mmrag.Testing;

/// <summary>
/// Finds the shared CLIP fixtures: <c>MMRAG_CLIP_FIXTURES</c> when set, else <c>../shared/fixtures/clip</c> beside the
/// repository root (the folder holding Mmrag.slnx). Compiled into every test project (Directory.Build.props).
/// </summary>
internal static class ClipFixtureLocator
{
    private static readonly Lazy<string> Root = new(Locate);

    /// <summary>The fixtures folder.</summary>
    public static string Directory => Root.Value;

    /// <summary>The tiny random-weight CLIP model folder.</summary>
    public static string ModelDirectory => Path.Combine(Root.Value, "tiny-clip");

    /// <summary>A fixture image by file name.</summary>
    public static string ImagePath(string file) => Path.Combine(Root.Value, "images", file);

    /// <summary>The repository root (the folder holding Mmrag.slnx) above the test binaries.</summary>
    public static string RepositoryRoot
    {
        get
        {
            for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            {
                if (File.Exists(Path.Combine(dir.FullName, "Mmrag.slnx")))
                {
                    return dir.FullName;
                }
            }

            throw new DirectoryNotFoundException("The repository root (Mmrag.slnx) was not found above the test binaries.");
        }
    }

    private static string Locate()
    {
        var fromEnvironment = Environment.GetEnvironmentVariable("MMRAG_CLIP_FIXTURES");
        if (!string.IsNullOrEmpty(fromEnvironment))
        {
            return System.IO.Directory.Exists(fromEnvironment)
                ? fromEnvironment
                : throw new DirectoryNotFoundException($"MMRAG_CLIP_FIXTURES points to '{fromEnvironment}', which does not exist.");
        }

        var candidate = Path.GetFullPath(Path.Combine(RepositoryRoot, "..", "shared", "fixtures", "clip"));
        return System.IO.Directory.Exists(candidate)
            ? candidate
            : throw new DirectoryNotFoundException(
                "CLIP fixtures not found: expected ../shared/fixtures/clip beside the repository, or set MMRAG_CLIP_FIXTURES.");
    }
}
