using System.Runtime.CompilerServices;
using Microsoft.Extensions.AI;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Mmrag.Answering.Llm;

/// <summary>How <see cref="RetryingChatClient"/> retries.</summary>
/// <param name="MaxRetries">Retries after the first attempt.</param>
/// <param name="BaseDelay">First delay; doubled per attempt, ±25 % jitter.</param>
/// <param name="MaxDelay">Cap on any single delay, the server's Retry-After included.</param>
public sealed record RetryOptions(int MaxRetries, TimeSpan BaseDelay, TimeSpan MaxDelay);

/// <summary>
/// Retries requests that failed with a transient <see cref="LlmException"/> (429, 5xx, dropped connection), waiting the
/// server's Retry-After when given, else an exponential backoff with jitter. A streaming request is retried only until its
/// first update arrived (tokens already handed out cannot be taken back). Thread-safe when the inner client is.
/// </summary>
public sealed class RetryingChatClient : DelegatingChatClient
{
    private readonly RetryOptions _options;
    private readonly ILogger _logger;

    /// <summary>Wraps <paramref name="innerClient"/>, which should throw <see cref="LlmException"/> (as the factory's client does).</summary>
    public RetryingChatClient(IChatClient innerClient, RetryOptions options, ILogger? logger = null) : base(innerClient)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentOutOfRangeException.ThrowIfNegative(options.MaxRetries);
        _options = options;
        _logger = logger ?? NullLogger.Instance;
    }

    /// <inheritdoc />
    public override async Task<ChatResponse> GetResponseAsync(IEnumerable<ChatMessage> messages, ChatOptions? options = null,
        CancellationToken cancellationToken = default)
    {
        var list = messages as IList<ChatMessage> ?? [.. messages];
        for (var attempt = 0; ; attempt++)
        {
            try
            {
                return await base.GetResponseAsync(list, options, cancellationToken).ConfigureAwait(false);
            }
            catch (LlmException ex) when (ex.IsTransient && attempt < _options.MaxRetries)
            {
                await WaitAsync(ex, attempt, cancellationToken).ConfigureAwait(false);
            }
        }
    }

    /// <inheritdoc />
    public override async IAsyncEnumerable<ChatResponseUpdate> GetStreamingResponseAsync(IEnumerable<ChatMessage> messages,
        ChatOptions? options = null, [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        var list = messages as IList<ChatMessage> ?? [.. messages];
        for (var attempt = 0; ; attempt++)
        {
            var enumerator = base.GetStreamingResponseAsync(list, options, cancellationToken).GetAsyncEnumerator(cancellationToken);
            try
            {
                bool hasFirst;
                LlmException? failure = null;
                try
                {
                    hasFirst = await enumerator.MoveNextAsync().ConfigureAwait(false);
                }
                catch (LlmException ex) when (ex.IsTransient && attempt < _options.MaxRetries)
                {
                    hasFirst = false;
                    failure = ex;
                }

                if (failure is not null)
                {
                    await WaitAsync(failure, attempt, cancellationToken).ConfigureAwait(false);
                    continue;
                }

                if (!hasFirst)
                {
                    yield break;
                }

                yield return enumerator.Current;
                while (await enumerator.MoveNextAsync().ConfigureAwait(false))
                {
                    yield return enumerator.Current;
                }

                yield break;
            }
            finally
            {
                await enumerator.DisposeAsync().ConfigureAwait(false);
            }
        }
    }

    private async Task WaitAsync(LlmException failure, int attempt, CancellationToken cancellationToken)
    {
        var delay = failure.RetryAfter ?? Backoff(attempt);
        if (delay > _options.MaxDelay)
        {
            delay = _options.MaxDelay;
        }

        Log.Retrying(_logger, attempt + 1, _options.MaxRetries, delay.TotalMilliseconds, failure.StatusCode, failure.Message);
        await Task.Delay(delay, cancellationToken).ConfigureAwait(false);
    }

    private TimeSpan Backoff(int attempt)
    {
        var exponential = _options.BaseDelay.TotalMilliseconds * Math.Pow(2, attempt);
#pragma warning disable CA5394 // jitter, not security
        var jitter = 0.75 + (Random.Shared.NextDouble() * 0.5);
#pragma warning restore CA5394
        return TimeSpan.FromMilliseconds(exponential * jitter);
    }
}

/// <summary><see cref="ChatClientBuilder"/> extensions for the retry decorator.</summary>
public static class RetryingChatClientBuilderExtensions
{
    /// <summary>Adds <see cref="RetryingChatClient"/> to the pipeline.</summary>
    public static ChatClientBuilder UseRetries(this ChatClientBuilder builder, RetryOptions options, ILogger? logger = null)
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentNullException.ThrowIfNull(options);
        return builder.Use(inner => new RetryingChatClient(inner, options, logger));
    }
}
