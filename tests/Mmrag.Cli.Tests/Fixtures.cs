using Mmrag.Testing;

namespace Mmrag.Cli.Tests;

/// <summary>The shared CLIP fixtures (see <see cref="ClipFixtureLocator"/>).</summary>
internal static class Fixtures
{
    public static string Clip => ClipFixtureLocator.Directory;

    public static string TinyModel => ClipFixtureLocator.ModelDirectory;

    public static string Image(string name) => ClipFixtureLocator.ImagePath(name);
}
