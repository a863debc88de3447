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
    private ImageDecodeOptions _imageDecoding = null!;

    /// <summary>Resize, crop and normalization as <c>preprocessor_config.json</c> describes them.</summary>
    public ClipImagePreprocessor ImagePreprocessor => _preprocessor;

    /// <summary>The decoder that turns encoded images into RGB.</summary>
    public IImageDecoder ImageDecoder => _decoder;

    /// <summary>Floats of one image's <c>pixel_values</c> (3 × 224 × 224 for CLIP).</summary>
    public int PixelValuesLength => _preprocessor.PixelCount;

    internal (int Channels, int Height, int Width) PixelValuesShape => _preprocessor.OutputShape;

    /// <summary>
    /// The decoding options every image goes through unless a caller gives its own: <see cref="ClipModelOptions.ImageDecoding"/>,
    /// with a <see cref="ImageDecodeOptions.DraftSize"/> of the preprocessor's resize when <see cref="ClipModelOptions.FastJpegDecode"/> is on.
    /// </summary>
    public ImageDecodeOptions ImageDecoding => _imageDecoding;

    /// <summary>
    /// Decodes <paramref name="encoded"/> and writes its <c>pixel_values</c> (CHW float32) to <paramref name="destination"/>.
    /// <paramref name="decoding"/> defaults to <see cref="ImageDecoding"/>; an image over its pixel limit is an
    /// <see cref="ImageTooLargeException"/>, thrown before any pixel is decoded.
    /// </summary>
    public void PreprocessImage(ReadOnlySpan<byte> encoded, Span<float> destination, ImageDecodeOptions? decoding = null)
    {
        decoding ??= _imageDecoding;
        if (_decoder is SkiaImageDecoder && SkiaImageDecoder.TryDecodeJpeg(encoded, decoding, out var decoded))
        {
            // The same pixels the decoder would return, in memory that is freed here rather than left to the GC.
            using (decoded)
            {
                _preprocessor.WritePixelValues(decoded.Pixels, decoded.Width, decoded.Height, destination);
            }

            return;
        }

        var image = _decoder.Decode(encoded, decoding);
        _preprocessor.WritePixelValues(image, destination);
    }

    /// <summary>
    /// Embeds image files: each batch is decoded on all the tower's threads, then embedded, while the next batch's files
    /// are read. A file that cannot be read or decoded gets a result with its error; the others are embedded.
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
            i => paths[i], _imageDecoding, cancellationToken);
    }

    /// <summary>
    /// The image pipeline, one batch at a time: <paramref name="load"/> gives the encoded bytes of image <c>i</c>; the
    /// batch's images are decoded and preprocessed on every core the model may use, each straight into its slot of the
    /// batch tensor, then the vision tower runs on the batch with the same cores, while the next batch's bytes are read.
    /// </summary>
    /// <remarks>
    /// Decoding beside inference (a producer thread filling the next batch while the tower runs) was measured slower on
    /// two cores: ONNX Runtime splits each operator evenly over its threads, so whenever the decoder takes a core, one
    /// half of every operator waits for the other and the tower ran at 63–71 % of its rate. Taking turns, each phase
    /// keeps every core busy and the only cost is the decode time itself.
    /// </remarks>
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
        var pixels = new float[batchSize * pixelCount];
        var parallel = new ParallelOptions { MaxDegreeOfParallelism = DecodeThreads, CancellationToken = cancellationToken };
        // The pixel limit bounds all the decodes in flight together, not each thread's: a batch of images just under the
        // limit is decoded one at a time, a batch of photos side by side.
        var budget = new PixelBudget(decoding.MaxPixels);
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        Task<EncodedImage[]>? next = LoadBatchAsync(0);
        try
        {
            for (var start = 0; start < count; start += batchSize)
            {
                var encoded = await next!.ConfigureAwait(false);
                var end = Math.Min(start + batchSize, count);
                next = end < count ? LoadBatchAsync(end) : null;

                var indexes = DecodeBatch(encoded, start, pixels, parallel);
                if (indexes.Count == 0)
                {
                    continue;
                }

                var output = new float[indexes.Count * tower.Dimension];
                EmbedPixelValues(pixels, indexes.Count, output, cancellationToken);
                for (var j = 0; j < indexes.Count; j++)
                {
                    results[indexes[j]] = new ImageEmbeddingResult(output.AsMemory(j * tower.Dimension, tower.Dimension), null);
                }
            }
        }
        finally
        {
            if (next is not null)
            {
                // Stopped early: the read ahead is not wanted; it is stopped, and observed.
                await stop.CancelAsync().ConfigureAwait(false);
                await next.ContinueWith(static _ => { }, CancellationToken.None, TaskContinuationOptions.None, TaskScheduler.Default).ConfigureAwait(false);
            }
        }

        return results;

        // Reads happen on the thread pool: they wait on the disk, not on the cores the batch before them is using.
        Task<EncodedImage[]> LoadBatchAsync(int first) => Task.Run(async () =>
        {
            var batch = new EncodedImage[Math.Min(batchSize, count - first)];
            for (var j = 0; j < batch.Length; j++)
            {
                try
                {
                    batch[j] = new EncodedImage(await load(first + j, stop.Token).ConfigureAwait(false), null);
                }
                catch (Exception exception) when (exception is ImageDecodeException or IOException or UnauthorizedAccessException)
                {
                    batch[j] = new EncodedImage(default, exception);
                }
            }

            return batch;
        }, stop.Token);

        // Decodes a batch into consecutive slots of the tensor; an image that fails gets its error and no slot.
        List<int> DecodeBatch(EncodedImage[] batch, int first, float[] destination, ParallelOptions options)
        {
            var errors = new Exception?[batch.Length];
            Parallel.For(0, batch.Length, options, j =>
            {
                if (batch[j].Error is { } readError)
                {
                    errors[j] = readError;
                    return;
                }

                var pixels = DecodedPixels(batch[j].Bytes.Span);
                budget.Take(pixels);
                try
                {
                    PreprocessImage(batch[j].Bytes.Span, destination.AsSpan(j * pixelCount, pixelCount), decoding);
                }
                catch (Exception exception)
                {
                    errors[j] = exception;
                }
                finally
                {
                    budget.Give(pixels);
                }
            });

            var indexes = new List<int>(batch.Length);
            for (var j = 0; j < batch.Length; j++)
            {
                switch (errors[j])
                {
                    case null:
                        break;
                    case ImageDecodeException or IOException or UnauthorizedAccessException:
                        var error = errors[j]!;
                        results[first + j] = new ImageEmbeddingResult(ReadOnlyMemory<float>.Empty,
                            error is ImageDecodeException ? error : new ImageDecodeException($"{describe(first + j)}: {error.Message}", error));
                        continue;
                    default:
                        // Not a bad image but a bug: it stops the call as itself, as it would without the parallel loop.
                        System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw(errors[j]!);
                        break;
                }

                if (indexes.Count != j)
                {
                    destination.AsSpan(j * pixelCount, pixelCount).CopyTo(destination.AsSpan(indexes.Count * pixelCount, pixelCount));
                }

                indexes.Add(first + j);
            }

            return indexes;
        }

        // The header says how large the decode will be (an unreadable one takes the whole budget and fails alone).
        long DecodedPixels(ReadOnlySpan<byte> encoded)
        {
            try
            {
                return ImageDimensions.Read(encoded).CanvasPixels;
            }
            catch (ImageDecodeException)
            {
                return decoding.MaxPixels;
            }
        }
    }

    /// <summary>
    /// Pixels that may be decoded at once across threads: a decode waits until its pixels fit beside those in flight, and
    /// one alone always goes (an image over the whole budget is refused by the decoder itself).
    /// </summary>
    internal sealed class PixelBudget(long total)
    {
        private readonly object _lock = new();
        private long _inFlight;

        public void Take(long pixels)
        {
            lock (_lock)
            {
                while (_inFlight > 0 && _inFlight + pixels > total)
                {
                    Monitor.Wait(_lock);
                }

                _inFlight += pixels;
            }
        }

        public void Give(long pixels)
        {
            lock (_lock)
            {
                _inFlight -= pixels;
                Monitor.PulseAll(_lock);
            }
        }
    }

    /// <summary>Threads that decode a batch: as many as the tower uses, so that decoding takes the cores inference gives up.</summary>
    private int DecodeThreads => _options.IntraOpThreads > 0 ? _options.IntraOpThreads : Environment.ProcessorCount;

    /// <summary>An image's bytes as read, or why they could not be read.</summary>
    private readonly record struct EncodedImage(ReadOnlyMemory<byte> Bytes, Exception? Error);

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
        _imageDecoding = options.FastJpegDecode ? options.ImageDecoding with { DraftSize = DraftSize } : options.ImageDecoding;
    }

    /// <summary>The size an image of <paramref name="width"/> x <paramref name="height"/> is resized to: a reduced decode may not go below it.</summary>
    private (int Width, int Height) DraftSize(int width, int height)
    {
        var plan = _preprocessor.ComputeResize(width, height);
        return (plan.ResizedWidth, plan.ResizedHeight);
    }
}
