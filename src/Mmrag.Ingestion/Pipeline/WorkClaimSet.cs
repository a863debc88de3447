using Mmrag.Storage;

namespace Mmrag.Ingestion.Pipeline;

/// <summary>
/// The claims one ingestion run holds on a shared knowledge base: taken before a file is loaded, renewed in the
/// background while the file waits and is embedded, and released when it is stored (completed) or given up. Renewal
/// and release are serialized, so a renewal never brings back a claim just released.
/// </summary>
internal sealed class WorkClaimSet : IAsyncDisposable
{
    private readonly IIngestionWorkClaims _claims;
    private readonly TimeSpan _lease;
    private readonly Dictionary<string, string> _held = new(StringComparer.Ordinal);
    private readonly SemaphoreSlim _gate = new(1, 1);
    private readonly CancellationTokenSource _stopRenewing = new();
    private readonly Task _renewing;

    public WorkClaimSet(IIngestionWorkClaims claims, TimeSpan lease, TimeProvider time)
    {
        _claims = claims;
        _lease = lease;
        // Unique per run, and readable in the claims table when an operator wonders who holds a file.
        Owner = $"{Environment.MachineName}/{Environment.ProcessId}/{Guid.NewGuid():N}";
        _renewing = RenewAsync(time, _stopRenewing.Token);
    }

    /// <summary>This run's name in the claims table.</summary>
    public string Owner { get; }

    /// <summary>Claims version <paramref name="version"/> of a document; false when another ingester has it or has stored it.</summary>
    public async Task<bool> TryClaimAsync(string documentId, string version, CancellationToken cancellationToken)
    {
        await _gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            if (!await _claims.TryClaimAsync(documentId, version, Owner, _lease, cancellationToken).ConfigureAwait(false))
            {
                return false;
            }

            _held[documentId] = version;
            return true;
        }
        finally
        {
            _gate.Release();
        }
    }

    /// <summary>Ends the claim on a document, if this run holds one: <paramref name="completed"/> when the version is stored.</summary>
    public async Task ReleaseAsync(string documentId, bool completed, CancellationToken cancellationToken)
    {
        await _gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            if (_held.Remove(documentId))
            {
                await _claims.ReleaseAsync(documentId, Owner, completed, cancellationToken).ConfigureAwait(false);
            }
        }
        finally
        {
            _gate.Release();
        }
    }

    /// <summary>Stops renewing and gives back every claim still held (files prefetched but not stored when the run stopped).</summary>
    public async ValueTask DisposeAsync()
    {
        await _stopRenewing.CancelAsync().ConfigureAwait(false);
        await _renewing.ConfigureAwait(false);
        foreach (var documentId in _held.Keys.ToList())
        {
            try
            {
                // The run may have been cancelled; giving the files back promptly still matters to the other ingesters.
                using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
                await ReleaseAsync(documentId, completed: false, timeout.Token).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is KnowledgeStoreException or OperationCanceledException)
            {
                // The lease runs out on its own; nothing is lost but time.
            }
        }

        _stopRenewing.Dispose();
        _gate.Dispose();
    }

    private async Task RenewAsync(TimeProvider time, CancellationToken stop)
    {
        using var timer = new PeriodicTimer(_lease / 3, time);
        try
        {
            while (await timer.WaitForNextTickAsync(stop).ConfigureAwait(false))
            {
                await _gate.WaitAsync(stop).ConfigureAwait(false);
                try
                {
                    foreach (var (documentId, version) in _held.ToList())
                    {
                        // False means the lease ran out and another ingester took the file: both store the same
                        // document (an atomic replace), so the only cost is the repeated work.
                        await _claims.TryClaimAsync(documentId, version, Owner, _lease, stop).ConfigureAwait(false);
                    }
                }
                catch (KnowledgeStoreException)
                {
                    // A failing store fails the run's own writes too; renewal tries again next tick.
                }
                finally
                {
                    _gate.Release();
                }
            }
        }
        catch (OperationCanceledException) when (stop.IsCancellationRequested)
        {
        }
    }
}
