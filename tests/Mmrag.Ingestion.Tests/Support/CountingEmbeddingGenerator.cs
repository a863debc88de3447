using System.Collections.Concurrent;
using Microsoft.Extensions.AI;

namespace Mmrag.Ingestion.Tests.Support;

/// <summary>
/// Passes calls through to the real generator and counts them (calls and inputs); <see cref="BeforeCall"/> runs
/// before each call, e.g. to cancel a run after a number of batches.
/// </summary>
internal sealed class CountingEmbeddingGenerator<TInput>(IEmbeddingGenerator<TInput, Embedding<float>> inner)
    : DelegatingEmbeddingGenerator<TInput, Embedding<float>>(inner)
{
    private int _calls;
    private int _inputs;

    public int Calls => Volatile.Read(ref _calls);

    public int Inputs => Volatile.Read(ref _inputs);

    public Action<int>? BeforeCall { get; set; }

    /// <summary>Every input passed on, in call order.</summary>
    public ConcurrentQueue<TInput> Seen { get; } = new();

    public override Task<GeneratedEmbeddings<Embedding<float>>> GenerateAsync(IEnumerable<TInput> values,
        EmbeddingGenerationOptions? options = null, CancellationToken cancellationToken = default)
    {
        var list = values.ToList();
        var call = Interlocked.Increment(ref _calls);
        Interlocked.Add(ref _inputs, list.Count);
        foreach (var value in list)
        {
            Seen.Enqueue(value);
        }
        BeforeCall?.Invoke(call);
        return base.GenerateAsync(list, options, cancellationToken);
    }
}
