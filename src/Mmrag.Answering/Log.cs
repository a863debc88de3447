using Microsoft.Extensions.Logging;

namespace Mmrag.Answering;

/// <summary>Source-generated log messages of Mmrag.Answering (event ids 4000–4099).</summary>
internal static partial class Log
{
    [LoggerMessage(4001, LogLevel.Warning, "LLM request failed (HTTP {Status}); retry {Attempt} of {MaxRetries} in {DelayMs:F0} ms: {Reason}")]
    public static partial void Retrying(ILogger logger, int attempt, int maxRetries, double delayMs, int? status, string reason);

    [LoggerMessage(4002, LogLevel.Warning, "Image source {Path} skipped: {Reason}")]
    public static partial void ImageSkipped(ILogger logger, string path, string reason);

    [LoggerMessage(4003, LogLevel.Information, "No retrieval hit above the threshold for the question; behaviour {Behavior}")]
    public static partial void NoContext(ILogger logger, string behavior);

    [LoggerMessage(4004, LogLevel.Trace, "Prompt built: {Sources} sources, {Images} images, {Pixels} pixels")]
    public static partial void PromptBuilt(ILogger logger, int sources, int images, long pixels);

    [LoggerMessage(4005, LogLevel.Warning, "Captioning {Item} failed: {Reason}")]
    public static partial void CaptionFailed(ILogger logger, string item, string reason);

    [LoggerMessage(4006, LogLevel.Debug, "Reranked {Candidates} candidates with the LLM ({Graded} graded)")]
    public static partial void RerankApplied(ILogger logger, int candidates, int graded);

    [LoggerMessage(4007, LogLevel.Warning, "LLM rerank of {Candidates} candidates failed; the original order stands: {Reason}")]
    public static partial void RerankFailed(ILogger logger, int candidates, string reason);

    [LoggerMessage(4008, LogLevel.Trace, "LLM rerank reply: {Reply}")]
    public static partial void RerankReply(ILogger logger, string reply);
}
