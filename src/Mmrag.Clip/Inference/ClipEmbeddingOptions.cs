namespace Mmrag.Clip.Inference;

/// <summary>Options shared by the CLIP embedding generators.</summary>
public sealed record ClipEmbeddingOptions
{
    /// <summary>Return unit-length vectors (the default), so that cosine similarity is a dot product.</summary>
    public bool Normalize { get; init; } = true;
}
