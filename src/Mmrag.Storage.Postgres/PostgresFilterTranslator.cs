using System.Text;
using Mmrag.Knowledge;
using Npgsql;
using NpgsqlTypes;

namespace Mmrag.Storage.Postgres;

/// <summary>
/// Turns a <see cref="SearchFilter"/> into a SQL condition over the <c>items</c> table (alias <c>i</c>) with
/// <see cref="SearchFilter.Matches"/> semantics. Every value travels as a positional parameter appended to the
/// command; the SQL text holds only fixed fragments and parameter numbers.
/// </summary>
internal static class PostgresFilterTranslator
{
    /// <summary>
    /// The condition (<c>TRUE</c> for no condition), adding its parameters to <paramref name="command"/> after those
    /// already there (so <c>$n</c> numbering continues).
    /// </summary>
    public static string Translate(SearchFilter? filter, NpgsqlCommand command)
    {
        ArgumentNullException.ThrowIfNull(command);
        return Translate(filter, command.Parameters);
    }

    /// <summary>The condition, adding its parameters to <paramref name="parameters"/> (a command's or a batch command's) after those already there.</summary>
    public static string Translate(SearchFilter? filter, NpgsqlParameterCollection parameters)
    {
        ArgumentNullException.ThrowIfNull(parameters);
        if (filter is null || filter.IsEmpty)
        {
            return "TRUE";
        }

        var sql = new StringBuilder();
        void And(string condition)
        {
            if (sql.Length > 0)
            {
                sql.Append(" AND ");
            }

            sql.Append(condition);
        }

        string Parameter(object value, NpgsqlDbType type)
        {
            parameters.Add(new NpgsqlParameter { Value = value, NpgsqlDbType = type });
            return "$" + parameters.Count.ToString(System.Globalization.CultureInfo.InvariantCulture);
        }

        if (filter.Kind is { } kind)
        {
            And($"i.kind = {Parameter(PostgresKnowledgeStore.KindName(kind), NpgsqlDbType.Text)}");
        }

        if (filter.DocumentIds is { } documentIds)
        {
            // An empty list allows nothing, as in Matches; "= ANY('{}')" is false for every row.
            And($"i.document_id = ANY({Parameter(documentIds.ToArray(), NpgsqlDbType.Array | NpgsqlDbType.Text)})");
        }

        if (filter.PathPrefix is { Length: > 0 } prefix)
        {
            // starts_with compares code points, i.e. ordinal, whatever the column's collation.
            And($"starts_with(i.source_path, {Parameter(prefix, NpgsqlDbType.Text)})");
        }

        if (filter.Tags is { Count: > 0 } tags)
        {
            And($"i.tags @> {Parameter(tags.ToArray(), NpgsqlDbType.Array | NpgsqlDbType.Text)}");
        }

        if (filter.ExcludeContentHashes is { Count: > 0 } excluded)
        {
            And($"NOT (i.content_hash = ANY({Parameter(excluded.ToArray(), NpgsqlDbType.Array | NpgsqlDbType.Text)}))");
        }

        return sql.Length == 0 ? "TRUE" : sql.ToString();
    }
}
