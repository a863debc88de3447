using Mmrag.Storage.Embedded.Indexing;

namespace Mmrag.Storage.Embedded;

/// <content>The in-memory vector index, hosted by <see cref="VectorIndexHost"/>: its status, waiting for it, saving it, catching it up.</content>
public sealed partial class EmbeddedKnowledgeStore
{
    /// <summary>The in-memory index's state now.</summary>
    public EmbeddedIndexStatus IndexStatus => _index.Status;

    /// <summary>Waits until background index work (a graph build, a compaction, a save) has finished.</summary>
    public Task WaitForIndexAsync(CancellationToken cancellationToken = default)
    {
        ThrowIfDisposed();
        return _index.WaitForMaintenanceAsync(cancellationToken);
    }

    /// <summary>Writes <c>vectors.hnsw</c> now if the graph changed since it was last written (the store also does this on its own).</summary>
    /// <exception cref="KnowledgeStoreException">The file cannot be written.</exception>
    public async Task SaveIndexAsync(CancellationToken cancellationToken = default)
    {
        ThrowIfDisposed();
        await _writeLock.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            _index.SaveIfChangedLocked();
        }
        catch (Exception ex) when (IsBackendException(ex))
        {
            throw Wrap("saving the vector index", ex, cancellationToken);
        }
        finally
        {
            _writeLock.Release();
        }
    }

    /// <summary>Brings the in-memory index to the database's state (takes the write lock).</summary>
    private async Task SyncAsync(CancellationToken cancellationToken)
    {
        try
        {
            await _index.SyncAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (IsBackendException(ex))
        {
            throw Wrap("catching up with the database", ex, cancellationToken);
        }
    }
}
