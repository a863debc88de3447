using System.Globalization;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Mmrag.Knowledge;
using Mmrag.Storage.Postgres.Sql;
using Npgsql;

namespace Mmrag.Storage.Postgres;

/// <summary>
/// The knowledge store on PostgreSQL + pgvector: one schema per knowledge base holding documents, items (with a
/// <c>vector(D)</c> column under an HNSW index and a generated <c>tsvector</c> under a GIN index), failures,
/// settings and ingestion claims. Several processes on several machines may open the same knowledge base at once.
/// </summary>
/// <remarks>
/// <para>Thread safety: every member may be called concurrently. Each operation takes a pooled connection; a
/// document is replaced in one transaction, so readers (PostgreSQL MVCC) see the old version or the new one.</para>
/// <para>Ownership: the store owns its <see cref="NpgsqlDataSource"/> (the connection pool), built from the
/// connection string with pgvector's types; <see cref="DisposeAsync"/> closes it.</para>
/// <para>Requires pgvector 0.8 or later (iterative index scans keep filtered searches complete).</para>
/// </remarks>
public sealed partial class PostgresKnowledgeStore : IKnowledgeStore, IIngestionWorkClaims, IRelevanceFeedbackStore, IAtomicSettings
{
    private readonly NpgsqlDataSource _dataSource;
    private readonly PostgresStoreOptions _options;
    private readonly string _backend;
    private readonly string _s;
    private readonly string _textSearchConfiguration;
    private int _disposed;

    private PostgresKnowledgeStore(NpgsqlDataSource dataSource, string backend, EmbeddingSpace space, string textSearchConfiguration,
        PostgresStoreOptions options)
    {
        _dataSource = dataSource;
        _backend = backend;
        Space = space;
        _textSearchConfiguration = textSearchConfiguration;
        _options = options;
        _s = StoreSchema.Identifier(options.Schema);
    }

    /// <inheritdoc />
    public EmbeddingSpace Space { get; }

    /// <summary>The schema that holds this knowledge base.</summary>
    public string Schema => _options.Schema;

    /// <summary>
    /// Opens the knowledge base in <see cref="PostgresStoreOptions.Schema"/> of the database that
    /// <paramref name="connectionString"/> names, creating the <c>vector</c> extension, the schema and an empty
    /// knowledge base for <paramref name="space"/> when there is none, and applying pending migrations.
    /// </summary>
    /// <exception cref="EmbeddingSpaceMismatchException">The knowledge base was built with another model or dimension.</exception>
    /// <exception cref="KnowledgeStoreException">The database cannot be reached, or refused to create or read the knowledge base.</exception>
    public static Task<PostgresKnowledgeStore> OpenAsync(string connectionString, EmbeddingSpace space, PostgresStoreOptions? options = null,
        CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(connectionString);
        ArgumentNullException.ThrowIfNull(space);
        ArgumentException.ThrowIfNullOrWhiteSpace(space.ModelId, nameof(space));
        ArgumentOutOfRangeException.ThrowIfLessThan(space.Dimension, 1, nameof(space));
        ArgumentOutOfRangeException.ThrowIfGreaterThan(space.Dimension, 16_000, nameof(space)); // pgvector's vector limit
        options ??= new PostgresStoreOptions();
        options.Validate();
        return OpenCoreAsync(connectionString, space, options, cancellationToken);
    }

    /// <summary>Opens an existing knowledge base with the embedding space stored in it (for commands that do not know the model).</summary>
    /// <exception cref="KnowledgeStoreException">There is no knowledge base in the schema, or the database cannot be reached or read.</exception>
    public static Task<PostgresKnowledgeStore> OpenExistingAsync(string connectionString, PostgresStoreOptions? options = null,
        CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(connectionString);
        options ??= new PostgresStoreOptions();
        options.Validate();
        return OpenCoreAsync(connectionString, null, options, cancellationToken);
    }

