using System.CommandLine;
using Mmrag.Clip.Models;
using Mmrag.Hosting;

namespace Mmrag.Cli.Commands;

/// <summary><c>mmrag models list|pull</c>: what is cached and known, and downloading a known model.</summary>
internal static class ModelsCommand
{
    public static Command Create()
    {
        var command = new Command("models", "Manage the CLIP model cache ($MMRAG_HOME/models, default ~/.cache/mmrag/models).");
        command.Subcommands.Add(CreateList());
        command.Subcommands.Add(CreatePull());
        return command;
    }

    private static Command CreateList()
    {
        var command = new Command("list", "Show cached and known models.");
        command.SetAction((parseResult, _) => CliErrors.RunAsync(parseResult.InvocationConfiguration.Error, async () =>
        {
            var output = parseResult.InvocationConfiguration.Output;
            var cache = ModelCache.ForHome(CliEnvironment.Get(ModelCache.HomeVariable));
            var cached = cache.List();
            await output.WriteLineAsync($"cache: {cache.Root}").ConfigureAwait(false);
            await output.WriteLineAsync($"{"name",-28} {"dim",4}  {"status",-22} description").ConfigureAwait(false);
            foreach (var model in ModelCatalog.All)
            {
                var entry = cached.FirstOrDefault(c => string.Equals(c.Name, model.Name, StringComparison.OrdinalIgnoreCase));
                var status = entry is null ? "not downloaded"
                    : entry.IsComplete ? $"cached ({entry.SizeBytes / (1024.0 * 1024):F0} MiB)"
                    : $"partial ({entry.MissingFiles.Count} missing)";
                var marker = model.Name == ModelCatalog.DefaultModelName ? " (default)" : "";
                await output.WriteLineAsync($"{model.Name,-28} {model.Dimension,4}  {status,-22} {model.Description}{marker}").ConfigureAwait(false);
            }

            foreach (var entry in cached.Where(c => !ModelCatalog.All.Any(m => string.Equals(m.Name, c.Name, StringComparison.OrdinalIgnoreCase))))
            {
                await output.WriteLineAsync($"{entry.Name,-28} {"?",4}  {(entry.IsComplete ? "cached" : "partial"),-22} (not in the catalog) {entry.Directory}").ConfigureAwait(false);
            }

            return 0;
        }));
        return command;
    }

    private static Command CreatePull()
    {
        var name = new Argument<string>("name")
        {
            Arity = ArgumentArity.ZeroOrOne,
            Description = $"Model to download (default {ModelCatalog.DefaultModelName}).",
            DefaultValueFactory = static _ => ModelCatalog.DefaultModelName,
        };
        var quantized = new Option<bool>("--quantized") { Description = "Also download onnx/*_quantized.onnx." };
        var command = new Command("pull", "Download a known model into the cache (resumable, checksummed).");
        command.Arguments.Add(name);
        command.Options.Add(quantized);
        command.SetAction((parseResult, cancellationToken) => CliErrors.RunAsync(parseResult.InvocationConfiguration.Error, async () =>
        {
            var model = ModelCatalog.Get(parseResult.GetValue(name)!);
            var environment = MmragOptions.FromEnvironment(CliEnvironment.Get);
            using var downloader = new ModelDownloader(ModelDownloader.CreateHttpClient(), ModelCache.ForHome(environment.Home), disposeHttpClient: true);
            using var progress = DownloadProgress.Create(parseResult.InvocationConfiguration.Error);
            var variants = parseResult.GetValue(quantized) ? ModelVariants.Float32 | ModelVariants.Quantized : ModelVariants.Float32;
            var directory = await downloader.DownloadAsync(model, new ModelDownloadOptions { Variants = variants, Offline = environment.Offline }, progress, cancellationToken).ConfigureAwait(false);
            await parseResult.InvocationConfiguration.Output.WriteLineAsync($"{model.Name}: {directory}").ConfigureAwait(false);
            return 0;
        }));
        return command;
    }
}
