using Microsoft.Extensions.AI;
using Mmrag.Embeddings;

namespace Mmrag.Clip.Inference;

/// <summary>
/// The CLIP vision tower as an <see cref="IEmbeddingGenerator{TInput,TEmbedding}"/> over images given as
/// <see cref="DataContent"/> (encoded JPEG, PNG, WebP, GIF or BMP bytes). Each batch is decoded on the tower's threads, then embedded; batches
/// hold at most <see cref="ClipModel.MaxBatchSize"/> images. An image that cannot be decoded fails the call with an
/// <see cref="Preprocessing.ImageDecodeException"/> naming it (an <see cref="Preprocessing.ImageTooLargeException"/>
/// when it is over <see cref="ClipEmbeddingOptions.MaxImagePixels"/> or the model's limit);
/// <see cref="GeneratePerItemAsync"/> gives that image its error and embeds the others. Thread-safe. Disposes the model only if it owns it.
/// </summary>
public sealed class ClipImageEmbeddingGenerator : ClipEmbeddingGeneratorCore, IEmbeddingGenerator<DataContent, Embedding<float>>,
    IPerItemEmbeddingGenerator<DataContent>
{
    /// <summary>Creates a generator over <paramref name="model"/>.</summary>
    public ClipImageEmbeddingGenerator(ClipModel model, ClipEmbeddingOptions? options = null, bool ownsModel = false)
        : base(model, options, ownsModel)
    {
    }

    /// <inheritdoc />
    public async Task<GeneratedEmbeddings<Embedding<float>>> GenerateAsync(IEnumerable<DataContent> values,
        EmbeddingGenerationOptions? options = null, CancellationToken cancellationToken = default)
    {
        var (images, results) = await EmbedAsync(values, options, cancellationToken).ConfigureAwait(false);
        var created = DateTimeOffset.UtcNow;
        var embeddings = new Embedding<float>[results.Length];
        for (var i = 0; i < results.Length; i++)
        {
            switch (results[i].Error)
            {
                case null:
                    break;
                case Preprocessing.ImageTooLargeException tooLarge:
                    throw new Preprocessing.ImageTooLargeException($"{Describe(images[i], i)}: {tooLarge.Message}", tooLarge);
                case var error:
                    throw new Preprocessing.ImageDecodeException($"{Describe(images[i], i)}: {error.Message}", error);
            }

            embeddings[i] = CreateEmbedding(results[i].Vector, created);
        }

        return new GeneratedEmbeddings<Embedding<float>>(embeddings);
    }

    /// <summary>
    /// Embeds the images that can be decoded, in one pass like <see cref="GenerateAsync"/>; an image that cannot be
    /// decoded (or is over the pixel limit) gets its <see cref="Preprocessing.ImageDecodeException"/> or
    /// <see cref="Preprocessing.ImageTooLargeException"/> as its result instead of failing the others.
    /// </summary>
    public async Task<IReadOnlyList<ItemEmbedding>> GeneratePerItemAsync(IEnumerable<DataContent> values, EmbeddingGenerationOptions? options = null,
        CancellationToken cancellationToken = default)
    {
        var (_, results) = await EmbedAsync(values, options, cancellationToken).ConfigureAwait(false);
        var created = DateTimeOffset.UtcNow;
        return [.. results.Select(r => r.Error is { } error ? new ItemEmbedding(null, error) : new ItemEmbedding(CreateEmbedding(r.Vector, created), null))];
    }

    private async Task<(IReadOnlyList<DataContent> Images, ImageEmbeddingResult[] Results)> EmbedAsync(IEnumerable<DataContent> values,
        EmbeddingGenerationOptions? options, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(values);
        EmbeddingChecks.ThrowIfDimensionsUnsupported(options, Model.Dimension);
        var images = values as IReadOnlyList<DataContent> ?? [.. values];
        for (var i = 0; i < images.Count; i++)
        {
            if (images[i] is null)
            {
                throw new ArgumentException($"Image {i} is null.", nameof(values));
            }
        }

        var decoding = Options.MaxImagePixels is { } maxPixels ? Model.ImageDecoding with { MaxPixels = maxPixels } : Model.ImageDecoding;
        var results = await Model.EmbedImagesAsync(images.Count, (i, _) => ValueTask.FromResult(images[i].Data),
            i => Describe(images[i], i), decoding, cancellationToken).ConfigureAwait(false);
        return (images, results);
    }

    private static string Describe(DataContent image, int index) => image.Name is { Length: > 0 } name ? $"image {index} ('{name}')" : $"image {index}";
}
