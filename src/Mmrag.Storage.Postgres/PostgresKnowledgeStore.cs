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
public sealed partial class PostgresKnowledgeStore : IKnowledgeStore, IIngestionWorkClaims
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

    private static async Task<(EmbeddingSpace Space, string TextSearchConfiguration)> PrepareAsync(string connectionString, EmbeddingSpace? space,
        PostgresStoreOptions options, string backend, ILogger logger, CancellationToken cancellationToken)
    {
        NpgsqlDataSource plain = NpgsqlDataSource.Create(connectionString);
        await using (plain.ConfigureAwait(false))
        {
            NpgsqlConnection connection = await plain.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
            await using (connection.ConfigureAwait(false))
            {
                NpgsqlTransaction tx = await connection.BeginTransactionAsync(cancellationToken).ConfigureAwait(false);
                await using (tx.ConfigureAwait(false))
                {
                    string s = StoreSchema.Identifier(options.Schema);
                    // One opener at a time per schema: a second process waits here, then finds the work done.
                    await ExecuteAsync(connection, tx, "SELECT pg_advisory_xact_lock(hashtext('mmrag:' || $1))", cancellationToken, options.Schema)
                        .ConfigureAwait(false);
                    if (space is not null)
                    {
                        await ExecuteAsync(connection, tx, "CREATE EXTENSION IF NOT EXISTS vector", cancellationToken).ConfigureAwait(false);
                    }

                    bool exists = await ScalarAsync<bool>(connection, tx, "SELECT to_regclass($1) IS NOT NULL", cancellationToken, $"{s}.kb_info")
                        .ConfigureAwait(false);
                    if (!exists && space is null)
                    {
                        throw new KnowledgeStoreException($"{backend}: there is no knowledge base here (no kb_info table in schema {options.Schema}).");
                    }

                    EmbeddingSpace stored;
                    string textSearchConfiguration;
                    if (exists)
                    {
                        (stored, textSearchConfiguration) = await ReadInfoAsync(connection, tx, s, cancellationToken).ConfigureAwait(false);
                        if (space is not null && stored != space)
                        {
                            throw new EmbeddingSpaceMismatchException(
                                $"{backend}: the knowledge base holds vectors of {stored.ModelId} ({stored.Dimension} dimensions), but it was opened for " +
                                $"{space.ModelId} ({space.Dimension} dimensions). Open it with its own model, or re-embed it for the new one.");
                        }
                    }
                    else
                    {
                        stored = space!;
                        textSearchConfiguration = options.TextSearchConfiguration;
                    }

                    await ExecuteAsync(connection, tx, StoreSchema.Bootstrap(options.Schema), cancellationToken).ConfigureAwait(false);
                    int current = await ScalarAsync<int>(connection, tx, $"SELECT coalesce(max(version), 0) FROM {s}.schema_migrations", cancellationToken)
                        .ConfigureAwait(false);
                    if (current > StoreSchema.LatestVersion)
                    {
                        throw new KnowledgeStoreException(
                            $"{backend}: the knowledge base is at schema version {current}, newer than this mmrag knows ({StoreSchema.LatestVersion}); update mmrag.");
                    }

                    var context = new StoreSchema.Context(options.Schema, stored, textSearchConfiguration, options.HnswM, options.HnswEfConstruction);
                    foreach (StoreSchema.Migration migration in StoreSchema.Migrations.Where(m => m.Version > current))
                    {
                        await ExecuteAsync(connection, tx, migration.Sql(context), cancellationToken).ConfigureAwait(false);
                        await ExecuteAsync(connection, tx, $"INSERT INTO {s}.schema_migrations (version, description) VALUES ($1, $2)", cancellationToken,
                            migration.Version, migration.Description).ConfigureAwait(false);
                        Log.MigrationApplied(logger, options.Schema, migration.Version, migration.Description);
                    }

                    // A bulk load that died between dropping the vector index and building it again left none: build it now.
                    if (await ScalarAsync<bool>(connection, tx, "SELECT to_regclass($1) IS NULL", cancellationToken, $"{s}.{StoreSchema.VectorIndexName}")
                        .ConfigureAwait(false))
                    {
                        await CreateVectorIndexAsync(connection, tx, options, cancellationToken).ConfigureAwait(false);
                        Log.VectorIndexRestored(logger, options.Schema);
                    }

                    await tx.CommitAsync(cancellationToken).ConfigureAwait(false);
                    return (stored, textSearchConfiguration);
                }
            }
        }
    }

    private static async Task<(EmbeddingSpace, string)> ReadInfoAsync(NpgsqlConnection connection, NpgsqlTransaction tx, string s, CancellationToken cancellationToken)
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
