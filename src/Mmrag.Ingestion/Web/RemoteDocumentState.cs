using System.Globalization;
using System.Text.Json;
using Mmrag.Storage;

namespace Mmrag.Ingestion.Web;

/// <summary>
/// What is kept with a remote document besides its items: the version its content was read at (the SHA-256 of the
/// body for a web page, a revision id for a wiki article), the HTTP validators for a conditional request, and the
/// source's own metadata (title, revision, language, licence …). Stored in the knowledge base's settings under
/// <see cref="SettingKey"/> — both store backends keep settings — and written right after the document, so a crash in
/// between costs one unconditional request on the next run, never a wrong "unchanged".
/// </summary>
/// <param name="Version">The content version; the document's stored version (<c>ContentHash</c>) is this (plus the OCR suffix).</param>
public sealed record RemoteDocumentState(string Version)
{
    private const string KeyPrefix = "remote.document:";

    /// <summary>The response's <c>ETag</c>, sent back as <c>If-None-Match</c>.</summary>
    public string? ETag { get; init; }

    /// <summary>The response's <c>Last-Modified</c>, sent back as <c>If-Modified-Since</c>.</summary>
    public DateTimeOffset? LastModified { get; init; }

    /// <summary>The source's own metadata (keys and values are the source's business).</summary>
    public IReadOnlyDictionary<string, string> Metadata { get; init; } = new Dictionary<string, string>();

    /// <summary>The settings key of document <paramref name="documentId"/>'s state.</summary>
    public static string SettingKey(string documentId)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(documentId);
        return KeyPrefix + documentId;
    }

    /// <summary>The stored state of document <paramref name="documentId"/>, or null when there is none (or it cannot be read).</summary>
    public static async Task<RemoteDocumentState?> ReadAsync(IKnowledgeStore store, string documentId, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(store);
        var json = await store.GetSettingAsync(SettingKey(documentId), cancellationToken).ConfigureAwait(false);
        return json is null ? null : Parse(json);
    }

    /// <summary>Stores this state for document <paramref name="documentId"/>.</summary>
    public Task WriteAsync(IKnowledgeStore store, string documentId, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(store);
        return store.SetSettingAsync(SettingKey(documentId), Serialize(), cancellationToken);
    }

    /// <summary>Forgets document <paramref name="documentId"/>'s state (when the document is deleted).</summary>
    public static Task DeleteAsync(IKnowledgeStore store, string documentId, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(store);
        return store.SetSettingAsync(SettingKey(documentId), null, cancellationToken);
    }

    /// <summary>Whether <paramref name="other"/> holds the same version, validators and metadata.</summary>
    public bool SameAs(RemoteDocumentState? other) =>
        other is not null && Version == other.Version && ETag == other.ETag && LastModified == other.LastModified
        && Metadata.Count == other.Metadata.Count && Metadata.All(p => other.Metadata.TryGetValue(p.Key, out var v) && v == p.Value);

    internal string Serialize()
    {
        using var buffer = new MemoryStream();
        using (var writer = new Utf8JsonWriter(buffer))
        {
            writer.WriteStartObject();
            writer.WriteString("version", Version);
            if (ETag is not null)
            {
                writer.WriteString("etag", ETag);
            }

            if (LastModified is { } modified)
            {
                writer.WriteString("last_modified", modified.ToString("R", CultureInfo.InvariantCulture));
            }

            writer.WriteStartObject("metadata");
            foreach (var (key, value) in Metadata)
            {
                writer.WriteString(key, value);
            }

            writer.WriteEndObject();
            writer.WriteEndObject();
        }

        return System.Text.Encoding.UTF8.GetString(buffer.ToArray());
    }

    internal static RemoteDocumentState? Parse(string json)
    {
        try
        {
            using var document = JsonDocument.Parse(json);
            var root = document.RootElement;
            if (!root.TryGetProperty("version", out var version) || version.GetString() is not { } text)
            {
                return null;
            }

            var metadata = new Dictionary<string, string>(StringComparer.Ordinal);
            if (root.TryGetProperty("metadata", out var values) && values.ValueKind == JsonValueKind.Object)
            {
                foreach (var property in values.EnumerateObject())
                {
                    metadata[property.Name] = property.Value.GetString() ?? string.Empty;
                }
            }

            return new RemoteDocumentState(text)
            {
                ETag = root.TryGetProperty("etag", out var etag) ? etag.GetString() : null,
                LastModified = root.TryGetProperty("last_modified", out var modified)
                    && DateTimeOffset.TryParse(modified.GetString(), CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var parsed)
                        ? parsed
                        : null,
                Metadata = metadata,
            };
        }
        catch (Exception ex) when (ex is JsonException or InvalidOperationException)
        {
            // A state that cannot be read only costs an unconditional request.
            return null;
        }
    }
}
