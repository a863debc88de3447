using System.Runtime.InteropServices;
using System.Text.Json;
using System.Text.Json.Serialization;
using Mmrag.Knowledge;
using Mmrag.Retrieval.Search;
using Mmrag.Storage;

namespace Mmrag.Retrieval.Adapters;

/// <summary>What a knowledge base holds as its query adapter: the adapter for its model, or none, and why not.</summary>
/// <param name="Adapter">The adapter, when one is stored for the store's model and dimension.</param>
/// <param name="Warning">Why a stored adapter is not used (trained for another model, unreadable); null otherwise.</param>
public sealed record QueryAdapterState(QueryAdapter? Adapter, string? Warning)
{
    /// <summary>No adapter stored.</summary>
    public static QueryAdapterState None { get; } = new(null, null);
}

/// <summary>
/// Keeps a knowledge base's query adapter in its store settings (<see cref="IKnowledgeStore.SetSettingAsync"/>, which both
/// stores implement) under <see cref="SettingKey"/>, as versioned JSON with the model id and dimension, the training
/// time, seed, judgements and held-out metrics, and the maps as base64 little-endian float32 (bit-exact).
/// </summary>
/// <remarks>
/// One key for whatever model: a knowledge base re-embedded with another model still finds the old adapter, ignores
/// it and says so (<see cref="QueryAdapterState.Warning"/>). Stateless; thread-safe.
/// </remarks>
public static class QueryAdapterSettings
{
    /// <summary>The store setting that holds the adapter.</summary>
    public const string SettingKey = "query-adapter";

    /// <summary>
    /// The store setting that changes (a new random value) whenever the adapter is stored or removed: a few bytes that
    /// readers poll instead of the adapter's megabytes.
    /// </summary>
    public const string StampKey = "query-adapter-stamp";

    /// <summary>The version of the stored format.</summary>
    public const int FormatVersion = 1;

    /// <summary>The adapter stored in <paramref name="store"/> for its model, or why there is none to use.</summary>
    public static async Task<QueryAdapterState> LoadAsync(IKnowledgeStore store, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(store);
        var json = await store.GetSettingAsync(SettingKey, cancellationToken).ConfigureAwait(false);
        return string.IsNullOrWhiteSpace(json) ? QueryAdapterState.None : Parse(json, store.Space);
    }

    /// <summary>
    /// Stores <paramref name="adapter"/>, replacing any earlier one; its revision becomes one more than the stored one's
    /// (1 when none). Returns the adapter as stored.
    /// </summary>
    /// <exception cref="ArgumentException">The adapter is not for the store's model and dimension.</exception>
    public static async Task<QueryAdapter> SaveAsync(IKnowledgeStore store, QueryAdapter adapter, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(store);
        ArgumentNullException.ThrowIfNull(adapter);
        if (adapter.ModelId != store.Space.ModelId || adapter.Dimension != store.Space.Dimension)
        {
            throw new ArgumentException(
                $"The adapter maps {adapter.Dimension}-d vectors of model '{adapter.ModelId}', but the knowledge base holds {store.Space.Dimension}-d vectors of '{store.Space.ModelId}'.",
                nameof(adapter));
        }

        var previous = await PreviousRevisionAsync(store, cancellationToken).ConfigureAwait(false);
        var stored = new QueryAdapter(adapter.ModelId, adapter.Dimension, Copy(adapter, QueryModality.Text), Copy(adapter, QueryModality.Image),
            adapter.Backgrounds, adapter.Info with { Revision = previous + 1 });
        await StoreWithNewStampAsync(store, Serialize(stored), cancellationToken).ConfigureAwait(false);
        return stored;
    }

    /// <summary>Removes the stored adapter; false when there was none.</summary>
    public static async Task<bool> RemoveAsync(IKnowledgeStore store, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(store);
        var existing = await store.GetSettingAsync(SettingKey, cancellationToken).ConfigureAwait(false);
        if (string.IsNullOrWhiteSpace(existing))
        {
            return false;
        }

        await StoreWithNewStampAsync(store, null, cancellationToken).ConfigureAwait(false);
        return true;
    }

    /// <summary>The current <see cref="StampKey"/> value (null in a knowledge base whose adapter was never stored or removed by this version).</summary>
    public static Task<string?> ReadStampAsync(IKnowledgeStore store, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(store);
        return store.GetSettingAsync(StampKey, cancellationToken);
    }

