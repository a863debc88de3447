namespace Mmrag.Clip.Models;

/// <summary>Options for <see cref="ModelDownloader"/>. Validated when a download starts; errors name the setting.</summary>
public sealed record ModelDownloadOptions
{
    /// <summary>Environment variable that, set to <c>1</c>/<c>true</c>/<c>yes</c>/<c>on</c>, forbids any network access.</summary>
    public const string OfflineVariable = "MMRAG_OFFLINE";

    /// <summary>Default options: huggingface.co, float32 towers, offline per <see cref="OfflineVariable"/>.</summary>
    public static ModelDownloadOptions Default { get; } = new();

    /// <summary>The public HuggingFace hub.</summary>
    public static Uri DefaultEndpoint { get; } = new("https://huggingface.co");

    /// <summary>
    /// Hub base address; files are fetched from <c>{Endpoint}/{repository}/resolve/{revision}/{file}</c>.
    /// Set it for a mirror. Default <see cref="DefaultEndpoint"/>.
    /// </summary>
    public Uri Endpoint { get; init; } = DefaultEndpoint;

    /// <summary>
    /// True: never touch the network; a model that is not fully present fails with the list of files to install
    /// by hand. Null (default): read <see cref="OfflineVariable"/>.
    /// </summary>
    public bool? Offline { get; init; }

    /// <summary>Which ONNX exports to fetch. Default <see cref="ModelVariants.Float32"/>.</summary>
    public ModelVariants Variants { get; init; } = ModelVariants.Float32;

    /// <summary>
    /// Retries per request after a transient failure (connection error, timeout, cut transfer, HTTP 408/429/5xx),
    /// 0 to 10. A retry resumes where the transfer stopped; an attempt that gained bytes does not use one up.
    /// Default 4.
    /// </summary>
    public int MaxRetries { get; init; } = 4;

    /// <summary>Delay before the first retry; doubled each time (with jitter), capped by <see cref="MaxRetryDelay"/>. Default 1 s.</summary>
    public TimeSpan RetryBaseDelay { get; init; } = TimeSpan.FromSeconds(1);

    /// <summary>Longest delay between retries, also the cap on a server's <c>Retry-After</c>. Default 30 s.</summary>
    public TimeSpan MaxRetryDelay { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>A transfer that delivers no byte for this long is treated as cut (and resumed). Default 60 s.</summary>
    public TimeSpan StallTimeout { get; init; } = TimeSpan.FromSeconds(60);

    /// <summary>True when downloads are forbidden, by <see cref="Offline"/> or, when that is null, by <see cref="OfflineVariable"/>.</summary>
    public bool IsOffline => Offline ?? IsTruthy(Environment.GetEnvironmentVariable(OfflineVariable));

    /// <summary>Throws <see cref="ArgumentException"/> naming the first invalid setting.</summary>
    public void Validate()
    {
        if (Endpoint is null || !Endpoint.IsAbsoluteUri || (Endpoint.Scheme != Uri.UriSchemeHttps && Endpoint.Scheme != Uri.UriSchemeHttp))
        {
            throw new ArgumentException($"{nameof(ModelDownloadOptions)}.{nameof(Endpoint)} must be an absolute http(s) address, got '{Endpoint}'.", nameof(Endpoint));
        }

        ModelLayout.ValidateVariants(Variants, $"{nameof(ModelDownloadOptions)}.{nameof(Variants)}");
        if (MaxRetries is < 0 or > 10)
        {
            throw new ArgumentOutOfRangeException($"{nameof(ModelDownloadOptions)}.{nameof(MaxRetries)}", MaxRetries, "Must be between 0 and 10.");
        }

        if (RetryBaseDelay < TimeSpan.Zero || MaxRetryDelay < TimeSpan.Zero)
        {
            throw new ArgumentOutOfRangeException($"{nameof(ModelDownloadOptions)}.{nameof(RetryBaseDelay)}", "Retry delays cannot be negative.");
        }

        if (StallTimeout <= TimeSpan.Zero)
        {
            throw new ArgumentOutOfRangeException($"{nameof(ModelDownloadOptions)}.{nameof(StallTimeout)}", StallTimeout, "Must be positive.");
        }
    }

    /// <summary>Whether a value of <see cref="OfflineVariable"/> turns offline mode on ("1", "true", "yes" or "on", any case).</summary>
    public static bool IsTruthy(string? value) =>
        value is not null && value.Trim().ToUpperInvariant() is "1" or "TRUE" or "YES" or "ON";
}
