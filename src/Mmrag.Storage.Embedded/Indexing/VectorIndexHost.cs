using System.Diagnostics;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Logging;
using Mmrag.Knowledge;
using Mmrag.Storage.Embedded.Sql;
using Mmrag.Threading;

namespace Mmrag.Storage.Embedded.Indexing;

/// <summary>
/// Hosts an embedded knowledge base's in-memory vector index: loads it when the store opens (from <c>vectors.hnsw</c>
/// when the file matches the database, else from the database), applies the store's committed writes, catches up with
/// writes other processes committed (by the database generation), builds, compacts and saves the graph in the
/// background, and chooses exact or HNSW search per query.
/// </summary>
/// <remarks>
/// <para>Thread safety: <see cref="Current"/>, <see cref="Search"/>, <see cref="Status"/> and <see cref="NeedsSync"/>
/// may be called from any thread at any time (snapshots are immutable). Members whose names end in <c>Locked</c> must be
/// called with the write lock held: the lock given to the constructor, shared with the store, which serializes every
/// change to the database's items and to this index. The other members take that lock themselves when they need it.</para>
/// <para>Ownership: the host owns its background work and <c>vectors.hnsw</c>; not the database, its connections or the
/// write lock. <see cref="DisposeAsync"/> stops the background work and saves the graph when it changed.</para>
/// </remarks>
internal sealed class VectorIndexHost : IAsyncDisposable
{
    /// <summary>Compaction waits for at least this many dead slots, whatever the fraction.</summary>
    internal const int CompactionMinimumDead = 1024;

    /// <summary>Saves wait for at least one change per this many slots (a tenth of the index), whatever the count setting.</summary>
    internal const int SaveFractionDivisor = 10;

    private readonly string _indexPath;
    private readonly Guid _uid;
    private readonly int _dimension;
    private readonly EmbeddedStoreOptions _options;
    private readonly SemaphoreSlim _writeLock;
    private readonly Func<CancellationToken, Task<SqliteConnection>> _openConnection;
    private readonly ILogger _logger;
    private readonly CancellationTokenSource _shutdown = new();
    private StoreIndex _index = null!;
    private Task _maintenance = Task.CompletedTask;
    private long _indexVersion;
    private long _savedIndexVersion = -1;
    private int _changesSinceSave;
    private int _graphBuilds;
    private int _indexSaves;
    private bool _graphLoadedFromFile;
    private string? _indexFileProblem;
    private long _exactSearches;
    private long _graphSearches;
    private volatile bool _needsSync;
    private int _disposed;

    /// <param name="indexPath">Where the graph is persisted (<c>vectors.hnsw</c> in the knowledge base folder).</param>
    /// <param name="uid">The knowledge base's identity, written into the file so that a file from another knowledge base is refused.</param>
    /// <param name="dimension">The embedding space's dimension.</param>
    /// <param name="options">The store's options (thresholds, background work, HNSW parameters).</param>
    /// <param name="writeLock">The lock that serializes writes to the database's items and to this index (shared with the store).</param>
    /// <param name="openConnection">Opens a configured connection to the knowledge base's database (for catching up).</param>
    /// <param name="logger">Where index events are logged.</param>
    public VectorIndexHost(string indexPath, Guid uid, int dimension, EmbeddedStoreOptions options, SemaphoreSlim writeLock,
        Func<CancellationToken, Task<SqliteConnection>> openConnection, ILogger logger)
    {
        _indexPath = indexPath;
        _uid = uid;
        _dimension = dimension;
        _options = options;
        _writeLock = writeLock;
        _openConnection = openConnection;
        _logger = logger;
    }

    /// <summary>The index's current snapshot.</summary>
    public IndexSnapshot Current => _index.Current;

    /// <summary>Whether the index may lag the database (a committed write could not be applied): the next search catches up first.</summary>
    public bool NeedsSync => _needsSync;

