using System.Globalization;
using System.Text.Json;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.AI;
using Mmrag.Clip.Preprocessing;

namespace Mmrag.Server.Api;

/// <summary>
/// The fields of a search or ask request, read from JSON (<c>{"text": …, "image": base64, …}</c>) or from a multipart
/// form with the same field names and the image as a file.
/// </summary>
internal sealed record QueryInput
{
    public string? Text { get; init; }

    public byte[]? Image { get; init; }

    public string? ImageName { get; init; }

    public int? K { get; init; }

    public string? Target { get; init; }

    public double? Threshold { get; init; }

    public double? Recall { get; init; }

    public string? Strategy { get; init; }

    public int? MaxImages { get; init; }

    public bool IncludeSelf { get; init; }

    public bool Decline { get; init; }

    /// <summary>The rerank word (<c>llm</c>, <c>llm:N</c>, <c>none</c>), read by <see cref="Hosting.Wire.QueryVocabulary.TryParseRerank"/>.</summary>
    public string? Rerank { get; init; }
    /// <summary>Apply the knowledge base's query adapter (<c>"adapter": false</c> turns it off).</summary>
    public bool UseAdapter { get; init; } = true;

    public DataContent? ImageContent => Image is null ? null : new DataContent(Image, "application/octet-stream") { Name = ImageName ?? "query-image" };

    /// <summary>The most results a request may ask for.</summary>
    public const int MaxK = 1000;

    public static async Task<QueryInput> ReadAsync(HttpRequest request, long maxImagePixels, CancellationToken cancellationToken)
    {
        var input = request.HasFormContentType
            ? await ReadFormAsync(request, cancellationToken).ConfigureAwait(false)
            : await ReadJsonAsync(request, cancellationToken).ConfigureAwait(false);
        if (input.K > MaxK)
        {
            // A client asking for millions of results would make the server read and score the whole knowledge base.
            throw ApiProblemException.BadRequest($"'k' must be at most {MaxK}.");
        }

        if (input.Image is { } image)
        {
            CheckImage(image, maxImagePixels);
        }

        return input;
    }

    /// <summary>Refuses an empty query image, or one over the pixel limit, before any pixel is decoded.</summary>
    internal static void CheckImage(byte[] image, long maxImagePixels)
    {
        if (image.Length == 0)
        {
            throw ApiProblemException.BadRequest("The image is empty.");
        }

        // The decoder's own reading of the header (every frame of a GIF, a JPEG's frame header wherever it is), before any pixel is decoded.
        ImageDimensions.Check(image, maxImagePixels);
    }

    private static async Task<QueryInput> ReadFormAsync(HttpRequest request, CancellationToken cancellationToken)
    {
        var form = await request.ReadFormAsync(cancellationToken).ConfigureAwait(false);
        byte[]? image = null;
        string? name = null;
        if ((form.Files.GetFile("image") ?? form.Files.FirstOrDefault()) is { } file)
        {
            using var buffer = new MemoryStream();
            await file.CopyToAsync(buffer, cancellationToken).ConfigureAwait(false);

            image = buffer.ToArray();
            name = Path.GetFileName(file.FileName);
        }

        return new QueryInput
        {
            Text = NullIfBlank(form["text"].FirstOrDefault() ?? form["question"].FirstOrDefault()),
            Image = image,
            ImageName = name,
            K = ParseInt(form["k"].FirstOrDefault(), "k"),
            Target = NullIfBlank(form["target"].FirstOrDefault()),
            Threshold = ParseDouble(form["threshold"].FirstOrDefault(), "threshold"),
            Recall = ParseDouble(form["recall"].FirstOrDefault(), "recall"),
            Strategy = NullIfBlank(form["strategy"].FirstOrDefault()),
            MaxImages = ParseInt(form["max_images"].FirstOrDefault(), "max_images"),
            IncludeSelf = string.Equals(form["include_self"].FirstOrDefault(), "true", StringComparison.OrdinalIgnoreCase),
            Decline = string.Equals(form["decline_without_context"].FirstOrDefault(), "true", StringComparison.OrdinalIgnoreCase),
            Rerank = NullIfBlank(form["rerank"].FirstOrDefault()),
            UseAdapter = !string.Equals(form["adapter"].FirstOrDefault(), "false", StringComparison.OrdinalIgnoreCase),
        };
    }

