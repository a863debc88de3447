using Microsoft.Extensions.AI;

namespace Mmrag.Testing;

/// <summary>
/// Holds each participant at its first arrival until all have arrived, or for a minute at most (then the test's own
/// assertions say which pipeline got no work, rather than the test hanging). Tests of ingesters sharing a folder give
/// each pipeline generators that wait here (<see cref="WaitingEmbeddingGenerator{TInput}"/>): each claims files a few
/// groups ahead of what it embeds, so without the meeting one that started a moment earlier could claim the whole
/// folder before the other read a file, and the split would be decided by the scheduler instead of the claims.
/// </summary>
internal sealed class Rendezvous(int participants)
{
    private readonly TaskCompletionSource[] _arrived = [.. Enumerable.Range(0, participants)
        .Select(_ => new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously))];

    public Func<Task> Arrival(int participant)
    {
        Task? waited = null;
        return () =>
        {
            _arrived[participant].TrySetResult();
            return waited ??= Task.WhenAny(Task.WhenAll(_arrived.Select(static a => a.Task)), Task.Delay(TimeSpan.FromMinutes(1)));
        };
    }
}

/// <summary>The real generator, which waits for <paramref name="arrival"/> before each call (at once after the first).</summary>
internal sealed class WaitingEmbeddingGenerator<TInput>(IEmbeddingGenerator<TInput, Embedding<float>> inner, Func<Task> arrival)
    : DelegatingEmbeddingGenerator<TInput, Embedding<float>>(inner)
{
    public override async Task<GeneratedEmbeddings<Embedding<float>>> GenerateAsync(IEnumerable<TInput> values,
        EmbeddingGenerationOptions? options = null, CancellationToken cancellationToken = default)
    {
        await arrival().WaitAsync(cancellationToken);
        return await base.GenerateAsync(values, options, cancellationToken);
    }
}
