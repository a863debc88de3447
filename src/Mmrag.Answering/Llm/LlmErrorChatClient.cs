using System.ClientModel;
using System.Globalization;
using System.Net;
using System.Runtime.CompilerServices;
using System.Text.Json;
using Microsoft.Extensions.AI;

namespace Mmrag.Answering.Llm;

/// <summary>
/// Turns the OpenAI client's failures (HTTP statuses, connection errors, timeouts, unparseable bodies) into
/// <see cref="LlmException"/>s that name the server, and marks which ones are worth retrying. Cancellation by the
/// caller's token and argument errors pass through unchanged. Thread-safe when the inner client is.
/// </summary>
internal sealed class LlmErrorChatClient(IChatClient innerClient, string baseUrl, string model) : DelegatingChatClient(innerClient)
{
    public override async Task<ChatResponse> GetResponseAsync(IEnumerable<ChatMessage> messages, ChatOptions? options = null,
        CancellationToken cancellationToken = default)
    {
        try
        {
            return await base.GetResponseAsync(messages, options, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (Translate(ex, cancellationToken) is { } translated)
        {
            throw translated;
        }
    }

    public override async IAsyncEnumerable<ChatResponseUpdate> GetStreamingResponseAsync(IEnumerable<ChatMessage> messages,
        ChatOptions? options = null, [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        // yield cannot sit in a try with a catch, so the enumerator is driven by hand.
        var enumerator = base.GetStreamingResponseAsync(messages, options, cancellationToken).GetAsyncEnumerator(cancellationToken);
        try
        {
            while (true)
            {
                ChatResponseUpdate update;
                try
                {
                    if (!await enumerator.MoveNextAsync().ConfigureAwait(false))
                    {
                        yield break;
                    }

                    update = enumerator.Current;
                }
                catch (Exception ex) when (Translate(ex, cancellationToken) is { } translated)
                {
                    throw translated;
                }

                yield return update;
            }
        }
        finally
        {
            await enumerator.DisposeAsync().ConfigureAwait(false);
        }
    }

    private LlmException? Translate(Exception exception, CancellationToken cancellationToken)
    {
        var where = $"the LLM server at {baseUrl} (model '{model}')";
        switch (exception)
        {
            case LlmException:
                return null;
            case OperationCanceledException when cancellationToken.IsCancellationRequested:
                return null;
            case OperationCanceledException or TimeoutException:
                return new LlmException($"No answer from {where} within the timeout (LlmOptions.Timeout).", exception, null, null, false);
            case ClientResultException { Status: > 0 } result:
            {
                var response = result.GetRawResponse();
                var retryAfter = ReadRetryAfter(response?.Headers.TryGetValue("Retry-After", out var value) == true ? value : null);
                var status = result.Status;
                var transient = status is 408 or 429 or >= 500;
                return new LlmException($"{where} answered HTTP {status}: {Shorten(result.Message)}", exception, status, retryAfter, transient);
            }
            case ClientResultException or HttpRequestException:
                return new LlmException($"Could not reach {where}: {Shorten(exception.Message)} Check MMRAG_LLM_BASE_URL and that the server is running.",
                    exception, null, null, true);
            case JsonException or FormatException or InvalidOperationException or KeyNotFoundException or NullReferenceException or ArgumentException:
                return new LlmException($"{where} returned a response that is not an OpenAI chat completion: {Shorten(exception.Message)}",
                    exception, null, null, false);
            default:
                return null;
        }
    }

    internal static TimeSpan? ReadRetryAfter(string? value)
    {
        if (string.IsNullOrWhiteSpace(value))
        {
            return null;
        }

        if (double.TryParse(value, NumberStyles.Float, CultureInfo.InvariantCulture, out var seconds) && seconds >= 0)
        {
            return TimeSpan.FromSeconds(seconds);
        }

        return DateTimeOffset.TryParse(value, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var at)
            ? (at - DateTimeOffset.UtcNow) is { Ticks: > 0 } wait ? wait : TimeSpan.Zero
            : null;
    }

    private static string Shorten(string message)
    {
        var oneLine = message.ReplaceLineEndings(" ").Trim();
        return oneLine.Length <= 300 ? oneLine : string.Concat(oneLine.AsSpan(0, 300), "…");
    }
}
