using System.CommandLine;
using Mmrag.Hosting;
using Mmrag.Hosting.Maintenance;
using Mmrag.Ingestion.Pipeline;

namespace Mmrag.Cli.Commands;

/// <summary><c>mmrag kb stats|failures|documents|delete|reembed|migrate|feedback</c>.</summary>
internal static class KbCommand
{
    public static Command Create()
    {
        var command = new Command("kb", "Inspect and maintain a knowledge base.");
        command.Subcommands.Add(Stats());
        command.Subcommands.Add(Failures());
        command.Subcommands.Add(Documents());
        command.Subcommands.Add(Delete());
        command.Subcommands.Add(Reembed());
        command.Subcommands.Add(Migrate());
        command.Subcommands.Add(KbFeedbackCommand.Create());
        return command;
    }

    private static Command Migrate()
    {
        var from = new Option<string>("--from") { Description = "The embedded knowledge-base folder to copy.", Required = true };
        var to = new Option<string>("--to") { Description = "PostgreSQL connection string or postgres:// URL.", Required = true };
        var schema = new Option<string?>("--schema") { Description = "Schema in the database (default: $MMRAG_PG_SCHEMA, else public)." };
        var command = new Command("migrate", "Copy an embedded knowledge base into PostgreSQL + pgvector, vectors included (nothing is re-embedded).");
        command.Options.Add(from);
        command.Options.Add(to);
        command.Options.Add(schema);
        command.SetAction((parseResult, cancellationToken) => CliErrors.RunAsync(parseResult.InvocationConfiguration.Error, async () =>
        {
            var target = MmragOptions.FromEnvironment(CliEnvironment.Get);
            target.PostgresConnection = parseResult.GetValue(to);
            target.PostgresSchema = parseResult.GetValue(schema) ?? target.PostgresSchema;
            var summary = await KnowledgeBaseMigration.RunAsync(parseResult.GetValue(from)!, target, cancellationToken: cancellationToken);
            await parseResult.InvocationConfiguration.Output.WriteLineAsync(
                $"copied {summary.Transfer.Documents} documents, {summary.Transfer.Items} items and {summary.Transfer.Failures} failure records into PostgreSQL (schema {summary.Schema}), model {summary.ModelId}");
            return 0;
        }));
        return command;
    }

    private static Command Stats()
    {
        var kb = new KnowledgeBaseOptions();
        var command = new Command("stats", "Model, counts and size of the knowledge base.");
        kb.AddStoreOptions(command);
        command.SetAction((parseResult, cancellationToken) => CliErrors.RunAsync(parseResult.InvocationConfiguration.Error, async () =>
        {
            await using var session = await kb.OpenAsync(parseResult, create: false, withModel: false, cancellationToken).ConfigureAwait(false);
            var stats = await session.Store.GetStatsAsync(cancellationToken).ConfigureAwait(false);
            var output = parseResult.InvocationConfiguration.Output;
            await output.WriteLineAsync($"knowledge base: {session.Label}").ConfigureAwait(false);
            await output.WriteLineAsync($"model:          {stats.Space.ModelId} ({stats.Space.Dimension}-d)").ConfigureAwait(false);
            await output.WriteLineAsync($"documents:      {stats.Documents}").ConfigureAwait(false);
            await output.WriteLineAsync($"text chunks:    {stats.TextChunks}").ConfigureAwait(false);
            await output.WriteLineAsync($"images:         {stats.Images}").ConfigureAwait(false);
            await output.WriteLineAsync($"failures:       {stats.Failures}").ConfigureAwait(false);
            await output.WriteLineAsync($"storage:        {stats.StorageBytes / (1024.0 * 1024):F1} MiB").ConfigureAwait(false);
            return 0;
        }));
        return command;
    }

    private static Command Failures()
    {
        var kb = new KnowledgeBaseOptions();
        var command = new Command("failures", "Files and items that could not be ingested, with the reason.");
        kb.AddStoreOptions(command);
        command.SetAction((parseResult, cancellationToken) => CliErrors.RunAsync(parseResult.InvocationConfiguration.Error, async () =>
        {
            await using var session = await kb.OpenAsync(parseResult, create: false, withModel: false, cancellationToken).ConfigureAwait(false);
            var failures = await session.Store.ListFailuresAsync(cancellationToken).ConfigureAwait(false);
            var output = parseResult.InvocationConfiguration.Output;
            if (failures.Count == 0)
            {
                await output.WriteLineAsync("no failures").ConfigureAwait(false);
            }

            foreach (var failure in failures)
            {
                await output.WriteLineAsync($"{failure.At:u}  {failure.SourcePath}{(failure.Detail is null ? "" : $" ({failure.Detail})")}: {failure.Reason}").ConfigureAwait(false);
            }

            return 0;
        }));
        return command;
    }

