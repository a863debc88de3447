namespace Mmrag.Clip.Inference;

/// <summary>Options shared by the CLIP embedding generators.</summary>
public sealed record ClipEmbeddingOptions
{
    /// <summary>Return unit-length vectors (the default), so that cosine similarity is a dot product.</summary>
    public bool Normalize { get; init; } = true;

    /// <summary>
    /// Images with more pixels than this are refused by the image generator (<see cref="Preprocessing.ImageTooLargeException"/>)
    /// before they are decoded; null keeps the model's <see cref="ClipModelOptions.ImageDecoding"/> limit. A server sets
    /// its own limit here so that every image it embeds (queries and ingested files alike) obeys it.
    /// </summary>
    public long? MaxImagePixels { get; init; }
}
