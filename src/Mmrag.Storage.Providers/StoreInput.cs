using System.Numerics.Tensors;
using Mmrag.Knowledge;

namespace Mmrag.Storage.Providers;

/// <summary>
/// The checks an <see cref="IKnowledgeStore"/> makes on what it is given to store or to search with, written once so
/// that every backend, and the test double held to the same contract, refuses the same input with the same message
/// before anything is written. Stateless and thread-safe.
/// </summary>
/// <remarks>
/// Vectors are normalised once on the way in, by whoever made them (the CLIP generators normalise by default). Here
/// the norm is only checked: a vector within the tolerance of unit length is copied bit for bit, and only one further
/// off (a generator that does not normalise, a caller's own vector) is rescaled, so every stored vector is unit length.
/// </remarks>
public static class StoreInput
{
    /// <summary>How far a vector's L2 norm may be from 1 and still be stored as given (float rounding of a normalized vector).</summary>
    public const float DefaultNormTolerance = 1e-4f;

    /// <summary>
    /// Checks <paramref name="document"/> and its <paramref name="items"/> for an upsert into a knowledge base of
    /// <paramref name="space"/>, and returns a unit-length copy of each item's vector, in the items' order.
    /// </summary>
    /// <exception cref="ArgumentException">The document lacks an id, source path, content hash or media type; or an item
    /// is null, lacks an id, content hash or source path, belongs to another document, repeats an id, has an unknown kind,
    /// or has a vector of the wrong dimension, with a non-finite value, or of length zero.</exception>
    public static float[][] CheckItems(DocumentRecord document, IReadOnlyList<KnowledgeItem> items, EmbeddingSpace space,
        float normTolerance = DefaultNormTolerance)
    {
        ArgumentNullException.ThrowIfNull(document);
        ArgumentNullException.ThrowIfNull(items);
        ArgumentNullException.ThrowIfNull(space);
        ArgumentException.ThrowIfNullOrEmpty(document.Id, nameof(document));
        ArgumentException.ThrowIfNullOrEmpty(document.SourcePath, nameof(document));
        ArgumentNullException.ThrowIfNull(document.ContentHash, nameof(document));
        ArgumentNullException.ThrowIfNull(document.MediaType, nameof(document));
        var vectors = new float[items.Count][];
        var ids = new HashSet<string>(StringComparer.Ordinal);
        for (int i = 0; i < items.Count; i++)
        {
            KnowledgeItem item = items[i] ?? throw new ArgumentException($"Item {i} is null.", nameof(items));
            if (string.IsNullOrEmpty(item.Id))
            {
                throw new ArgumentException($"Item {i} has no id.", nameof(items));
            }

            if (!string.Equals(item.DocumentId, document.Id, StringComparison.Ordinal))
            {
                throw new ArgumentException($"Item '{item.Id}' belongs to document '{item.DocumentId}', not '{document.Id}'.", nameof(items));
            }

            if (!ids.Add(item.Id))
            {
                throw new ArgumentException($"Item id '{item.Id}' appears twice.", nameof(items));
            }

            if (!Enum.IsDefined(item.Kind))
            {
                throw new ArgumentException($"Item '{item.Id}' has an unknown kind {item.Kind}.", nameof(items));
            }

            if (item.ContentHash is null || item.Provenance?.SourcePath is null)
            {
                throw new ArgumentException($"Item '{item.Id}' has no content hash or no source path.", nameof(items));
            }

            vectors[i] = UnitVector(item.Vector.Span, space, $"Item '{item.Id}'", nameof(items), normTolerance);
        }

        return vectors;
    }

