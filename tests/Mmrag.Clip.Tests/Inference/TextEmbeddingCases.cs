using System.Text.Json;

namespace Mmrag.Clip.Tests.Inference;

/// <summary>The texts of <c>text_embeddings.json</c> with their reference <c>text_embeds</c>.</summary>
internal static class TextEmbeddingCases
{
    private static readonly Lazy<Dictionary<string, (string Text, int[] InputIds, float[] Embeds)>> All = new(() =>
    {
        using var document = JsonDocument.Parse(File.ReadAllBytes(ClipFixtures.PathOf("text_embeddings.json")));
        return document.RootElement.GetProperty("cases").EnumerateArray().ToDictionary(
            static c => c.GetProperty("case_id").GetString()!,
            static c => (
                c.GetProperty("text").GetString()!,
                c.GetProperty("input_ids").EnumerateArray().Select(static e => e.GetInt32()).ToArray(),
                c.GetProperty("text_embeds").EnumerateArray().Select(static e => (float)e.GetDouble()).ToArray()));
    });

    public static (string Text, int[] InputIds, float[] Embeds) Get(string id) => All.Value[id];

    public static IEnumerable<string> Ids => All.Value.Keys;

    public static TheoryData<string> Theory()
    {
        var data = new TheoryData<string>();
        foreach (var id in All.Value.Keys)
        {
            data.Add(id);
        }

        return data;
    }
}
