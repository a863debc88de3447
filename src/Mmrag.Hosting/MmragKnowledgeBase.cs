using Microsoft.Extensions.AI;
using Microsoft.Extensions.DependencyInjection;
using Mmrag.Answering;
using Mmrag.Answering.Llm;
using Mmrag.Answering.Reranking;
using Mmrag.Clip;
using Mmrag.Clip.Inference;
using Mmrag.Hosting.Maintenance;
using Mmrag.Ingestion;
using Mmrag.Ingestion.Pipeline;
using Mmrag.Ingestion.Web.Wikipedia;
using Mmrag.Knowledge;
using Mmrag.Retrieval.Search;
using Mmrag.Storage;
using Mmrag.Storage.Embedded;
using Mmrag.Storage.Postgres;

namespace Mmrag.Hosting;

/// <summary>
/// One opened knowledge base with everything that works on it: its store, its CLIP model and embedding generators,
/// the searcher, the answerer and the ingestion pipeline. The CLI, the server and library users all open knowledge
/// bases here, so they cannot drift apart. Thread-safe; owns what it opened (the chat client only when it built it
/// from <see cref="MmragOptions.Llm"/>) and disposes it.
/// </summary>
public sealed class MmragKnowledgeBase : IAsyncDisposable
{
    /// <summary>The folder under <see cref="Folder"/> holding files uploaded through the server.</summary>
    public const string UploadsFolderName = "uploads";

    private readonly ServiceProvider _services;
    private readonly ClipModel? _model;

    private MmragKnowledgeBase(MmragOptions options, string folder, string label, ServiceProvider services, ClipModel? model)
    {
        Options = options;
        Folder = folder;
        Label = label;
        _services = services;
        _model = model;
        Store = services.GetRequiredService<IKnowledgeStore>();
    }

    /// <summary>The options it was opened with.</summary>
    public MmragOptions Options { get; }

    /// <summary>The local folder of its files: the knowledge base itself (embedded), or this machine's uploads and image cache (PostgreSQL).</summary>
    public string Folder { get; }

    /// <summary>How to name it to the user: the folder, or the PostgreSQL address and schema.</summary>
    public string Label { get; }

    /// <summary>Whether the knowledge base lives in PostgreSQL.</summary>
    public bool IsPostgres => Store is PostgresKnowledgeStore;

    /// <summary>The services it is made of (store, model, generators, searcher, answerer, chat client), for hosts that resolve them.</summary>
    public IServiceProvider Services => _services;

    /// <summary>The store.</summary>
    public IKnowledgeStore Store { get; }

    /// <summary>The CLIP model.</summary>
    /// <exception cref="InvalidOperationException">It was opened without its model (<see cref="MmragOptions.LoadModel"/> false).</exception>
    public ClipModel Model => _model ?? throw new InvalidOperationException("This knowledge base was opened without its model.");

    /// <summary>Whether the model was loaded.</summary>
    public bool HasModel => _model is not null;

    /// <summary>Embeds text with the model's text tower.</summary>
    public IEmbeddingGenerator<string, Embedding<float>> TextEmbedder => Required<IEmbeddingGenerator<string, Embedding<float>>>();

    /// <summary>Embeds images with the model's vision tower.</summary>
    public IEmbeddingGenerator<DataContent, Embedding<float>> ImageEmbedder => Required<IEmbeddingGenerator<DataContent, Embedding<float>>>();

    /// <summary>Searches the knowledge base in every direction.</summary>
    public KnowledgeSearcher Searcher => Required<KnowledgeSearcher>();

    /// <summary>Answers questions from it with the configured LLM (sources only without one).</summary>
    public Answerer Answerer => Required<Answerer>();

    /// <summary>Reranks results with the LLM (every rerank is skipped, and says so, when no LLM is configured).</summary>
    public LlmReranker Reranker => Required<LlmReranker>();

