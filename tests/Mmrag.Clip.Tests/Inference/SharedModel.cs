using Mmrag.Clip.Inference;

namespace Mmrag.Clip.Tests.Inference;

/// <summary>One tiny fixture model for the whole test run (sessions are thread-safe and expensive to create).</summary>
internal static class SharedModel
{
    private static readonly Lazy<ClipModel> Tiny = new(() => ClipModel.Load(ClipFixtures.ModelDirectory, new ClipModelOptions { IntraOpThreads = 1 }));

    public static ClipModel Instance => Tiny.Value;
}
