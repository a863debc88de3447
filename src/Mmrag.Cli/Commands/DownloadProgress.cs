using Mmrag.Clip.Models;
using Spectre.Console;

namespace Mmrag.Cli.Commands;

/// <summary>
/// Shows model download progress on stderr: a live bar on a terminal, plain lines (one per file and every 10 %)
/// otherwise, so piped output and CI logs stay readable.
/// </summary>
internal sealed class DownloadProgress : IProgress<ModelDownloadProgress>, IDisposable
{
    private readonly TextWriter _plain;
    private readonly IAnsiConsole? _console;
    private readonly object _gate = new();
    private string? _currentFile;
    private int _lastDecile = -1;
    private DateTime _lastRender = DateTime.MinValue;

    private DownloadProgress(TextWriter plain, IAnsiConsole? console)
    {
        _plain = plain;
        _console = console;
    }

    public static DownloadProgress Create(TextWriter error)
    {
        var interactive = !Console.IsErrorRedirected && ReferenceEquals(error, Console.Error) && CliEnvironment.Get("CI") is null;
        var console = interactive
            ? AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(Console.Error) })
            : null;
        return new DownloadProgress(error, console);
    }

    public void Report(ModelDownloadProgress value)
    {
        lock (_gate)
        {
            if (value.File != _currentFile)
            {
                EndLine();
                _currentFile = value.File;
                _lastDecile = -1;
                _plain.WriteLine($"{value.ModelName}: {value.File} ({value.FileIndex + 1}/{value.FileCount}) {Size(value.FileTotalBytes)}");
            }

            var fraction = value.FileTotalBytes is > 0 and { } total ? (double)value.FileBytes / total : 0;
            if (_console is not null)
            {
                if ((DateTime.UtcNow - _lastRender).TotalMilliseconds > 100 || value.Stage == ModelDownloadStage.Completed)
                {
                    _lastRender = DateTime.UtcNow;
                    var width = 30;
                    var filled = (int)(fraction * width);
                    _console.Write(new Text($"\r  [{new string('#', filled)}{new string('.', width - filled)}] {fraction,4:P0} {Size(value.FileBytes)} {value.Stage}   "));
                }
            }
            else
            {
                var decile = (int)(fraction * 10);
                if (decile > _lastDecile && value.Stage == ModelDownloadStage.Downloading && value.FileTotalBytes > 10_000_000)
                {
                    _lastDecile = decile;
                    _plain.WriteLine($"  {decile * 10}% of {value.File}");
                }
                else if (value.Stage is ModelDownloadStage.Retrying or ModelDownloadStage.Verifying)
                {
                    _plain.WriteLine($"  {value.Stage.ToString().ToLowerInvariant()} {value.File}");
                }
            }
        }
    }

    public void Dispose() => EndLine();

    private void EndLine()
    {
        if (_console is not null && _currentFile is not null)
        {
            _console.WriteLine();
        }
    }

    private static string Size(long? bytes) => bytes switch
    {
        null => "",
        < 1024 * 1024 => $"{bytes / 1024.0:F0} KiB",
        _ => $"{bytes / (1024.0 * 1024):F1} MiB",
    };
}
