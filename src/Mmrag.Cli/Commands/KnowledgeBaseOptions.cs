using System.CommandLine;
using System.Text.Json;
using System.Text.Json.Nodes;
using Mmrag.Clip.Inference;
using Mmrag.Ingestion.Chunking;
using Mmrag.Ingestion.Loaders;
using Mmrag.Ingestion.Pipeline;
using Mmrag.Knowledge;
using Mmrag.Retrieval.Search;
using Mmrag.Storage;
using Mmrag.Storage.Embedded;
using Mmrag.Storage.Postgres;

namespace Mmrag.Cli.Commands;

/// <summary>
/// <c>--kb</c> and the wiring of one knowledge base: its store, the CLIP model it remembers (in <c>mmrag.json</c> in the
/// knowledge-base folder), the embedding generators, the searcher and the ingestion pipeline.
/// </summary>
internal sealed class KnowledgeBaseOptions
{
    public const string ConfigFileName = "mmrag.json";

    /// <summary>The PostgreSQL setting that plays the part of <c>mmrag.json</c>'s model entry.</summary>
    public const string ModelSettingKey = "mmrag:model";

    public Option<string?> KnowledgeBase { get; } = new("--kb")
    {
        Description = "Knowledge-base folder (default: $MMRAG_KB, else ./.mmrag).",
    };

    public Option<string?> Store { get; } = new("--store")
    {
        Description = "embedded (a folder, the default) or postgres (PostgreSQL + pgvector; default when --connection or MMRAG_PG is set).",
    };

    public Option<string?> Connection { get; } = new("--connection")
    {
        Description = "PostgreSQL connection string or postgres:// URL (default: $MMRAG_PG).",
    };

    public Option<string?> Schema { get; } = new("--schema")
    {
        Description = "PostgreSQL schema holding the knowledge base, so that several share one database (default: $MMRAG_PG_SCHEMA, else public).",
    };

    public ModelOptions Model { get; } = new();

    public void AddTo(Command command)
    {
        AddStoreOptions(command);
        Model.AddTo(command);
    }

    /// <summary>--kb, --store, --connection and --schema: where the knowledge base lives.</summary>
    public void AddStoreOptions(Command command)
    {
        command.Options.Add(KnowledgeBase);
        command.Options.Add(Store);
        command.Options.Add(Connection);
        command.Options.Add(Schema);
        Store.AcceptOnlyFromAmong("embedded", "postgres");
    }

    private string? PostgresConnection(ParseResult parseResult)
    {
        var connection = parseResult.GetValue(Connection) ?? Environment.GetEnvironmentVariable("MMRAG_PG");
        var store = parseResult.GetValue(Store) ?? (connection is null ? "embedded" : "postgres");
        return store != "postgres" ? null
            : PostgresConnectionStrings.Normalize(connection ?? throw new KnowledgeStoreException("--store postgres needs --connection \"Host=…\" (or a postgres:// URL) or MMRAG_PG."));
    }

    private PostgresStoreOptions PostgresOptions(ParseResult parseResult)
    {
        var options = new PostgresStoreOptions
        {
            Schema = parseResult.GetValue(Schema) ?? Environment.GetEnvironmentVariable("MMRAG_PG_SCHEMA") ?? "public",
        };
        try
        {
            options.Validate();
        }
        catch (ArgumentException ex)
        {
            throw new KnowledgeStoreException($"--schema / MMRAG_PG_SCHEMA '{options.Schema}' cannot be used: {ex.Message}", ex);
        }

        return options;
    }

