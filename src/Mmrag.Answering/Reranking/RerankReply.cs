using System.Globalization;
using System.Text.Json;

namespace Mmrag.Answering.Reranking;

/// <summary>
/// Reads the reranker's reply: a JSON array of <c>{"id", "grade", "reason"}</c>, possibly inside a Markdown code fence
/// or a sentence (the first <c>[</c> to the last <c>]</c> is read). Ids and grades may be JSON integers or strings
/// holding one. Strict about the rest: an id that is no candidate, a missing or out-of-range grade, a candidate graded
/// twice or an array that grades none makes the reply unusable.
/// </summary>
internal static class RerankReply
{
    public static (RerankGrade?[] Grades, string? Error) Parse(string reply, int count, int maxGrade, int maxReasonLength)
    {
        var grades = new RerankGrade?[count];
        var start = reply.IndexOf('[', StringComparison.Ordinal);
        var end = reply.LastIndexOf(']');
        if (start < 0 || end < start)
        {
            return (grades, $"it holds no JSON array ({Preview(reply)})");
        }

        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(reply.AsMemory(start, end - start + 1));
        }
        catch (JsonException ex)
        {
            return (grades, $"it is not valid JSON ({ex.Message})");
        }

        using (document)
        {
            if (document.RootElement.ValueKind != JsonValueKind.Array)
            {
                return (grades, "it is not a JSON array");
            }

            foreach (var entry in document.RootElement.EnumerateArray())
            {
                if (entry.ValueKind != JsonValueKind.Object)
                {
                    return (grades, $"an entry is not an object ({Preview(entry.GetRawText())})");
                }

                if (!TryInteger(entry, "id", out var id))
                {
                    return (grades, $"an entry has no numeric id ({Preview(entry.GetRawText())})");
                }

                if (id < 1 || id > count)
                {
                    return (grades, string.Create(CultureInfo.InvariantCulture, $"it grades id {id}, but the sources are numbered 1 to {count}"));
                }

                if (!TryInteger(entry, "grade", out var grade))
                {
                    return (grades, string.Create(CultureInfo.InvariantCulture, $"source {id} has no integer grade"));
                }

                if (grade < 0 || grade > maxGrade)
                {
                    return (grades, string.Create(CultureInfo.InvariantCulture, $"source {id} has grade {grade}, outside 0 to {maxGrade}"));
                }

                if (grades[id - 1] is not null)
                {
                    return (grades, string.Create(CultureInfo.InvariantCulture, $"source {id} is graded twice"));
                }

                grades[id - 1] = new RerankGrade((int)grade, Reason(entry, maxReasonLength));
            }
        }

        return grades.Any(static g => g is not null) ? (grades, null) : (grades, "it grades no source");
    }

    private static bool TryInteger(JsonElement entry, string name, out long value)
    {
        value = 0;
        if (!entry.TryGetProperty(name, out var property))
        {
            return false;
        }

        return property.ValueKind switch
        {
            JsonValueKind.Number => property.TryGetInt64(out value),
            JsonValueKind.String => long.TryParse(property.GetString(), NumberStyles.Integer, CultureInfo.InvariantCulture, out value),
            _ => false,
        };
    }

    private static string Reason(JsonElement entry, int maxLength)
    {
        if (!entry.TryGetProperty("reason", out var property) || property.ValueKind != JsonValueKind.String)
        {
            return string.Empty;
        }

        var line = string.Join(' ', (property.GetString() ?? string.Empty).Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries));
        return line.Length <= maxLength ? line : string.Concat(line.AsSpan(0, maxLength), "…");
    }

    private static string Preview(string text)
    {
        var line = text.ReplaceLineEndings(" ").Trim();
        return line.Length <= 80 ? $"\"{line}\"" : $"\"{line[..80]}…\"";
    }
}
