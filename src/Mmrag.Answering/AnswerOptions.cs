using Mmrag.Answering.Reranking;

namespace Mmrag.Answering;

/// <summary>The three strategies of the Talebi article.</summary>
public enum AnswerStrategy
{
    /// <summary>CLIP retrieval across modalities (text and the user's image); text and images go to the LLM. Default.</summary>
    Multimodal,

    /// <summary>Retrieval over text only (chunks, image descriptions and captions), but the matched images themselves go to the LLM.</summary>
    TextWithImages,

    /// <summary>Retrieval over text only (images count through their descriptions/captions); no image goes to the LLM.</summary>
    TextOnly,
}

/// <summary>What to do when retrieval finds nothing above the threshold.</summary>
public enum NoContextBehavior
{
    /// <summary>Ask the LLM anyway, telling it there are no sources; the answer is flagged <see cref="Answer.NoContext"/>.</summary>
    AnswerWithoutContext,

    /// <summary>Say that nothing relevant was found, without calling the LLM.</summary>
    Decline,
}

/// <summary>How one question is answered. Immutable; safe to share.</summary>
public sealed record AnswerOptions
{
    /// <summary>The defaults.</summary>
    public static AnswerOptions Default { get; } = new();

    /// <summary>Retrieval and prompting strategy (default multimodal).</summary>
    public AnswerStrategy Strategy { get; init; } = AnswerStrategy.Multimodal;

    /// <summary>Most images sent, the user's own image included (default 4).</summary>
    public int MaxImages { get; init; } = 4;

    /// <summary>Most pixels over all images sent, after downscaling (default 4 × 512 × 512, which fits 8k-context vision models).</summary>
    public long MaxTotalPixels { get; init; } = 4L * 512 * 512;

    /// <summary>Longest side of a sent image; larger images are downscaled, aspect kept (default 512).</summary>
    public int MaxImageSide { get; init; } = 512;

    /// <summary>JPEG quality of sent images (default 85).</summary>
    public int JpegQuality { get; init; } = 85;

    /// <summary>Most sources retrieved (default 8).</summary>
    public int K { get; init; } = 8;

    /// <summary>Most image hits; null means <see cref="K"/>.</summary>
    public int? KImages { get; init; }

    /// <summary>Most text hits; null means <see cref="K"/>.</summary>
    public int? KText { get; init; }

    /// <summary>Smallest calibrated score kept; null means retrieval's default (0.5).</summary>
    public double? Threshold { get; init; }

    /// <summary>What to do when nothing passes the threshold (default: answer without context, flagged).</summary>
    public NoContextBehavior NoContextBehavior { get; init; } = NoContextBehavior.AnswerWithoutContext;

    /// <summary>Apply the knowledge base's query adapter to retrieval (<see cref="Mmrag.Retrieval.Search.SearchRequest.UseAdapter"/>; default on).</summary>
    public bool UseAdapter { get; init; } = true;

    /// <summary>Sampling temperature; null leaves the server's default.</summary>
    public float? Temperature { get; init; }

    /// <summary>Most tokens generated (sent as max_completion_tokens); null leaves the server's default.</summary>
    public int? MaxOutputTokens { get; init; } = 1024;

    /// <summary>
    /// Rerank the retrieved sources with the LLM (<see cref="LlmReranker"/>) before answering: the top
    /// <see cref="RerankOptions.Candidates"/> are retrieved (at least <see cref="K"/>), graded in one extra request, and
    /// the best <see cref="K"/> become the sources. Null (default) keeps retrieval's order; a failed rerank keeps it too.
    /// </summary>
    public RerankOptions? Rerank { get; init; }

    internal void Validate()
    {
        static void Check(bool bad, string name, object? value, string message)
        {
            if (bad)
            {
                throw new ArgumentOutOfRangeException(name, value, message);
            }
        }

        Check(MaxImages < 0, nameof(MaxImages), MaxImages, "AnswerOptions.MaxImages must be 0 or more.");
        Check(MaxTotalPixels < 0, nameof(MaxTotalPixels), MaxTotalPixels, "AnswerOptions.MaxTotalPixels must be 0 or more.");
        Check(MaxImageSide < 16, nameof(MaxImageSide), MaxImageSide, "AnswerOptions.MaxImageSide must be at least 16.");
        Check(JpegQuality is < 1 or > 100, nameof(JpegQuality), JpegQuality, "AnswerOptions.JpegQuality must be between 1 and 100.");
        Check(K < 1, nameof(K), K, "AnswerOptions.K must be at least 1.");
        Check(MaxOutputTokens < 1, nameof(MaxOutputTokens), MaxOutputTokens, "AnswerOptions.MaxOutputTokens must be at least 1.");
        Rerank?.Validate();
    }
}