    private async Task<KnowledgeBaseSession> OpenPostgresAsync(ParseResult parseResult, string connection, bool create, bool withModel,
        CancellationToken cancellationToken)
    {
        var options = PostgresOptions(parseResult);
        PostgresKnowledgeStore? store = null;
        ClipModel? model = null;
        try
        {
            try
            {
                store = await PostgresKnowledgeStore.OpenExistingAsync(connection, options, cancellationToken).ConfigureAwait(false);
            }
            catch (KnowledgeStoreException) when (create && withModel)
            {
                // No knowledge base in this database yet (or it is unreachable, which creating it below reports).
            }

            var label = Describe(connection, options.Schema);
            var folder = LocalFolderForPostgres(parseResult, connection, options.Schema);
            if (!withModel)
            {
                return new KnowledgeBaseSession(folder, store ?? throw new InvalidOperationException("unreachable"), null, label);
            }

            // The database remembers where its model came from, as the embedded store's mmrag.json does.
            var requested = parseResult.GetValue(Model.Model);
            var recorded = store is null ? null : await store.GetSettingAsync(ModelSettingKey, cancellationToken).ConfigureAwait(false);
            model = await Model.LoadAsync(parseResult, requested ?? recorded ?? store?.Space.ModelId ?? Environment.GetEnvironmentVariable("MMRAG_MODEL"), cancellationToken).ConfigureAwait(false);
            var space = new EmbeddingSpace(model.ModelId, model.Dimension);
            if (store is not null && store.Space != space)
            {
                throw new EmbeddingSpaceMismatchException(
                    $"The PostgreSQL knowledge base holds {store.Space.Dimension}-d vectors of model '{store.Space.ModelId}', but the model given is '{model.ModelId}' ({model.Dimension}-d).");
            }

            store ??= await PostgresKnowledgeStore.OpenAsync(connection, space, options, cancellationToken).ConfigureAwait(false);
            if (recorded is null)
            {
                await store.SetSettingAsync(ModelSettingKey, requested ?? model.Directory.Path, cancellationToken).ConfigureAwait(false);
            }

            return new KnowledgeBaseSession(folder, store, model, label);
        }
        catch
        {
            if (store is not null)
            {
                await store.DisposeAsync().ConfigureAwait(false);
            }

            model?.Dispose();
            throw;
        }
    }

    public string ResolveFolder(ParseResult parseResult) => Path.GetFullPath(
        parseResult.GetValue(KnowledgeBase) ?? Environment.GetEnvironmentVariable("MMRAG_KB") ?? ".mmrag");

    /// <summary>Opens an existing knowledge base (and its model when <paramref name="withModel"/>), or creates one when <paramref name="create"/>.</summary>
    public async Task<KnowledgeBaseSession> OpenAsync(ParseResult parseResult, bool create, bool withModel, CancellationToken cancellationToken,
        string? folderOverride = null)
    {
        if (folderOverride is null && PostgresConnection(parseResult) is { } connection)
        {
            return await OpenPostgresAsync(parseResult, connection, create, withModel, cancellationToken).ConfigureAwait(false);
        }

        var folder = folderOverride ?? ResolveFolder(parseResult);
        var exists = File.Exists(Path.Combine(folder, EmbeddedKnowledgeStore.DatabaseFileName));
        if (!exists && !create)
        {
            throw new KnowledgeStoreException($"No knowledge base at '{folder}'. Create one with 'mmrag ingest PATH --kb {folder}', or point --kb / MMRAG_KB at an existing one.");
        }

        var configured = ReadConfiguredModel(folder) ?? (folderOverride is null ? null : ReadConfiguredModel(ResolveFolder(parseResult)));
        var requested = parseResult.GetValue(Model.Model);
        ClipModel? model = null;
        IKnowledgeStore? store = null;
        // A knowledge base killed while being created has its model recorded but maybe not its store's own information;
        // a command that may create one finishes that creation (the store checks the model when the information is there).
        var finishCreation = exists && create && withModel && configured is not null;
        try
        {
            if (exists && !finishCreation)
            {
                store = await EmbeddedKnowledgeStore.OpenExistingAsync(folder, cancellationToken: cancellationToken).ConfigureAwait(false);
                if (withModel)
                {
                    // The knowledge base's own model: as recorded, else its model id (a catalog name or a cached model).
                    model = await Model.LoadAsync(parseResult, requested ?? configured ?? store.Space.ModelId, cancellationToken).ConfigureAwait(false);
                    if (store.Space.ModelId != model.ModelId || store.Space.Dimension != model.Dimension)
                    {
                        throw new EmbeddingSpaceMismatchException(
                            $"The knowledge base at '{folder}' holds {store.Space.Dimension}-d vectors of model '{store.Space.ModelId}', but the model given is '{model.ModelId}' ({model.Dimension}-d). Use the knowledge base's own model, or re-embed it with 'mmrag kb reembed --model …'.");
                    }

                    if (ReadConfiguredModel(folder) is null && requested is not null)
                    {
                        WriteConfiguredModel(folder, requested);
                    }
                }
            }
            else
            {
                model = await Model.LoadAsync(parseResult, requested ?? configured ?? Environment.GetEnvironmentVariable("MMRAG_MODEL"), cancellationToken).ConfigureAwait(false);

                if (!exists)
                {
                    // Record the model before the store exists, so a knowledge base killed while being created still knows it.
                    Directory.CreateDirectory(folder);
                    WriteConfiguredModel(folder, requested ?? configured ?? model.Directory.Path);
                }

                store = await EmbeddedKnowledgeStore.OpenAsync(folder, new EmbeddingSpace(model.ModelId, model.Dimension), cancellationToken: cancellationToken).ConfigureAwait(false);
            }

            return new KnowledgeBaseSession(folder, store, model);
        }
        catch
        {
            if (store is not null)
            {
                await store.DisposeAsync().ConfigureAwait(false);
            }

            model?.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Where a PostgreSQL knowledge base keeps this machine's files (uploads, images cut out of documents): --kb when
    /// given, else a folder per database and schema under the user's local data folder.
    /// </summary>
    private string LocalFolderForPostgres(ParseResult parseResult, string connection, string schema)
    {
        if (parseResult.GetValue(KnowledgeBase) is { } given)
        {
            return Path.GetFullPath(given);
        }

        var builder = new Npgsql.NpgsqlConnectionStringBuilder(connection);
        var name = string.Concat($"{builder.Host}_{builder.Port}_{builder.Database}_{schema}"
            .Select(static c => char.IsAsciiLetterOrDigit(c) || c is '.' or '-' or '_' ? c : '_'));
        return Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.LocalApplicationData, Environment.SpecialFolderOption.Create),
            "mmrag", "postgres", name);
    }

