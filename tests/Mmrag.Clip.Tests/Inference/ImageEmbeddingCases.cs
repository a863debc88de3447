using System.Text.Json;

namespace Mmrag.Clip.Tests.Inference;

/// <summary>Expected <c>image_embeds</c> of <c>images_manifest.json</c> (main, EXIF-applied and 16-bit-scaled variants).</summary>
internal static class ImageEmbeddingCases
{
    private static readonly Lazy<JsonElement[]> Images = new(() =>
    {
        using var document = JsonDocument.Parse(File.ReadAllBytes(ClipFixtures.PathOf("images_manifest.json")));
        return [.. document.RootElement.GetProperty("images").EnumerateArray().Select(static e => e.Clone())];
    });

    public static JsonElement Get(string name) => Images.Value.Single(i => i.GetProperty("name").GetString() == name);

    public static float[] Embeds(JsonElement element) => [.. element.GetProperty("image_embeds").EnumerateArray().Select(static e => (float)e.GetDouble())];

    public static TheoryData<string> Names(bool? lossy = null)
    {
        var data = new TheoryData<string>();
        foreach (var image in Images.Value.Where(i => lossy is null || i.GetProperty("lossy_source").GetBoolean() == lossy))
        {
            data.Add(image.GetProperty("name").GetString()!);
        }

        return data;
    }
}
