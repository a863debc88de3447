using System.Collections.Concurrent;
using Microsoft.Extensions.AI;
using Mmrag.Embeddings;

namespace Mmrag.Ingestion.Tests.Support;

/// <summary>
/// Passes calls through to the real generator and counts them (calls and inputs); <see cref="BeforeCall"/> runs
/// before each call, e.g. to cancel a run after a number of batches. Per-item calls
/// (<see cref="IPerItemEmbeddingGenerator{TInput}"/>) are passed on and counted the same way, so the pipeline sees the
/// real generator's capabilities.
/// </summary>
internal sealed class CountingEmbeddingGenerator<TInput>(IEmbeddingGenerator<TInput, Embedding<float>> inner)
    : DelegatingEmbeddingGenerator<TInput, Embedding<float>>(inner), IPerItemEmbeddingGenerator<TInput>
{
    private int _calls;
    private int _inputs;

    public int Calls => Volatile.Read(ref _calls);

    public int Inputs => Volatile.Read(ref _inputs);

    public Action<int>? BeforeCall { get; set; }

    /// <summary>Every input passed on, in call order.</summary>
    public ConcurrentQueue<TInput> Seen { get; } = new();

    public override Task<GeneratedEmbeddings<Embedding<float>>> GenerateAsync(IEnumerable<TInput> values,
        EmbeddingGenerationOptions? options = null, CancellationToken cancellationToken = default) =>
        base.GenerateAsync(Count(values), options, cancellationToken);

    public Task<IReadOnlyList<ItemEmbedding>> GeneratePerItemAsync(IEnumerable<TInput> values, EmbeddingGenerationOptions? options = null,
        CancellationToken cancellationToken = default) =>
        InnerGenerator.GeneratePerItemAsync(Count(values), options, cancellationToken);

    private List<TInput> Count(IEnumerable<TInput> values)
    {
        var list = values.ToList();
        var call = Interlocked.Increment(ref _calls);
        Interlocked.Add(ref _inputs, list.Count);
        foreach (var value in list)
        {
            Seen.Enqueue(value);
        }
        BeforeCall?.Invoke(call);
        return list;
    }
}
