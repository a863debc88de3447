using System.Diagnostics;

namespace Mmrag.Testing;

/// <summary>
/// The real <c>mmrag</c> CLI as a separate process (<c>dotnet mmrag.dll</c> beside the test binaries; the test project
/// references Mmrag.Cli), for tests about what only processes show: crashes, several ingesters, a started server.
/// </summary>
internal static class MmragProcess
{
    /// <summary>Starts <c>mmrag ARGS</c> with its output redirected (the caller reads or drains it); a null variable value removes it.</summary>
    public static Process Start(IReadOnlyDictionary<string, string?>? environment, params string[] args)
    {
        var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        start.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "mmrag.dll"));
        foreach (var arg in args)
        {
            start.ArgumentList.Add(arg);
        }

        foreach (var (name, value) in environment ?? new Dictionary<string, string?>())
        {
            if (value is null)
            {
                start.Environment.Remove(name);
            }
            else
            {
                start.Environment[name] = value;
            }
        }

        return Process.Start(start) ?? throw new InvalidOperationException("dotnet did not start.");
    }

    /// <summary>Waits for a started process; its exit code and everything it wrote. Kills it after <paramref name="timeout"/>.</summary>
    public static async Task<(int ExitCode, string Output)> FinishAsync(Process process, TimeSpan timeout)
    {
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEndAsync();
        using var cancellation = new CancellationTokenSource(timeout);
        try
        {
            await process.WaitForExitAsync(cancellation.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"mmrag did not finish in {timeout}: {await output}{await error}");
        }

        return (process.ExitCode, await output + await error);
    }

    /// <summary>Runs <c>mmrag ARGS</c> to the end (at most 3 minutes).</summary>
    public static async Task<(int ExitCode, string Output)> RunAsync(params string[] args)
    {
        using var process = Start(null, args);
        return await FinishAsync(process, TimeSpan.FromMinutes(3));
    }
}
