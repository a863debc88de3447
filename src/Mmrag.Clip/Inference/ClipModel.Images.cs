using System.Threading.Channels;
using Mmrag.Clip.Models;
using Mmrag.Clip.Preprocessing;

namespace Mmrag.Clip.Inference;

/// <summary>The embedding of one image, or why it could not be embedded.</summary>
/// <param name="Vector">The raw (not normalized) embedding; empty when <paramref name="Error"/> is set.</param>
/// <param name="Error">The decode or read error for this image, if any.</param>
public readonly record struct ImageEmbeddingResult(ReadOnlyMemory<float> Vector, Exception? Error)
{
    /// <summary>Whether the image was embedded.</summary>
    public bool Succeeded => Error is null;
}

public sealed partial class ClipModel
{
    private ClipImagePreprocessor _preprocessor = null!;
    private IImageDecoder _decoder = null!;

    /// <summary>Resize, crop and normalization as <c>preprocessor_config.json</c> describes them.</summary>
    public ClipImagePreprocessor ImagePreprocessor => _preprocessor;

    /// <summary>The decoder that turns encoded images into RGB.</summary>
    public IImageDecoder ImageDecoder => _decoder;

    /// <summary>Floats of one image's <c>pixel_values</c> (3 × 224 × 224 for CLIP).</summary>
    public int PixelValuesLength => _preprocessor.PixelCount;

    internal (int Channels, int Height, int Width) PixelValuesShape => _preprocessor.OutputShape;

    /// <summary>The decoding options every image goes through unless a caller gives its own (<see cref="ClipModelOptions.ImageDecoding"/>).</summary>
    public ImageDecodeOptions ImageDecoding => _options.ImageDecoding;

    /// <summary>
    /// Decodes <paramref name="encoded"/> and writes its <c>pixel_values</c> (CHW float32) to <paramref name="destination"/>.
    /// <paramref name="decoding"/> defaults to <see cref="ImageDecoding"/>; an image over its pixel limit is an
    /// <see cref="ImageTooLargeException"/>, thrown before any pixel is decoded.
    /// </summary>
    public void PreprocessImage(ReadOnlySpan<byte> encoded, Span<float> destination, ImageDecodeOptions? decoding = null)
    {
        var image = _decoder.Decode(encoded, decoding ?? _options.ImageDecoding);
        _preprocessor.WritePixelValues(image, destination);
    }

    /// <summary>
    /// Embeds image files: files are read and decoded on a background task while the previous batch runs through the
    /// vision tower. A file that cannot be read or decoded gets a result with its error; the others are embedded.
    /// Results are raw projections, in input order.
    /// </summary>
    public Task<ImageEmbeddingResult[]> EmbedImageFilesAsync(IReadOnlyList<string> paths, CancellationToken cancellationToken = default) =>
        EmbedImageFilesAsync(paths, File.ReadAllBytesAsync, cancellationToken);

    /// <summary>
    /// Embeds image files like <see cref="EmbedImageFilesAsync(IReadOnlyList{string}, CancellationToken)"/>, reading each
    /// through <paramref name="read"/> (e.g. a reader that refuses FIFOs, devices and files over a size limit).
    /// </summary>
    public Task<ImageEmbeddingResult[]> EmbedImageFilesAsync(IReadOnlyList<string> paths, Func<string, CancellationToken, Task<byte[]>> read,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(paths);
        ArgumentNullException.ThrowIfNull(read);
        return EmbedImagesAsync(paths.Count, async (i, token) => await read(paths[i], token).ConfigureAwait(false),
            i => paths[i], _options.ImageDecoding, cancellationToken);
    }

    /// <summary>
    /// The image pipeline: <paramref name="load"/> gives the encoded bytes of image <c>i</c>; decoding and preprocessing
    /// fill one batch buffer while the vision tower runs on the previous one (two buffers in flight).
    /// </summary>
    internal async Task<ImageEmbeddingResult[]> EmbedImagesAsync(int count, Func<int, CancellationToken, ValueTask<ReadOnlyMemory<byte>>> load,
        Func<int, string> describe, ImageDecodeOptions decoding, CancellationToken cancellationToken)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        var results = new ImageEmbeddingResult[count];
        if (count == 0)
        {
            return results;
        }

        var tower = _vision.Value;
        var pixelCount = PixelValuesLength;
        var batchSize = Math.Min(MaxBatchSize, count);
        var free = Channel.CreateBounded<float[]>(2);
        var full = Channel.CreateBounded<(float[] Buffer, List<int> Indexes)>(1);
        free.Writer.TryWrite(new float[batchSize * pixelCount]);
        free.Writer.TryWrite(new float[batchSize * pixelCount]);

        using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var producer = Task.Run(async () =>
        {
            Exception? failure = null;
            try
            {
                var buffer = await free.Reader.ReadAsync(stop.Token).ConfigureAwait(false);
                var indexes = new List<int>(batchSize);
                for (var i = 0; i < count; i++)
                {
                    try
                    {
                        var bytes = await load(i, stop.Token).ConfigureAwait(false);
                        PreprocessImage(bytes.Span, buffer.AsSpan(indexes.Count * pixelCount, pixelCount), decoding);
                        indexes.Add(i);
                    }
                    catch (Exception exception) when (exception is ImageDecodeException or IOException or UnauthorizedAccessException)
                    {
                        results[i] = new ImageEmbeddingResult(ReadOnlyMemory<float>.Empty,
                            exception is ImageDecodeException ? exception : new ImageDecodeException($"{describe(i)}: {exception.Message}", exception));
                    }

                    if (indexes.Count == batchSize)
                    {
                        await full.Writer.WriteAsync((buffer, indexes), stop.Token).ConfigureAwait(false);
                        buffer = await free.Reader.ReadAsync(stop.Token).ConfigureAwait(false);
                        indexes = new List<int>(batchSize);
                    }
                }

                if (indexes.Count > 0)
                {
                    await full.Writer.WriteAsync((buffer, indexes), stop.Token).ConfigureAwait(false);
                }
            }
            catch (Exception exception)
            {
                failure = exception;
            }
            finally
            {
                full.Writer.TryComplete(failure);
            }
        }, CancellationToken.None);

        try
        {
            await foreach (var (buffer, indexes) in full.Reader.ReadAllAsync(cancellationToken).ConfigureAwait(false))
            {
                var output = new float[indexes.Count * tower.Dimension];
                EmbedPixelValues(buffer, indexes.Count, output, cancellationToken);
                for (var j = 0; j < indexes.Count; j++)
                {
                    results[indexes[j]] = new ImageEmbeddingResult(output.AsMemory(j * tower.Dimension, tower.Dimension), null);
                }

                free.Writer.TryWrite(buffer);
            }
        }
        finally
        {
            await stop.CancelAsync().ConfigureAwait(false);
            await producer.ConfigureAwait(false);
        }

        return results;
    }

    private void InitializeImagePipeline(ClipModelDirectory directory, ClipModelOptions options)
    {
        var config = ImagePreprocessorConfig.Load(directory.PreprocessorConfigPath);
        if (directory.ImageSize is { } imageSize && (config.CropHeight != imageSize || config.CropWidth != imageSize))
        {
            throw new ClipModelException(
                $"{directory.PreprocessorConfigPath}: crop {config.CropWidth}x{config.CropHeight} does not match the vision model's image_size {imageSize} in config.json.");
        }

        _preprocessor = new ClipImagePreprocessor(config);
        _decoder = options.ImageDecoder ?? SkiaImageDecoder.Instance;
    }
}
