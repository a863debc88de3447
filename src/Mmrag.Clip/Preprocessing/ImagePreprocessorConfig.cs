using System.Globalization;
using System.Text.Json;

namespace Mmrag.Clip.Preprocessing;

/// <summary>
/// The image preprocessing settings of a model, as in a HuggingFace <c>preprocessor_config.json</c>
/// (<c>CLIPImageProcessor</c>). Keys that are absent take <c>CLIPImageProcessor</c>'s defaults, which are
/// the values of <c>openai/clip-vit-base-patch32</c>. Immutable.
/// </summary>
public sealed record ImagePreprocessorConfig
{
    /// <summary>The file name HuggingFace uses.</summary>
    public const string FileName = "preprocessor_config.json";

    /// <summary>PIL's BICUBIC, the only resampling filter supported.</summary>
    public const int BicubicResample = 3;

    /// <summary><c>CLIPImageProcessor</c>'s defaults (the CLIP ViT-B/32 values).</summary>
    public static ImagePreprocessorConfig ClipDefault { get; } = new();

    /// <summary>Resize so the shorter side has this length, keeping the aspect ratio (<c>size.shortest_edge</c>). Null when <see cref="ResizeHeight"/>/<see cref="ResizeWidth"/> are used.</summary>
    public int? ShortestEdge { get; init; } = 224;

    /// <summary>Fixed resize height (<c>size.height</c>), aspect ratio not kept; set together with <see cref="ResizeWidth"/>.</summary>
    public int? ResizeHeight { get; init; }

    /// <summary>Fixed resize width (<c>size.width</c>); set together with <see cref="ResizeHeight"/>.</summary>
    public int? ResizeWidth { get; init; }

    /// <summary>Center-crop height (<c>crop_size.height</c>).</summary>
    public int CropHeight { get; init; } = 224;

    /// <summary>Center-crop width (<c>crop_size.width</c>).</summary>
    public int CropWidth { get; init; } = 224;

    /// <summary>PIL resampling filter id (<c>resample</c>); only 3 (bicubic) is supported.</summary>
    public int Resample { get; init; } = BicubicResample;

    /// <summary>Multiplier applied to 8-bit values (<c>rescale_factor</c>).</summary>
    public double RescaleFactor { get; init; } = 1.0 / 255.0;

    /// <summary>Per-channel mean, RGB (<c>image_mean</c>).</summary>
    public IReadOnlyList<double> ImageMean { get; init; } = [0.48145466, 0.4578275, 0.40821073];

    /// <summary>Per-channel standard deviation, RGB (<c>image_std</c>).</summary>
    public IReadOnlyList<double> ImageStd { get; init; } = [0.26862954, 0.26130258, 0.27577711];

    /// <summary><c>do_resize</c>.</summary>
    public bool DoResize { get; init; } = true;

    /// <summary><c>do_center_crop</c>.</summary>
    public bool DoCenterCrop { get; init; } = true;

    /// <summary><c>do_rescale</c>.</summary>
    public bool DoRescale { get; init; } = true;

    /// <summary><c>do_normalize</c>.</summary>
    public bool DoNormalize { get; init; } = true;

    /// <summary><c>do_convert_rgb</c>. Decoders always produce RGB, so this is informational.</summary>
    public bool DoConvertRgb { get; init; } = true;

    /// <summary>Where the settings came from, used in error messages (a path, or a description).</summary>
    public string SourceName { get; init; } = "built-in CLIP defaults";

    /// <summary>Reads <paramref name="path"/> (a <c>preprocessor_config.json</c>, or a model folder containing one).</summary>
    /// <exception cref="ClipModelException">The file is missing, unreadable, malformed or asks for something unsupported.</exception>
    public static ImagePreprocessorConfig Load(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        if (Directory.Exists(path))
        {
            path = Path.Combine(path, FileName);
        }

        string json;
        try
        {
            json = File.ReadAllText(path);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or NotSupportedException)
        {
            throw new ClipModelException(
                $"Cannot read the image preprocessor config '{path}' (expected a HuggingFace {FileName} with size, crop_size, image_mean and image_std): {ex.Message}", ex);
        }

        return Parse(json, path);
    }