    /// <summary>The index's state now.</summary>
    public EmbeddedIndexStatus Status
    {
        get
        {
            IndexSnapshot s = _index.Current;
            return new EmbeddedIndexStatus
            {
                LiveVectors = s.LiveCount,
                Slots = s.Vectors.Count,
                Generation = s.Generation,
                GraphReady = s.Hnsw is not null,
                GraphLoadedFromFile = _graphLoadedFromFile,
                IndexFileMapped = s.Vectors.IsMapped,
                IndexFileProblem = _indexFileProblem,
                GraphBuilds = Volatile.Read(ref _graphBuilds),
                IndexSaves = Volatile.Read(ref _indexSaves),
                ExactSearches = Interlocked.Read(ref _exactSearches),
                GraphSearches = Interlocked.Read(ref _graphSearches),
                MaintenanceRunning = !Volatile.Read(ref _maintenance).IsCompleted,
            };
        }
    }

    /// <summary>
    /// Loads the index (once, while the store opens): from <c>vectors.hnsw</c> when it matches the database, else from
    /// the database, after which a graph is built (inline or in the background) when the collection is large enough.
    /// </summary>
    public void Load(SqliteConnection connection, CancellationToken cancellationToken)
    {
        // One read snapshot for every read of the load: another process may write meanwhile, and rows read after the
        // generation was would be applied again by the next catch-up from that generation.
        using (SqliteTransaction snapshot = connection.BeginTransaction(deferred: true))
        {
            LoadSnapshot(connection, snapshot, cancellationToken);
        }

        if (_graphLoadedFromFile || _options.BuildIndexInBackground)
        {
            ScheduleMaintenance(); // a graph to build, or a compaction or save the catch-up made due
        }
        else if (_index.Current.LiveCount > _options.ExactSearchThreshold)
        {
            RebuildLocked(compact: false, graph: true, cancellationToken);
        }
    }

    private void LoadSnapshot(SqliteConnection connection, SqliteTransaction snapshot, CancellationToken cancellationToken)
    {
        long generation = ReadGeneration(connection, snapshot);
        if (File.Exists(_indexPath))
        {
            try
            {
                LoadFromFile(connection, snapshot, generation, cancellationToken);
                _graphLoadedFromFile = true;
                Log.IndexLoaded(_logger, _index.Current.Vectors.Count);
                return;
            }
            catch (Exception ex) when (ex is not OperationCanceledException and not OutOfMemoryException)
            {
                // Whatever is wrong with the file (newer than the database, truncated, corrupt, foreign), the database is the truth.
                _savedIndexVersion = -1;
                _indexFileProblem = ex.Message;
                Log.IndexFileRejected(_logger, ex.Message);
                if (ex is VectorIndexFormatException)
                {
                    // Gone for good: a file rejected as newer than a restored database would otherwise look current again
                    // once the database's generation passes it, with rowids the restored history gives to other items.
                    IndexFile.TryDelete(_indexPath);
                }
            }
        }
        else
        {
            _indexFileProblem = "no index file";
        }

        LoadFromDatabase(connection, snapshot, generation, cancellationToken);
    }

    /// <summary>Stops background work without saving (the store failed to open).</summary>
    public void Abandon() => _shutdown.Cancel();

    /// <summary>Top k of one snapshot: exact or HNSW, per the options and how many candidates the filter leaves.</summary>
    public VectorHit[] Search(IndexSnapshot snapshot, float[] query, int k, SearchFilter? filter, double? recall)
    {
        (ulong[] bits, int allowed) = EmbeddedFilterTranslator.ToSlotBits(filter, snapshot);
        if (allowed == 0)
        {
            return [];
        }

        k = Math.Min(k, allowed);
        SlotFilter slots = SlotFilter.Wrap(bits, allowed);
        // A graph walk with ef = 2k visits several times k nodes at random: past a quarter of the candidates a scan is cheaper.
        if (snapshot.Hnsw is { } hnsw && allowed > _options.ExactSearchThreshold && allowed >= _options.FilteredExactFraction * snapshot.LiveCount
            && k <= allowed / 4 && !(recall is { } wanted && SearchRecall.NeedsExactSearch(wanted)))
        {
            Interlocked.Increment(ref _graphSearches);
            int ef = recall is { } r ? Math.Max(k, SearchRecall.EfSearchFor(r, k, snapshot.LiveCount)) : Math.Max(_options.Hnsw.EfSearch, 2 * k);
            VectorHit[] approximate = hnsw.Search(query, k, ef, slots);
            // The walk read through raw pointers: the snapshot holds the chunks (and a mapped file) they point into.
            GC.KeepAlive(snapshot);
            if (approximate.Length == k)
            {
                return approximate;
            }

            // The walk ran out of allowed nodes before finding k (a filter splitting the graph): exact is always complete.
        }

        Interlocked.Increment(ref _exactSearches);
        VectorHit[] exact = snapshot.Exact.Search(query, k, slots);
        GC.KeepAlive(snapshot);
        return exact;
    }

