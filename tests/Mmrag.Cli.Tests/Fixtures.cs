namespace Mmrag.Cli.Tests;

/// <summary>The shared CLIP fixtures (<c>../shared/fixtures/clip</c>, or <c>MMRAG_CLIP_FIXTURES</c>).</summary>
internal static class Fixtures
{
    public static string Clip
    {
        get
        {
            var fromEnvironment = Environment.GetEnvironmentVariable("MMRAG_CLIP_FIXTURES");
            if (!string.IsNullOrEmpty(fromEnvironment))
            {
                return fromEnvironment;
            }

            for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            {
                var candidate = Path.Combine(dir.FullName, "..", "shared", "fixtures", "clip");
                if (File.Exists(Path.Combine(dir.FullName, "Mmrag.slnx")) && Directory.Exists(candidate))
                {
                    return Path.GetFullPath(candidate);
                }
            }

            throw new DirectoryNotFoundException("CLIP fixtures not found: expected ../shared/fixtures/clip beside the repository, or set MMRAG_CLIP_FIXTURES.");
        }
    }

    public static string TinyModel => Path.Combine(Clip, "tiny-clip");

    public static string Image(string name) => Path.Combine(Clip, "images", name);
}
