using Microsoft.Extensions.AI;

namespace Mmrag.Embeddings;

/// <summary>
/// Optional embedding generator capability: embeds a batch in which some inputs may be bad (an image that cannot be
/// decoded) and returns, per input, its embedding or why it failed, instead of failing the whole call. A generator
/// implements it beside <see cref="IEmbeddingGenerator{TInput,TEmbedding}"/>; callers use
/// <see cref="PerItemEmbeddingGeneratorExtensions.GeneratePerItemAsync"/>, which falls back to the plain call. Errors
/// that are not one input's (cancellation, a failed model run) still fail the call. Thread-safety as the generator's.
/// </summary>
/// <typeparam name="TInput">The generator's input type.</typeparam>
public interface IPerItemEmbeddingGenerator<TInput>
{
    /// <summary>One result per input of <paramref name="values"/>, in order: its embedding, or the error of that input alone.</summary>
    Task<IReadOnlyList<ItemEmbedding>> GeneratePerItemAsync(IEnumerable<TInput> values, EmbeddingGenerationOptions? options = null,
        CancellationToken cancellationToken = default);
}

/// <summary>The embedding of one input of a batch, or why that input could not be embedded.</summary>
/// <param name="Embedding">The embedding; null when <paramref name="Error"/> is set.</param>
/// <param name="Error">Why this input failed (e.g. an image decode error), without the batch position; null on success.</param>
public readonly record struct ItemEmbedding(Embedding<float>? Embedding, Exception? Error)
{
    /// <summary>Whether the input was embedded.</summary>
    public bool Succeeded => Error is null;
}

/// <summary>Per-input results through <see cref="IPerItemEmbeddingGenerator{TInput}"/> where the generator offers it.</summary>
public static class PerItemEmbeddingGeneratorExtensions
{
    /// <summary>
    /// One result per input, in order: one call when <paramref name="generator"/> implements
    /// <see cref="IPerItemEmbeddingGenerator{TInput}"/>; otherwise one <see cref="IEmbeddingGenerator{TInput,TEmbedding}.GenerateAsync"/>
    /// call. When that one call fails as a whole, each input is tried alone, so that one bad input costs only itself. Cancellation through
    /// <paramref name="cancellationToken"/> is thrown, not reported per input.
    /// </summary>
    /// <remarks>
    /// The capability is looked for on <paramref name="generator"/> itself, not through <c>GetService</c>: a decorator
    /// that does not offer it (logging, caching, rate limits) is called, never bypassed for the generator inside it.
    /// </remarks>
    public static async Task<IReadOnlyList<ItemEmbedding>> GeneratePerItemAsync<TInput>(this IEmbeddingGenerator<TInput, Embedding<float>> generator,
        IReadOnlyList<TInput> values, EmbeddingGenerationOptions? options = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(generator);
        ArgumentNullException.ThrowIfNull(values);
        if (generator is IPerItemEmbeddingGenerator<TInput> perItem)
        {
            IReadOnlyList<ItemEmbedding> results;
            try
            {
                results = await perItem.GeneratePerItemAsync(values, options, cancellationToken).ConfigureAwait(false);
            }
            catch (Exception ex) when (values.Count > 1 && !(ex is OperationCanceledException && cancellationToken.IsCancellationRequested))
            {
                // An error the generator blamed on no input (a decoder failing in an unexpected way, a model run): each
                // input alone below, so that it costs only the input it belongs to, as with a plain generator.
                results = [];
            }

            if (results.Count == values.Count)
            {
                return results;
            }

            if (results.Count != 0)
            {
                throw new InvalidOperationException($"The embedding generator returned {results.Count} results for {values.Count} inputs.");
            }
        }
        else
        {
            var (all, failure) = await TryGenerateAsync(generator, values, options, cancellationToken).ConfigureAwait(false);
            if (all is not null || values.Count == 1)
            {
                return all is null ? [new ItemEmbedding(null, failure)] : Wrap(all, values.Count);
            }
        }

        var each = new ItemEmbedding[values.Count];
        for (var i = 0; i < values.Count; i++)
        {
            var (one, error) = await TryGenerateAsync(generator, [values[i]], options, cancellationToken).ConfigureAwait(false);
            each[i] = one is null ? new ItemEmbedding(null, error) : Wrap(one, 1)[0];
        }

        return each;
    }

    /// <summary>The call's embeddings, or the exception it failed with (cancellation is thrown).</summary>
    private static async Task<(GeneratedEmbeddings<Embedding<float>>? Embeddings, Exception? Error)> TryGenerateAsync<TInput>(
        IEmbeddingGenerator<TInput, Embedding<float>> generator, IReadOnlyList<TInput> values, EmbeddingGenerationOptions? options,
        CancellationToken cancellationToken)
    {
        try
        {
            return (await generator.GenerateAsync(values, options, cancellationToken).ConfigureAwait(false), null);
        }
        catch (Exception ex) when (!(ex is OperationCanceledException && cancellationToken.IsCancellationRequested))
        {
            return (null, ex);
        }
    }

    // A wrong count is the generator's bug, not an input's failure: it stops the caller.
    private static ItemEmbedding[] Wrap(GeneratedEmbeddings<Embedding<float>> embeddings, int inputs) =>
        embeddings.Count == inputs
            ? [.. embeddings.Select(static e => new ItemEmbedding(e, null))]
            : throw new InvalidOperationException($"The embedding generator returned {embeddings.Count} embeddings for {inputs} inputs.");
}
