namespace Mmrag.Answering.Reranking;

/// <summary>
/// How the LLM reranker (<see cref="LlmReranker"/>) grades a result's top candidates: how many, the text and image
/// budget of the one request, and how long it may take. Immutable; safe to share.
/// </summary>
public sealed record RerankOptions
{
    /// <summary>The default number of candidates graded (10).</summary>
    public const int DefaultCandidates = 10;

    /// <summary>The most candidates one request may grade (50): more would not fit a vision model's context.</summary>
    public const int MaxCandidates = 50;

    /// <summary>The highest grade: grades run from 0 (not relevant) to 3 (exactly what the query asks for).</summary>
    public const int MaxGrade = 3;

    /// <summary>The defaults: the top 10 candidates.</summary>
    public static RerankOptions Default { get; } = new();

    /// <summary>The top N candidates graded (default 10, at most <see cref="MaxCandidates"/>); those below keep their place after them.</summary>
    public int Candidates { get; init; } = DefaultCandidates;

    /// <summary>
    /// Most characters of one candidate's text (a chunk's text, an image's description) sent; longer ones are cut with
    /// "…" (default 800, about 200 tokens). Provenance (path, title, section) is sent besides.
    /// </summary>
    public int MaxCharsPerCandidate { get; init; } = 800;

    /// <summary>Most characters of candidate text over the whole request (default 8000, about 2000 tokens); later candidates get what is left.</summary>
    public int MaxTotalChars { get; init; } = 8000;

    /// <summary>
    /// Most images attached, the query image included; null (default) means <see cref="Candidates"/> + 1, a thumbnail
    /// each. Images past it are graded by their description.
    /// </summary>
    public int? MaxImages { get; init; }

    internal int EffectiveMaxImages => MaxImages ?? Candidates + 1;

    /// <summary>Longest side of an attached thumbnail, in pixels (default 256; aspect kept, never upscaled).</summary>
    public int MaxImageSide { get; init; } = 256;

    /// <summary>JPEG quality of the thumbnails (default 80).</summary>
    public int JpegQuality { get; init; } = 80;

    /// <summary>How long the request may take, retries included (default 30 s); past it the original order stands.</summary>
    public TimeSpan Timeout { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>Most tokens the reply may use; null means 60 per candidate plus 60.</summary>
    public int? MaxOutputTokens { get; init; }

    internal int EffectiveMaxOutputTokens(int candidates) => MaxOutputTokens ?? (60 * candidates) + 60;

    /// <summary>Throws <see cref="ArgumentOutOfRangeException"/> naming the setting out of range.</summary>
    public void Validate()
    {
        static void Check(bool bad, string name, object? value, string message)
        {
            if (bad)
            {
                throw new ArgumentOutOfRangeException(name, value, message);
            }
        }

        Check(Candidates is < 1 or > MaxCandidates, nameof(Candidates), Candidates, $"RerankOptions.Candidates must be between 1 and {MaxCandidates}.");
        Check(MaxCharsPerCandidate < 0, nameof(MaxCharsPerCandidate), MaxCharsPerCandidate, "RerankOptions.MaxCharsPerCandidate must be 0 or more.");
        Check(MaxTotalChars < 0, nameof(MaxTotalChars), MaxTotalChars, "RerankOptions.MaxTotalChars must be 0 or more.");
        Check(MaxImages < 0, nameof(MaxImages), MaxImages, "RerankOptions.MaxImages must be 0 or more.");
        Check(MaxImageSide < 16, nameof(MaxImageSide), MaxImageSide, "RerankOptions.MaxImageSide must be at least 16.");
        Check(JpegQuality is < 1 or > 100, nameof(JpegQuality), JpegQuality, "RerankOptions.JpegQuality must be between 1 and 100.");
        Check(Timeout <= TimeSpan.Zero, nameof(Timeout), Timeout, "RerankOptions.Timeout must be positive.");
        Check(MaxOutputTokens < 1, nameof(MaxOutputTokens), MaxOutputTokens, "RerankOptions.MaxOutputTokens must be at least 1.");
    }
}
