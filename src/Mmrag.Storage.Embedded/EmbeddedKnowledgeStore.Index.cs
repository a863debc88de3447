using System.Diagnostics;
using Microsoft.Data.Sqlite;
using Mmrag.Knowledge;
using Mmrag.Storage.Embedded.Indexing;
using Mmrag.Storage.Embedded.Sql;

namespace Mmrag.Storage.Embedded;

/// <summary>A moment's view of an <see cref="EmbeddedKnowledgeStore"/>'s in-memory vector index, for diagnostics and tests.</summary>
public sealed record EmbeddedIndexStatus
{
    /// <summary>Live (searchable) vectors.</summary>
    public required int LiveVectors { get; init; }

    /// <summary>Vectors held in memory, including those of replaced or deleted items not yet compacted away.</summary>
    public required int Slots { get; init; }

    /// <summary>The database generation the index reflects (it grows with every write that changes items).</summary>
    public required long Generation { get; init; }

    /// <summary>Whether an HNSW graph exists and large unfiltered searches use it.</summary>
    public required bool GraphReady { get; init; }

    /// <summary>Whether the graph was loaded from <c>vectors.hnsw</c> when the store opened (no rebuild).</summary>
    public required bool GraphLoadedFromFile { get; init; }

    /// <summary>Why <c>vectors.hnsw</c> was not used when the store opened (missing, stale, corrupt …), or null.</summary>
    public required string? IndexFileProblem { get; init; }

    /// <summary>Graphs this instance built (after open, on growth past the exact threshold, on compaction).</summary>
    public required int GraphBuilds { get; init; }

    /// <summary>Times this instance wrote <c>vectors.hnsw</c>.</summary>
    public required int IndexSaves { get; init; }

    /// <summary>Vector searches answered by exact search.</summary>
    public required long ExactSearches { get; init; }

    /// <summary>Vector searches answered by the HNSW graph.</summary>
    public required long GraphSearches { get; init; }

    /// <summary>Whether a background build, compaction or save is running.</summary>
    public required bool MaintenanceRunning { get; init; }
}

/// <content>The in-memory index: loading, background builds, persistence and catching up with other processes.</content>
public sealed partial class EmbeddedKnowledgeStore
{
    /// <summary>Compaction waits for at least this many dead slots, whatever the fraction.</summary>
    internal const int CompactionMinimumDead = 1024;

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
    private int _localWrites;
    private volatile bool _needsSync;

