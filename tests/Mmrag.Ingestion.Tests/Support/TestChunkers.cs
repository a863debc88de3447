using Mmrag.Ingestion.Chunking;
using Mmrag.Ingestion.Loaders;

namespace Mmrag.Ingestion.Tests.Support;

/// <summary>Chunkers and loader contexts the tests share.</summary>
internal static class TestChunkers
{
    /// <summary>The production set-up: the real CLIP tokenizer counts tokens.</summary>
    public static TextChunker Clip { get; } = new(Fixtures.CountTokens);

    public static LoaderRegistry Loaders { get; } = LoaderRegistry.CreateDefault(Clip);

    public static DocumentLoadContext Context(string root, IReadOnlyDictionary<string, string>? descriptions = null) =>
        new(root, descriptions ?? new Dictionary<string, string>());
}
