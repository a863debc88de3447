using System.Globalization;
using System.Text;
using System.Text.Json;

namespace Mmrag.Storage.Embedded.Sql;

/// <summary>How values that SQLite has no type for are written as TEXT.</summary>
internal static class StoreText
{
    // Fixed-width UTC with 7 fractional digits: sorts as text in time order and round-trips every tick.
    private const string TimeFormat = "yyyy-MM-dd'T'HH:mm:ss.fffffff'Z'";

    public static string Time(DateTimeOffset value) => value.UtcDateTime.ToString(TimeFormat, CultureInfo.InvariantCulture);

    public static DateTimeOffset ParseTime(string text) =>
        new(DateTime.ParseExact(text, TimeFormat, CultureInfo.InvariantCulture, DateTimeStyles.AdjustToUniversal | DateTimeStyles.AssumeUniversal), TimeSpan.Zero);

    /// <summary>A JSON array of strings.</summary>
    public static string Tags(IReadOnlyList<string>? tags)
    {
        if (tags is null || tags.Count == 0)
        {
            return "[]";
        }

        using var buffer = new MemoryStream();
        using (var writer = new Utf8JsonWriter(buffer))
        {
            writer.WriteStartArray();
            foreach (string tag in tags)
            {
                writer.WriteStringValue(tag);
            }

            writer.WriteEndArray();
        }

        return Encoding.UTF8.GetString(buffer.GetBuffer(), 0, (int)buffer.Length);
    }

    public static string[] ParseTags(string json)
    {
        if (json is "[]" or "")
        {
            return [];
        }

        using var document = JsonDocument.Parse(json);
        var tags = new string[document.RootElement.GetArrayLength()];
        int i = 0;
        foreach (JsonElement element in document.RootElement.EnumerateArray())
        {
            tags[i++] = element.GetString() ?? string.Empty;
        }

        return tags;
    }

    /// <summary>A JSON array of strings or integers for <c>json_each</c> parameters.</summary>
    public static string JsonArray(IEnumerable<string> values)
    {
        using var buffer = new MemoryStream();
        using (var writer = new Utf8JsonWriter(buffer))
        {
            writer.WriteStartArray();
            foreach (string value in values)
            {
                writer.WriteStringValue(value);
            }

            writer.WriteEndArray();
        }

        return Encoding.UTF8.GetString(buffer.GetBuffer(), 0, (int)buffer.Length);
    }

    public static string JsonArray(IEnumerable<long> values)
    {
        var builder = new StringBuilder("[");
        foreach (long value in values)
        {
            if (builder.Length > 1)
            {
                builder.Append(',');
            }

            builder.Append(value.ToString(CultureInfo.InvariantCulture));
        }

        return builder.Append(']').ToString();
    }
}