    private static string Describe(string connection, string schema)
    {
        var builder = new Npgsql.NpgsqlConnectionStringBuilder(connection);
        var where = $"postgres://{builder.Host}:{builder.Port}/{builder.Database}";
        return schema == "public" ? where : $"{where} (schema {schema})";
    }

    /// <summary>The model recorded in an embedded knowledge base's <c>mmrag.json</c>, or null.</summary>
    public static string? ReadConfiguredModel(string folder)
    {
        var path = Path.Combine(folder, ConfigFileName);
        if (!File.Exists(path))
        {
            return null;
        }

        try
        {
            return JsonNode.Parse(File.ReadAllText(path))?["model"]?.GetValue<string>();
        }
        catch (Exception exception) when (exception is JsonException or InvalidOperationException or FormatException)
        {
            throw new FormatException($"{path}: expected a JSON object such as {{\"model\": \"clip-vit-base-patch32\"}} ({exception.Message}).", exception);
        }
    }

    private static void WriteConfiguredModel(string folder, string model)
    {
        var path = Path.Combine(folder, ConfigFileName);
        var node = File.Exists(path) ? JsonNode.Parse(File.ReadAllText(path)) as JsonObject ?? [] : [];
        node["model"] = model;
        var temporary = path + ".tmp";
        File.WriteAllText(temporary, node.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
        File.Move(temporary, path, overwrite: true);
    }
}

/// <summary>An opened knowledge base with everything a command needs; disposes them together.</summary>
/// <param name="folder">The local folder of its files: the knowledge base itself (embedded), or this machine's uploads and image cache (PostgreSQL).</param>
/// <param name="store">The store.</param>
/// <param name="model">The CLIP model, when the command needs it.</param>
/// <param name="label">How to name it to the user; the folder by default.</param>
internal sealed class KnowledgeBaseSession(string folder, IKnowledgeStore store, ClipModel? model, string? label = null) : IAsyncDisposable
{
    private ClipTextEmbeddingGenerator? _texts;
    private ClipImageEmbeddingGenerator? _images;

    public string Folder { get; } = folder;

    public string Label { get; } = label ?? folder;

    public IKnowledgeStore Store { get; } = store;

    public ClipModel Model => model ?? throw new InvalidOperationException("This command opened the knowledge base without its model.");

    public ClipTextEmbeddingGenerator TextEmbedder => _texts ??= new ClipTextEmbeddingGenerator(Model);

    public ClipImageEmbeddingGenerator ImageEmbedder => _images ??= new ClipImageEmbeddingGenerator(Model);

    public KnowledgeSearcher CreateSearcher() => new(Store, TextEmbedder, ImageEmbedder);

    public IngestionPipeline CreatePipeline()
    {
        var tokenizer = Model.Tokenizer;
        var chunker = new TextChunker(text => tokenizer.EncodeToIds(text).Length);
        return new IngestionPipeline(Store, TextEmbedder, ImageEmbedder, LoaderRegistry.CreateDefault(chunker));
    }

    public async ValueTask DisposeAsync()
    {
        await Store.DisposeAsync().ConfigureAwait(false);
        model?.Dispose();
    }
}
