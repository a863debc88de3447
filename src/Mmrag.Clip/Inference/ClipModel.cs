using System.Buffers;
using System.Runtime.InteropServices;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;
using Mmrag.Clip.Models;
using Mmrag.Clip.Tokenization;
using Mmrag.Threading;

namespace Mmrag.Clip.Inference;

/// <summary>
/// A loaded CLIP model: tokenizer, image preprocessing and one ONNX Runtime session per tower, each created on first
/// use and then shared. Thread-safe: any number of callers may embed concurrently. Owns its sessions; dispose it once.
/// The embeddings it returns are the raw projections (not normalized); the embedding generators normalize.
/// </summary>
public sealed partial class ClipModel : IDisposable
{
    private const string TextOutput = "text_embeds";
    private const string VisionOutput = "image_embeds";
    private const string InputIdsName = "input_ids";
    private const string AttentionMaskName = "attention_mask";

    private readonly Lazy<OnnxTower> _text;
    private readonly Lazy<OnnxTower> _vision;
    private readonly ClipModelOptions _options;
    private bool _disposed;

    private ClipModel(ClipModelDirectory directory, ClipModelOptions options, ClipTokenizer tokenizer)
    {
        Directory = directory;
        _options = options;
        Tokenizer = tokenizer;
        _text = new Lazy<OnnxTower>(() => LoadTower(directory.TextModelPath, TextOutput, ValidateTextInputs), LazyThreadSafetyMode.ExecutionAndPublication);
        _vision = new Lazy<OnnxTower>(() => LoadTower(directory.VisionModelPath, VisionOutput, ValidateVisionInputs), LazyThreadSafetyMode.ExecutionAndPublication);
        InitializeImagePipeline(directory, options);
    }

    /// <summary>The folder the model was loaded from.</summary>
    public ClipModelDirectory Directory { get; }

    /// <summary>Model identifier (folder name unless configured).</summary>
    public string ModelId => _options.ModelId ?? Directory.ModelId;

    /// <summary>Embedding dimension (from config.json, checked against both graphs when they load).</summary>
    public int Dimension => Directory.ProjectionDimension ?? _text.Value.Dimension;

    /// <summary>The tokenizer of this model.</summary>
    public ClipTokenizer Tokenizer { get; }

    /// <summary>Largest batch sent to ONNX Runtime in one call.</summary>
    public int MaxBatchSize => _options.MaxBatchSize;

    /// <summary>Loads a model folder in the HuggingFace ONNX layout. Sessions are created on first use.</summary>
    public static ClipModel Load(string modelDirectory, ClipModelOptions? options = null)
    {
        options ??= new ClipModelOptions();
        options.Validate();
        var directory = ClipModelDirectory.Open(modelDirectory, options.Quantized, options.ModelId);
        var tokenizer = ClipTokenizer.Load(directory.Path, options.Tokenizer, directory.MaxPositionEmbeddings);
        return new ClipModel(directory, options, tokenizer);
    }

    /// <summary>
    /// Creates both ONNX sessions now instead of on first use (and validates both graphs), side by side: creating one is
    /// mostly single-threaded graph optimization, so two together take about as long as the slower one (3.3 s against
    /// 5.2–6.0 s one after the other for ViT-B/32 on 2 cores).
    /// </summary>
    public void WarmUp()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        var vision = Task.Run(() => _vision.Value);
        try
        {
            _ = _text.Value;
        }
        catch
        {
            // The text tower's error is the one raised; the vision load is observed, not left unobserved.
            vision.Abandon();
            throw;
        }

