using System.Globalization;
using System.Text.Json;

namespace Mmrag.Answering.Reranking;

/// <summary>
/// Reads the reranker's reply: a JSON array of <c>{"id", "grade", "reason"}</c>, possibly inside a Markdown code fence
/// or a sentence (the first <c>[</c> that opens a JSON array of objects is read, up to its end). Ids and grades may be JSON integers or strings
/// holding one. Strict about the rest: an id that is no candidate, a missing or out-of-range grade, a candidate graded
/// twice or an array that grades none makes the reply unusable.
/// </summary>
internal static class RerankReply
{
    public static (RerankGrade?[] Grades, string? Error) Parse(string reply, int count, int maxGrade, int maxReasonLength)
    {
        var grades = new RerankGrade?[count];
        var (document, error) = FindArray(reply);
        if (document is null)
        {
            return (grades, error);
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

    // Models wrap the array in prose that may hold brackets of its own ("grades [0-3]: [...] [done]"), so each '[' is
    // tried in turn and one JSON value read from it; the first array of objects wins. '[' is one byte in UTF-8 and
    // never part of a longer sequence, so scanning the bytes finds every candidate.
    private static (JsonDocument? Document, string? Error) FindArray(string reply)
    {
        const int MaxCandidates = 64;
        var bytes = System.Text.Encoding.UTF8.GetBytes(reply);
        JsonDocument? firstArray = null;
        string? firstError = null;
        var candidates = 0;
        for (var start = Array.IndexOf(bytes, (byte)'['); start >= 0 && candidates < MaxCandidates; start = Array.IndexOf(bytes, (byte)'[', start + 1))
        {
            candidates++;
            var reader = new Utf8JsonReader(bytes.AsSpan(start), isFinalBlock: true, state: default);
            JsonDocument document;
            try
            {
                document = JsonDocument.ParseValue(ref reader);
            }
            catch (JsonException ex)
            {
                firstError ??= $"it is not valid JSON ({ex.Message})";
                continue;
            }

            if (document.RootElement.EnumerateArray().Any(static e => e.ValueKind == JsonValueKind.Object))
            {
                firstArray?.Dispose();
                return (document, null);
            }

            if (firstArray is null)
            {
                firstArray = document;
            }
            else
            {
                document.Dispose();
            }
        }

        // No array of objects: the first array that parsed says what is wrong with it, else the first parse error.
        return firstArray is not null ? (firstArray, null)
            : candidates == 0 ? (null, $"it holds no JSON array ({Preview(reply)})")
            : (null, firstError);
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