    /// <summary>The in-memory index's state now.</summary>
    public EmbeddedIndexStatus IndexStatus
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
                IndexFileProblem = _indexFileProblem,
                GraphBuilds = Volatile.Read(ref _graphBuilds),
                IndexSaves = Volatile.Read(ref _indexSaves),
                ExactSearches = Interlocked.Read(ref _exactSearches),
                GraphSearches = Interlocked.Read(ref _graphSearches),
                MaintenanceRunning = !Volatile.Read(ref _maintenance).IsCompleted,
            };
        }
    }

    /// <summary>Waits until background index work (a graph build, a compaction, a save) has finished.</summary>
    public async Task WaitForIndexAsync(CancellationToken cancellationToken = default)
    {
        ThrowIfDisposed();
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

    /// <summary>Writes <c>vectors.hnsw</c> now if the graph changed since it was last written (the store also does this on its own).</summary>
    /// <exception cref="KnowledgeStoreException">The file cannot be written.</exception>
    public async Task SaveIndexAsync(CancellationToken cancellationToken = default)
    {
        ThrowIfDisposed();
        await _writeLock.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            SaveIndexIfChanged();
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

    /// <summary>Loads the index at open: from <c>vectors.hnsw</c> when it matches the database, else from the database.</summary>
    private void LoadIndex(SqliteConnection connection, CancellationToken cancellationToken)
    {
        long generation = ReadGeneration(connection, null);
        if (File.Exists(IndexPath))
        {
            try
            {
                LoadFromFile(connection, generation, cancellationToken);
                _graphLoadedFromFile = true;
                _savedIndexVersion = _indexVersion;
                Log.IndexLoaded(_logger, _index.Current.Vectors.Count);
                return;
            }
            catch (Exception ex) when (ex is not OperationCanceledException and not OutOfMemoryException)
            {
                // Whatever is wrong with the file (stale, truncated, corrupt, foreign), the database is the truth.
                _indexFileProblem = ex.Message;
                Log.IndexFileRejected(_logger, ex.Message);
            }
        }
        else
        {
            _indexFileProblem = "no index file";
        }

        LoadFromDatabase(connection, generation, cancellationToken);
        if (_options.BuildIndexInBackground)
        {
            ScheduleMaintenance();
        }
        else if (_index.Current.LiveCount > _options.ExactSearchThreshold)
        {
            RebuildLocked(compact: false, graph: true, cancellationToken);
        }
    }

    private void LoadFromFile(SqliteConnection connection, long generation, CancellationToken cancellationToken)
    {
        LoadedIndexFile file = IndexFile.Load(IndexPath, _uid, generation, Space.Dimension);
        int slots = file.SlotRowIds.Length;
        var slotOfRow = new Dictionary<long, int>((int)file.LiveCount);
        for (int s = 0; s < slots; s++)
        {
            long rowId = file.SlotRowIds[s];
            if (rowId >= 0 && !slotOfRow.TryAdd(rowId, s))
            {
                throw new VectorIndexFormatException($"rowid {rowId} appears twice in the slot map");
            }
        }

        if (slotOfRow.Count != file.LiveCount)
        {
            throw new VectorIndexFormatException($"the slot map holds {slotOfRow.Count} items, the header says {file.LiveCount}");
        }

        var table = new SlotTable(slots);
        var live = new ulong[(slots + 63) >> 6];
        int rows = 0;
        var interner = new MetadataInterner();
        using (SqliteCommand read = Command(connection, "SELECT rowid, kind, document_id, source_path, content_hash, tags FROM items ORDER BY rowid"))
        using (SqliteDataReader reader = read.ExecuteReader())
        {
            while (reader.Read())
            {
                long rowId = reader.GetInt64(0);
                if (!slotOfRow.TryGetValue(rowId, out int slot))
                {
                    throw new VectorIndexFormatException($"item rowid {rowId} of the database is not in the file");
                }

                table.Set(slot, ReadMetadata(reader, interner));
                live[slot >> 6] |= 1UL << (slot & 63);
                if ((++rows & 4095) == 0)
                {
                    cancellationToken.ThrowIfCancellationRequested();
                }
            }
        }

        if (rows != slotOfRow.Count)
        {
            throw new VectorIndexFormatException($"it holds {slotOfRow.Count} items, the database {rows}");
        }

        // The checksums vouch for the file, the generation for its age; a few vectors compared with the database
        // guard against a file that is intact and current but was written from other data.
        if (rows > 0)
        {
            using SqliteCommand vector = Command(connection, "SELECT vector FROM items WHERE rowid = $rowid");
            SqliteParameter p = vector.Parameters.Add("$rowid", SqliteType.Integer);
            var stored = new float[Space.Dimension];
            long[] rowIds = [.. slotOfRow.Keys];
            for (int i = 0; i < Math.Min(8, rowIds.Length); i++)
            {
                long rowId = rowIds[(int)((long)i * rowIds.Length / Math.Min(8, rowIds.Length))];
                p.Value = rowId;
                if (vector.ExecuteScalar() is not byte[] blob || !VectorBlob.TryDecode(blob, stored)
                    || !stored.AsSpan().SequenceEqual(file.Hnsw.Vectors.GetVector(slotOfRow[rowId])))
                {
                    throw new VectorIndexFormatException($"the vector of item rowid {rowId} differs from the database's");
                }
            }
        }

        file.Hnsw.MaxDegreeOfParallelism = _options.Hnsw.MaxDegreeOfParallelism;
        _index = new StoreIndex(file.Hnsw.Vectors, file.Hnsw, table, slots, live, generation, _options.Hnsw);
    }

    private void LoadFromDatabase(SqliteConnection connection, long generation, CancellationToken cancellationToken)
    {
        var set = new VectorSet(Space.Dimension);
        var table = new SlotTable(1024);
        var interner = new MetadataInterner();
        var vector = new float[Space.Dimension];
        using (SqliteCommand read = Command(connection, "SELECT rowid, kind, document_id, source_path, content_hash, tags, vector, id FROM items ORDER BY rowid"))
        using (SqliteDataReader reader = read.ExecuteReader())
        {
            while (reader.Read())
            {
                var blob = (byte[])reader.GetValue(6);
                if (!VectorBlob.TryDecode(blob, vector))
                {
                    throw new InvalidDataException($"item '{reader.GetString(7)}' has a vector of {blob.Length} bytes; dimension {Space.Dimension} needs {Space.Dimension * sizeof(float)}");
                }

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

    private static SlotMetadata ReadMetadata(SqliteDataReader reader, MetadataInterner interner) =>
        new(reader.GetInt64(0), ItemRows.ParseKind(reader.GetString(1)), interner.String(reader.GetString(2)),
            interner.String(reader.GetString(3)), interner.TagsFromJson(reader.GetString(5)), reader.GetString(4));

    private static long ReadGeneration(SqliteConnection connection, SqliteTransaction? transaction)
    {
        using SqliteCommand command = Command(connection, "SELECT generation FROM kb_info WHERE id = 1", transaction);
        return command.ExecuteScalar() is long generation ? generation : throw new InvalidDataException("kb_info has no row");
    }

    /// <summary>After a committed local write (write lock held): the delta, or a full catch-up when another process wrote too.</summary>
    private async Task ApplyCommittedAsync(long generationBefore, long generationAfter, IReadOnlyCollection<long> removed,
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

    private async Task SyncAsync(CancellationToken cancellationToken)
    {
        await _writeLock.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            await SyncLockedAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (IsBackendException(ex))
        {
            throw Wrap("catching up with the database", ex, cancellationToken);
        }
        finally
        {
            _writeLock.Release();
        }
    }

    /// <summary>Brings the in-memory index to the database's state (write lock held): items added or removed by anyone.</summary>
    private async Task SyncLockedAsync(CancellationToken cancellationToken)
    {
        SqliteConnection connection = await OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
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
            using (SqliteCommand ids = Command(connection, "SELECT rowid FROM items", tx))
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
            var added = new List<PendingSlot>(addedRowIds.Count);
            if (addedRowIds.Count > 0)
            {
                var interner = new MetadataInterner();
                using SqliteCommand rows = Command(connection,
                    "SELECT rowid, kind, document_id, source_path, content_hash, tags, vector, id FROM items WHERE rowid IN (SELECT value FROM json_each($ids)) ORDER BY rowid", tx);
                rows.Parameters.AddWithValue("$ids", StoreText.JsonArray(addedRowIds));
                using SqliteDataReader reader = await rows.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
                while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
                {
                    var blob = (byte[])reader.GetValue(6);
                    var vector = new float[Space.Dimension];
                    if (!VectorBlob.TryDecode(blob, vector))
                    {
                        throw new InvalidDataException($"item '{reader.GetString(7)}' has a vector of {blob.Length} bytes; dimension {Space.Dimension} needs {Space.Dimension * sizeof(float)}");
                    }

                    added.Add(new PendingSlot(ReadMetadata(reader, interner), vector));
                }
            }

            tx.Commit();
            _index.Apply(generation, removed, added);
            _indexVersion++;
            _changesSinceSave += removed.Count + added.Count;
            _needsSync = false;
            Log.Synced(_logger, before.Generation, generation, added.Count, removed.Count);
        }
    }

    /// <summary>
    /// Starts a graph build, compaction or save when one is due (write lock held, or during open): on a background
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
        bool save = s.Hnsw is not null && _options.SaveIndexAfterChanges > 0 && _changesSinceSave >= _options.SaveIndexAfterChanges;
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
                SaveIndexLocked();
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
        _index.CompleteBuild(build);
        _indexVersion++;
        if (graph)
        {
            Interlocked.Increment(ref _graphBuilds);
            TrySaveIndexLocked();
        }

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
                _index.CompleteBuild(build);
                _indexVersion++;
                if (graph)
                {
                    Interlocked.Increment(ref _graphBuilds);
                    TrySaveIndexLocked();
                }
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

    private async Task BackgroundSaveAsync()
    {
        CancellationToken cancellationToken = _shutdown.Token;
        try
        {
            await _writeLock.WaitAsync(cancellationToken).ConfigureAwait(false);
            try
            {
                SaveIndexLocked();
            }
            finally
            {
                _writeLock.Release();
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
        }
        catch (Exception ex) when (IsBackendException(ex))
        {
            Log.IndexSaveFailed(_logger, ex);
        }
    }

    private void SaveIndexIfChanged()
    {
        if (_indexVersion != _savedIndexVersion && _index.Current.Hnsw is not null)
        {
            SaveIndexLocked();
        }
    }

    /// <summary>Saves after a build; a failure only costs a rebuild on the next open, so it is logged, not thrown.</summary>
    private void TrySaveIndexLocked()
    {
        try
        {
            SaveIndexLocked();
        }
        catch (Exception ex) when (IsBackendException(ex))
        {
            Log.IndexSaveFailed(_logger, ex);
        }
    }

    /// <summary>Writes <c>vectors.hnsw</c> (write lock held, so the graph, slots and generation agree).</summary>
    private void SaveIndexLocked()
    {
        IndexSnapshot s = _index.Current;
        if (s.Hnsw is null)
        {
            return;
        }

        IndexFile.Save(IndexPath, s, _uid);
        _savedIndexVersion = _indexVersion;
        _changesSinceSave = 0;
        Interlocked.Increment(ref _indexSaves);
        Log.IndexSaved(_logger, s.Vectors.Count, s.Generation);
    }

    /// <summary>Shares equal strings and tag arrays between slots, so filters can decide once per run of equal values.</summary>
    private sealed class MetadataInterner
    {
        private readonly Dictionary<string, string> _strings = new(StringComparer.Ordinal);
        private readonly Dictionary<string, string[]> _tags = new(StringComparer.Ordinal);

        public string String(string value)
        {
            if (_strings.TryGetValue(value, out string? shared))
            {
                return shared;
            }

            _strings[value] = value;
            return value;
        }

        public string[] TagsFromJson(string json)
        {
            if (json == "[]")
            {
                return [];
            }

            if (!_tags.TryGetValue(json, out string[]? tags))
            {
                tags = StoreText.ParseTags(json);
                _tags[json] = tags;
            }

            return tags;
        }

        public string[] Tags(IReadOnlyList<string> tags) => tags.Count == 0 ? [] : TagsFromJson(StoreText.Tags(tags));
    }
}
