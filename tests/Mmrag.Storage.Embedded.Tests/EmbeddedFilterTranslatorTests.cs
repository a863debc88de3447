using Microsoft.Data.Sqlite;
using Mmrag.Knowledge;

namespace Mmrag.Storage.Embedded.Tests;

public sealed class EmbeddedFilterTranslatorTests
{
    [Fact]
    public void ToSql_NoFilter_IsTrueWithNoParameters()
    {
        using var command = new SqliteCommand();
        Assert.Equal("1", EmbeddedFilterTranslator.ToSql(null, command));
        Assert.Equal("1", EmbeddedFilterTranslator.ToSql(new SearchFilter { Tags = [], ExcludeContentHashes = [] }, command));
        Assert.Empty(command.Parameters);
    }

    [Fact]
    public void ToSql_EveryField_ValuesTravelAsParametersNeverInTheText()
    {
        const string Hostile = "x'); DROP TABLE items; --";
        var filter = new SearchFilter
        {
            Kind = ItemKind.Image,
            DocumentIds = [Hostile, "doc\"2"],
            PathPrefix = Hostile,
            Tags = [Hostile, Hostile, "b"],
            ExcludeContentHashes = [Hostile],
        };
        using var command = new SqliteCommand();
        string sql = EmbeddedFilterTranslator.ToSql(filter, command, "it");
        Assert.DoesNotContain("DROP", sql, StringComparison.Ordinal);
        Assert.DoesNotContain("doc\"2", sql, StringComparison.Ordinal);
        Assert.Contains("it.kind = $f_kind", sql, StringComparison.Ordinal);
        Assert.Equal(["$f_kind", "$f_documents", "$f_prefix", "$f_tags", "$f_tag_count", "$f_excluded"],
            command.Parameters.Cast<SqliteParameter>().Select(p => p.ParameterName));
        Assert.Equal(2, command.Parameters["$f_tag_count"].Value); // repeated tags count once
    }
}