    private static async Task<PostgresKnowledgeStore> OpenCoreAsync(string connectionString, EmbeddingSpace? space, PostgresStoreOptions options,
        CancellationToken cancellationToken)
    {
        NpgsqlConnectionStringBuilder parsed;
        try
        {
            parsed = new NpgsqlConnectionStringBuilder(connectionString);
        }
        catch (ArgumentException ex)
        {
            throw new ArgumentException($"The PostgreSQL connection string is invalid: {ex.Message}", nameof(connectionString), ex);
        }

        string backend = $"postgres store at {parsed.Host}:{parsed.Port}/{parsed.Database ?? parsed.Username} (schema {options.Schema})";
        ILogger logger = options.LoggerFactory?.CreateLogger<PostgresKnowledgeStore>() ?? (ILogger)NullLogger.Instance;
        try
        {
            // The extension (and so the vector type) must exist before a data source with pgvector's types loads
            // them, so the schema is prepared on a plain data source first.
            (EmbeddingSpace stored, string textSearchConfiguration) = await PrepareAsync(connectionString, space, options, backend, logger, cancellationToken)
                .ConfigureAwait(false);
            var builder = new NpgsqlDataSourceBuilder(connectionString);
            builder.UseVector();
            if (options.LoggerFactory is not null)
            {
                builder.UseLoggerFactory(options.LoggerFactory);
            }

            NpgsqlDataSource dataSource = builder.Build();
            Log.Opened(logger, options.Schema, stored.ModelId, stored.Dimension);
            return new PostgresKnowledgeStore(dataSource, backend, stored, textSearchConfiguration, options);
        }
        catch (Exception ex) when (IsBackendException(ex))
        {
            if (cancellationToken.IsCancellationRequested)
            {
                throw new OperationCanceledException("Opening the knowledge base was cancelled.", ex, cancellationToken);
            }

            throw new KnowledgeStoreException($"{backend}: opening the knowledge base failed: {ex.Message}", ex);
        }
    }

    /// <summary>What an open found in the database: the catalog's answers, and the knowledge base's info when it has one.</summary>
    private sealed record SchemaState(bool HasExtension, bool HasSchema, bool HasMigrationsTable, bool HasInfo, bool HasVectorIndex,
        int Version, EmbeddingSpace? Space, string? TextSearchConfiguration)
    {
        public bool IsCurrent => HasInfo && Version == StoreSchema.LatestVersion && HasVectorIndex;
    }

    /// <summary>
    /// Looks first, writes only when something is missing or out of date: a knowledge base that is there and current
    /// opens with catalog and table reads alone, so a read replica (read-only transactions) and a role with no more than
    /// USAGE and SELECT can open it. Otherwise the DDL runs in one transaction under an advisory lock per schema, after
    /// looking again (another opener may have done it meanwhile). <see cref="PostgresStoreOptions.ReadOnly"/> never writes.
    /// </summary>
    private static async Task<(EmbeddingSpace Space, string TextSearchConfiguration)> PrepareAsync(string connectionString, EmbeddingSpace? space,
        PostgresStoreOptions options, string backend, ILogger logger, CancellationToken cancellationToken)
    {
        NpgsqlDataSource plain = NpgsqlDataSource.Create(connectionString);
        await using (plain.ConfigureAwait(false))
        {
            NpgsqlConnection connection = await plain.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
            await using (connection.ConfigureAwait(false))
            {
                SchemaState state = await InspectAsync(connection, null, options.Schema, backend, cancellationToken).ConfigureAwait(false);
                CheckOpenable(state, space, options, backend);
                if (state.HasInfo && (state.IsCurrent || options.ReadOnly))
                {
                    // A read-only open of an older version reads it as it is (every version so far is readable as is);
                    // a missing vector index only makes searches exact.
                    return (state.Space!, state.TextSearchConfiguration!);
                }

                string needs = Needs(state, space);
                try
                {
                    return await MigrateAsync(connection, space, options, backend, logger, cancellationToken).ConfigureAwait(false);
                }
                catch (PostgresException ex) when (ex.SqlState is PostgresErrorCodes.InsufficientPrivilege or PostgresErrorCodes.ReadOnlySqlTransaction)
                {
                    if (state.HasInfo && state.Version == StoreSchema.LatestVersion)
                    {
                        // Only the vector index is missing (a bulk load on the primary dropped it): searches are exact
                        // without it, so a replica or a read-only role still opens.
                        Log.VectorIndexNotRestored(logger, options.Schema, ex.SqlState);
                        return (state.Space!, state.TextSearchConfiguration!);
                    }

                    throw new KnowledgeStoreException(
                        $"{backend}: opening the knowledge base needs {needs}, which the server refused ({ex.SqlState}: {ex.MessageText}). " +
                        "Open it once as a role that may (CREATE EXTENSION vector needs a superuser unless the extension exists), or with " +
                        "PostgresStoreOptions.ReadOnly on an existing knowledge base.", ex);
                }
            }
        }
    }

