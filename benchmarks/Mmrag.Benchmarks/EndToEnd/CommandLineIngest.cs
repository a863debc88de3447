using System.Diagnostics;
using System.Globalization;
using System.Text.RegularExpressions;

namespace Mmrag.Benchmarks.EndToEnd;

/// <summary>
/// <c>mmrag ingest</c> of a folder as a user runs it: its own process, which loads the model inside the run, timed and
/// measured by <c>/usr/bin/time</c> (wall time, peak resident memory, CPU).
/// </summary>
internal static partial class CommandLineIngest
{
    /// <summary>The <c>mmrag</c> executable: <paramref name="given"/>, else the Release build under <c>src/Mmrag.Cli</c>; null when there is none (or no <c>/usr/bin/time</c>).</summary>
    public static string? Find(string? given)
    {
        if (given is not null)
        {
            return File.Exists(given) ? Path.GetFullPath(given) : throw new FileNotFoundException($"--cli {given}: no such file.", given);
        }

        var built = Path.GetFullPath(Path.Combine("src", "Mmrag.Cli", "bin", "Release", "net10.0", "linux-x64", "mmrag"));
        return File.Exists(built) && File.Exists("/usr/bin/time") ? built : null;
    }

    /// <summary>
    /// Ingests <paramref name="folder"/> into a fresh knowledge base with <c>mmrag ingest</c> and describes the run: its
    /// rate (the model load included, as the command reports it, and without <paramref name="modelLoad"/>) as a share of
    /// <paramref name="towerRate"/>, its peak resident memory and CPU.
    /// </summary>
    public static async Task<string> RunAsync(string cli, string folder, string kbFolder, string modelDir, string flag, double towerRate, TimeSpan modelLoad)
    {
        if (Directory.Exists(kbFolder))
        {
            Directory.Delete(kbFolder, recursive: true);
        }

        var start = new ProcessStartInfo("/usr/bin/time") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var argument in new[] { "-f", "time: %M KiB %e s %P", cli, "ingest", folder, "--kb", kbFolder, "--model", modelDir, "--offline", flag })
        {
            if (argument.Length > 0)
            {
                start.ArgumentList.Add(argument);
            }
        }

        using var process = Process.Start(start) ?? throw new InvalidOperationException("/usr/bin/time did not start.");
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync().ConfigureAwait(false);
        var summary = Summary().Match(await output.ConfigureAwait(false));
        var time = Time().Match(await error.ConfigureAwait(false));
        if (process.ExitCode != 0 || !summary.Success || !time.Success)
        {
            return $"failed (exit code {process.ExitCode}): {(await output.ConfigureAwait(false)).Trim()} {(await error.ConfigureAwait(false)).Trim()}";
        }

        var items = int.Parse(summary.Groups[1].Value, CultureInfo.InvariantCulture);
        var seconds = double.Parse(summary.Groups[2].Value, CultureInfo.InvariantCulture);
        var rate = items / seconds;
        var loaded = items / (seconds - modelLoad.TotalSeconds);
        return $"{rate:F2} ({items} items in {seconds:F1} s with the model load, {rate / towerRate:P0} of the vision tower alone; " +
            $"without the {modelLoad.TotalSeconds:F1} s load {loaded:F2} = {loaded / towerRate:P0}; process {time.Groups[2].Value} s, " +
            $"peak RSS {long.Parse(time.Groups[1].Value, CultureInfo.InvariantCulture) / 1024} MiB, CPU {time.Groups[3].Value} %)";
    }

    // The command's last line: "…; 200 items (200 embedded) in 7.4 s".
    [GeneratedRegex(@"; (\d+) items \(\d+ embedded\) in ([\d.]+) s")]
    private static partial Regex Summary();

    [GeneratedRegex(@"time: (\d+) KiB ([\d.]+) s (\d+)%")]
    private static partial Regex Time();
}
