using Mmrag.Testing;

namespace Mmrag.Clip.Tests;

/// <summary>The shared CLIP reference fixtures (see <see cref="ClipFixtureLocator"/>).</summary>
internal static class ClipFixtures
{
    public static string Directory => ClipFixtureLocator.Directory;

    public static string ModelDirectory => ClipFixtureLocator.ModelDirectory;

    public static string PathOf(string relative) => Path.Combine(Directory, relative);
}
