using Mmrag.Storage.Embedded.Sql;

namespace Mmrag.Storage.Embedded.Indexing;

/// <summary>Shares equal strings and tag arrays between slots, so filters can decide once per run of equal values.</summary>
internal sealed class MetadataInterner
{
    private readonly Dictionary<string, string> _strings = new(StringComparer.Ordinal);
    private readonly Dictionary<string, string[]> _tags = new(StringComparer.Ordinal);

    public string String(string value)
    {
        if (_strings.TryGetValue(value, out string? shared))
        {
            return shared;
        }

        _strings[value] = value;
        return value;
    }

    public string[] TagsFromJson(string json)
    {
        if (json == "[]")
        {
            return [];
        }

        if (!_tags.TryGetValue(json, out string[]? tags))
        {
            tags = StoreText.ParseTags(json);
            _tags[json] = tags;
        }

        return tags;
    }

    public string[] Tags(IReadOnlyList<string> tags) => tags.Count == 0 ? [] : TagsFromJson(StoreText.Tags(tags));
}
