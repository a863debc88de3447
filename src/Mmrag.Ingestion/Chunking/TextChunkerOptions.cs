namespace Mmrag.Ingestion.Chunking;

/// <summary>How <see cref="TextChunker"/> sizes chunks. The defaults suit CLIP's 77-token window (75 after bos/eos).</summary>
public sealed record TextChunkerOptions
{
    /// <summary>Most tokens in one chunk, as the injected counter counts them (without start/end tokens).</summary>
    public int MaxTokens { get; init; } = 60;

    /// <summary>
    /// Most tokens repeated from the end of one chunk at the start of the next: the trailing sentence(s) when they
    /// fit, else the trailing words. 0 turns overlap off.
    /// </summary>
    public int OverlapTokens { get; init; } = 15;

    /// <summary>Throws when a setting is out of range; the message names it.</summary>
    public void Validate()
    {
        if (MaxTokens < 4)
        {
            throw new ArgumentOutOfRangeException(nameof(MaxTokens), MaxTokens, "TextChunkerOptions.MaxTokens must be at least 4.");
        }

        if (OverlapTokens < 0 || OverlapTokens > MaxTokens / 2)
        {
            throw new ArgumentOutOfRangeException(nameof(OverlapTokens), OverlapTokens,
                "TextChunkerOptions.OverlapTokens must be between 0 and half of MaxTokens.");
        }
    }
}
