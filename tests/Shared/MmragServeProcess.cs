using System.Diagnostics;
using System.Text;
using System.Text.RegularExpressions;

namespace Mmrag.Testing;

/// <summary>
/// A started <c>mmrag serve</c> process (<see cref="MmragProcess"/>) whose output is collected and watched for its
/// "serving … on URL" line; killed, with its children, when disposed.
/// </summary>
internal sealed partial class MmragServeProcess : IAsyncDisposable
{
    private readonly StringBuilder _output = new();
    private readonly TaskCompletionSource<string?> _serving = new(TaskCreationOptions.RunContinuationsAsynchronously);

    private MmragServeProcess(Process process)
    {
        Process = process;
        process.OutputDataReceived += (_, e) => Watch(e.Data);
        process.ErrorDataReceived += (_, e) => Watch(e.Data);
        process.EnableRaisingEvents = true;
        process.Exited += (_, _) => _serving.TrySetResult(null);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
    }

    public Process Process { get; }

    /// <summary>Everything it wrote so far, stdout and stderr.</summary>
    public string Output
    {
        get
        {
            lock (_output)
            {
                return _output.ToString();
            }
        }
    }

    /// <summary>Starts <c>mmrag serve ARGS</c> (a null variable value removes it from the environment).</summary>
    public static MmragServeProcess Start(IReadOnlyDictionary<string, string?>? environment, params string[] args) =>
        new(MmragProcess.Start(environment, ["serve", .. args]));

    /// <summary>Its "serving … on URL" line, or null when it exited first (at most two minutes).</summary>
    public Task<string?> ServingLineAsync() => _serving.Task.WaitAsync(TimeSpan.FromMinutes(2));

    /// <summary>The first address it listens on.</summary>
    /// <exception cref="InvalidOperationException">It exited instead; the message holds its output.</exception>
    public async Task<Uri> AddressAsync() => await ServingLineAsync() is { } line
        ? new Uri(ServingLine().Match(line).Groups[1].Value + "/")
        : throw new InvalidOperationException("mmrag serve exited: " + Output);

    private void Watch(string? line)
    {
        if (line is null)
        {
            return;
        }

        lock (_output)
        {
            _output.AppendLine(line);
        }

        // "serving KB (model) on http://127.0.0.1:PORT; Ctrl+C stops"
        if (ServingLine().IsMatch(line))
        {
            _serving.TrySetResult(line);
        }
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            Process.Kill(entireProcessTree: true);
            await Process.WaitForExitAsync();
        }
        catch (InvalidOperationException)
        {
            // Already gone.
        }

        Process.Dispose();
    }

    [GeneratedRegex(@"^serving .* on (http://[^\s;,]+)")]
    private static partial Regex ServingLine();
}