    private static async Task<(EmbeddingSpace Space, string TextSearchConfiguration)> MigrateAsync(NpgsqlConnection connection, EmbeddingSpace? space,
        PostgresStoreOptions options, string backend, ILogger logger, CancellationToken cancellationToken)
    {
        NpgsqlTransaction tx = await connection.BeginTransactionAsync(cancellationToken).ConfigureAwait(false);
        await using (tx.ConfigureAwait(false))
        {
            string s = StoreSchema.Identifier(options.Schema);
            // One opener at a time per schema: a second process waits here, then finds the work done.
            await ExecuteAsync(connection, tx, "SELECT pg_advisory_xact_lock(hashtext('mmrag:' || $1))", cancellationToken, options.Schema)
                .ConfigureAwait(false);
            SchemaState state = await InspectAsync(connection, tx, options.Schema, backend, cancellationToken).ConfigureAwait(false);
            CheckOpenable(state, space, options, backend);
            if (!state.HasExtension)
            {
                await ExecuteAsync(connection, tx, "CREATE EXTENSION IF NOT EXISTS vector", cancellationToken).ConfigureAwait(false);
            }

            if (!state.HasSchema)
            {
                await ExecuteAsync(connection, tx, StoreSchema.CreateSchema(options.Schema), cancellationToken).ConfigureAwait(false);
            }

            if (!state.HasMigrationsTable)
            {
                await ExecuteAsync(connection, tx, StoreSchema.CreateMigrationsTable(options.Schema), cancellationToken).ConfigureAwait(false);
            }

            var context = new StoreSchema.Context(options.Schema, state.Space ?? space!, state.TextSearchConfiguration ?? options.TextSearchConfiguration,
                options.TextSearchConfiguration, options.HnswM, options.HnswEfConstruction);
            foreach (StoreSchema.Migration migration in StoreSchema.Migrations.Where(m => m.Version > state.Version))
            {
                string sql = migration.Sql(context);
                if (sql.Length > 0)
                {
                    await ExecuteAsync(connection, tx, sql, cancellationToken).ConfigureAwait(false);
                }

                await ExecuteAsync(connection, tx, $"INSERT INTO {s}.schema_migrations (version, description) VALUES ($1, $2)", cancellationToken,
                    migration.Version, migration.Description).ConfigureAwait(false);
                Log.MigrationApplied(logger, options.Schema, migration.Version, migration.Description);
            }

            // A bulk load that died between dropping the vector index and building it again left none: build it now.
            // (A new knowledge base's first migration created it.)
            if (state.HasInfo && !state.HasVectorIndex)
            {
                await CreateVectorIndexAsync(connection, tx, options, cancellationToken).ConfigureAwait(false);
                Log.VectorIndexRestored(logger, options.Schema);
            }

            (EmbeddingSpace stored, string textSearchConfiguration) = await ReadInfoAsync(connection, tx, s, cancellationToken).ConfigureAwait(false);
            await tx.CommitAsync(cancellationToken).ConfigureAwait(false);
            return (stored, textSearchConfiguration);
        }
    }

