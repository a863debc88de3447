using Mmrag.Clip.Inference;
using Mmrag.Clip.Tokenization;

namespace Mmrag.Ingestion.Tests.Support;

/// <summary>The shared CLIP fixtures (<c>../shared/fixtures/clip</c>, or <c>MMRAG_CLIP_FIXTURES</c>) and one tiny model for the run.</summary>
internal static class Fixtures
{
    
    private static readonly Lazy<ClipTokenizer> SharedTokenizer = new(() => ClipTokenizer.Load(TinyModel));
    private static readonly Lazy<ClipModel> SharedModel = new(() => ClipModel.Load(TinyModel, new ClipModelOptions { IntraOpThreads = 1 }));

    public static string TinyModel => Path.Combine(Mmrag.Testing.ClipFixtureLocator.Directory, "tiny-clip");

    /// <summary>The real CLIP tokenizer of the fixture model.</summary>
    public static ClipTokenizer Tokenizer => SharedTokenizer.Value;

    /// <summary>The tiny CLIP model (thread-safe, shared by all tests).</summary>
    public static ClipModel Model => SharedModel.Value;

    public static int CountTokens(string text) => Tokenizer.EncodeToIds(text).Length;

    public static byte[] Image(string name) => File.ReadAllBytes(Path.Combine(Mmrag.Testing.ClipFixtureLocator.Directory, "images", name));

    /// <summary>A JPEG (800×600).</summary>
    public static byte[] Jpeg => Image("photo_800x600.jpg");

    /// <summary>A small PNG (50×50).</summary>
    public static byte[] Png => Image("tiny_50x50.png");

    /// <summary>Another PNG (225×224), different bytes from <see cref="Png"/>.</summary>
    public static byte[] OtherPng => Image("checker_225x224.png");
}