        vision.GetAwaiter().GetResult();
    }

    /// <summary>
    /// Runs the text tower on up to <see cref="MaxBatchSize"/> tokenized texts, padded only to the longest of them
    /// (the pooled output does not depend on padding), writing <c>batch.Count × Dimension</c> raw floats to <paramref name="output"/>.
    /// </summary>
    public void EmbedTokens(IReadOnlyList<ClipTokens> batch, Memory<float> output, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(batch);
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (batch.Count == 0)
        {
            return;
        }

        var tower = _text.Value;
        if (output.Length < batch.Count * tower.Dimension)
        {
            throw new ArgumentException($"Output holds {output.Length} floats; {batch.Count * tower.Dimension} are needed.", nameof(output));
        }

        var sequenceLength = batch.Max(static t => t.Length);
        var count = batch.Count * sequenceLength;
        var inputs = new List<OrtValue>(2);
        var names = new List<string>(2);
        var rented = new List<Array>(2);
        try
        {
            foreach (var (name, metadata) in tower.Inputs)
            {
                var isMask = name == AttentionMaskName;
                var shape = new long[] { batch.Count, sequenceLength };
                if (metadata.ElementDataType == TensorElementType.Int64)
                {
                    var buffer = ArrayPool<long>.Shared.Rent(count);
                    rented.Add(buffer);
                    FillTokens(batch, sequenceLength, buffer.AsSpan(0, count), isMask, static v => v);
                    inputs.Add(OrtValue.CreateTensorValueFromMemory(OrtMemoryInfo.DefaultInstance, buffer.AsMemory(0, count), shape));
                }
                else
                {
                    var buffer = ArrayPool<int>.Shared.Rent(count);
                    rented.Add(buffer);
                    FillTokens(batch, sequenceLength, buffer.AsSpan(0, count), isMask, static v => (int)v);
                    inputs.Add(OrtValue.CreateTensorValueFromMemory(OrtMemoryInfo.DefaultInstance, buffer.AsMemory(0, count), shape));
                }

                names.Add(name);
            }

            tower.Run(names, inputs, output, batch.Count, cancellationToken);
        }
        finally
        {
            foreach (var value in inputs)
            {
                value.Dispose();
            }

            foreach (var buffer in rented)
            {
                if (buffer is long[] longs)
                {
                    ArrayPool<long>.Shared.Return(longs);
                }
                else
                {
                    ArrayPool<int>.Shared.Return((int[])buffer);
                }
            }
        }
    }

    /// <summary>
    /// Runs the vision tower on <paramref name="batch"/> preprocessed images (<c>pixel_values</c>, CHW float32, one after another),
    /// writing <c>batch × Dimension</c> raw floats to <paramref name="output"/>.
    /// </summary>
    public void EmbedPixelValues(ReadOnlyMemory<float> pixelValues, int batch, Memory<float> output, CancellationToken cancellationToken = default)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        ArgumentOutOfRangeException.ThrowIfNegative(batch);
        if (batch == 0)
        {
            return;
        }

        var tower = _vision.Value;
        var (channels, height, width) = PixelValuesShape;
        var perImage = channels * height * width;
        if (pixelValues.Length < batch * perImage)
        {
            throw new ArgumentException($"pixel_values holds {pixelValues.Length} floats; {batch} images of {channels}x{height}x{width} need {batch * perImage}.", nameof(pixelValues));
        }

        if (output.Length < batch * tower.Dimension)
        {
            throw new ArgumentException($"Output holds {output.Length} floats; {batch * tower.Dimension} are needed.", nameof(output));
        }

        var memory = MemoryMarshal.AsMemory(pixelValues[..(batch * perImage)]);
        using var input = OrtValue.CreateTensorValueFromMemory(OrtMemoryInfo.DefaultInstance, memory, [batch, channels, height, width]);
        tower.Run([tower.Inputs.Keys.Single()], [input], output, batch, cancellationToken);
    }

    /// <inheritdoc />
    public void Dispose()
    {
        if (_disposed)
        {
            return;
        }

        _disposed = true;
        if (_text.IsValueCreated)
        {
            _text.Value.Dispose();
        }

        if (_vision.IsValueCreated)
        {
            _vision.Value.Dispose();
        }
    }

    private void FillTokens<T>(IReadOnlyList<ClipTokens> batch, int sequenceLength, Span<T> destination, bool mask, Func<long, T> convert)
    {
        for (var row = 0; row < batch.Count; row++)
        {
            var ids = batch[row].Ids;
            var target = destination.Slice(row * sequenceLength, sequenceLength);
            for (var i = 0; i < sequenceLength; i++)
            {
                var real = i < ids.Length;
                target[i] = convert(mask ? (real ? 1 : 0) : (real ? ids[i] : Tokenizer.PadId));
            }
        }
    }

    private OnnxTower LoadTower(string path, string outputName, Action<OnnxTower> validate)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        var tower = OnnxTower.Create(path, outputName, _options);
        try
        {
            validate(tower);
            if (Directory.ProjectionDimension is { } expected && expected != tower.Dimension)
            {
                throw new ClipModelException(
                    $"{path}: '{outputName}' has dimension {tower.Dimension}, but config.json says projection_dim {expected}. The graph and config.json belong to different models.");
            }

            return tower;
        }
        catch
        {
            tower.Dispose();
            throw;
        }
    }

    private static void ValidateTextInputs(OnnxTower tower)
    {
        if (!tower.Inputs.ContainsKey(InputIdsName))
        {
            throw new ClipModelException(
                $"{tower.Path}: expected an input named '{InputIdsName}', found {Describe(tower.Inputs)}. Is this the text tower?");
        }

        foreach (var (name, metadata) in tower.Inputs)
        {
            if (name is not (InputIdsName or AttentionMaskName))
            {
                throw new ClipModelException($"{tower.Path}: unexpected input '{name}'; a CLIP text tower takes input_ids and optionally attention_mask.");
            }

            if (metadata.ElementDataType is not (TensorElementType.Int64 or TensorElementType.Int32) || metadata.Dimensions.Length != 2)
            {
                throw new ClipModelException($"{tower.Path}: input '{name}' must be int64 or int32 [batch, sequence], found {metadata.ElementDataType} [{string.Join(", ", metadata.Dimensions)}].");
            }
        }
    }

    private void ValidateVisionInputs(OnnxTower tower)
    {
        var (channels, height, width) = PixelValuesShape;
        if (tower.Inputs.Count != 1)
        {
            throw new ClipModelException($"{tower.Path}: expected one input (pixel_values), found {Describe(tower.Inputs)}. Is this the vision tower?");
        }

        var (name, metadata) = tower.Inputs.Single();
        var dims = metadata.Dimensions;
        if (metadata.ElementDataType != TensorElementType.Float || dims.Length != 4
            || (dims[1] > 0 && dims[1] != channels) || (dims[2] > 0 && dims[2] != height) || (dims[3] > 0 && dims[3] != width))
        {
            throw new ClipModelException(
                $"{tower.Path}: input '{name}' is {metadata.ElementDataType} [{string.Join(", ", dims)}], but preprocessor_config.json produces float32 [batch, {channels}, {height}, {width}].");
        }
    }

    private static string Describe(IReadOnlyDictionary<string, NodeMetadata> inputs) =>
        string.Join(", ", inputs.Select(static i => $"'{i.Key}' {i.Value.ElementDataType} [{string.Join(", ", i.Value.Dimensions)}]"));
}
