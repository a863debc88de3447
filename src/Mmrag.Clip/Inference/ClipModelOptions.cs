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

    /// <summary>Threads ONNX Runtime uses inside one inference call; 0 = one per processor the process may use (<see cref="Environment.ProcessorCount"/>).</summary>
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

    /// <summary>
    /// Opt-in: decode a JPEG at 1/2, 1/4 or 1/8 of its size (libjpeg's DCT scaling, as Pillow's <c>Image.draft</c> does)
    /// when it is at least twice the size the preprocessor resizes it to (<see cref="ImageDecodeOptions.DraftSize"/>).
    /// Several times faster for photos (a 4000x3000 JPEG is decoded at 500x375); the vectors are close to the exact
    /// ones but not equal (cosine above 0.99 on photos, see the README). Off by default: the default path is the
    /// reference's, pixel for pixel.
    /// </summary>
    public bool FastJpegDecode { get; init; }

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