    private static async Task<QueryInput> ReadJsonAsync(HttpRequest request, CancellationToken cancellationToken)
    {
        JsonDocument document;
        try
        {
            document = await JsonDocument.ParseAsync(request.Body, cancellationToken: cancellationToken).ConfigureAwait(false);
        }
        catch (JsonException exception)
        {
            throw ApiProblemException.BadRequest($"The body is not valid JSON ({exception.Message}). Send JSON or multipart/form-data.");
        }

        using (document)
        {
            var root = document.RootElement;
            if (root.ValueKind != JsonValueKind.Object)
            {
                throw ApiProblemException.BadRequest("The body must be a JSON object.");
            }

            byte[]? image = String(root, "image") is { } encoded ? DecodeImage(encoded) : null;

            return new QueryInput
            {
                Text = NullIfBlank(String(root, "text") ?? String(root, "question")),
                Image = image,
                ImageName = String(root, "image_name"),
                K = Integer(root, "k"),
                Target = String(root, "target"),
                Threshold = Number(root, "threshold"),
                Recall = Number(root, "recall"),
                Strategy = String(root, "strategy"),
                MaxImages = Integer(root, "max_images"),
                IncludeSelf = Bool(root, "include_self"),
                Decline = Bool(root, "decline_without_context"),
                Rerank = String(root, "rerank"),
                UseAdapter = !root.TryGetProperty("adapter", out var adapter) || adapter.ValueKind == JsonValueKind.Null || Bool(root, "adapter"),
            };
        }
    }

    /// <summary>The bytes of an image sent in JSON: base64, or a <c>data:</c> URL.</summary>
    internal static byte[] DecodeImage(string encoded)
    {
        var comma = encoded.StartsWith("data:", StringComparison.Ordinal) ? encoded.IndexOf(',', StringComparison.Ordinal) : -1;
        try
        {
            return Convert.FromBase64String(comma >= 0 ? encoded[(comma + 1)..] : encoded);
        }
        catch (FormatException)
        {
            throw ApiProblemException.BadRequest("'image' must be base64 (or a data: URL).");
        }
    }

    internal static string? String(JsonElement root, string name) => root.TryGetProperty(name, out var value) ? StringValue(value, name) : null;

    /// <summary>A JSON string value (null for JSON null) whose text must be valid Unicode.</summary>
    internal static string? StringValue(JsonElement value, string name)
    {
        if (value.ValueKind == JsonValueKind.Null)
        {
            return null;
        }

        if (value.ValueKind != JsonValueKind.String)
        {
            throw ApiProblemException.BadRequest($"'{name}' must be a string.");
        }

        try
        {
            return value.GetString();
        }
        catch (InvalidOperationException)
        {
            // The reader validates encoding only when the string is read: invalid UTF-8 bytes or an escaped lone surrogate.
            throw ApiProblemException.BadRequest($"'{name}' is not valid text: it holds invalid UTF-8 or an unpaired UTF-16 surrogate (such as \\ud800).");
        }
    }

    private static double? Number(JsonElement root, string name) => root.TryGetProperty(name, out var value) switch
    {
        false => null,
        true when value.ValueKind == JsonValueKind.Null => null,
        true when value.ValueKind == JsonValueKind.Number => value.GetDouble(),
        _ => throw ApiProblemException.BadRequest($"'{name}' must be a number."),
    };

    internal static int? Integer(JsonElement root, string name) => root.TryGetProperty(name, out var value) switch
    {
        false => null,
        true when value.ValueKind == JsonValueKind.Null => null,
        true when value.ValueKind == JsonValueKind.Number && value.TryGetInt32(out var integer) => integer,
        _ => throw ApiProblemException.BadRequest($"'{name}' must be an integer."),
    };

    internal static bool Bool(JsonElement root, string name) =>
        root.TryGetProperty(name, out var value) && value.ValueKind switch
        {
            JsonValueKind.True => true,
            JsonValueKind.False or JsonValueKind.Null => false,
            _ => throw ApiProblemException.BadRequest($"'{name}' must be true or false."),
        };

    private static string? NullIfBlank(string? value) => string.IsNullOrWhiteSpace(value) ? null : value;

    private static int? ParseInt(string? value, string name) =>
        string.IsNullOrWhiteSpace(value) ? null
        : int.TryParse(value, NumberStyles.Integer, CultureInfo.InvariantCulture, out var parsed) ? parsed
        : throw ApiProblemException.BadRequest($"'{name}' must be an integer.");

    private static double? ParseDouble(string? value, string name) =>
        string.IsNullOrWhiteSpace(value) ? null
        : double.TryParse(value, NumberStyles.Float, CultureInfo.InvariantCulture, out var parsed) ? parsed
        : throw ApiProblemException.BadRequest($"'{name}' must be a number.");
}
