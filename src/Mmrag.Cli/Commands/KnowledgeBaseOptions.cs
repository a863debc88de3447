using System.CommandLine;
using Mmrag.Hosting;
using Mmrag.Storage;

namespace Mmrag.Cli.Commands;

/// <summary>
/// <c>--kb</c>, <c>--store</c>, <c>--connection</c>, <c>--schema</c> and the model options, turned into
/// <see cref="MmragOptions"/>; the knowledge base itself is put together by <see cref="MmragKnowledgeBase"/>.
/// </summary>
internal sealed class KnowledgeBaseOptions
{
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

    /// <summary>The command line over the environment's settings (<see cref="MmragOptions.FromEnvironment"/>).</summary>
    public MmragOptions ToOptions(ParseResult parseResult, bool create, bool withModel)
    {
        var options = MmragOptions.FromEnvironment(CliEnvironment.Get);
        options.Folder = parseResult.GetValue(KnowledgeBase) ?? options.Folder;
        var connection = parseResult.GetValue(Connection) ?? options.PostgresConnection;
        var store = parseResult.GetValue(Store) ?? (string.IsNullOrWhiteSpace(connection) ? "embedded" : "postgres");
        if (store == "postgres" && string.IsNullOrWhiteSpace(connection))
        {
            throw new KnowledgeStoreException("--store postgres needs --connection \"Host=…\" (or a postgres:// URL) or MMRAG_PG.");
        }

        options.PostgresConnection = store == "postgres" ? connection : null;
        options.PostgresSchema = parseResult.GetValue(Schema) ?? options.PostgresSchema;
        options.CreateIfMissing = create;
        options.LoadModel = withModel;
        if (parseResult.CommandResult.Command.Options.Contains(Model.Model))
        {
            Model.Apply(parseResult, options);
        }

        return options;
    }

    public string ResolveFolder(ParseResult parseResult) => ToOptions(parseResult, create: false, withModel: false).ResolveFolder();

    /// <summary>Opens an existing knowledge base (and its model when <paramref name="withModel"/>), or creates one when <paramref name="create"/>.</summary>
    public async Task<MmragKnowledgeBase> OpenAsync(ParseResult parseResult, bool create, bool withModel, CancellationToken cancellationToken)
    {
        using var progress = DownloadProgress.Create(parseResult.InvocationConfiguration.Error);
        var options = ToOptions(parseResult, create, withModel);
        options.DownloadProgress = progress;
        return await MmragKnowledgeBase.OpenAsync(options, cancellationToken).ConfigureAwait(false);
    }
}
