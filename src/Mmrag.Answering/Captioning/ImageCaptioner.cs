using Microsoft.Extensions.AI;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Mmrag.Answering.Images;
using Mmrag.Answering.Llm;
using Mmrag.Knowledge;

namespace Mmrag.Answering.Captioning;

/// <summary>How images are captioned.</summary>
public sealed record ImageCaptionerOptions
{
    /// <summary>The fixed captioning instruction.</summary>
    public const string DefaultPrompt =
        "Describe this image for a search index in 2 to 4 sentences: the main subject, visible text, numbers and labels, " +
        "objects, setting and colours. Only describe what is visible; do not guess brand names that are not shown.";

    /// <summary>The defaults.</summary>
    public static ImageCaptionerOptions Default { get; } = new();

    /// <summary>The instruction sent with each image.</summary>
    public string Prompt { get; init; } = DefaultPrompt;

    /// <summary>Longest side of the image sent (default 512).</summary>
    public int MaxImageSide { get; init; } = 512;

    /// <summary>JPEG quality (default 85).</summary>
    public int JpegQuality { get; init; } = 85;

    /// <summary>Most tokens per caption (default 200).</summary>
    public int MaxOutputTokens { get; init; } = 200;
}

/// <summary>The outcome of captioning one item.</summary>
/// <param name="Item">The item as given.</param>
/// <param name="Caption">The caption, when it succeeded.</param>
/// <param name="Error">Why it failed, when it did (a message a user can act on).</param>
public sealed record CaptionResult(KnowledgeItem Item, string? Caption, string? Error)
{
    /// <summary>Whether a caption was made.</summary>
    public bool Succeeded => Caption is not null;

    /// <summary>The item with the caption applied (<see cref="ImageCaptioner.ApplyCaption"/>), when it succeeded.</summary>
    public KnowledgeItem? Updated => Caption is null ? null : ImageCaptioner.ApplyCaption(Item, Caption);
}

/// <summary>
/// Captions images with a vision LLM (strategy "translate to text"): the caption becomes the image's description and
/// keyword text, so text retrieval finds the image. Thread-safe; does not own the chat client.
/// </summary>
public sealed class ImageCaptioner
{
    private readonly IChatClient _chatClient;
    private readonly ImageCaptionerOptions _options;
    private readonly IImageReencoder _reencoder;
    private readonly ILogger _logger;

    /// <summary>Creates a captioner over <paramref name="chatClient"/> (the caption model's client).</summary>
    public ImageCaptioner(IChatClient chatClient, ImageCaptionerOptions? options = null, IImageReencoder? reencoder = null, ILogger? logger = null)
    {
        ArgumentNullException.ThrowIfNull(chatClient);
        _chatClient = chatClient;
        _options = options ?? ImageCaptionerOptions.Default;
        _reencoder = reencoder ?? SkiaJpegReencoder.Instance;
        _logger = logger ?? NullLogger.Instance;
    }

    /// <summary>Captions one image (encoded bytes, any common format).</summary>
    /// <exception cref="InvalidDataException">The bytes are not a decodable image.</exception>
    /// <exception cref="LlmException">The LLM failed or returned an empty caption.</exception>
    public async Task<string> CaptionAsync(ReadOnlyMemory<byte> image, CancellationToken cancellationToken = default)
    {
        var encoded = _reencoder.Reencode(image, _options.MaxImageSide, _options.JpegQuality);
        var message = new ChatMessage(ChatRole.User, [new TextContent(_options.Prompt), new DataContent(encoded.Jpeg, "image/jpeg")]);
        var response = await _chatClient.GetResponseAsync([message], new ChatOptions { MaxOutputTokens = _options.MaxOutputTokens, Temperature = 0 },
            cancellationToken).ConfigureAwait(false);
        var caption = response.Text.Trim();
        return caption.Length > 0 ? caption : throw new LlmException("The captioning model returned an empty caption.");
    }

    /// <summary>
    /// Captions every image item of <paramref name="items"/> that has no description yet, one at a time, reading each
    /// from its <see cref="KnowledgeItem.ImagePath"/>; a failure is recorded for that image and the batch goes on.
    /// Items that are not images or already have a description are skipped (not in the result).
    /// </summary>
    public async Task<IReadOnlyList<CaptionResult>> CaptionBatchAsync(IEnumerable<KnowledgeItem> items, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(items);
        var results = new List<CaptionResult>();
        foreach (var item in items.Where(NeedsCaption))
        {
            cancellationToken.ThrowIfCancellationRequested();
            try
            {
                if (string.IsNullOrEmpty(item.ImagePath))
                {
                    throw new FileNotFoundException("The image item has no image path.");
                }

                var bytes = await File.ReadAllBytesAsync(item.ImagePath, cancellationToken).ConfigureAwait(false);
                results.Add(new CaptionResult(item, await CaptionAsync(bytes, cancellationToken).ConfigureAwait(false), null));
            }
            catch (Exception ex) when (ex is LlmException or IOException or UnauthorizedAccessException or InvalidDataException)
            {
                Log.CaptionFailed(_logger, item.ImagePath ?? item.Id, ex.Message);
                results.Add(new CaptionResult(item, null, ex.Message));
            }
        }

        return results;
    }

    /// <summary>Whether <paramref name="item"/> is an image without a description.</summary>
    public static bool NeedsCaption(KnowledgeItem item)
    {
        ArgumentNullException.ThrowIfNull(item);
        return item.Kind == ItemKind.Image && string.IsNullOrWhiteSpace(item.Description);
    }

    /// <summary>
    /// <paramref name="item"/> with <paramref name="caption"/> as its description, prepended to its keyword text. The
    /// vector is kept: it is the image's CLIP vector, which multimodal retrieval needs.
    /// </summary>
    public static KnowledgeItem ApplyCaption(KnowledgeItem item, string caption)
    {
        ArgumentNullException.ThrowIfNull(item);
        ArgumentException.ThrowIfNullOrWhiteSpace(caption);
        var text = string.IsNullOrWhiteSpace(item.Text) ? caption : $"{caption}\n{item.Text}";
        return item with { Description = caption, Text = text };
    }

    /// <summary>
    /// A hook for ingestion (<c>mmrag ingest --caption</c>): given a loaded image item and its bytes, the caption, or null
    /// when the item already has a description. Failures throw (<see cref="LlmException"/>, <see cref="InvalidDataException"/>)
    /// so the pipeline records them per image.
    /// </summary>
    public Func<KnowledgeItem, ReadOnlyMemory<byte>, CancellationToken, Task<string?>> AsIngestionHook() =>
        async (item, bytes, cancellationToken) => NeedsCaption(item) ? await CaptionAsync(bytes, cancellationToken).ConfigureAwait(false) : null;
}