    /// <summary>
    /// Checks the arguments of <see cref="IKnowledgeStore.SearchVectorsAsync"/> for a knowledge base of
    /// <paramref name="space"/>, and returns a unit-length copy of <paramref name="query"/>.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="k"/> is negative, or <paramref name="recall"/> is outside (0, 1].</exception>
    /// <exception cref="ArgumentException">The query's dimension is not the space's, a value is not finite, or it is zero.</exception>
    public static float[] CheckVectorQuery(ReadOnlySpan<float> query, int k, double? recall, EmbeddingSpace space,
        float normTolerance = DefaultNormTolerance)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(k);
        SearchRecall.Validate(recall);
        return UnitVector(query, space, "The query", nameof(query), normTolerance);
    }

    /// <summary>Where a relevance judgement may come from (<see cref="RelevanceJudgement.Source"/>).</summary>
    public static IReadOnlyList<string> JudgementSources { get; } = ["file", "page", "api"];

    /// <summary>
    /// Checks <paramref name="judgement"/> for <see cref="IRelevanceFeedbackStore.AddJudgementAsync"/> on a knowledge
    /// base of <paramref name="space"/>, and returns a unit-length copy of its query vector. A judgement of the knowledge
    /// base's model must have its dimension; one of another model (kept from before a re-embed) only a sound vector.
    /// </summary>
    /// <exception cref="ArgumentException">An id, item id or model id is missing, the source is not one of
    /// <see cref="JudgementSources"/>, the modality is unknown, or the vector is
    /// empty, of the wrong dimension, not finite or zero.</exception>
    public static float[] CheckJudgement(RelevanceJudgement judgement, EmbeddingSpace space, float normTolerance = DefaultNormTolerance)
    {
        ArgumentNullException.ThrowIfNull(judgement);
        ArgumentNullException.ThrowIfNull(space);
        const string parameter = nameof(judgement);
        if (string.IsNullOrEmpty(judgement.Id) || string.IsNullOrEmpty(judgement.ItemId) || string.IsNullOrEmpty(judgement.ModelId))
        {
            throw new ArgumentException("A judgement needs an id, an item id and a model id.", parameter);
        }

        if (!JudgementSources.Contains(judgement.Source))
        {
            throw new ArgumentException($"Judgement '{judgement.Id}' has source '{judgement.Source}'; it must be {string.Join(", ", JudgementSources)}.", parameter);
        }

        if (!Enum.IsDefined(judgement.Modality))
        {
            throw new ArgumentException($"Judgement '{judgement.Id}' has an unknown query modality {judgement.Modality}.", parameter);
        }

        if (judgement.QueryVector.IsEmpty)
        {
            throw new ArgumentException($"Judgement '{judgement.Id}' has an empty query vector.", parameter);
        }

        EmbeddingSpace own = judgement.ModelId == space.ModelId ? space : new EmbeddingSpace(judgement.ModelId, judgement.QueryVector.Length);
        return UnitVector(judgement.QueryVector.Span, own, $"Judgement '{judgement.Id}'", parameter, normTolerance);
    }

    /// <summary>
    /// A unit-length copy of <paramref name="vector"/> (a copy even when it already is one, so the caller may reuse its
    /// buffer), checked against <paramref name="space"/>.
    /// </summary>
    /// <param name="vector">An item's vector or a query.</param>
    /// <param name="space">The knowledge base's space.</param>
    /// <param name="what">What the vector belongs to, to start the message with (e.g. "The query").</param>
    /// <param name="parameterName">The parameter the exception names.</param>
    /// <param name="normTolerance">How far from 1 the norm may be for the vector to be copied as it is.</param>
    /// <exception cref="ArgumentException">The dimension is not the space's, a value is not finite, or the vector is zero.</exception>
    public static float[] UnitVector(ReadOnlySpan<float> vector, EmbeddingSpace space, string what, string parameterName,
        float normTolerance = DefaultNormTolerance)
    {
        ArgumentNullException.ThrowIfNull(space);
        if (vector.Length != space.Dimension)
        {
            throw new ArgumentException(
                $"{what} has a vector of dimension {vector.Length}; this knowledge base's model '{space.ModelId}' has dimension {space.Dimension}.", parameterName);
        }

        float norm = TensorPrimitives.Norm(vector);
        if (!float.IsFinite(norm))
        {
            throw new ArgumentException($"{what} has a vector with a NaN or infinite value.", parameterName);
        }

        if (norm == 0)
        {
            throw new ArgumentException($"{what} has a zero vector, which has no direction to compare.", parameterName);
        }

        float[] copy = vector.ToArray();
        if (MathF.Abs(norm - 1) > normTolerance)
        {
            TensorPrimitives.Divide(copy, norm, copy);
        }

        return copy;
    }
}