    /// <summary>
    /// The exact top k of each of the queries (stored one after another) over <paramref name="snapshot"/>, as one blocked
    /// batch: the same hits a recall-1 <see cref="Search"/> returns for each.
    /// </summary>
    public VectorHit[][] SearchExactBatch(IndexSnapshot snapshot, float[] queries, int k, SearchFilter? filter, CancellationToken cancellationToken)
    {
        (ulong[] bits, int allowed) = EmbeddedFilterTranslator.ToSlotBits(filter, snapshot);
        int count = queries.Length / snapshot.Vectors.Dimension;
        if (allowed == 0)
        {
            return [.. Enumerable.Repeat(Array.Empty<VectorHit>(), count)];
        }

        Interlocked.Add(ref _exactSearches, count);
        VectorHit[][] hits = snapshot.Exact.SearchBatch(queries, Math.Min(k, allowed), SlotFilter.Wrap(bits, allowed), cancellationToken);
        GC.KeepAlive(snapshot);
        return hits;
    }

    /// <summary>Waits until background index work (a graph build, a compaction, a save) has finished.</summary>
    public async Task WaitForMaintenanceAsync(CancellationToken cancellationToken)
    {
        while (true)
        {
            Task running = Volatile.Read(ref _maintenance);
            await running.WaitAsync(cancellationToken).ConfigureAwait(false);
            if (ReferenceEquals(running, Volatile.Read(ref _maintenance)))
            {
                return;
            }
        }
    }

    /// <summary>Writes <c>vectors.hnsw</c> if the graph changed since it was last written (write lock held).</summary>
    public void SaveIfChangedLocked()
    {
        if (_indexVersion != _savedIndexVersion && _index.Current.Hnsw is not null)
        {
            SaveLocked();
        }
    }

    /// <summary>
    /// After a committed local write (write lock held): applies its delta, or catches up fully when another process wrote
    /// too (<paramref name="generationBefore"/> is not the index's generation). Never throws: the write is committed, so
    /// a failure only marks the index for catching up on the next search.
    /// </summary>
    public async Task ApplyCommittedLockedAsync(long generationBefore, long generationAfter, IReadOnlyCollection<long> removed,
        IReadOnlyList<PendingSlot> added)
    {
        try
        {
            if (generationBefore == _index.Current.Generation && !_needsSync)
            {
                _index.Apply(generationAfter, removed, added);
                _indexVersion++;
                _changesSinceSave += removed.Count + added.Count;
            }
            else
            {
                await SyncLockedAsync(CancellationToken.None).ConfigureAwait(false);
            }

            ScheduleMaintenance();
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            // The write is committed; the index catches up from the database on the next search.
            _needsSync = true;
            Log.ApplyFailed(_logger, ex);
        }
    }

    /// <summary>Takes the write lock and brings the index to the database's state.</summary>
    public async Task SyncAsync(CancellationToken cancellationToken)
    {
        await _writeLock.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            await SyncLockedAsync(cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            _writeLock.Release();
        }
    }

