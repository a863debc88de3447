using System.Diagnostics;
using System.Text.Json;

namespace Mmrag.Benchmarks;

/// <summary>Runs the reference scripts of <c>shared/bench</c> (Debian Python, OpenMP OpenBLAS) and reads their JSON results.</summary>
internal static class ReferenceRuns
{
    public static string SharedBench
    {
        get
        {
            for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            {
                var candidate = Path.Combine(dir.FullName, "..", "shared", "bench");
                if (File.Exists(Path.Combine(dir.FullName, "Mmrag.slnx")) && Directory.Exists(candidate))
                {
                    return Path.GetFullPath(candidate);
                }
            }

            throw new DirectoryNotFoundException("shared/bench not found beside the repository.");
        }
    }

    public static void Run(string benchDir, string script, string arguments)
    {
        var start = new ProcessStartInfo("/usr/bin/python3", $"{Path.Combine(SharedBench, script)} {arguments}")
        {
            WorkingDirectory = SharedBench,
            UseShellExecute = false,
        };
        start.Environment["MMRAG_BENCH_DIR"] = benchDir;
        start.Environment["LD_LIBRARY_PATH"] = Path.Combine(benchDir, "vendor", "openblas-omp", "usr", "lib", "x86_64-linux-gnu", "openblas-openmp");
        Console.WriteLine($"reference: {script} {arguments}");
        using var process = Process.Start(start) ?? throw new InvalidOperationException($"could not start {script}");
        process.WaitForExit();
        if (process.ExitCode != 0)
        {
            throw new InvalidOperationException($"{script} exited with {process.ExitCode}");
        }
    }

    public static JsonElement? Load(string benchDir, string name)
    {
        var path = Path.Combine(benchDir, "results", name);
        if (!File.Exists(path))
        {
            return null;
        }

        using var document = JsonDocument.Parse(File.ReadAllBytes(path));
        return document.RootElement.Clone();
    }
}