    /// <summary>What the catalog says about the schema (one statement), then the knowledge base's version and info when it has them.</summary>
    private static async Task<SchemaState> InspectAsync(NpgsqlConnection connection, NpgsqlTransaction? tx, string schema, string backend,
        CancellationToken cancellationToken)
    {
        string s = StoreSchema.Identifier(schema);
        bool hasExtension, hasSchema, hasMigrations, hasInfo, hasIndex;
        using (NpgsqlCommand command = Command(connection, tx, """
            SELECT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'vector'),
                   EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1),
                   to_regclass($2) IS NOT NULL, to_regclass($3) IS NOT NULL, to_regclass($4) IS NOT NULL
            """, schema, $"{s}.schema_migrations", $"{s}.kb_info", $"{s}.{StoreSchema.VectorIndexName}"))
        {
            NpgsqlDataReader reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
            await using (reader.ConfigureAwait(false))
            {
                await reader.ReadAsync(cancellationToken).ConfigureAwait(false);
                (hasExtension, hasSchema, hasMigrations, hasInfo, hasIndex) =
                    (reader.GetBoolean(0), reader.GetBoolean(1), reader.GetBoolean(2), reader.GetBoolean(3), reader.GetBoolean(4));
            }
        }

        int version = hasMigrations
            ? await ScalarAsync<int>(connection, tx, $"SELECT coalesce(max(version), 0) FROM {s}.schema_migrations", cancellationToken).ConfigureAwait(false)
            : 0;
        if (hasInfo != version > 0)
        {
            throw new KnowledgeStoreException(
                $"{backend}: schema {schema} is not an mmrag knowledge base (it has {(hasInfo ? "a kb_info table but no migrations" : "migrations but no kb_info table")}).");
        }

        if (!hasInfo)
        {
            return new SchemaState(hasExtension, hasSchema, hasMigrations, false, hasIndex, 0, null, null);
        }

        (EmbeddingSpace stored, string textSearchConfiguration) = await ReadInfoAsync(connection, tx, s, cancellationToken).ConfigureAwait(false);
        return new SchemaState(hasExtension, hasSchema, HasMigrationsTable: true, HasInfo: true, hasIndex, version, stored, textSearchConfiguration);
    }

    private static async Task<(EmbeddingSpace, string)> ReadInfoAsync(NpgsqlConnection connection, NpgsqlTransaction? tx, string s, CancellationToken cancellationToken)
    {
        using var command = new NpgsqlCommand($"SELECT model_id, dimension, text_search_config FROM {s}.kb_info", connection, tx);
        NpgsqlDataReader reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        await using (reader.ConfigureAwait(false))
        {
            if (!await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
            {
                throw new KnowledgeStoreException($"the kb_info table of {s} is empty (the knowledge base was never initialized).");
            }

            return (new EmbeddingSpace(reader.GetString(0), reader.GetInt32(1)), reader.GetString(2));
        }
    }

    /// <summary>Throws when the knowledge base cannot be opened as asked, whatever DDL could do.</summary>
    private static void CheckOpenable(SchemaState state, EmbeddingSpace? space, PostgresStoreOptions options, string backend)
    {
        if (!state.HasInfo)
        {
            if (space is null || options.ReadOnly)
            {
                throw new KnowledgeStoreException($"{backend}: there is no knowledge base here (no kb_info table in schema {options.Schema}).");
            }

            return;
        }

        if (state.Version > StoreSchema.LatestVersion)
        {
            throw new KnowledgeStoreException(
                $"{backend}: the knowledge base is at schema version {state.Version}, newer than this mmrag knows ({StoreSchema.LatestVersion}); update mmrag.");
        }

        if (space is not null && state.Space != space)
        {
            throw new EmbeddingSpaceMismatchException(
                $"{backend}: the knowledge base holds vectors of {state.Space!.ModelId} ({state.Space.Dimension} dimensions), but it was opened for " +
                $"{space.ModelId} ({space.Dimension} dimensions). Open it with its own model, or re-embed it for the new one.");
        }
    }

    /// <summary>What an open must change, in words (for the error when the server refuses it).</summary>
    private static string Needs(SchemaState state, EmbeddingSpace? space) =>
        !state.HasInfo
            ? (state.HasExtension ? "" : "CREATE EXTENSION vector and ") + $"creating the knowledge base for {space!.ModelId}"
            : state.Version < StoreSchema.LatestVersion
                ? $"migrating it from schema version {state.Version} to {StoreSchema.LatestVersion}"
                : "building its missing vector index";

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        await _dataSource.DisposeAsync().ConfigureAwait(false);
    }

