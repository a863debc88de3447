using System.Numerics.Tensors;
using Mmrag.Knowledge;
using Mmrag.Retrieval.Search;

namespace Mmrag.Retrieval.Adapters;

/// <summary>
/// A learned linear map per query modality (text, image) applied to a query vector before vector search:
/// q' = W q / ‖W q‖. Items are never re-embedded, so an adapter takes effect at once and costs one d×d product per
/// query. Trained by <see cref="QueryAdapterTrainer"/>, kept in the knowledge base by <see cref="QueryAdapterSettings"/>.
/// </summary>
/// <remarks>
/// <para>
/// A modality without a map is left as it is (the identity). Each map carries, per target item kind, the background
/// cosine distribution of adapted and of plain query proxies measured on the same sample when it was trained
/// (<see cref="AdapterBackground"/>): <see cref="ToCalibrationScale"/> maps an adapted cosine onto the plain scale, so
/// the knowledge base's calibration (measured with plain vectors) z-scores it against the adapted background.
/// </para>
/// <para>Immutable; thread-safe.</para>
/// </remarks>
public sealed class QueryAdapter
{
    private readonly float[]? _text;
    private readonly float[]? _image;
    private readonly Dictionary<(QueryModality, ItemKind), AdapterBackground> _backgrounds;

    /// <summary>Creates an adapter.</summary>
    /// <param name="modelId">The embedding model whose query vectors it maps.</param>
    /// <param name="dimension">The vectors' dimension d.</param>
    /// <param name="textMap">The d×d row-major map of text query vectors, or null for the identity.</param>
    /// <param name="imageMap">The d×d row-major map of image query vectors, or null for the identity.</param>
    /// <param name="backgrounds">Background statistics per (modality, kind) with a map; pairs absent are not rescaled.</param>
    /// <param name="info">How and on what it was trained.</param>
    /// <exception cref="ArgumentException">A map is not d×d or holds a non-finite value.</exception>
    public QueryAdapter(string modelId, int dimension, float[]? textMap, float[]? imageMap, IReadOnlyList<AdapterBackground> backgrounds, QueryAdapterInfo info)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(modelId);
        ArgumentOutOfRangeException.ThrowIfLessThan(dimension, 1);
        ArgumentNullException.ThrowIfNull(backgrounds);
        ArgumentNullException.ThrowIfNull(info);
        Check(textMap, dimension, nameof(textMap));
        Check(imageMap, dimension, nameof(imageMap));
        ModelId = modelId;
        Dimension = dimension;
        _text = textMap;
        _image = imageMap;
        Info = info;
        Backgrounds = backgrounds;
        _backgrounds = backgrounds.ToDictionary(static b => (b.Modality, b.Kind));
    }

    /// <summary>The embedding model whose query vectors it maps.</summary>
    public string ModelId { get; }

    /// <summary>The vectors' dimension.</summary>
    public int Dimension { get; }

    /// <summary>How and on what it was trained.</summary>
    public QueryAdapterInfo Info { get; }

    /// <summary>Background statistics per (modality, kind).</summary>
    public IReadOnlyList<AdapterBackground> Backgrounds { get; }

    /// <summary>Whether <paramref name="modality"/> has a map (otherwise its vectors pass unchanged).</summary>
    public bool Maps(QueryModality modality) => Map(modality) is not null;

    /// <summary>The d×d row-major map of <paramref name="modality"/>, or empty for the identity.</summary>
    public ReadOnlySpan<float> Matrix(QueryModality modality) => Map(modality);

    /// <summary>
    /// The adapted, L2-normalized vector of a query of <paramref name="modality"/>; the vector itself (copied) when the
    /// modality has no map or the map sends it to zero.
    /// </summary>
    /// <exception cref="ArgumentException"><paramref name="vector"/> does not have <see cref="Dimension"/> elements.</exception>
    public float[] Apply(QueryModality modality, ReadOnlySpan<float> vector)
    {
        if (vector.Length != Dimension)
        {
            throw new ArgumentException($"The query vector has {vector.Length} dimensions; the adapter maps {Dimension}.", nameof(vector));
        }

        var map = Map(modality);
        var result = new float[Dimension];
        if (map is null)
        {
            vector.CopyTo(result);
            return result;
        }

        Multiply(map, vector, result);
        var norm = TensorPrimitives.Norm(result);
        if (!(norm > 0) || !float.IsFinite(norm))
        {
            vector.CopyTo(result);
            return result;
        }

        TensorPrimitives.Divide(result, norm, result);
        return result;
    }

    /// <summary>
    /// An adapted cosine of a <paramref name="modality"/> query with an item of <paramref name="kind"/>, moved onto the
    /// plain vectors' scale by matching the two background distributions measured when the adapter was trained
    /// (μ₀ + (c − μₐ)·σ₀/σₐ); the cosine itself for a pair with no statistics. Monotonic, so rankings do not change.
    /// </summary>
    public double ToCalibrationScale(QueryModality modality, ItemKind kind, double cosine) =>
        Maps(modality) && _backgrounds.TryGetValue((modality, kind), out var b)
            ? b.PlainMean + ((cosine - b.AdaptedMean) * b.PlainStandardDeviation / b.AdaptedStandardDeviation)
            : cosine;

    /// <summary>u = W q for a d×d row-major <paramref name="map"/>.</summary>
    internal static void Multiply(ReadOnlySpan<float> map, ReadOnlySpan<float> vector, Span<float> result)
    {
        var d = vector.Length;
        for (var i = 0; i < d; i++)
        {
            result[i] = TensorPrimitives.Dot(map.Slice(i * d, d), vector);
        }
    }

    private float[]? Map(QueryModality modality) => modality switch
    {
        QueryModality.Text => _text,
        QueryModality.Image => _image,
        _ => null,
    };

    private static void Check(float[]? map, int dimension, string name)
    {
        if (map is null)
        {
            return;
        }

        if (map.Length != (long)dimension * dimension)
        {
            throw new ArgumentException($"A query adapter map of dimension {dimension} has {dimension * dimension} elements, not {map.Length}.", name);
        }

        foreach (var value in map)
        {
            if (!float.IsFinite(value))
            {
                throw new ArgumentException("A query adapter map holds a non-finite value.", name);
            }
        }
    }
}

