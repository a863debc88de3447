using Mmrag.Clip.Inference;
using Mmrag.Clip.Tokenization;

namespace Mmrag.Ingestion.Tests.Support;

/// <summary>The shared CLIP fixtures (<c>../shared/fixtures/clip</c>, or <c>MMRAG_CLIP_FIXTURES</c>) and one tiny model for the run.</summary>
internal static class Fixtures
{
    private static readonly Lazy<string> Root = new(Locate);
    private static readonly Lazy<ClipTokenizer> SharedTokenizer = new(() => ClipTokenizer.Load(TinyModel));
    private static readonly Lazy<ClipModel> SharedModel = new(() => ClipModel.Load(TinyModel, new ClipModelOptions { IntraOpThreads = 1 }));

    public static string TinyModel => Path.Combine(Root.Value, "tiny-clip");

    /// <summary>The real CLIP tokenizer of the fixture model.</summary>
    public static ClipTokenizer Tokenizer => SharedTokenizer.Value;

    /// <summary>The tiny CLIP model (thread-safe, shared by all tests).</summary>
    public static ClipModel Model => SharedModel.Value;

    public static int CountTokens(string text) => Tokenizer.EncodeToIds(text).Length;

    public static byte[] Image(string name) => File.ReadAllBytes(Path.Combine(Root.Value, "images", name));

    /// <summary>A JPEG (800×600).</summary>
    public static byte[] Jpeg => Image("photo_800x600.jpg");

    /// <summary>A small PNG (50×50).</summary>
    public static byte[] Png => Image("tiny_50x50.png");

    /// <summary>Another PNG (225×224), different bytes from <see cref="Png"/>.</summary>
    public static byte[] OtherPng => Image("checker_225x224.png");

    private static string Locate()
    {
        var fromEnvironment = Environment.GetEnvironmentVariable("MMRAG_CLIP_FIXTURES");
        if (!string.IsNullOrEmpty(fromEnvironment))
        {
            return Directory.Exists(fromEnvironment)
                ? fromEnvironment
                : throw new DirectoryNotFoundException($"MMRAG_CLIP_FIXTURES points to '{fromEnvironment}', which does not exist.");
        }

        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            var candidate = Path.Combine(dir.FullName, "..", "shared", "fixtures", "clip");
            if (Directory.Exists(candidate) && File.Exists(Path.Combine(dir.FullName, "Mmrag.slnx")))
            {
                return Path.GetFullPath(candidate);
            }
        }

        throw new DirectoryNotFoundException(
            "CLIP fixtures not found: expected ../shared/fixtures/clip beside the repository, or set MMRAG_CLIP_FIXTURES.");
    }
}
