using System.Text.Json;
using Microsoft.AspNetCore.Http;
using Mmrag.Answering.Llm;
using Mmrag.Clip.Preprocessing;
using Mmrag.Ingestion;
using Mmrag.Storage;

namespace Mmrag.Server.Api;

/// <summary>The problem (RFC 7807) an exception stands for.</summary>
internal sealed record Problem(int Status, string Title, string Detail);

/// <summary>Maps the exceptions a request can cause to problems; null for programming errors (they become a plain 500).</summary>
internal static class ServerErrors
{
    public static Problem? Map(Exception exception) => exception switch
    {
        ApiProblemException api => new(api.Status, api.Title, api.Message),
        BadHttpRequestException bad => new(bad.StatusCode, bad.StatusCode == 413 ? "Request too large" : "Bad request", bad.Message),
        InvalidDataException data when data.Message.Contains("limit", StringComparison.OrdinalIgnoreCase) => new(413, "Request too large", data.Message),
        ImageTooLargeException tooLarge => new(413, "Image too large", tooLarge.Message),
        InvalidDataException or JsonException or FormatException or ImageDecodeException or DocumentLoadException => new(400, "Bad request", exception.Message),
        ArgumentException => new(400, "Bad request", exception.Message),
        EmbeddingSpaceMismatchException => new(409, "Embedding space mismatch", exception.Message),
        LlmException => new(502, "LLM error", exception.Message),
        KnowledgeStoreException => new(503, "Knowledge base unavailable", exception.Message),
        _ => null,
    };
}
