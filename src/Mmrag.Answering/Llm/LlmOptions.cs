namespace Mmrag.Answering.Llm;

/// <summary>
/// Where the OpenAI-compatible chat completions server is (OpenAI, Azure OpenAI, Ollama's <c>/v1</c>, vLLM, LM Studio,
/// llama.cpp server) and how to talk to it. A plain mutable options class; validate with <see cref="Validate"/>.
/// </summary>
public sealed class LlmOptions
{
    /// <summary>Environment variable for <see cref="BaseUrl"/>.</summary>
    public const string BaseUrlVariable = "MMRAG_LLM_BASE_URL";

    /// <summary>Environment variable for <see cref="Model"/>.</summary>
    public const string ModelVariable = "MMRAG_LLM_MODEL";

    /// <summary>Environment variable for <see cref="ApiKey"/>.</summary>
    public const string ApiKeyVariable = "MMRAG_LLM_API_KEY";

    /// <summary>Environment variable for <see cref="CaptionModel"/>.</summary>
    public const string CaptionModelVariable = "MMRAG_LLM_CAPTION_MODEL";

    /// <summary>The one-line hint shown when no LLM is configured.</summary>
    public const string ConfigurationHint =
        "No LLM configured: set MMRAG_LLM_BASE_URL (e.g. http://localhost:11434/v1 for Ollama, https://api.openai.com/v1) and MMRAG_LLM_MODEL (e.g. llama3.2-vision, gpt-4o-mini), plus MMRAG_LLM_API_KEY if the server needs one.";

    /// <summary>Base URL of the API, including <c>/v1</c> (e.g. <c>http://localhost:11434/v1</c>).</summary>
    public string? BaseUrl { get; set; }

    /// <summary>Model name sent with every request.</summary>
    public string? Model { get; set; }

    /// <summary>API key (sent as a bearer token); optional for local servers.</summary>
    public string? ApiKey { get; set; }

    /// <summary>Model used for image captions; null means <see cref="Model"/>.</summary>
    public string? CaptionModel { get; set; }

    /// <summary>Network timeout of one request (default 120 s; vision models on a CPU are slow).</summary>
    public TimeSpan Timeout { get; set; } = TimeSpan.FromSeconds(120);

    /// <summary>Retries after a 429 or 5xx response or a dropped connection (default 3; 0 disables retries).</summary>
    public int MaxRetries { get; set; } = 3;

    /// <summary>First retry delay; doubles per attempt, with ±25 % jitter. A Retry-After header wins (default 1 s).</summary>
    public TimeSpan RetryBaseDelay { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>Longest wait between attempts, Retry-After included (default 30 s).</summary>
    public TimeSpan MaxRetryDelay { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>Whether a base URL and a model are set.</summary>
    public bool IsConfigured => !string.IsNullOrWhiteSpace(BaseUrl) && !string.IsNullOrWhiteSpace(Model);

    /// <summary>The model for captions (<see cref="CaptionModel"/>, else <see cref="Model"/>).</summary>
    public string? EffectiveCaptionModel => string.IsNullOrWhiteSpace(CaptionModel) ? Model : CaptionModel;

    /// <summary>
    /// Reads <c>MMRAG_LLM_BASE_URL</c>, <c>MMRAG_LLM_MODEL</c>, <c>MMRAG_LLM_API_KEY</c> and <c>MMRAG_LLM_CAPTION_MODEL</c>
    /// (through <paramref name="getVariable"/> when given, for tests). Unset variables stay null; nothing is validated here.
    /// </summary>
    public static LlmOptions FromEnvironment(Func<string, string?>? getVariable = null)
    {
        getVariable ??= Environment.GetEnvironmentVariable;
        static string? Clean(string? value) => string.IsNullOrWhiteSpace(value) ? null : value.Trim();
        return new LlmOptions
        {
            BaseUrl = Clean(getVariable(BaseUrlVariable)),
            Model = Clean(getVariable(ModelVariable)),
            ApiKey = Clean(getVariable(ApiKeyVariable)),
            CaptionModel = Clean(getVariable(CaptionModelVariable)),
        };
    }

    /// <summary>Throws <see cref="ArgumentException"/> naming the setting (and its environment variable) that is missing or wrong.</summary>
    public void Validate()
    {
        if (string.IsNullOrWhiteSpace(BaseUrl))
        {
            throw new ArgumentException($"LlmOptions.BaseUrl ({BaseUrlVariable}) is required, e.g. http://localhost:11434/v1.", nameof(BaseUrl));
        }

        if (!Uri.TryCreate(BaseUrl, UriKind.Absolute, out var uri) || (uri.Scheme != Uri.UriSchemeHttp && uri.Scheme != Uri.UriSchemeHttps))
        {
            throw new ArgumentException($"LlmOptions.BaseUrl ({BaseUrlVariable}) must be an absolute http(s) URL; got '{BaseUrl}'.", nameof(BaseUrl));
        }

        if (string.IsNullOrWhiteSpace(Model))
        {
            throw new ArgumentException($"LlmOptions.Model ({ModelVariable}) is required, e.g. llama3.2-vision or gpt-4o-mini.", nameof(Model));
        }

        if (Timeout <= TimeSpan.Zero)
        {
            throw new ArgumentException($"LlmOptions.Timeout must be positive; got {Timeout}.", nameof(Timeout));
        }

        if (MaxRetries < 0)
        {
            throw new ArgumentException($"LlmOptions.MaxRetries must be 0 or more; got {MaxRetries}.", nameof(MaxRetries));
        }

        if (RetryBaseDelay < TimeSpan.Zero || MaxRetryDelay < TimeSpan.Zero)
        {
            throw new ArgumentException("LlmOptions.RetryBaseDelay and LlmOptions.MaxRetryDelay must not be negative.", nameof(RetryBaseDelay));
        }
    }
}
