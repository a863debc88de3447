using Mmrag.Clip.Preprocessing;
using Mmrag.Clip.Tokenization;

namespace Mmrag.Clip.Inference;

/// <summary>How a <see cref="ClipModel"/> is loaded and run.</summary>
public sealed record ClipModelOptions
{
    /// <summary>Load <c>onnx/*_quantized.onnx</c> instead of the fp32 graphs.</summary>
    public bool Quantized { get; init; }

    /// <summary>Name reported as the model id; defaults to the folder name.</summary>
    public string? ModelId { get; init; }

    /// <summary>Threads ONNX Runtime uses inside one inference call; 0 = one per physical core.</summary>
    public int IntraOpThreads { get; init; }

    /// <summary>
    /// Let ONNX Runtime's worker threads spin while waiting for work. Faster on a dedicated machine, wasteful
    /// on a shared one (the default is off).
    /// </summary>
    public bool AllowSpinning { get; init; }

    /// <summary>Extra ONNX Runtime session configuration entries (<c>AddSessionConfigEntry</c>), for tuning.</summary>
    public IReadOnlyDictionary<string, string> SessionConfigEntries { get; init; } = new Dictionary<string, string>();

    /// <summary>Largest number of texts or images sent to the model in one call.</summary>
    public int MaxBatchSize { get; init; } = 32;

    /// <summary>Tokenizer options (flavour, context length override).</summary>
    public ClipTokenizerOptions Tokenizer { get; init; } = new();

    /// <summary>Image decoding options (EXIF orientation, 16-bit grey handling, pixel limit).</summary>
    public ImageDecodeOptions ImageDecoding { get; init; } = ImageDecodeOptions.Default;

    /// <summary>The decoder; defaults to the SkiaSharp decoder.</summary>
    public IImageDecoder? ImageDecoder { get; init; }

    internal void Validate()
    {
        if (IntraOpThreads < 0)
        {
            throw new ArgumentOutOfRangeException(nameof(IntraOpThreads), IntraOpThreads, "IntraOpThreads must be 0 (automatic) or positive.");
        }

        if (MaxBatchSize < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(MaxBatchSize), MaxBatchSize, "MaxBatchSize must be at least 1.");
        }
    }
}