    /// <summary>Parses the JSON text of a <c>preprocessor_config.json</c>; <paramref name="sourceName"/> names it in errors.</summary>
    /// <exception cref="ClipModelException">The JSON is malformed or asks for something unsupported.</exception>
    public static ImagePreprocessorConfig Parse(string json, string sourceName)
    {
        ArgumentNullException.ThrowIfNull(json);
        ArgumentException.ThrowIfNullOrEmpty(sourceName);

        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(json, new JsonDocumentOptions { AllowTrailingCommas = true, CommentHandling = JsonCommentHandling.Skip });
        }
        catch (JsonException ex)
        {
            throw new ClipModelException($"'{sourceName}' is not valid JSON (expected a HuggingFace {FileName} object): {ex.Message}", ex);
        }

        using (document)
        {
            var root = document.RootElement;
            if (root.ValueKind != JsonValueKind.Object)
            {
                throw new ClipModelException($"'{sourceName}' must hold a JSON object (a HuggingFace {FileName}), not {root.ValueKind}.");
            }

            var reader = new Reader(root, sourceName);
            var config = new ImagePreprocessorConfig
            {
                SourceName = sourceName,
                DoResize = reader.Boolean("do_resize", true),
                DoCenterCrop = reader.Boolean("do_center_crop", true),
                DoRescale = reader.Boolean("do_rescale", true),
                DoNormalize = reader.Boolean("do_normalize", true),
                DoConvertRgb = reader.Boolean("do_convert_rgb", true),
                RescaleFactor = reader.Number("rescale_factor", 1.0 / 255.0),
                Resample = reader.Integer("resample", BicubicResample),
                ImageMean = reader.Triple("image_mean", ClipDefault.ImageMean),
                ImageStd = reader.Triple("image_std", ClipDefault.ImageStd),
            };

            config = reader.Size(config);
            config = reader.CropSize(config);
            config.Validate();
            return config;
        }
    }

    /// <summary>Checks that the settings can be used; errors name <see cref="SourceName"/> and the key.</summary>
    /// <exception cref="ClipModelException">A setting is invalid or unsupported.</exception>
    public void Validate()
    {
        if (Resample != BicubicResample)
        {
            throw Error("resample", $"is {Resample} ({ResampleName(Resample)}); only {BicubicResample} (bicubic, what CLIP uses) is supported");
        }

        var fixedSize = ResizeHeight is not null || ResizeWidth is not null;
        if (fixedSize && (ResizeHeight is not > 0 || ResizeWidth is not > 0))
        {
            throw Error("size", "needs both a positive 'height' and a positive 'width'");
        }

        if (fixedSize && ShortestEdge is not null)
        {
            throw Error("size", "sets both 'shortest_edge' and 'height'/'width'; use one form");
        }

        if (!fixedSize && ShortestEdge is not > 0)
        {
            throw Error("size", "needs a positive 'shortest_edge' (or 'height' and 'width')");
        }

        if (CropHeight <= 0 || CropWidth <= 0)
        {
            throw Error("crop_size", $"must be positive, is {CropHeight}x{CropWidth}");
        }

        if (!DoCenterCrop && !(DoResize && fixedSize))
        {
            throw Error("do_center_crop",
                "is false without a fixed 'size' {height, width}, so every image would get a different shape; the vision model needs a fixed one");
        }

        if (ImageMean is not { Count: 3 } || ImageStd is not { Count: 3 })
        {
            throw Error("image_mean/image_std", "must have 3 values (R, G, B)");
        }

        for (var c = 0; c < 3; c++)
        {
            if (!double.IsFinite(ImageMean[c]) || !double.IsFinite(ImageStd[c]) || (float)ImageStd[c] == 0f)
            {
                throw Error("image_mean/image_std", "must be finite, and image_std non-zero");
            }
        }

        if (!double.IsFinite(RescaleFactor))
        {
            throw Error("rescale_factor", "must be a finite number");
        }
    }

    private ClipModelException Error(string key, string problem) => new($"'{SourceName}': '{key}' {problem}.");

    private static string ResampleName(int resample) => resample switch
    {
        0 => "nearest",
        1 => "lanczos",
        2 => "bilinear",
        3 => "bicubic",
        4 => "box",
        5 => "hamming",
        _ => "unknown",
    };

    /// <summary>Typed access to the JSON keys with errors that name the file, the key and what was expected.</summary>
    private readonly struct Reader(JsonElement root, string sourceName)
    {
        public bool Boolean(string key, bool fallback)
        {
            if (!TryGet(key, out var value))
            {
                return fallback;
            }

            return value.ValueKind switch
            {
                JsonValueKind.True => true,
                JsonValueKind.False => false,
                _ => throw Unexpected(key, "true or false", value),
            };
        }

        public double Number(string key, double fallback)
        {
            if (!TryGet(key, out var value))
            {
                return fallback;
            }

            return value.ValueKind == JsonValueKind.Number ? value.GetDouble() : throw Unexpected(key, "a number", value);
        }

        public int Integer(string key, int fallback) => TryGet(key, out var value) ? AsInteger(key, value) : fallback;

        public IReadOnlyList<double> Triple(string key, IReadOnlyList<double> fallback)
        {
            if (!TryGet(key, out var value))
            {
                return fallback;
            }

            if (value.ValueKind == JsonValueKind.Number)
            {
                var single = value.GetDouble(); // HF broadcasts a single number over the channels.
                return [single, single, single];
            }

            if (value.ValueKind != JsonValueKind.Array || value.GetArrayLength() != 3)
            {
                throw Unexpected(key, "an array of 3 numbers (R, G, B)", value);
            }

            var result = new double[3];
            var i = 0;
            foreach (var item in value.EnumerateArray())
            {
                result[i++] = item.ValueKind == JsonValueKind.Number ? item.GetDouble() : throw Unexpected(key, "an array of 3 numbers (R, G, B)", value);
            }

            return result;
        }

        public ImagePreprocessorConfig Size(ImagePreprocessorConfig config)
        {
            const string Expected = "{\"shortest_edge\": N}, {\"height\": H, \"width\": W} or an integer";
            if (!TryGet("size", out var value))
            {
                return config;
            }

            if (value.ValueKind == JsonValueKind.Number)
            {
                // The older CLIPFeatureExtractor form: an int is the shortest edge.
                return config with { ShortestEdge = AsInteger("size", value), ResizeHeight = null, ResizeWidth = null };
            }

            if (value.ValueKind != JsonValueKind.Object)
            {
                throw Unexpected("size", Expected, value);
            }

            var hasShortest = value.TryGetProperty("shortest_edge", out var shortest);
            var hasHeight = value.TryGetProperty("height", out var height);
            var hasWidth = value.TryGetProperty("width", out var width);
            if (value.TryGetProperty("longest_edge", out var longest) && longest.ValueKind != JsonValueKind.Null)
            {
                throw new ClipModelException($"'{sourceName}': 'size.longest_edge' is not supported; expected {Expected}.");
            }

            if (hasShortest && !hasHeight && !hasWidth)
            {
                return config with { ShortestEdge = AsInteger("size.shortest_edge", shortest), ResizeHeight = null, ResizeWidth = null };
            }

            if (hasHeight && hasWidth && !hasShortest)
            {
                return config with
                {
                    ShortestEdge = null,
                    ResizeHeight = AsInteger("size.height", height),
                    ResizeWidth = AsInteger("size.width", width),
                };
            }

            throw Unexpected("size", Expected, value);
        }

        public ImagePreprocessorConfig CropSize(ImagePreprocessorConfig config)
        {
            const string Expected = "{\"height\": H, \"width\": W} or an integer";
            if (!TryGet("crop_size", out var value))
            {
                return config;
            }

            if (value.ValueKind == JsonValueKind.Number)
            {
                var side = AsInteger("crop_size", value);
                return config with { CropHeight = side, CropWidth = side };
            }

            if (value.ValueKind == JsonValueKind.Object
                && value.TryGetProperty("height", out var height)
                && value.TryGetProperty("width", out var width))
            {
                return config with { CropHeight = AsInteger("crop_size.height", height), CropWidth = AsInteger("crop_size.width", width) };
            }

            throw Unexpected("crop_size", Expected, value);
        }

        private bool TryGet(string key, out JsonElement value) =>
            root.TryGetProperty(key, out value) && value.ValueKind != JsonValueKind.Null;

        private int AsInteger(string key, JsonElement value)
        {
            if (value.ValueKind == JsonValueKind.Number)
            {
                if (value.TryGetInt32(out var integer))
                {
                    return integer;
                }

                // 224.0 is still 224.
                if (value.TryGetDouble(out var number) && number == Math.Floor(number) && number is >= int.MinValue and <= int.MaxValue)
                {
                    return (int)number;
                }
            }

            throw Unexpected(key, "an integer", value);
        }

        private ClipModelException Unexpected(string key, string expected, JsonElement value)
        {
            var text = value.GetRawText();
            if (text.Length > 80)
            {
                text = string.Concat(text.AsSpan(0, 77), "...");
            }

            return new ClipModelException(string.Create(CultureInfo.InvariantCulture, $"'{sourceName}': '{key}' should be {expected}, but is {text}."));
        }
    }
}