    /// <summary>
    /// The adapter (null: none) and a new stamp in one write (<see cref="IAtomicSettings"/>, which both stores
    /// implement): a crash or a failure between two writes would leave an adapter under the stamp of the one before it,
    /// which readers that poll the stamp would never read. Another store gets the adapter first, then the stamp.
    /// </summary>
    private static Task StoreWithNewStampAsync(IKnowledgeStore store, string? json, CancellationToken cancellationToken) =>
        store.SetSettingsAsync([new(SettingKey, json), new(StampKey, Guid.NewGuid().ToString("N"))], cancellationToken);

    /// <summary>
    /// The stored adapter's JSON and its stamp, read in one snapshot where the store can (<see cref="IAtomicSettings"/>),
    /// so the stamp is the one written with that adapter.
    /// </summary>
    public static async Task<(string? Json, string? Stamp)> ReadWithStampAsync(IKnowledgeStore store, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(store);
        var values = await store.GetSettingsAsync([SettingKey, StampKey], cancellationToken).ConfigureAwait(false);
        return (values[0], values[1]);
    }

    /// <summary>The stored form of <paramref name="adapter"/>.</summary>
    public static string Serialize(QueryAdapter adapter)
    {
        ArgumentNullException.ThrowIfNull(adapter);
        var maps = new List<MapDocument>(2);
        foreach (var modality in (QueryModality[])[QueryModality.Text, QueryModality.Image])
        {
            if (adapter.Maps(modality))
            {
                maps.Add(new MapDocument(Name(modality), Convert.ToBase64String(AsLittleEndianBytes(adapter.Matrix(modality)))));
            }
        }

        var info = adapter.Info;
        return JsonSerializer.Serialize(new AdapterDocument(FormatVersion, info.Revision, adapter.ModelId, adapter.Dimension, info.TrainedAt, info.Seed,
            info.Judgements, info.JudgementsHash,
            [.. info.Modalities.Select(static m => new ModalityDocument(Name(m.Modality), m.TrainQueries, m.HeldOutQueries, m.Before, m.After, m.Better, m.Worse, m.Epochs, m.Kept))],
            [.. adapter.Backgrounds.Select(static b => new BackgroundDocument(Name(b.Modality), b.Kind == ItemKind.Image ? "image" : "text",
                b.PlainMean, b.PlainStandardDeviation, b.AdaptedMean, b.AdaptedStandardDeviation))],
            maps), AdapterJsonContext.Default.AdapterDocument);
    }

    /// <summary>Reads a stored adapter for a knowledge base of <paramref name="space"/>.</summary>
    public static QueryAdapterState Parse(string json, EmbeddingSpace space)
    {
        ArgumentNullException.ThrowIfNull(json);
        ArgumentNullException.ThrowIfNull(space);
        AdapterDocument? document;
        try
        {
            document = JsonSerializer.Deserialize(json, AdapterJsonContext.Default.AdapterDocument);
        }
        catch (JsonException)
        {
            document = null;
        }

        if (document is null || document.Format != FormatVersion || document.ModelId is null || document.Maps is null)
        {
            return new QueryAdapterState(null, "The query adapter stored in this knowledge base cannot be read (damaged, or written by another mmrag version); it is ignored. Run 'mmrag tune' again, or 'mmrag tune --reset'.");
        }

        if (document.ModelId != space.ModelId || document.Dimension != space.Dimension)
        {
            return new QueryAdapterState(null,
                $"The query adapter stored in this knowledge base was trained for model '{document.ModelId}' ({document.Dimension}-d), not this knowledge base's '{space.ModelId}' ({space.Dimension}-d); it is ignored. Run 'mmrag tune' again, or 'mmrag tune --reset'.");
        }

        try
        {
            float[]? text = null, image = null;
            // A map is d×d float32 values; anything else is refused before it is decoded.
            var base64Length = 4 * (((long)document.Dimension * document.Dimension * sizeof(float) + 2) / 3);
            foreach (var map in document.Maps)
            {
                if (map?.Matrix is null || map.Matrix.Length != base64Length)
                {
                    throw new FormatException($"a map is not {document.Dimension}×{document.Dimension} float32 values");
                }

                var values = FromLittleEndianBytes(Convert.FromBase64String(map.Matrix));
                if (ParseModality(map.Modality) == QueryModality.Text)
                {
                    text = values;
                }
                else
                {
                    image = values;
                }
            }

            var info = new QueryAdapterInfo(document.Revision, document.TrainedAt, document.Seed, document.Judgements, document.JudgementsHash ?? "",
                [.. (document.Modalities ?? []).Select(static m => new AdapterModalityReport(ParseModality(m.Modality), m.TrainQueries, m.HeldOutQueries,
                    m.Before, m.After, m.Better, m.Worse, m.Epochs, m.Kept))]);
            var backgrounds = (document.Backgrounds ?? []).Select(static b => new AdapterBackground(ParseModality(b.Modality),
                b.Kind == "image" ? ItemKind.Image : ItemKind.TextChunk, b.PlainMean, b.PlainStandardDeviation, b.AdaptedMean, b.AdaptedStandardDeviation));
            return new QueryAdapterState(new QueryAdapter(document.ModelId, document.Dimension, text, image,
                [.. backgrounds.Where(static b => double.IsFinite(b.PlainMean) && double.IsFinite(b.AdaptedMean)
                    && b.PlainStandardDeviation > 0 && double.IsFinite(b.PlainStandardDeviation) && b.AdaptedStandardDeviation > 0 && double.IsFinite(b.AdaptedStandardDeviation))],
                info), null);
        }
        catch (Exception ex) when (ex is FormatException or ArgumentException)
        {
            return new QueryAdapterState(null, $"The query adapter stored in this knowledge base cannot be read ({ex.Message}); it is ignored. Run 'mmrag tune' again, or 'mmrag tune --reset'.");
        }
    }

