using Mmrag.Ingestion.Pipeline;
using Spectre.Console;

namespace Mmrag.Cli.Commands;

/// <summary>
/// Shows ingestion progress on stderr: a live progress bar on a terminal, plain lines (at most one every two seconds)
/// when stderr is redirected or in CI, so logs stay readable.
/// </summary>
internal static class IngestionDisplay
{
    public static async Task<IngestionSummary> RunAsync(TextWriter error, Func<IProgress<IngestionProgress>, Task<IngestionSummary>> run)
    {
        var interactive = !Console.IsErrorRedirected && ReferenceEquals(error, Console.Error) && CliEnvironment.Get("CI") is null;
        if (!interactive)
        {
            var plain = new PlainProgress(error);
            var result = await run(plain).ConfigureAwait(false);
            plain.Flush();
            return result;
        }

        var console = AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(Console.Error) });
        IngestionSummary? summary = null;
        await console.Progress()
            .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new RemainingTimeColumn(), new SpinnerColumn())
            .StartAsync(async context =>
            {
                var task = context.AddTask("scanning", maxValue: 1);
                var progress = new Progress<IngestionProgress>(p =>
                {
                    task.MaxValue = Math.Max(1, p.FilesTotal);
                    task.Value = p.FilesDone;
                    task.Description = $"{Describe(p)} {Markup.Escape(Path.GetFileName(p.CurrentFile ?? ""))}";
                });
                summary = await run(progress).ConfigureAwait(false);
                task.Value = task.MaxValue;
            }).ConfigureAwait(false);
        return summary!;
    }

    private sealed class PlainProgress(TextWriter error) : IProgress<IngestionProgress>
    {
        private readonly object _gate = new();
        private DateTime _last = DateTime.MinValue;
        private IngestionProgress? _latest;

        public void Report(IngestionProgress value)
        {
            lock (_gate)
            {
                _latest = value;
                if ((DateTime.UtcNow - _last).TotalSeconds >= 2)
                {
                    _last = DateTime.UtcNow;
                    Write(value);
                }
            }
        }

        public void Flush()
        {
            lock (_gate)
            {
                if (_latest is { } latest)
                {
                    Write(latest);
                }
            }
        }

        private void Write(IngestionProgress p) => error.WriteLine($"ingest: {Describe(p)}");
    }

    /// <summary>Files, items, failures and rate; within a large file, how far its items are.</summary>
    private static string Describe(IngestionProgress p)
    {
        var within = p.FileItemsTotal > 0 && p.FileItemsDone < p.FileItemsTotal ? $" (current file {p.FileItemsDone}/{p.FileItemsTotal} items)" : "";
        return $"{p.FilesDone}/{p.FilesTotal} files, {p.ItemsStored} items, {p.Failures} failed, {p.ItemsPerSecond:F1} items/s{within}";
    }
}
