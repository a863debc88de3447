namespace Mmrag.Clip.Tests;

/// <summary>Locates the shared CLIP reference fixtures (<c>../shared/fixtures/clip</c>, or <c>MMRAG_CLIP_FIXTURES</c>).</summary>
internal static class ClipFixtures
{
    private static readonly Lazy<string> Root = new(Locate);

    public static string Directory => Root.Value;

    public static string ModelDirectory => Path.Combine(Directory, "tiny-clip");

    public static string PathOf(string relative) => Path.Combine(Directory, relative);

    private static string Locate()
    {
        var fromEnvironment = Environment.GetEnvironmentVariable("MMRAG_CLIP_FIXTURES");
        if (!string.IsNullOrEmpty(fromEnvironment))
        {
            return System.IO.Directory.Exists(fromEnvironment)
                ? fromEnvironment
                : throw new DirectoryNotFoundException($"MMRAG_CLIP_FIXTURES points to '{fromEnvironment}', which does not exist.");
        }

        // Walk up from the test binaries to the repository root, whose sibling is shared/.
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            var candidate = Path.Combine(dir.FullName, "..", "shared", "fixtures", "clip");
            if (System.IO.Directory.Exists(candidate) && File.Exists(Path.Combine(dir.FullName, "Mmrag.slnx")))
            {
                return Path.GetFullPath(candidate);
            }
        }

        throw new DirectoryNotFoundException(
            "CLIP fixtures not found: expected ../shared/fixtures/clip beside the repository, or set MMRAG_CLIP_FIXTURES.");
    }
}
