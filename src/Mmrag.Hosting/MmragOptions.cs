using Microsoft.Extensions.AI;
using Mmrag.Answering.Llm;
using Mmrag.Clip.Inference;
using Mmrag.Clip.Models;
using Mmrag.Clip.Preprocessing;
using Mmrag.Ingestion.Web.Wikipedia;

namespace Mmrag.Hosting;

/// <summary>How to open a knowledge base with <see cref="MmragKnowledgeBase.OpenAsync"/> or <see cref="MmragServiceCollectionExtensions.AddMmrag(Microsoft.Extensions.DependencyInjection.IServiceCollection, MmragOptions)"/>.</summary>
/// <remarks>
/// Settings are taken in this order: what the caller sets here (the CLI's options), then the environment
/// (<see cref="FromEnvironment"/>), then what the knowledge base remembers (its model).
/// </remarks>
public sealed class MmragOptions
{
    /// <summary>Environment variable naming the knowledge-base folder.</summary>
    public const string FolderVariable = "MMRAG_KB";

    /// <summary>Environment variable holding a PostgreSQL connection string or postgres:// URL.</summary>
    public const string PostgresVariable = "MMRAG_PG";

    /// <summary>Environment variable naming the PostgreSQL schema.</summary>
    public const string SchemaVariable = "MMRAG_PG_SCHEMA";

    /// <summary>Environment variable naming the model (catalogue name or folder).</summary>
    public const string ModelVariable = "MMRAG_MODEL";

    /// <summary>The folder used when none is given: <c>./.mmrag</c>.</summary>
    public const string DefaultFolderName = ".mmrag";

    /// <summary>
    /// The embedded knowledge base's folder; for a PostgreSQL knowledge base, this machine's folder for its files
    /// (uploads, images cut out of documents; a folder per database and schema under the user's data folder when null).
    /// </summary>
    public string? Folder { get; set; }

    /// <summary>A PostgreSQL connection string or postgres:// URL: the knowledge base lives in PostgreSQL + pgvector.</summary>
    public string? PostgresConnection { get; set; }

    /// <summary>The PostgreSQL schema (default <c>public</c>).</summary>
    public string? PostgresSchema { get; set; }

    /// <summary>Create the knowledge base when it does not exist (needs the model, to record its embedding space).</summary>
    public bool CreateIfMissing { get; set; }

    /// <summary>Load the CLIP model (search, ingest, ask); false opens the store alone (stats, listings, deletes).</summary>
    public bool LoadModel { get; set; } = true;

    /// <summary>
    /// A catalogue name (downloaded on first use) or a model folder, which must be the knowledge base's own when it
    /// exists; null uses the knowledge base's recorded model, or for a new one <c>MMRAG_MODEL</c>, else the default model.
    /// </summary>
    public string? Model { get; set; }

    /// <summary>
    /// The model a new knowledge base gets when <see cref="Model"/> is null (<c>MMRAG_MODEL</c>: a catalogue name or a
    /// folder); null or empty: the default model. Read from the process environment unless set, and by
    /// <see cref="FromEnvironment"/> from the environment it is given.
    /// </summary>
    public string? DefaultModel { get; set; } = Environment.GetEnvironmentVariable(ModelVariable);

    /// <summary>
    /// mmrag's home folder, whose <c>models</c> sub-folder is the model cache (<c>MMRAG_HOME</c>); null or empty:
    /// <c>~/.cache/mmrag</c>. Read from the process environment unless set, and by <see cref="FromEnvironment"/> from
    /// the environment it is given.
    /// </summary>
    public string? Home { get; set; } = Environment.GetEnvironmentVariable(ModelCache.HomeVariable);

    /// <summary>ONNX Runtime and preprocessing settings of the model.</summary>
    public ClipModelOptions ModelOptions { get; set; } = new();

    /// <summary>
    /// The largest image, in pixels (width × height of every frame, read from the decoder's own parse of the header
    /// before any pixel is decoded), that is embedded: query images, ingested files, uploads.
    /// </summary>
    public long MaxImagePixels { get; set; } = ImageDecodeOptions.DefaultMaxPixels;

    /// <summary>
    /// The wiki that <c>wikipedia:[LANG:]Title</c> paths are read from (<c>mmrag ingest --wikipedia</c>, the API's
    /// <c>"wikipedia"</c>): the language edition by default, its image width and count, or another MediaWiki's API.
    /// </summary>
    public WikipediaOptions Wikipedia { get; set; } = new();

    /// <summary>
    /// Never download a model (<c>MMRAG_OFFLINE=1</c>: read from the process environment unless set, and by
    /// <see cref="FromEnvironment"/> from the environment it is given).
    /// </summary>
    public bool Offline { get; set; } = ModelDownloadOptions.IsTruthy(Environment.GetEnvironmentVariable(ModelDownloadOptions.OfflineVariable));

    /// <summary>Reports model download progress.</summary>
    public IProgress<ModelDownloadProgress>? DownloadProgress { get; set; }

    /// <summary>The LLM to answer with; ignored when <see cref="ChatClient"/> is set.</summary>
    public LlmOptions? Llm { get; set; }

    /// <summary>A chat client to answer with (not owned: the caller disposes it); overrides <see cref="Llm"/>.</summary>
    public IChatClient? ChatClient { get; set; }

    /// <summary>Where the knowledge base is, for messages.</summary>
    internal bool IsPostgres => !string.IsNullOrWhiteSpace(PostgresConnection);

    /// <summary>
    /// Options from the environment: <c>MMRAG_KB</c>, <c>MMRAG_PG</c>, <c>MMRAG_PG_SCHEMA</c>, <c>MMRAG_OFFLINE</c>,
    /// <c>MMRAG_HOME</c>, <c>MMRAG_MODEL</c> and the <c>MMRAG_LLM_*</c> variables, all read through
    /// <paramref name="getVariable"/> (the process environment by default). <c>MMRAG_MODEL</c> is not a requested model:
    /// it is the model a new knowledge base gets when none is given (<see cref="DefaultModel"/>), and an existing one keeps its own.
    /// </summary>
    public static MmragOptions FromEnvironment(Func<string, string?>? getVariable = null)
    {
        getVariable ??= Environment.GetEnvironmentVariable;
        return new MmragOptions
        {
            Folder = getVariable(FolderVariable),
            PostgresConnection = getVariable(PostgresVariable),
            PostgresSchema = getVariable(SchemaVariable),
            Offline = ModelDownloadOptions.IsTruthy(getVariable(ModelDownloadOptions.OfflineVariable)),
            Home = getVariable(ModelCache.HomeVariable),
            DefaultModel = getVariable(ModelVariable),
            Llm = LlmOptions.FromEnvironment(getVariable),
        };
    }


    /// <summary>The folder of an embedded knowledge base: <see cref="Folder"/>, else <c>./.mmrag</c>, as a full path.</summary>
    public string ResolveFolder() => Path.GetFullPath(string.IsNullOrWhiteSpace(Folder) ? DefaultFolderName : Folder);
}
