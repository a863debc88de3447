using System.Text.Json;
using System.Text.Json.Nodes;

namespace Mmrag.Hosting;

/// <summary>
/// What a knowledge base remembers about itself besides its store: the model it was made with, in <c>mmrag.json</c>
/// in an embedded knowledge base's folder, or as the <see cref="ModelSettingKey"/> setting in PostgreSQL.
/// </summary>
public static class KnowledgeBaseRecord
{
    /// <summary>The file in an embedded knowledge base's folder.</summary>
    public const string ConfigFileName = "mmrag.json";

    /// <summary>The PostgreSQL setting that plays the part of <c>mmrag.json</c>'s model entry.</summary>
    public const string ModelSettingKey = "mmrag:model";

    /// <summary>The model recorded in an embedded knowledge base's <c>mmrag.json</c>, or null.</summary>
    /// <exception cref="FormatException">The file is not the JSON object it should be; the message names it.</exception>
    public static string? ReadModel(string folder)
    {
        var path = Path.Combine(folder, ConfigFileName);
        if (!File.Exists(path))
        {
            return null;
        }

        try
        {
            return JsonNode.Parse(File.ReadAllText(path))?["model"]?.GetValue<string>();
        }
        catch (Exception exception) when (exception is JsonException or InvalidOperationException or FormatException)
        {
            throw new FormatException($"{path}: expected a JSON object such as {{\"model\": \"clip-vit-base-patch32\"}} ({exception.Message}).", exception);
        }
    }

    /// <summary>Records <paramref name="model"/> in <c>mmrag.json</c>, keeping its other entries; atomic (written aside, then renamed).</summary>
    public static void WriteModel(string folder, string model)
    {
        var path = Path.Combine(folder, ConfigFileName);
        var node = File.Exists(path) ? JsonNode.Parse(File.ReadAllText(path)) as JsonObject ?? [] : [];
        node["model"] = model;
        var temporary = path + ".tmp";
        File.WriteAllText(temporary, node.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
        File.Move(temporary, path, overwrite: true);
    }
}
