using System.CommandLine;
using Mmrag.Ingestion.Pipeline;
using Mmrag.Storage.Embedded;
using Mmrag.Storage.Postgres;

namespace Mmrag.Cli.Commands;

/// <summary><c>mmrag kb stats|failures|documents|delete|reembed</c>.</summary>
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
        return command;
    }

    private static Command Migrate()
    {
        var from = new Option<string>("--from") { Description = "The embedded knowledge-base folder to copy.", Required = true };
        var to = new Option<string>("--to") { Description = "PostgreSQL connection string or postgres:// URL.", Required = true };
        var schema = new Option<string>("--schema") { Description = "Schema in the database.", DefaultValueFactory = static _ => "public" };
        var command = new Command("migrate", "Copy an embedded knowledge base into PostgreSQL + pgvector, vectors included (nothing is re-embedded).");
        command.Options.Add(from);
        command.Options.Add(to);
        command.Options.Add(schema);
        command.SetAction((parseResult, cancellationToken) => CliErrors.RunAsync(parseResult.InvocationConfiguration.Error, async () =>
        {
            await using var source = await EmbeddedKnowledgeStore.OpenExistingAsync(Path.GetFullPath(parseResult.GetValue(from)!), cancellationToken: cancellationToken);
            await using var target = await PostgresKnowledgeStore.OpenAsync(PostgresConnectionStrings.Normalize(parseResult.GetValue(to)!), source.Space,
                new PostgresStoreOptions { Schema = parseResult.GetValue(schema)! }, cancellationToken);
            // Into an empty knowledge base, load first and build the vector index once: far cheaper than row by row.
            var suspended = await target.SuspendVectorIndexForBulkLoadAsync(cancellationToken);
            KnowledgeStoreTransferSummary summary;
            try
            {
                summary = await KnowledgeStoreTransfer.CopyAsync(source, target, cancellationToken: cancellationToken);
            }
            finally
            {
                if (suspended)
                {
                    // Also after a failure or Ctrl+C (then interrupted itself, and the next open of the knowledge base builds it).
                    await target.BuildVectorIndexAsync(cancellationToken);
                }
            }

            // Where the model came from travels too, so that commands on the copy find the same model without --model.
            if (KnowledgeBaseOptions.ReadConfiguredModel(Path.GetFullPath(parseResult.GetValue(from)!)) is { } model)
            {
                await target.SetSettingAsync(KnowledgeBaseOptions.ModelSettingKey, model, cancellationToken);
            }

            await parseResult.InvocationConfiguration.Output.WriteLineAsync(
                $"copied {summary.Documents} documents, {summary.Items} items and {summary.Failures} failure records into PostgreSQL (schema {target.Schema}), model {source.Space.ModelId}");
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
        var command = new Command("reembed", "Re-ingest every document of an embedded knowledge base with another model (--model) into a new one that replaces it when complete.");
        command.Options.Add(kb.KnowledgeBase);
        kb.Model.AddTo(command);
        command.SetAction((parseResult, cancellationToken) => CliErrors.RunAsync(parseResult.InvocationConfiguration.Error, async () =>
        {
            var folder = kb.ResolveFolder(parseResult);
            List<string> sources = [];
            await using (var old = await kb.OpenAsync(parseResult, create: false, withModel: false, cancellationToken).ConfigureAwait(false))
            {
                await foreach (var document in old.Store.ListDocumentsAsync(cancellationToken).ConfigureAwait(false))
                {
                    if (File.Exists(document.SourcePath))
                    {
                        sources.Add(document.SourcePath);
                    }
                }
            }

            var staging = folder.TrimEnd(Path.DirectorySeparatorChar) + ".reembed";
            if (Directory.Exists(staging))
            {
                Directory.Delete(staging, recursive: true);
            }

            IngestionSummary summary;
            await using (var fresh = await kb.OpenAsync(parseResult, create: true, withModel: true, cancellationToken, staging).ConfigureAwait(false))
            {
                var pipeline = fresh.CreatePipeline();
                summary = await IngestionDisplay.RunAsync(parseResult.InvocationConfiguration.Error,
                    progress => pipeline.IngestAsync(sources, new IngestionOptions
                    {
                        KnowledgeBaseDirectory = staging,
                        // Cached images are named by content, so the new knowledge base shares the live cache (paths stay
                        // valid after the swap below, which carries the cache over).
                        ImageCacheDirectory = Path.Combine(folder, IngestionOptions.ImageCacheFolderName),
                    }, progress, cancellationToken)).ConfigureAwait(false);
            }

            // Swap only after the new knowledge base is complete, so an interrupted re-embed leaves the old one intact.
            var backup = folder.TrimEnd(Path.DirectorySeparatorChar) + ".old";
            if (Directory.Exists(backup))
            {
                Directory.Delete(backup, recursive: true);
            }

            Directory.Move(folder, backup);
            Directory.Move(staging, folder);
            var images = Path.Combine(backup, IngestionOptions.ImageCacheFolderName);
            if (Directory.Exists(images))
            {
                Directory.Move(images, Path.Combine(folder, IngestionOptions.ImageCacheFolderName));
            }

            Directory.Delete(backup, recursive: true);
            await parseResult.InvocationConfiguration.Output.WriteLineAsync(
                $"re-embedded {summary.Items} items of {sources.Count} documents ({summary.Failed} failed) into {folder}").ConfigureAwait(false);
            return summary.Failed > 0 ? 3 : 0;
        }));
        return command;
    }
}