    /// <summary>Brings the in-memory index to the database's state (write lock held): items added or removed by anyone.</summary>
    public async Task SyncLockedAsync(CancellationToken cancellationToken)
    {
        SqliteConnection connection = await _openConnection(cancellationToken).ConfigureAwait(false);
        await using (connection.ConfigureAwait(false))
        {
            using SqliteTransaction tx = connection.BeginTransaction(deferred: true);
            long generation = ReadGeneration(connection, tx);
            IndexSnapshot before = _index.Current;
            if (generation == before.Generation && !_needsSync)
            {
                return;
            }

            var inDatabase = new HashSet<long>();
            var addedRowIds = new List<long>();
            using (SqliteCommand ids = EmbeddedKnowledgeStore.Command(connection, "SELECT rowid FROM items", tx))
            using (SqliteDataReader reader = await ids.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false))
            {
                while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
                {
                    long rowId = reader.GetInt64(0);
                    inDatabase.Add(rowId);
                    if (!_index.IsLiveRow(rowId))
                    {
                        addedRowIds.Add(rowId);
                    }
                }
            }

            List<long> removed = [.. _index.LiveRowIds.Where(r => !inDatabase.Contains(r))];
            // Microsoft.Data.Sqlite's async reads complete synchronously anyway; one reader serves this and the open.
            List<PendingSlot> added = ReadPendingSlots(connection, tx, addedRowIds);
            tx.Commit();
            _index.Apply(generation, removed, added);
            _indexVersion++;
            _changesSinceSave += removed.Count + added.Count;
            _needsSync = false;
            Log.Synced(_logger, before.Generation, generation, added.Count, removed.Count);
        }
    }

    /// <summary>Stops background work and saves the graph when it changed; a failed save is logged (the next open rebuilds).</summary>
    /// <remarks>Call it after the last operation on the index has completed.</remarks>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        await _shutdown.CancelAsync().ConfigureAwait(false);
        try
        {
            await _maintenance.ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
        }

        await _writeLock.WaitAsync().ConfigureAwait(false);
        try
        {
            SaveIfChangedLocked();
        }
        catch (Exception ex) when (EmbeddedKnowledgeStore.IsBackendException(ex))
        {
            // Nothing is lost: the database is consistent, and a stale graph is rebuilt on the next open.
            Log.IndexSaveFailed(_logger, ex);
        }
        finally
        {
            _writeLock.Release();
            _shutdown.Dispose();
        }
    }

    /// <summary>The database generation (it grows with every write that changes items).</summary>
    internal static long ReadGeneration(SqliteConnection connection, SqliteTransaction? transaction)
    {
        using SqliteCommand command = EmbeddedKnowledgeStore.Command(connection, "SELECT generation FROM kb_info WHERE id = 1", transaction);
        return command.ExecuteScalar() is long generation ? generation : throw new InvalidDataException("kb_info has no row");
    }

    /// <summary>
    /// Loads the graph from <c>vectors.hnsw</c>. A file saved at an earlier generation (a crash or kill after the last
    /// periodic save) is caught up: the rows added since are inserted into the graph and the rows deleted since are
    /// marked dead, which costs only the changes, not a rebuild of everything.
    /// </summary>
    private void LoadFromFile(SqliteConnection connection, SqliteTransaction snapshot, long generation, CancellationToken cancellationToken)
    {
        LoadedIndexFile file = IndexFile.Load(_indexPath, _uid, generation, _dimension, _options.MapIndexFile);
        try
        {
            LoadFromFile(connection, snapshot, generation, file, cancellationToken);
        }
        catch
        {
            // The file is rejected anyway; a checksum failing later must not surface as an unobserved task exception.
            file.PayloadCheck.Abandon();
            throw;
        }
    }

    private void LoadFromFile(SqliteConnection connection, SqliteTransaction snapshot, long generation, LoadedIndexFile file, CancellationToken cancellationToken)
    {
        bool current = file.Generation == generation;
        int slots = file.SlotRowIds.Length;
        var slotOfRow = new Dictionary<long, int>((int)file.LiveCount);
        long maxFileRowId = -1;
        for (int s = 0; s < slots; s++)
        {
            long rowId = file.SlotRowIds[s];
            if (rowId >= 0 && !slotOfRow.TryAdd(rowId, s))
            {
                throw new VectorIndexFormatException($"rowid {rowId} appears twice in the slot map");
            }

            maxFileRowId = Math.Max(maxFileRowId, rowId);
        }

        if (slotOfRow.Count != file.LiveCount)
        {
            throw new VectorIndexFormatException($"the slot map holds {slotOfRow.Count} items, the header says {file.LiveCount}");
        }

        var table = new SlotTable(slots);
        var live = new ulong[(slots + 63) >> 6];
        int rows = 0;
        var addedRowIds = new List<long>();
        var interner = new MetadataInterner();
        // The covering index holds every column read here, a tenth of the table's bytes; the order of rows is irrelevant.
        using (var scan = new MetadataScan(connection, interner))
        {
            while (scan.Next())
            {
                long rowId = scan.RowId;
                if (!slotOfRow.TryGetValue(rowId, out int slot))
                {
                    // Rows added since the save have larger rowids than any the file knows (AUTOINCREMENT); a smaller
                    // one means the file was saved from another history of the database.
                    if (current || rowId <= maxFileRowId)
                    {
                        throw new VectorIndexFormatException($"item rowid {rowId} of the database is not in the file");
                    }

                    addedRowIds.Add(rowId);
                    continue;
                }

                table.Set(slot, scan.Metadata());
                live[slot >> 6] |= 1UL << (slot & 63);
                if ((++rows & 4095) == 0)
                {
                    cancellationToken.ThrowIfCancellationRequested();
                }
            }
        }

        if (current && rows != slotOfRow.Count)
        {
            throw new VectorIndexFormatException($"it holds {slotOfRow.Count} items, the database {rows}");
        }

        // Catching up inserts inline while the store opens; past what the save policy lets pile up, a rebuild in the
        // background (searches exact meanwhile) is the better trade.
        long behind = addedRowIds.Count + (slotOfRow.Count - rows);
        if (!current && behind > Math.Max(_options.SaveIndexAfterChanges, slots / SaveFractionDivisor))
        {
            throw new VectorIndexFormatException($"it was saved {behind} item changes ago, more than the store catches up on while opening");
        }

        // The checksums vouch for the file, the generation for its age; a few vectors compared with the database
        // guard against a file that is intact and current but was written from other data.
        List<long> kept = [.. slotOfRow.Keys.Where(r => IsSet(live, slotOfRow[r]))];
        if (kept.Count > 0)
        {
            using SqliteCommand vector = EmbeddedKnowledgeStore.Command(connection, "SELECT vector FROM items WHERE rowid = $rowid", snapshot);
            SqliteParameter p = vector.Parameters.Add("$rowid", SqliteType.Integer);
            var stored = new float[_dimension];
            for (int i = 0; i < Math.Min(8, kept.Count); i++)
            {
                long rowId = kept[(int)((long)i * kept.Count / Math.Min(8, kept.Count))];
                p.Value = rowId;
                if (vector.ExecuteScalar() is not byte[] blob || !VectorBlob.TryDecode(blob, stored)
                    || !stored.AsSpan().SequenceEqual(file.Hnsw.Vectors.GetVector(slotOfRow[rowId])))
                {
                    throw new VectorIndexFormatException($"the vector of item rowid {rowId} differs from the database's");
                }
            }
        }

        // A mapped file's vectors were not read while loading: their checksum has been computed beside the steps above.
        file.PayloadCheck.GetAwaiter().GetResult();
        file.Hnsw.MaxDegreeOfParallelism = _options.Hnsw.MaxDegreeOfParallelism;
        _index = new StoreIndex(file.Hnsw.Vectors, file.Hnsw, table, slots, live, file.Generation, _options.Hnsw);
        _savedIndexVersion = file.OlderFormat ? -1 : _indexVersion; // an older format is written anew at the next save
        if (file.Mapping is { } mapping)
        {
            CancellationToken shutdown = _shutdown.Token;
            _ = Task.Run(() => mapping.File.Prefault(mapping.Offset, mapping.Length, shutdown), CancellationToken.None);
        }

        if (!current)
        {
            // Rows deleted since the save (in the file's map, gone from the database; rowids are never reused) were
            // never flagged live above, so they are dead slots already; the rows added since go into the graph now.
            int removed = slotOfRow.Count - rows;
            List<PendingSlot> added = ReadPendingSlots(connection, snapshot, addedRowIds);
            _index.Apply(generation, [], added);
            _indexVersion++;
            _changesSinceSave += removed + added.Count;
            Log.Synced(_logger, file.Generation, generation, added.Count, removed);
        }

        static bool IsSet(ulong[] bits, int slot) => (bits[slot >> 6] & (1UL << (slot & 63))) != 0;
    }

    /// <summary>The rows <paramref name="rowIds"/> with their vectors, ready to be added to the index.</summary>
    private List<PendingSlot> ReadPendingSlots(SqliteConnection connection, SqliteTransaction? transaction, List<long> rowIds)
    {
        var added = new List<PendingSlot>(rowIds.Count);
        if (rowIds.Count == 0)
        {
            return added;
        }

        var interner = new MetadataInterner();
        using SqliteCommand rows = EmbeddedKnowledgeStore.Command(connection,
            "SELECT rowid, kind, document_id, source_path, content_hash, tags, vector, id FROM items WHERE rowid IN (SELECT value FROM json_each($ids)) ORDER BY rowid", transaction);
        rows.Parameters.AddWithValue("$ids", StoreText.JsonArray(rowIds));
        using SqliteDataReader reader = rows.ExecuteReader();
        while (reader.Read())
        {
            var vector = new float[_dimension];
            DecodeVector(reader, vector);
            added.Add(new PendingSlot(ReadMetadata(reader, interner), vector));
        }

        return added;
    }

    private void LoadFromDatabase(SqliteConnection connection, SqliteTransaction snapshot, long generation, CancellationToken cancellationToken)
    {
        var set = new VectorSet(_dimension);
        var table = new SlotTable(1024);
        var interner = new MetadataInterner();
        var vector = new float[_dimension];
        using (SqliteCommand read = EmbeddedKnowledgeStore.Command(connection, "SELECT rowid, kind, document_id, source_path, content_hash, tags, vector, id FROM items ORDER BY rowid", snapshot))
        using (SqliteDataReader reader = read.ExecuteReader())
        {
            while (reader.Read())
            {
                DecodeVector(reader, vector);
                int slot = set.Add(vector);
                table = table.EnsureCapacity(slot + 1, slot);
                table.Set(slot, ReadMetadata(reader, interner));
                if ((slot & 4095) == 0)
                {
                    cancellationToken.ThrowIfCancellationRequested();
                }
            }
        }

        int count = set.Count;
        var live = new ulong[(count + 63) >> 6];
        for (int s = 0; s < count; s++)
        {
            live[s >> 6] |= 1UL << (s & 63);
        }

        _index = new StoreIndex(set, null, table, count, live, generation, _options.Hnsw);
    }

    /// <summary>Decodes column 6 (the vector blob) of an item row whose column 7 is its id.</summary>
    private void DecodeVector(SqliteDataReader reader, float[] vector)
    {
        var blob = (byte[])reader.GetValue(6);
        if (!VectorBlob.TryDecode(blob, vector))
        {
            throw new InvalidDataException($"item '{reader.GetString(7)}' has a vector of {blob.Length} bytes; dimension {_dimension} needs {_dimension * sizeof(float)}");
        }
    }

    private static SlotMetadata ReadMetadata(SqliteDataReader reader, MetadataInterner interner) =>
        new(reader.GetInt64(0), ItemRows.ParseKind(reader.GetString(1)), interner.String(reader.GetString(2)),
            interner.String(reader.GetString(3)), interner.TagsFromJson(reader.GetString(5)), ContentHashKey.Of(reader.GetString(4)));

    /// <summary>
    /// Starts a graph build, compaction or save when one is due (write lock held, or during load): on a background
    /// thread, or inline when <see cref="EmbeddedStoreOptions.BuildIndexInBackground"/> is off.
    /// </summary>
    private void ScheduleMaintenance()
    {
        if (!_maintenance.IsCompleted || _shutdown.IsCancellationRequested)
        {
            return;
        }

        IndexSnapshot s = _index.Current;
        bool needGraph = s.Hnsw is null && s.LiveCount > _options.ExactSearchThreshold;
        bool compact = s.DeadCount >= Math.Max(CompactionMinimumDead, _options.CompactionDeadFraction * s.Vectors.Count);
        // Each save writes the whole graph: at a tenth of the index between saves, filling a knowledge base writes about
        // ten times its final file in all, where a fixed count would write the file once per that many items.
        bool save = s.Hnsw is not null && _options.SaveIndexAfterChanges > 0
            && _changesSinceSave >= Math.Max(_options.SaveIndexAfterChanges, s.Vectors.Count / SaveFractionDivisor);
        if (!needGraph && !compact && !save)
        {
            return;
        }

        bool graph = s.Hnsw is not null || needGraph;
        if (_options.BuildIndexInBackground)
        {
            Volatile.Write(ref _maintenance, needGraph || compact ? Task.Run(() => RebuildAsync(compact, graph)) : Task.Run(BackgroundSaveAsync));
            return;
        }

        try
        {
            if (needGraph || compact)
            {
                RebuildLocked(compact, graph, _shutdown.Token);
            }
            else
            {
                SaveLocked();
            }
        }
        catch (Exception ex) when (ex is not OperationCanceledException and not OutOfMemoryException)
        {
            Log.RebuildFailed(_logger, ex);
        }
    }

    /// <summary>Builds and publishes a new graph and/or compacted set inline (write lock held).</summary>
    private void RebuildLocked(bool compact, bool graph, CancellationToken cancellationToken)
    {
        var clock = Stopwatch.StartNew();
        IndexBuild build = _index.PrepareBuild(compact, graph);
        Log.RebuildStarted(_logger, build.Source.LiveCount, graph, compact);
        _index.RunBuild(build, cancellationToken);
        PublishBuildLocked(build, graph);
        Log.RebuildCompleted(_logger, clock.Elapsed);
    }

    private async Task RebuildAsync(bool compact, bool graph)
    {
        CancellationToken cancellationToken = _shutdown.Token;
        var clock = Stopwatch.StartNew();
        try
        {
            IndexBuild build = _index.PrepareBuild(compact, graph);
            Log.RebuildStarted(_logger, build.Source.LiveCount, graph, compact);
            _index.RunBuild(build, cancellationToken);
            await _writeLock.WaitAsync(cancellationToken).ConfigureAwait(false);
            try
            {
                PublishBuildLocked(build, graph);
            }
            finally
            {
                _writeLock.Release();
            }

            Log.RebuildCompleted(_logger, clock.Elapsed);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            Log.RebuildFailed(_logger, ex);
        }
    }

    /// <summary>Publishes a finished build (write lock held) and saves a new graph.</summary>
    private void PublishBuildLocked(IndexBuild build, bool graph)
    {
        _index.CompleteBuild(build);
        _indexVersion++;
        if (graph)
        {
            Interlocked.Increment(ref _graphBuilds);
            TrySaveLocked();
        }
    }

    private async Task BackgroundSaveAsync()
    {
        CancellationToken cancellationToken = _shutdown.Token;
        try
        {
            await _writeLock.WaitAsync(cancellationToken).ConfigureAwait(false);
            try
            {
                SaveLocked();
            }
            finally
            {
                _writeLock.Release();
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
        }
        catch (Exception ex) when (EmbeddedKnowledgeStore.IsBackendException(ex))
        {
            Log.IndexSaveFailed(_logger, ex);
        }
    }

    /// <summary>Saves after a build; a failure only costs a rebuild on the next open, so it is logged, not thrown.</summary>
    private void TrySaveLocked()
    {
        try
        {
            SaveLocked();
        }
        catch (Exception ex) when (EmbeddedKnowledgeStore.IsBackendException(ex))
        {
            Log.IndexSaveFailed(_logger, ex);
        }
    }

    /// <summary>Writes <c>vectors.hnsw</c> (write lock held, so the graph, slots and generation agree).</summary>
    private void SaveLocked()
    {
        IndexSnapshot s = _index.Current;
        if (s.Hnsw is null)
        {
            return;
        }

        IndexFile.Save(_indexPath, s, _uid);
        _savedIndexVersion = _indexVersion;
        _changesSinceSave = 0;
        Interlocked.Increment(ref _indexSaves);
        Log.IndexSaved(_logger, s.Vectors.Count, s.Generation);
    }
}
