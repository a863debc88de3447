using System.ClientModel;
using System.ClientModel.Primitives;
using Microsoft.Extensions.AI;
using Microsoft.Extensions.Logging;
using OpenAI;

namespace Mmrag.Answering.Llm;

/// <summary>Builds the <see cref="IChatClient"/> for an OpenAI-compatible chat completions server.</summary>
public static class OpenAiCompatibleChatClientFactory
{
    // Local servers ignore the key, but the OpenAI client refuses an empty one.
    private const string PlaceholderKey = "unused";

    /// <summary>
    /// The chat client for <paramref name="options"/>: the OpenAI client on the custom endpoint with the network timeout,
    /// its own retries off, failures turned into <see cref="LlmException"/> and retried by <see cref="RetryingChatClient"/>.
    /// <paramref name="model"/> overrides <see cref="LlmOptions.Model"/> (e.g. the caption model). The client is thread-safe.
    /// </summary>
    /// <exception cref="ArgumentException">A setting is missing or invalid (the message names it).</exception>
    public static IChatClient Create(LlmOptions options, string? model = null, ILoggerFactory? loggerFactory = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        var modelName = string.IsNullOrWhiteSpace(model) ? options.Model! : model;
        var baseUrl = options.BaseUrl!.TrimEnd('/');
        var client = new OpenAIClient(
            new ApiKeyCredential(string.IsNullOrEmpty(options.ApiKey) ? PlaceholderKey : options.ApiKey),
            new OpenAIClientOptions
            {
                Endpoint = new Uri(baseUrl),
                NetworkTimeout = options.Timeout,
                RetryPolicy = new ClientRetryPolicy(maxRetries: 0),
            });

        return new ChatClientBuilder(client.GetChatClient(modelName).AsIChatClient())
            .UseRetries(new RetryOptions(options.MaxRetries, options.RetryBaseDelay, options.MaxRetryDelay),
                loggerFactory?.CreateLogger(typeof(RetryingChatClient)))
            .Use(inner => new LlmErrorChatClient(inner, baseUrl, modelName))
            .Build();
    }
}