    internal static string KindName(ItemKind kind) => kind switch
    {
        ItemKind.TextChunk => "text",
        ItemKind.Image => "image",
        _ => throw new ArgumentOutOfRangeException(nameof(kind), kind, "Unknown item kind."),
    };

    internal static ItemKind ParseKind(string name) => name == "image" ? ItemKind.Image : ItemKind.TextChunk;

    private void ThrowIfDisposed() => ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);

    /// <summary>Refuses a write on a store opened with <see cref="PostgresStoreOptions.ReadOnly"/>.</summary>
    private void ThrowIfReadOnly(string operation)
    {
        ThrowIfDisposed();
        if (_options.ReadOnly)
        {
            throw new InvalidOperationException($"{_backend}: {operation} is a write, and the knowledge base was opened read-only.");
        }
    }

    /// <summary>
    /// Runs a database operation on a pooled connection, turning backend failures into <see cref="KnowledgeStoreException"/>
    /// naming the store and operation. Operations of one statement run alone (a statement sees one snapshot); those of
    /// several begin and commit their own transaction.
    /// </summary>
    private async Task<T> RunAsync<T>(string operation, Func<NpgsqlConnection, CancellationToken, Task<T>> body, CancellationToken cancellationToken)
    {
        ThrowIfDisposed();
        cancellationToken.ThrowIfCancellationRequested();
        try
        {
            NpgsqlConnection connection = await _dataSource.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
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

    /// <summary><see cref="RunAsync{T}"/> for a write: refused on a store opened read-only.</summary>
    private Task<T> RunWriteAsync<T>(string operation, Func<NpgsqlConnection, CancellationToken, Task<T>> body, CancellationToken cancellationToken)
    {
        ThrowIfReadOnly(operation);
        return RunAsync(operation, body, cancellationToken);
    }

    private Exception Wrap(string operation, Exception ex, CancellationToken cancellationToken) =>
        cancellationToken.IsCancellationRequested
            ? new OperationCanceledException($"{operation} was cancelled.", ex, cancellationToken)
            : new KnowledgeStoreException($"{_backend}: {operation} failed: {ex.Message}", ex);

    private static bool IsBackendException(Exception ex) => ex is NpgsqlException or TimeoutException or System.IO.IOException
        || (ex is InvalidOperationException && ex.Source?.StartsWith("Npgsql", StringComparison.Ordinal) == true);

    private static NpgsqlCommand Command(NpgsqlConnection connection, NpgsqlTransaction? tx, string sql, params object?[] parameters)
    {
        var command = new NpgsqlCommand(sql, connection, tx);
        foreach (object? value in parameters)
        {
            command.Parameters.Add(new NpgsqlParameter { Value = value ?? DBNull.Value });
        }

        return command;
    }

    private static async Task<int> ExecuteAsync(NpgsqlConnection connection, NpgsqlTransaction? tx, string sql, CancellationToken cancellationToken,
        params object?[] parameters)
    {
        using NpgsqlCommand command = Command(connection, tx, sql, parameters);
        return await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
    }

    private static async Task<T> ScalarAsync<T>(NpgsqlConnection connection, NpgsqlTransaction? tx, string sql, CancellationToken cancellationToken,
        params object?[] parameters)
    {
        using NpgsqlCommand command = Command(connection, tx, sql, parameters);
        object? value = await command.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false);
        return (T)Convert.ChangeType(value!, typeof(T), CultureInfo.InvariantCulture);
    }
}