    private static async Task<int> PreviousRevisionAsync(IKnowledgeStore store, CancellationToken cancellationToken)
    {
        var json = await store.GetSettingAsync(SettingKey, cancellationToken).ConfigureAwait(false);
        if (string.IsNullOrWhiteSpace(json))
        {
            return 0;
        }

        try
        {
            return JsonSerializer.Deserialize(json, AdapterJsonContext.Default.AdapterDocument)?.Revision ?? 0;
        }
        catch (JsonException)
        {
            return 0;
        }
    }

    private static float[]? Copy(QueryAdapter adapter, QueryModality modality) => adapter.Maps(modality) ? adapter.Matrix(modality).ToArray() : null;

    private static string Name(QueryModality modality) => modality == QueryModality.Image ? "image" : "text";

    private static QueryModality ParseModality(string? name) => name switch
    {
        "text" => QueryModality.Text,
        "image" => QueryModality.Image,
        _ => throw new FormatException($"unknown query modality '{name}'"),
    };

    private static byte[] AsLittleEndianBytes(ReadOnlySpan<float> values)
    {
        var bytes = new byte[values.Length * sizeof(float)];
        for (var i = 0; i < values.Length; i++)
        {
            System.Buffers.Binary.BinaryPrimitives.WriteSingleLittleEndian(bytes.AsSpan(i * sizeof(float)), values[i]);
        }

        return bytes;
    }

    private static float[] FromLittleEndianBytes(byte[] bytes)
    {
        if (bytes.Length % sizeof(float) != 0)
        {
            throw new FormatException("a map's bytes are not whole float32 values");
        }

        var values = new float[bytes.Length / sizeof(float)];
        if (BitConverter.IsLittleEndian)
        {
            MemoryMarshal.Cast<byte, float>(bytes).CopyTo(values);
        }
        else
        {
            for (var i = 0; i < values.Length; i++)
            {
                values[i] = System.Buffers.Binary.BinaryPrimitives.ReadSingleLittleEndian(bytes.AsSpan(i * sizeof(float)));
            }
        }

        return values;
    }
}

/// <summary>The stored form of a <see cref="QueryAdapter"/>.</summary>
internal sealed record AdapterDocument(
    int Format,
    int Revision,
    string? ModelId,
    int Dimension,
    DateTimeOffset TrainedAt,
    int Seed,
    int Judgements,
    string? JudgementsHash,
    IReadOnlyList<ModalityDocument>? Modalities,
    IReadOnlyList<BackgroundDocument>? Backgrounds,
    IReadOnlyList<MapDocument>? Maps);

internal sealed record ModalityDocument(string Modality, int TrainQueries, int HeldOutQueries, AdapterMetrics Before, AdapterMetrics After, int Better, int Worse,
    int Epochs, bool Kept);

internal sealed record BackgroundDocument(string Modality, string Kind, double PlainMean, double PlainStandardDeviation, double AdaptedMean,
    double AdaptedStandardDeviation);

internal sealed record MapDocument(string Modality, string Matrix);

[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase)]
[JsonSerializable(typeof(AdapterDocument))]
internal sealed partial class AdapterJsonContext : JsonSerializerContext;
