using Mmrag.Testing;

namespace Mmrag.Hosting.Tests;

/// <summary>A temporary folder with a small corpus (text, an image with a description, tags) and helpers to open knowledge bases in it.</summary>
internal sealed class TestKnowledgeBases : IDisposable
{
    public TestKnowledgeBases()
    {
        Directory.CreateDirectory(Corpus);
        File.WriteAllText(Path.Combine(Corpus, "deck.txt"), "Oil a wooden deck twice a year.\n\nSweep leaves off the boards so they do not stain.");
        File.WriteAllText(Path.Combine(Corpus, "kettle.md"), "# Kettle\n\nDescale the kettle monthly with vinegar.");
        File.Copy(ClipFixtureLocator.ImagePath(FirstFixtureImage()), Path.Combine(Corpus, "photo" + Path.GetExtension(FirstFixtureImage())));
        File.WriteAllText(Descriptions, $"{{\"image_path\": \"corpus/photo{Path.GetExtension(FirstFixtureImage())}\", \"description\": \"A red \\\"quoted\\\" photo\"}}\n");
    }

    public string Root { get; } = Path.Combine(Path.GetTempPath(), "mmrag-hosting-" + Guid.NewGuid().ToString("N"));

    public string Corpus => Path.Combine(Root, "corpus");

    public string Descriptions => Path.Combine(Root, "descriptions.jsonl");

    public string Folder => Path.Combine(Root, "kb");

    public static string TinyClip => ClipFixtureLocator.ModelDirectory;

    public static string ShapesClip => Path.Combine(ClipFixtureLocator.Directory, "..", "shapes-clip");

    public MmragOptions Options(string? model = null, bool create = true) => new()
    {
        Folder = Folder,
        Model = model,
        CreateIfMissing = create,
        Offline = true,
    };

    private static string FirstFixtureImage() =>
        Path.GetFileName(Directory.EnumerateFiles(Path.Combine(ClipFixtureLocator.Directory, "images")).Order(StringComparer.Ordinal)
            .First(static f => f.EndsWith(".png", StringComparison.OrdinalIgnoreCase) || f.EndsWith(".jpg", StringComparison.OrdinalIgnoreCase)));

    public void Dispose()
    {
        try
        {
            Directory.Delete(Root, recursive: true);
        }
        catch (IOException)
        {
            // Best effort.
        }
    }
}
