using System.Text.Json;

namespace Mmrag.Clip.Models;

/// <summary>
/// A CLIP model folder in the HuggingFace / Xenova ONNX layout: <c>config.json</c>, <c>preprocessor_config.json</c>,
/// tokenizer files, <c>onnx/text_model.onnx</c> and <c>onnx/vision_model.onnx</c> (or their <c>_quantized</c> variants).
/// Reading it checks that the files exist and that <c>config.json</c> is a CLIP config; errors name the file.
/// </summary>
public sealed record ClipModelDirectory
{
    private ClipModelDirectory(string path, string modelId, string textModelPath, string visionModelPath, int? projectionDimension,
        int? maxPositionEmbeddings, int? imageSize)
    {
        Path = path;
        ModelId = modelId;
        TextModelPath = textModelPath;
        VisionModelPath = visionModelPath;
        ProjectionDimension = projectionDimension;
        MaxPositionEmbeddings = maxPositionEmbeddings;
        ImageSize = imageSize;
    }

    /// <summary>Absolute path of the folder.</summary>
    public string Path { get; }

    /// <summary>Identifier of the model: the folder name unless given.</summary>
    public string ModelId { get; }

    /// <summary>The text tower graph.</summary>
    public string TextModelPath { get; }

    /// <summary>The vision tower graph.</summary>
    public string VisionModelPath { get; }

    /// <summary><c>projection_dim</c> from config.json, when present.</summary>
    public int? ProjectionDimension { get; }

    /// <summary><c>text_config.max_position_embeddings</c> from config.json (77 for CLIP), when present.</summary>
    public int? MaxPositionEmbeddings { get; }

    /// <summary><c>vision_config.image_size</c> from config.json, when present.</summary>
    public int? ImageSize { get; }

    /// <summary>Path of <c>preprocessor_config.json</c>.</summary>
    public string PreprocessorConfigPath => System.IO.Path.Combine(Path, "preprocessor_config.json");

    /// <summary>Opens a model folder; throws <see cref="ClipModelException"/> naming what is missing or malformed.</summary>
    public static ClipModelDirectory Open(string path, bool quantized = false, string? modelId = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        var full = System.IO.Path.GetFullPath(path);
        if (!Directory.Exists(full))
        {
            throw new ClipModelException($"Model folder '{full}' does not exist. Expected a CLIP model in the HuggingFace ONNX layout (config.json, preprocessor_config.json, vocab.json + merges.txt or tokenizer.json, onnx/text_model.onnx, onnx/vision_model.onnx).");
        }

        var suffix = quantized ? "_quantized" : string.Empty;
        var text = System.IO.Path.Combine(full, "onnx", $"text_model{suffix}.onnx");
        var vision = System.IO.Path.Combine(full, "onnx", $"vision_model{suffix}.onnx");
        var missing = new[] { System.IO.Path.Combine(full, "config.json"), System.IO.Path.Combine(full, "preprocessor_config.json"), text, vision }
            .Where(static f => !File.Exists(f))
            .ToList();
        if (!File.Exists(System.IO.Path.Combine(full, "tokenizer.json"))
            && !(File.Exists(System.IO.Path.Combine(full, "vocab.json")) && File.Exists(System.IO.Path.Combine(full, "merges.txt"))))
        {
            missing.Add(System.IO.Path.Combine(full, "vocab.json + merges.txt (or tokenizer.json)"));
        }

        if (missing.Count > 0)
        {
            throw new ClipModelException($"Model folder '{full}' is incomplete; missing: {string.Join(", ", missing)}.");
        }

        var (projection, positions, imageSize) = ReadConfig(System.IO.Path.Combine(full, "config.json"));
        return new ClipModelDirectory(full, modelId ?? new DirectoryInfo(full).Name, text, vision, projection, positions, imageSize);
    }

    /// <summary>
    /// Opens a folder only for its tokenizer (no ONNX graphs needed): checks the tokenizer files and reads
    /// <c>config.json</c> when it is there for the context length.
    /// </summary>
    public static ClipModelDirectory OpenTokenizerOnly(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        var full = System.IO.Path.GetFullPath(path);
        if (!Directory.Exists(full))
        {
            throw new ClipModelException($"Model folder '{full}' does not exist. Expected vocab.json + merges.txt (or tokenizer.json) in it.");
        }

        var config = System.IO.Path.Combine(full, "config.json");
        var (projection, positions, imageSize) = File.Exists(config) ? ReadConfig(config) : (null, null, null);
        return new ClipModelDirectory(full, new DirectoryInfo(full).Name,
            System.IO.Path.Combine(full, "onnx", "text_model.onnx"), System.IO.Path.Combine(full, "onnx", "vision_model.onnx"),
            projection, positions, imageSize);
    }

    private static (int? Projection, int? Positions, int? ImageSize) ReadConfig(string path)
    {
        try
        {
            using var document = JsonDocument.Parse(File.ReadAllBytes(path));
            var root = document.RootElement;
            if (root.ValueKind != JsonValueKind.Object)
            {
                throw new ClipModelException($"{path}: expected a JSON object (a HuggingFace CLIPModel config).");
            }

            if (root.TryGetProperty("model_type", out var type) && type.GetString() is { } modelType
                && !modelType.Contains("clip", StringComparison.OrdinalIgnoreCase))
            {
                throw new ClipModelException($"{path}: model_type is '{modelType}', expected a CLIP model ('clip').");
            }

            var textConfig = root.TryGetProperty("text_config", out var t) && t.ValueKind == JsonValueKind.Object ? t : default;
            var visionConfig = root.TryGetProperty("vision_config", out var v) && v.ValueKind == JsonValueKind.Object ? v : default;
            return (Int(root, "projection_dim"), Int(textConfig, "max_position_embeddings"), Int(visionConfig, "image_size"));
        }
        catch (JsonException exception)
        {
            throw new ClipModelException($"{path}: not valid JSON ({exception.Message}).", exception);
        }
    }

    private static int? Int(JsonElement element, string property) =>
        element.ValueKind == JsonValueKind.Object && element.TryGetProperty(property, out var value) && value.TryGetInt32(out var result)
            ? result
            : null;
}
