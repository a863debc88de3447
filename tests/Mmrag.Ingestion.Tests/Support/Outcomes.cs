using Mmrag.Knowledge;

namespace Mmrag.Ingestion.Tests.Support;

/// <summary>Assertions on the failures and warnings of a run.</summary>
internal static class Outcomes
{
    /// <summary>The one entry of <paramref name="entries"/>, which must name <paramref name="path"/> and say <paramref name="says"/>.</summary>
    public static IngestionFailure Single(IEnumerable<IngestionFailure> entries, string path, string says)
    {
        var entry = Assert.Single(entries);
        Assert.Equal(path, entry.SourcePath);
        Assert.Contains(says, entry.Reason, StringComparison.Ordinal);
        return entry;
    }
}