/// <summary>
/// Background cosines of one (query modality → item kind) pair, of plain and of adapted query proxies against the
/// same sampled items (proxies as <see cref="Scoring.ScoreCalibrator"/> takes them: text chunks for text queries, images
/// for image queries).
/// </summary>
public sealed record AdapterBackground(QueryModality Modality, ItemKind Kind, double PlainMean, double PlainStandardDeviation, double AdaptedMean,
    double AdaptedStandardDeviation);

/// <summary>Held-out ranking quality of one query modality: recall@5 and MRR@10 over its held-out queries.</summary>
public sealed record AdapterMetrics(int Queries, double Recall5, double Mrr10);

/// <summary>What training did for one query modality.</summary>
/// <param name="Modality">Text or image queries.</param>
/// <param name="TrainQueries">Queries (with at least one relevant item) trained on.</param>
/// <param name="HeldOutQueries">Queries held out to stop early and to judge the map.</param>
/// <param name="Before">Held-out quality of plain vectors (exact search of the store).</param>
/// <param name="After">Held-out quality of adapted vectors.</param>
/// <param name="Better">Held-out queries whose recall@5 rose.</param>
/// <param name="Worse">Held-out queries whose recall@5 fell.</param>
/// <param name="Epochs">Epochs run (the map kept is the best held-out one).</param>
/// <param name="Kept">Whether the map passed the gate (<see cref="QueryAdapterTrainingOptions"/>) and is part of the adapter.</param>
public sealed record AdapterModalityReport(QueryModality Modality, int TrainQueries, int HeldOutQueries, AdapterMetrics Before, AdapterMetrics After,
    int Better, int Worse, int Epochs, bool Kept);

/// <summary>How and on what an adapter was trained.</summary>
/// <param name="Revision">1 for the first adapter stored in a knowledge base, one more for each later one.</param>
/// <param name="TrainedAt">When it was trained.</param>
/// <param name="Seed">The training seed.</param>
/// <param name="Judgements">Judgements it was trained and judged on (after dropping other models' and gone items').</param>
/// <param name="JudgementsHash">SHA-256 (hex) of those judgements' sorted ids: tells whether the feedback changed since.</param>
/// <param name="Modalities">Per query modality: held-out quality before and after, and whether its map was kept.</param>
public sealed record QueryAdapterInfo(int Revision, DateTimeOffset TrainedAt, int Seed, int Judgements, string JudgementsHash,
    IReadOnlyList<AdapterModalityReport> Modalities);