    private static Command Documents()
    {
        var kb = new KnowledgeBaseOptions();
        var command = new Command("documents", "List the stored documents with their ids.");
        kb.AddStoreOptions(command);
        command.SetAction((parseResult, cancellationToken) => CliErrors.RunAsync(parseResult.InvocationConfiguration.Error, async () =>
        {
            await using var session = await kb.OpenAsync(parseResult, create: false, withModel: false, cancellationToken).ConfigureAwait(false);
            var output = parseResult.InvocationConfiguration.Output;
            await foreach (var document in session.Store.ListDocumentsAsync(cancellationToken).ConfigureAwait(false))
            {
                await output.WriteLineAsync($"{document.Id}  {document.ItemCount,4} items  {document.MediaType,-16} {document.SourcePath}").ConfigureAwait(false);
            }

            return 0;
        }));
        return command;
    }

    private static Command Delete()
    {
        var kb = new KnowledgeBaseOptions();
        var id = new Option<string[]>("--id") { Description = "Document id to delete (repeatable; see 'mmrag kb documents')." };
        var path = new Option<string[]>("--path") { Description = "File or folder whose documents to delete (repeatable)." };
        var command = new Command("delete", "Delete documents (and their items) by id or by path.");
        kb.AddStoreOptions(command);
        command.Options.Add(id);
        command.Options.Add(path);
        command.SetAction((parseResult, cancellationToken) => CliErrors.RunAsync(parseResult.InvocationConfiguration.Error, async () =>
        {
            var ids = parseResult.GetValue(id) ?? [];
            var paths = parseResult.GetValue(path) ?? [];
            if (ids.Length + paths.Length == 0)
            {
                await parseResult.InvocationConfiguration.Error.WriteLineAsync("error: give --id or --path.").ConfigureAwait(false);
                return CliErrors.Failure;
            }

            await using var session = await kb.OpenAsync(parseResult, create: false, withModel: false, cancellationToken).ConfigureAwait(false);
            var deleted = 0;
            foreach (var documentId in ids)
            {
                deleted += await session.Store.DeleteDocumentAndFailuresAsync(documentId, cancellationToken).ConfigureAwait(false) ? 1 : 0;
            }

            foreach (var target in paths)
            {
                deleted += await session.Store.DeletePathAsync(Path.GetFullPath(target), cancellationToken).ConfigureAwait(false);
            }

            await parseResult.InvocationConfiguration.Output.WriteLineAsync($"deleted {deleted} document(s)").ConfigureAwait(false);
            return deleted > 0 ? 0 : CliErrors.Failure;
        }));
        return command;
    }

    private static Command Reembed()
    {
        var kb = new KnowledgeBaseOptions();
        var command = new Command("reembed",
            "Move an embedded knowledge base to another model (--model): every document, its tags, descriptions and files are kept and re-embedded into a new store that replaces the old one only when complete.");
        command.Options.Add(kb.KnowledgeBase);
        kb.Model.AddTo(command);
        command.SetAction((parseResult, cancellationToken) => CliErrors.RunAsync(parseResult.InvocationConfiguration.Error, async () =>
        {
            var options = kb.ToOptions(parseResult, create: false, withModel: true);
            if (options.Model is null)
            {
                await parseResult.InvocationConfiguration.Error.WriteLineAsync("error: give the new model with --model NAME|DIR.");
                return CliErrors.Failure;
            }

            using var download = DownloadProgress.Create(parseResult.InvocationConfiguration.Error);
            options.DownloadProgress = download;
            var summary = await KnowledgeBaseReembed.RunAsync(options, cancellationToken: cancellationToken);
            await parseResult.InvocationConfiguration.Output.WriteLineAsync(
                $"re-embedded {summary.Items} items of {summary.Documents} documents with {summary.Model} into {options.ResolveFolder()} ({summary.Failures} failure records kept) in {summary.Elapsed.TotalSeconds:F1} s");
            return 0;
        }));
        return command;
    }
}
