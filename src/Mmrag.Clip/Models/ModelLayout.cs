namespace Mmrag.Clip.Models;

/// <summary>
/// The HuggingFace / Xenova ONNX folder layout a CLIP model lives in: tokenizer and config files at the root,
/// the two towers under <c>onnx/</c>. Paths are relative and use <c>/</c>, as in the hub repository.
/// </summary>
public static class ModelLayout
{
    /// <summary><c>config.json</c>: the HF <c>CLIPModel</c> configuration (dimensions, token ids).</summary>
    public const string Config = "config.json";

    /// <summary><c>preprocessor_config.json</c>: image resize, crop and normalization settings.</summary>
    public const string PreprocessorConfig = "preprocessor_config.json";

    /// <summary><c>tokenizer.json</c>: the HF fast-tokenizer file.</summary>
    public const string Tokenizer = "tokenizer.json";

    /// <summary><c>vocab.json</c>: BPE vocabulary.</summary>
    public const string Vocabulary = "vocab.json";

    /// <summary><c>merges.txt</c>: BPE merges.</summary>
    public const string Merges = "merges.txt";

    /// <summary><c>tokenizer_config.json</c>: tokenizer settings (<c>model_max_length</c>, special tokens).</summary>
    public const string TokenizerConfig = "tokenizer_config.json";

    /// <summary><c>special_tokens_map.json</c>: special tokens.</summary>
    public const string SpecialTokensMap = "special_tokens_map.json";

    /// <summary><c>onnx/text_model.onnx</c>: the float32 text tower (<c>input_ids</c> → <c>text_embeds</c>).</summary>
    public const string TextModel = "onnx/text_model.onnx";

    /// <summary><c>onnx/vision_model.onnx</c>: the float32 vision tower (<c>pixel_values</c> → <c>image_embeds</c>).</summary>
    public const string VisionModel = "onnx/vision_model.onnx";

    /// <summary><c>onnx/text_model_quantized.onnx</c>: the 8-bit quantized text tower (transformers.js naming).</summary>
    public const string QuantizedTextModel = "onnx/text_model_quantized.onnx";

    /// <summary><c>onnx/vision_model_quantized.onnx</c>: the 8-bit quantized vision tower (transformers.js naming).</summary>
    public const string QuantizedVisionModel = "onnx/vision_model_quantized.onnx";

    /// <summary>Suffix of a file being downloaded; it becomes the final name only once verified.</summary>
    public const string PartialSuffix = ".partial";

    /// <summary>The configuration and tokenizer files every model folder has, whatever its variants.</summary>
    public static IReadOnlyList<string> SupportFiles { get; } =
    [
        Config, PreprocessorConfig, Tokenizer, Vocabulary, Merges, TokenizerConfig, SpecialTokensMap,
    ];

    /// <summary>The ONNX files of <paramref name="variants"/> (text tower first, then vision, per variant).</summary>
    public static IReadOnlyList<string> OnnxFiles(ModelVariants variants)
    {
        ValidateVariants(variants);
        var files = new List<string>(4);
        if (variants.HasFlag(ModelVariants.Float32))
        {
            files.Add(TextModel);
            files.Add(VisionModel);
        }

        if (variants.HasFlag(ModelVariants.Quantized))
        {
            files.Add(QuantizedTextModel);
            files.Add(QuantizedVisionModel);
        }

        return files;
    }

    /// <summary>All files a folder needs for <paramref name="variants"/>: <see cref="SupportFiles"/> then <see cref="OnnxFiles"/>.</summary>
    public static IReadOnlyList<string> RequiredFiles(ModelVariants variants = ModelVariants.Float32) =>
        [.. SupportFiles, .. OnnxFiles(variants)];

    /// <summary>The files of <paramref name="requiredFiles"/> that are not present under <paramref name="directory"/>, in order.</summary>
    public static IReadOnlyList<string> MissingFiles(string directory, IEnumerable<string> requiredFiles)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(directory);
        ArgumentNullException.ThrowIfNull(requiredFiles);
        return [.. requiredFiles.Where(file => !File.Exists(FullPath(directory, file)))];
    }

    /// <summary>
    /// The absolute path of <paramref name="relativeFile"/> (hub form, <c>/</c>-separated) under <paramref name="directory"/>.
    /// Throws <see cref="ArgumentException"/> when the file would land outside the folder.
    /// </summary>
    public static string FullPath(string directory, string relativeFile)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(directory);
        ValidateRelativeFile(relativeFile);
        return Path.GetFullPath(Path.Combine(directory, relativeFile.Replace('/', Path.DirectorySeparatorChar)));
    }

    /// <summary>Throws <see cref="ArgumentException"/> unless <paramref name="relativeFile"/> is a plain relative hub path (no <c>..</c>, no root, no backslash).</summary>
    public static void ValidateRelativeFile(string relativeFile, string? paramName = null)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(relativeFile, paramName ?? nameof(relativeFile));

        // Descriptors can come from callers; a file list must never write outside the model folder.
        var segments = relativeFile.Split('/');
        if (relativeFile.Contains('\\', StringComparison.Ordinal)
            || Path.IsPathRooted(relativeFile)
            || segments.Any(s => s.Length == 0 || s == "." || s == ".." || s.IndexOfAny(Path.GetInvalidFileNameChars()) >= 0))
        {
            throw new ArgumentException($"'{relativeFile}' is not a relative file path inside a model folder ('dir/file.ext', no '..').", paramName ?? nameof(relativeFile));
        }
    }

    internal static void ValidateVariants(ModelVariants variants, string paramName = "variants")
    {
        if (variants == ModelVariants.None || (variants & ~(ModelVariants.Float32 | ModelVariants.Quantized)) != 0)
        {
            throw new ArgumentOutOfRangeException(paramName, variants, "Choose Float32, Quantized or both.");
        }
    }
}

/// <summary>Which ONNX exports of the towers a model folder holds or a download fetches.</summary>
[Flags]
public enum ModelVariants
{
    /// <summary>No ONNX files (invalid for downloads).</summary>
    None = 0,

    /// <summary><c>onnx/text_model.onnx</c> and <c>onnx/vision_model.onnx</c> (reference accuracy).</summary>
    Float32 = 1,

    /// <summary><c>onnx/text_model_quantized.onnx</c> and <c>onnx/vision_model_quantized.onnx</c> (about 4x smaller, lower accuracy).</summary>
    Quantized = 2,
}