    /// <summary>
    /// Searches; with <paramref name="rerank"/>, searches for at least its candidate count, has the LLM grade them
    /// (<see cref="LlmReranker.SearchAsync"/>; a failure keeps the search's order and says why) and keeps the first k.
    /// The one search the CLI, the server and evaluation use.
    /// </summary>
    public async Task<RerankedSearch> SearchAsync(SearchRequest request, RerankOptions? rerank = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        return rerank is null
            ? new RerankedSearch(await Searcher.SearchAsync(request, cancellationToken).ConfigureAwait(false), [], null)
            : await Reranker.SearchAsync(Searcher, request, rerank, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>The LLM, or null when none is configured.</summary>
    public IChatClient? ChatClient => _model is null ? null : _services.GetService<IChatClient>();

    /// <summary>Where server uploads are kept.</summary>
    public string UploadsFolder => Path.Combine(Folder, UploadsFolderName);

    /// <summary>Where images cut out of documents are kept (named by content).</summary>
    public string ImageCacheFolder => Path.Combine(Folder, IngestionOptions.ImageCacheFolderName);

    /// <summary>A new ingestion pipeline over the store and the model (pipelines are cheap; runs must not share one).</summary>
    public IngestionPipeline CreatePipeline() => Required<IngestionPipelineFactory>().Create();

    /// <summary>
    /// Ingestion options for this knowledge base: its folder (skipped when walking), its image cache, and the reading of
    /// <c>wikipedia:[LANG:]Title</c> paths from <see cref="MmragOptions.Wikipedia"/>, adjusted by <paramref name="configure"/>.
    /// </summary>
    public IngestionOptions CreateIngestionOptions(Func<IngestionOptions, IngestionOptions>? configure = null)
    {
        var options = new IngestionOptions
        {
            KnowledgeBaseDirectory = Folder,
            ImageCacheDirectory = ImageCacheFolder,
            MaxImagePixels = Options.MaxImagePixels,
            SourceResolvers = [new WikipediaSourceResolver(Options.Wikipedia)],
        };
        return configure is null ? options : configure(options);
    }

    /// <summary>
    /// Ingestion options for a run that <paramref name="request"/> describes (web crawl, OCR, the wiki against
    /// <see cref="MmragOptions.Wikipedia"/>), adjusted by <paramref name="configure"/>: what the CLI and the server both
    /// call, so a run is set up the same way whoever starts it.
    /// </summary>
    /// <exception cref="ArgumentException">A setting of the request is out of range; the message names it.</exception>
    public IngestionOptions CreateIngestionOptions(IngestionRequest request, Func<IngestionOptions, IngestionOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(request);
        var options = request.ApplyTo(CreateIngestionOptions(), Options.Wikipedia);
        return configure is null ? options : configure(options);
    }

    /// <summary>
    /// Opens the knowledge base <paramref name="options"/> names (PostgreSQL when a connection is given, else the
    /// embedded one in <see cref="MmragOptions.Folder"/>), creating it when asked; loads its model (as recorded, or the
    /// one given, which must produce the same embedding space) unless <see cref="MmragOptions.LoadModel"/> is false.
    /// An embedded knowledge base whose re-embed was interrupted during its final swap is finished first.
    /// </summary>
    /// <exception cref="KnowledgeStoreException">No knowledge base there (and not asked to create one), or the store failed.</exception>
    /// <exception cref="EmbeddingSpaceMismatchException">The model given is not the knowledge base's.</exception>
    public static async Task<MmragKnowledgeBase> OpenAsync(MmragOptions options, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(options);
        var opened = options.IsPostgres
            ? await OpenPostgresAsync(options, cancellationToken).ConfigureAwait(false)
            : await OpenEmbeddedAsync(options, cancellationToken).ConfigureAwait(false);
        try
        {
            var services = new ServiceCollection().AddMmragParts(opened.Store, opened.Model, options);
            return new MmragKnowledgeBase(options, opened.Folder, opened.Label, services.BuildServiceProvider(), opened.Model);
        }
        catch
        {
            await opened.Store.DisposeAsync().ConfigureAwait(false);
            opened.Model?.Dispose();
            throw;
        }
    }

    private sealed record Opened(string Folder, string Label, IKnowledgeStore Store, ClipModel? Model);

    private static async Task<Opened> OpenEmbeddedAsync(MmragOptions options, CancellationToken cancellationToken)
    {
        var folder = options.ResolveFolder();
        ReembedSwap.RecoverIfInterrupted(folder);
        var exists = File.Exists(Path.Combine(folder, EmbeddedKnowledgeStore.DatabaseFileName));
        if (!exists && !options.CreateIfMissing)
        {
            throw new KnowledgeStoreException($"No knowledge base at '{folder}'. Create one with 'mmrag ingest PATH --kb {folder}', or point --kb / MMRAG_KB at an existing one.");
        }

        if (!exists && !options.LoadModel)
        {
            throw new InvalidOperationException("Creating a knowledge base needs its model (MmragOptions.LoadModel).");
        }

        var recorded = KnowledgeBaseRecord.ReadModel(folder);
        var requested = options.Model;
        ClipModel? model = null;
        IKnowledgeStore? store = null;
        // A knowledge base killed while being created has its model recorded but maybe not its store's own information;
        // opening it to create finishes that creation (the store checks the model when the information is there).
        var finishCreation = exists && options.CreateIfMissing && options.LoadModel && recorded is not null;
        try
        {
            if (exists && !finishCreation)
            {
                store = await EmbeddedKnowledgeStore.OpenExistingAsync(folder, cancellationToken: cancellationToken).ConfigureAwait(false);
                if (options.LoadModel)
                {
                    model = await ModelLoading.LoadAsync(requested ?? recorded ?? store.Space.ModelId, options, cancellationToken).ConfigureAwait(false);
                    CheckSpace(store.Space, model, $"The knowledge base at '{folder}'");
                    if (recorded is null && requested is not null)
                    {
                        KnowledgeBaseRecord.WriteModel(folder, ModelLoading.RecordFor(requested));
                    }
                }
            }
            else
            {
                model = await ModelLoading.LoadAsync(requested ?? recorded, options, cancellationToken).ConfigureAwait(false);
                if (!exists)
                {
                    // Record the model before the store exists, so a knowledge base killed while being created still knows it.
                    Directory.CreateDirectory(folder);
                    KnowledgeBaseRecord.WriteModel(folder, requested is null ? recorded ?? model.Directory.Path : ModelLoading.RecordFor(requested));
                }

                store = await EmbeddedKnowledgeStore.OpenAsync(folder, new EmbeddingSpace(model.ModelId, model.Dimension), cancellationToken: cancellationToken)
                    .ConfigureAwait(false);
            }

            return new Opened(folder, folder, store, model);
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

    private static async Task<Opened> OpenPostgresAsync(MmragOptions options, CancellationToken cancellationToken)
    {
        var connection = PostgresConnectionStrings.Normalize(options.PostgresConnection!);
        var storeOptions = PostgresOptions(options);
        PostgresKnowledgeStore? store = null;
        ClipModel? model = null;
        try
        {
            try
            {
                store = await PostgresKnowledgeStore.OpenExistingAsync(connection, storeOptions, cancellationToken).ConfigureAwait(false);
            }
            catch (KnowledgeStoreException) when (options.CreateIfMissing && options.LoadModel)
            {
                // No knowledge base in this database yet (or it is unreachable, which creating it below reports).
            }

            var label = Describe(connection, storeOptions.Schema);
            var folder = string.IsNullOrWhiteSpace(options.Folder) ? LocalFolderForPostgres(connection, storeOptions.Schema) : Path.GetFullPath(options.Folder);
            if (!options.LoadModel)
            {
                return new Opened(folder, label, store ?? throw new KnowledgeStoreException($"No knowledge base at {label}."), null);
            }

            // The database remembers where its model came from, as the embedded store's mmrag.json does.
            var requested = options.Model;
            var recorded = store is null ? null : await store.GetSettingAsync(KnowledgeBaseRecord.ModelSettingKey, cancellationToken).ConfigureAwait(false);
            model = await ModelLoading.LoadAsync(requested ?? recorded ?? store?.Space.ModelId, options, cancellationToken).ConfigureAwait(false);
            if (store is not null)
            {
                CheckSpace(store.Space, model, "The PostgreSQL knowledge base");
            }

            store ??= await PostgresKnowledgeStore.OpenAsync(connection, new EmbeddingSpace(model.ModelId, model.Dimension), storeOptions, cancellationToken)
                .ConfigureAwait(false);
            if (recorded is null)
            {
                await store.SetSettingAsync(KnowledgeBaseRecord.ModelSettingKey, requested is null ? model.Directory.Path : ModelLoading.RecordFor(requested),
                    cancellationToken).ConfigureAwait(false);
            }

            return new Opened(folder, label, store, model);
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

    /// <summary>The PostgreSQL store options of <paramref name="options"/>: its schema, validated with a message naming the setting.</summary>
    internal static PostgresStoreOptions PostgresOptions(MmragOptions options)
    {
        var storeOptions = new PostgresStoreOptions { Schema = options.PostgresSchema ?? "public" };
        try
        {
            storeOptions.Validate();
        }
        catch (ArgumentException ex)
        {
            throw new KnowledgeStoreException($"--schema / {MmragOptions.SchemaVariable} '{storeOptions.Schema}' cannot be used: {ex.Message}", ex);
        }

        return storeOptions;
    }

    private static void CheckSpace(EmbeddingSpace space, ClipModel model, string what)
    {
        if (space.ModelId != model.ModelId || space.Dimension != model.Dimension)
        {
            throw new EmbeddingSpaceMismatchException(
                $"{what} holds {space.Dimension}-d vectors of model '{space.ModelId}', but the model given is '{model.ModelId}' ({model.Dimension}-d). Use the knowledge base's own model, or re-embed it with 'mmrag kb reembed --model …'.");
        }
    }

    /// <summary>A folder per database and schema under the user's local data folder, for a PostgreSQL knowledge base's local files.</summary>
    private static string LocalFolderForPostgres(string connection, string schema)
    {
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

    private T Required<T>() where T : notnull => _model is null
        ? throw new InvalidOperationException("This knowledge base was opened without its model.")
        : _services.GetRequiredService<T>();

    /// <inheritdoc/>
    public async ValueTask DisposeAsync()
    {
        // The container disposes what it created: generators, the model, the store, a chat client built from LlmOptions.
        await _services.DisposeAsync().ConfigureAwait(false);
    }
}
