namespace Mmrag.Answering.Llm;

/// <summary>
/// The LLM server could not be reached, refused the request, timed out or answered something that is not a chat
/// completion. The message names the base URL; <see cref="StatusCode"/> holds the HTTP status when there was one.
/// </summary>
public sealed class LlmException : Exception
{
    /// <summary>Creates the exception.</summary>
    public LlmException() { }

    /// <summary>Creates the exception.</summary>
    public LlmException(string message) : base(message) { }

    /// <summary>Creates the exception with its cause.</summary>
    public LlmException(string message, Exception innerException) : base(message, innerException) { }

    /// <summary>Creates the exception with the details retries need.</summary>
    public LlmException(string message, Exception? innerException, int? statusCode, TimeSpan? retryAfter, bool isTransient)
        : base(message, innerException)
    {
        StatusCode = statusCode;
        RetryAfter = retryAfter;
        IsTransient = isTransient;
    }

    /// <summary>HTTP status of the failed response, when one came back.</summary>
    public int? StatusCode { get; }

    /// <summary>The server's Retry-After, when it sent one.</summary>
    public TimeSpan? RetryAfter { get; }

    /// <summary>Whether trying again may succeed (429, 5xx, a dropped connection).</summary>
    public bool IsTransient { get; }
}
