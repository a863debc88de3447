using System.Text.Json;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Mmrag.Knowledge;
using Mmrag.Storage.Embedded.Indexing;
using Mmrag.Storage.Embedded.Sql;

namespace Mmrag.Storage.Embedded;

/// <summary>
/// The embedded knowledge store: one folder per knowledge base holding <c>knowledge.db</c> (SQLite in WAL mode:
/// documents, items with their vectors, an FTS5 keyword index, failures, settings; the unused <c>jobs</c> table of schema 1 stays) and
/// <c>vectors.hnsw</c> (the HNSW graph, persisted beside it). Vector search runs in process over an in-memory copy of
/// the vectors: exact (SIMD) for small collections and selective filters, HNSW otherwise.
/// </summary>
/// <remarks>
/// <para>Thread safety: every member may be called concurrently. Writes that change items are serialized by one
/// lock; reads never wait for them (WAL readers, immutable index snapshots) and see each document either before or
/// after a write, never half of it.</para>
/// <para>Ownership: the store owns its SQLite connection pool, its in-memory index and background index work;
/// <see cref="DisposeAsync"/> stops that work, saves the graph when it changed, and closes the database files. Call
/// it after the last operation has completed.</para>
/// <para>Other processes may open the same folder; changes they commit are picked up by the next vector search. Ingesters
/// in several processes split a folder between them through <see cref="IIngestionWorkClaims"/>.</para>
/// </remarks>
public sealed partial class EmbeddedKnowledgeStore : IKnowledgeStore, IIngestionWorkClaims, IRelevanceFeedbackStore, IBatchVectorSearch, IKeywordSearchByKind,
    IAtomicSettings
{
    /// <summary>The database file's name inside the knowledge base folder.</summary>
    public const string DatabaseFileName = "knowledge.db";

    /// <summary>The persisted HNSW graph's file name inside the knowledge base folder.</summary>
    public const string IndexFileName = IndexFile.FileName;

    private readonly string _connectionString;
    private readonly string _backend;
    private readonly EmbeddedStoreOptions _options;
    private readonly ILogger _logger;
    private readonly SemaphoreSlim _writeLock = new(1, 1);
    private readonly VectorIndexHost _index;
    private int _localWrites; // writes of this store running: a generation that moved without one was another process's
    private int _disposed;

    private EmbeddedKnowledgeStore(string folder, string connectionString, EmbeddingSpace space, Guid uid, EmbeddedStoreOptions options)
    {
        Folder = folder;
        _connectionString = connectionString;
        _backend = $"embedded store at {folder}";
        Space = space;
        _options = options;
        _logger = options.LoggerFactory?.CreateLogger<EmbeddedKnowledgeStore>() ?? (ILogger)NullLogger.Instance;
        _index = new VectorIndexHost(Path.Combine(folder, IndexFileName), uid, space.Dimension, options, _writeLock, OpenConnectionAsync, _logger);
    }

    /// <inheritdoc />
    public EmbeddingSpace Space { get; }

    /// <summary>The knowledge base folder (absolute).</summary>
    public string Folder { get; }

    /// <summary>
    /// Opens the knowledge base in <paramref name="folder"/>, creating the folder and an empty knowledge base for
    /// <paramref name="space"/> when there is none.
    /// </summary>
    /// <exception cref="EmbeddingSpaceMismatchException">The knowledge base was built with another model or dimension.</exception>
    /// <exception cref="KnowledgeStoreException">The folder or database cannot be created, opened or read.</exception>
    public static Task<EmbeddedKnowledgeStore> OpenAsync(string folder, EmbeddingSpace space, EmbeddedStoreOptions? options = null,
        CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(folder);
        ArgumentNullException.ThrowIfNull(space);
        ArgumentException.ThrowIfNullOrWhiteSpace(space.ModelId, nameof(space));
        ArgumentOutOfRangeException.ThrowIfLessThan(space.Dimension, 1, nameof(space));
        options ??= new EmbeddedStoreOptions();
        options.Validate();
        // Opening reads SQLite synchronously (as Microsoft.Data.Sqlite always does) and may load many vectors: off the caller's thread.
        return Task.Run(() => Open(folder, space, options, cancellationToken), cancellationToken);
    }

    /// <summary>Opens an existing knowledge base with the embedding space stored in it (for commands that do not know the model).</summary>
    /// <exception cref="KnowledgeStoreException">There is no knowledge base in the folder, or it cannot be opened or read.</exception>
    public static Task<EmbeddedKnowledgeStore> OpenExistingAsync(string folder, EmbeddedStoreOptions? options = null,
        CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(folder);
        options ??= new EmbeddedStoreOptions();
        options.Validate();
        return Task.Run(() => Open(folder, null, options, cancellationToken), cancellationToken);
    }

    /// <summary>The synchronous open behind <see cref="OpenAsync"/> (also used by dependency injection, whose factories are synchronous).</summary>
    internal static EmbeddedKnowledgeStore Open(string folder, EmbeddingSpace? space, EmbeddedStoreOptions options, CancellationToken cancellationToken)
    {
        folder = Path.GetFullPath(folder);
        string backend = $"embedded store at {folder}";
        string databasePath = Path.Combine(folder, DatabaseFileName);
        bool create = space is not null;
        var builder = new SqliteConnectionStringBuilder
        {
            DataSource = databasePath,
            Mode = create ? SqliteOpenMode.ReadWriteCreate : SqliteOpenMode.ReadWrite,
            Cache = SqliteCacheMode.Private,
            Pooling = true,
            ForeignKeys = true,
            DefaultTimeout = Math.Max(1, (int)Math.Ceiling(options.BusyTimeout.TotalSeconds)),
        };
        string connectionString = builder.ToString();
        try
        {
            if (create)
            {
                Directory.CreateDirectory(folder);
            }
            else if (!File.Exists(databasePath))
            {
                throw new KnowledgeStoreException($"{backend}: there is no knowledge base here ({DatabaseFileName} not found).");
            }

            foreach (string leftover in Directory.EnumerateFiles(folder, IndexFile.FileName + ".*.tmp"))
            {
                IndexFile.TryDelete(leftover); // a save that a crash interrupted
            }

            using var connection = new SqliteConnection(connectionString);
            connection.Open();
            Configure(connection, options);
            using (SqliteCommand wal = connection.CreateCommand())
            {
                wal.CommandText = "PRAGMA journal_mode = WAL";
                if (wal.ExecuteScalar() is not string mode || !mode.Equals("wal", StringComparison.OrdinalIgnoreCase))
                {
                    throw new KnowledgeStoreException($"{backend}: the database cannot use write-ahead logging (journal mode stays '{wal.ExecuteScalar()}').");
                }
            }

            StoreSchema.Migrate(connection, backend);
            (EmbeddingSpace stored, Guid uid) = ReadOrCreateInfo(connection, space, backend, folder);
            var store = new EmbeddedKnowledgeStore(folder, connectionString, stored, uid, options);
            try
            {
                store._index.Load(connection, cancellationToken);
            }
            catch
            {
                store._index.Abandon();
                SqliteConnection.ClearPool(connection);
                throw;
            }

            Log.StoreFolder(store._logger, folder);
            Log.Opened(store._logger, store._index.Current.LiveCount, stored.ModelId, stored.Dimension);
            return store;
        }
        catch (Exception ex) when (IsBackendException(ex))
        {
            ClearPool(connectionString);
            if (cancellationToken.IsCancellationRequested)
            {
                throw new OperationCanceledException("Opening the knowledge base was cancelled.", ex, cancellationToken);
            }

            // SQLITE_PERM, SQLITE_READONLY, SQLITE_CANTOPEN, or the file system refusing: say what to check.
            string hint = ex is IOException or UnauthorizedAccessException || ex is SqliteException { SqliteErrorCode: 3 or 8 or 14 }
                ? " Check that the folder exists or can be created, and that it and its files are writable by this user."
                : string.Empty;
            throw new KnowledgeStoreException($"{backend}: opening the knowledge base failed: {ex.Message}.{hint}", ex);
        }
        catch
        {
            ClearPool(connectionString);
            throw;
        }
    }

    /// <summary>Stops background index work, saves the graph if it changed, checkpoints the log and closes the database files.</summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        await _index.DisposeAsync().ConfigureAwait(false);
        await _writeLock.WaitAsync().ConfigureAwait(false);
        try
        {
            using var connection = new SqliteConnection(_connectionString);
            connection.Open();
            using SqliteCommand checkpoint = connection.CreateCommand();
            checkpoint.CommandText = "PRAGMA wal_checkpoint(TRUNCATE)";
            checkpoint.ExecuteNonQuery();
        }
        catch (Exception ex) when (IsBackendException(ex))
        {
            // Nothing is lost: the database is consistent, and the log is checkpointed by a later open. (Logged under
            // the same event as before the index moved to VectorIndexHost, which logs its own failed save.)
            Log.IndexSaveFailed(_logger, ex);
        }
        finally
        {
            _writeLock.Release();
            ClearPool(_connectionString);
        }
    }

    private static (EmbeddingSpace Space, Guid Uid) ReadOrCreateInfo(SqliteConnection connection, EmbeddingSpace? space, string backend, string folder)
    {
        using SqliteTransaction tx = connection.BeginTransaction(deferred: false);
        using SqliteCommand read = connection.CreateCommand();
        read.Transaction = tx;
        read.CommandText = "SELECT model_id, dimension, uid FROM kb_info WHERE id = 1";
        using (SqliteDataReader reader = read.ExecuteReader())
        {
            if (reader.Read())
            {
                var stored = new EmbeddingSpace(reader.GetString(0), reader.GetInt32(1));
                var uid = Guid.Parse(reader.GetString(2));
                if (space is not null && (space.ModelId != stored.ModelId || space.Dimension != stored.Dimension))
                {
                    throw new EmbeddingSpaceMismatchException(
                        $"The knowledge base at {folder} holds vectors of model '{stored.ModelId}' " +
                        $"(dimension {stored.Dimension}); it cannot be used with model '{space.ModelId}' (dimension {space.Dimension}). " +
                        $"Use model '{stored.ModelId}', or re-embed the knowledge base with the new model.");
                }

                return (stored, uid);
            }
        }

        if (space is null)
        {
            throw new KnowledgeStoreException($"{backend}: the database has no knowledge base information (it was never initialized).");
        }

        var newUid = Guid.NewGuid();
        using SqliteCommand insert = connection.CreateCommand();
        insert.Transaction = tx;
        insert.CommandText = "INSERT INTO kb_info(id, uid, model_id, dimension, created_at, generation) VALUES (1, $uid, $model, $dimension, $now, 0)";
        insert.Parameters.AddWithValue("$uid", newUid.ToString("D"));
        insert.Parameters.AddWithValue("$model", space.ModelId);
        insert.Parameters.AddWithValue("$dimension", space.Dimension);
        insert.Parameters.AddWithValue("$now", StoreText.Time(DateTimeOffset.UtcNow));
        insert.ExecuteNonQuery();
        tx.Commit();
        return (space, newUid);
    }

    private static void Configure(SqliteConnection connection, EmbeddedStoreOptions options)
    {
        using SqliteCommand pragma = connection.CreateCommand();
        // NORMAL is crash-safe in WAL mode: a killed process never corrupts the database or loses a committed write.
        pragma.CommandText = $"PRAGMA busy_timeout = {(int)options.BusyTimeout.TotalMilliseconds}; PRAGMA synchronous = NORMAL; " +
            $"PRAGMA mmap_size = {options.MemoryMapSize}";
        pragma.ExecuteNonQuery();
    }

    private static void ClearPool(string connectionString)
    {
        using var connection = new SqliteConnection(connectionString);
        SqliteConnection.ClearPool(connection);
    }

    /// <summary>Failures of the backend (database, files, stored data) as opposed to programming errors.</summary>
    internal static bool IsBackendException(Exception ex) =>
        ex is SqliteException or IOException or UnauthorizedAccessException or InvalidDataException or JsonException or FormatException;

    private async Task<SqliteConnection> OpenConnectionAsync(CancellationToken cancellationToken)
    {
        var connection = new SqliteConnection(_connectionString);
        try
        {
            await connection.OpenAsync(cancellationToken).ConfigureAwait(false);
            Configure(connection, _options);
            return connection;
        }
        catch
        {
            await connection.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    private void ThrowIfDisposed() => ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);

    /// <summary>Runs a database operation, turning backend failures into <see cref="KnowledgeStoreException"/> naming the store and operation.</summary>
    private async Task<T> RunAsync<T>(string operation, Func<SqliteConnection, CancellationToken, Task<T>> body, CancellationToken cancellationToken)
    {
        ThrowIfDisposed();
        cancellationToken.ThrowIfCancellationRequested();
        try
        {
            SqliteConnection connection = await OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
            await using (connection.ConfigureAwait(false))
            {
                return await body(connection, cancellationToken).ConfigureAwait(false);
            }
        }
        catch (Exception ex) when (IsBackendException(ex))
        {
            throw Wrap(operation, ex, cancellationToken);
        }
    }

    private Exception Wrap(string operation, Exception ex, CancellationToken cancellationToken) =>
        cancellationToken.IsCancellationRequested
            ? new OperationCanceledException($"{operation} was cancelled.", ex, cancellationToken)
            : new KnowledgeStoreException($"{_backend}: {operation} failed: {ex.Message}", ex);

    internal static SqliteCommand Command(SqliteConnection connection, string sql, SqliteTransaction? transaction = null)
    {
        SqliteCommand command = connection.CreateCommand();
        command.CommandText = sql;
        command.Transaction = transaction;
        return command;
    }
}
