using System.Text.Json;

namespace Mmrag.Clip.Tests.Tokenization;

/// <summary>The reference tokenizer cases of <c>token_cases.json</c>.</summary>
internal static class TokenCases
{
    private static readonly Lazy<JsonElement[]> All = new(() =>
    {
        using var document = JsonDocument.Parse(File.ReadAllBytes(ClipFixtures.PathOf("token_cases.json")));
        return [.. document.RootElement.GetProperty("cases").EnumerateArray().Select(static c => c.Clone())];
    });

    public static JsonElement Get(string id) => All.Value.Single(c => c.GetProperty("id").GetString() == id);

    public static TheoryData<string> Ids(Func<JsonElement, bool> predicate)
    {
        var data = new TheoryData<string>();
        foreach (var c in All.Value.Where(predicate))
        {
            data.Add(c.GetProperty("id").GetString()!);
        }

        return data;
    }

    public static bool IsDivergent(JsonElement c) => c.GetProperty("divergence").ValueKind != JsonValueKind.Null;

    public static int[] Ints(JsonElement element, string property) =>
        [.. element.GetProperty(property).EnumerateArray().Select(static e => e.GetInt32())];
}
