using Mmrag.Storage;

namespace Mmrag.Retrieval.Adapters;

/// <summary>
/// The query adapter of one knowledge base as searches see it: read from the store's settings
/// (<see cref="QueryAdapterSettings"/>) on first use and again after <see cref="RecheckInterval"/>, so an adapter stored
/// or removed by another process (<c>mmrag tune</c>) takes effect without a restart.
/// </summary>
/// <remarks>Thread-safe; concurrent callers share one read. Does not own the store.</remarks>
public sealed class QueryAdapterCache
{
    private readonly IKnowledgeStore _store;
    private readonly TimeProvider _time;
    private readonly SemaphoreSlim _gate = new(1, 1);
    private volatile Loaded? _current;

    /// <summary>Creates the cache over <paramref name="store"/>.</summary>
    public QueryAdapterCache(IKnowledgeStore store, TimeSpan recheckInterval, TimeProvider? timeProvider = null)
    {
        ArgumentNullException.ThrowIfNull(store);
        _store = store;
        RecheckInterval = recheckInterval;
        _time = timeProvider ?? TimeProvider.System;
    }

    /// <summary>How long a read is trusted before the store is asked again.</summary>
    public TimeSpan RecheckInterval { get; }

    /// <summary>The current adapter (or none, and why a stored one is not used).</summary>
    public async Task<QueryAdapterState> GetAsync(CancellationToken cancellationToken = default)
    {
        if (_current is { } current && _time.GetElapsedTime(current.At) < RecheckInterval)
        {
            return current.State;
        }

        await _gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            current = _current;
            if (current is not null && _time.GetElapsedTime(current.At) < RecheckInterval)
            {
                return current.State;
            }

            // The stored adapter is megabytes of base64: poll its stamp, and read and parse it again only when another
            // process stored or removed one since (a knowledge base without a stamp is read as before).
            var stamp = await QueryAdapterSettings.ReadStampAsync(_store, cancellationToken).ConfigureAwait(false);
            if (current is not null && stamp is not null && string.Equals(current.Stamp, stamp, StringComparison.Ordinal))
            {
                _current = current with { At = _time.GetTimestamp() };
                return current.State;
            }

            // The adapter is read with its own stamp: one read after the stamp above could see a newer adapter than it.
            (var json, stamp) = await QueryAdapterSettings.ReadWithStampAsync(_store, cancellationToken).ConfigureAwait(false);
            var state = current is not null && string.Equals(current.Json, json, StringComparison.Ordinal) ? current.State
                : string.IsNullOrWhiteSpace(json) ? QueryAdapterState.None
                : QueryAdapterSettings.Parse(json, _store.Space);
            _current = new Loaded(state, json, stamp, _time.GetTimestamp());
            return state;
        }
        finally
        {
            _gate.Release();
        }
    }

    /// <summary>Forgets what was read, so the next search reads the store again (after storing or removing an adapter in this process).</summary>
    public void Invalidate() => _current = null;

    private sealed record Loaded(QueryAdapterState State, string? Json, string? Stamp, long At);
}
