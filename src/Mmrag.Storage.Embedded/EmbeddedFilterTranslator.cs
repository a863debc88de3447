using System.Numerics;
using Microsoft.Data.Sqlite;
using Mmrag.Knowledge;
using Mmrag.Storage.Embedded.Indexing;
using Mmrag.Storage.Embedded.Sql;

namespace Mmrag.Storage.Embedded;

/// <summary>
/// Translates a <see cref="SearchFilter"/> for the embedded store, twice with one meaning (that of
/// <see cref="SearchFilter.Matches"/>): into a parameterized SQL condition over <c>items</c> for keyword search, and
/// into a bitset of allowed slots over the in-memory slot metadata for vector search.
/// </summary>
/// <remarks>Stateless and thread-safe. Values always travel as parameters (lists as one JSON array read with
/// <c>json_each</c>), never inside the SQL text.</remarks>
internal static class EmbeddedFilterTranslator
{
    /// <summary>The condition <see cref="ToSql"/> returns for no filter.</summary>
    public const string NoCondition = "1";

    /// <summary>
    /// A condition over the items table aliased <paramref name="alias"/> that holds exactly for the items the filter
    /// matches (<see cref="NoCondition"/> for no filter); its parameters are added to <paramref name="command"/> as <c>$f_…</c>.
    /// </summary>
    public static string ToSql(SearchFilter? filter, SqliteCommand command, string alias = "i")
    {
        ArgumentNullException.ThrowIfNull(command);
        if (filter is null || filter.IsEmpty)
        {
            return NoCondition;
        }

        var conditions = new List<string>();
        if (filter.Kind is ItemKind kind)
        {
            conditions.Add($"{alias}.kind = $f_kind");
            command.Parameters.AddWithValue("$f_kind", ItemRows.KindText(kind));
        }

        if (filter.DocumentIds is { } documentIds)
        {
            conditions.Add($"{alias}.document_id IN (SELECT value FROM json_each($f_documents))");
            command.Parameters.AddWithValue("$f_documents", StoreText.JsonArray(documentIds));
        }

        if (filter.PathPrefix is { } prefix)
        {
            // substr/length count characters, so this is an exact prefix test; LIKE would fold ASCII case and need escaping.
            conditions.Add($"substr({alias}.source_path, 1, length($f_prefix)) = $f_prefix");
            command.Parameters.AddWithValue("$f_prefix", prefix);
        }

        if (filter.Tags is { Count: > 0 } tags)
        {
            string[] distinct = tags.Distinct(StringComparer.Ordinal).ToArray();
            conditions.Add($"(SELECT count(DISTINCT t.value) FROM json_each({alias}.tags) AS t WHERE t.value IN (SELECT value FROM json_each($f_tags))) = $f_tag_count");
            command.Parameters.AddWithValue("$f_tags", StoreText.JsonArray(distinct));
            command.Parameters.AddWithValue("$f_tag_count", distinct.Length);
        }

        if (filter.ExcludeContentHashes is { Count: > 0 } excluded)
        {
            conditions.Add($"{alias}.content_hash NOT IN (SELECT value FROM json_each($f_excluded))");
            command.Parameters.AddWithValue("$f_excluded", StoreText.JsonArray(excluded));
        }

        return conditions.Count == 0 ? NoCondition : string.Join(" AND ", conditions);
    }

    /// <summary>
    /// The live slots of <paramref name="snapshot"/> that the filter allows, as a bitset with its number of set bits.
    /// Walks the live bits once; conditions on a document's shared values (path, tags) are decided once per run of
    /// slots sharing the same string or array instance.
    /// </summary>
    public static (ulong[] Bits, int Count) ToSlotBits(SearchFilter? filter, IndexSnapshot snapshot)
    {
        ArgumentNullException.ThrowIfNull(snapshot);
        if (filter is null || filter.IsEmpty)
        {
            return (snapshot.Live, snapshot.LiveCount);
        }

        ItemKind? kind = filter.Kind;
        HashSet<string>? documents = filter.DocumentIds is { } ids ? new HashSet<string>(ids, StringComparer.Ordinal) : null;
        string? prefix = filter.PathPrefix;
        string[]? tags = filter.Tags is { Count: > 0 } t ? t.Distinct(StringComparer.Ordinal).ToArray() : null;
        HashSet<UInt128>? excluded = filter.ExcludeContentHashes is { Count: > 0 } e ? [.. e.Select(ContentHashKey.Of)] : null;
        if (documents is { Count: 0 })
        {
            return ([], 0);
        }

        SlotTable table = snapshot.Table;
        ulong[] live = snapshot.Live;
        var bits = new ulong[live.Length];
        int count = 0;
        string? lastDocument = null, lastPath = null;
        string[]? lastTags = null;
        bool documentOk = false, pathOk = false, tagsOk = false;
        for (int w = 0; w < live.Length; w++)
        {
            ulong word = live[w];
            ulong allowed = 0;
            while (word != 0)
            {
                int bit = BitOperations.TrailingZeroCount(word);
                word &= word - 1;
                int slot = (w << 6) + bit;
                if (kind is { } k && table.Kinds[slot] != k)
                {
                    continue;
                }

                if (documents is not null)
                {
                    string document = table.DocumentIds[slot];
                    if (!ReferenceEquals(document, lastDocument))
                    {
                        lastDocument = document;
                        documentOk = documents.Contains(document);
                    }

                    if (!documentOk)
                    {
                        continue;
                    }
                }

                if (prefix is not null)
                {
                    string path = table.SourcePaths[slot];
                    if (!ReferenceEquals(path, lastPath))
                    {
                        lastPath = path;
                        pathOk = path.StartsWith(prefix, StringComparison.Ordinal);
                    }

                    if (!pathOk)
                    {
                        continue;
                    }
                }

                if (tags is not null)
                {
                    string[] slotTags = table.Tags[slot];
                    if (!ReferenceEquals(slotTags, lastTags))
                    {
                        lastTags = slotTags;
                        tagsOk = HasAll(slotTags, tags);
                    }

                    if (!tagsOk)
                    {
                        continue;
                    }
                }

                if (excluded is not null && excluded.Contains(table.ContentHashes[slot]))
                {
                    continue;
                }

                allowed |= 1UL << bit;
            }

            bits[w] = allowed;
            count += BitOperations.PopCount(allowed);
        }

        return (bits, count);
    }

    private static bool HasAll(string[] have, string[] wanted)
    {
        foreach (string tag in wanted)
        {
            if (Array.IndexOf(have, tag) < 0)
            {
                return false;
            }
        }

        return true;
    }
}
