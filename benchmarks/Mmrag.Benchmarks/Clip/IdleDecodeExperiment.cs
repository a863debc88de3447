using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;
using Mmrag.Clip.Inference;

namespace Mmrag.Benchmarks.Clip;

/// <summary>
/// Whether decoding could overlap the vision tower without slowing it: the tower alone at batch 32, then with one thread
/// decoding the e2e JPEGs beside it at Linux's SCHED_IDLE policy, at nice 19 and at normal priority, printing the
/// tower's rate and the decodes done meanwhile (on two cores a normal-priority decoder slows every operator of the tower,
/// see src/Mmrag.Clip/README.md). Usage: <c>idle-decode [--model DIR] [--seconds 6] [--modes none,idle,nice19,normal,none]</c>.
/// Needs the e2e JPEG folder (run <c>e2e</c> once).
/// </summary>
public static partial class IdleDecodeExperiment
{
    public static int Run(string[] args)
    {
        var options = BenchOptions.Parse(args);
        var benchDir = Environment.GetEnvironmentVariable("MMRAG_BENCH_DIR") ?? "/tmp/mmrag-bench";
        var modelDir = options.Get("--model") ?? Path.Combine(benchDir, "models", "vit-b-32-random");
        var seconds = double.Parse(options.Get("--seconds") ?? "6", CultureInfo.InvariantCulture);
        using var model = ClipModel.Load(modelDir, new ClipModelOptions { IntraOpThreads = 2 });
        var jpegs = Directory.GetFiles(Path.Combine(benchDir, "e2e", "jpegs-200"), "*.jpg").Order(StringComparer.Ordinal).Take(64).Select(File.ReadAllBytes).ToArray();
        var pixels = new float[32 * model.PixelValuesLength];
        var output = new float[32 * model.Dimension];
        model.EmbedPixelValues(pixels, 32, output);
        var scratch = new float[model.PixelValuesLength];
        var one = Stopwatch.StartNew();
        for (var i = 0; i < 16; i++)
        {
            model.PreprocessImage(jpegs[i], scratch);
        }

        Console.WriteLine($"decode + preprocess alone, 1 thread: {one.Elapsed.TotalMilliseconds / 16:F2} ms/image; load {File.ReadAllText("/proc/loadavg").Trim()}");
        foreach (var mode in (options.Get("--modes") ?? "none,idle,nice19,normal,none").Split(','))
        {
            var decoded = 0;
            using var stop = new CancellationTokenSource();
            Thread? thread = null;
            if (mode != "none")
            {
                thread = new Thread(() =>
                {
                    var tid = gettid();
                    if (mode == "idle")
                    {
                        var param = new SchedParam();
                        if (sched_setscheduler(tid, 5, ref param) != 0)
                        {
                            Console.WriteLine($"sched_setscheduler failed: {Marshal.GetLastPInvokeError()}");
                        }
                    }
                    else if (mode == "nice19" && setpriority(0, tid, 19) != 0)
                    {
                        Console.WriteLine($"setpriority failed: {Marshal.GetLastPInvokeError()}");
                    }

                    var local = new float[model.PixelValuesLength];
                    var j = 0;
                    while (!stop.IsCancellationRequested)
                    {
                        model.PreprocessImage(jpegs[j++ % jpegs.Length], local);
                        Interlocked.Increment(ref decoded);
                    }
                }) { IsBackground = true };
                thread.Start();
            }

            var runs = 0;
            var watch = Stopwatch.StartNew();
            var cpu = Process.GetCurrentProcess().TotalProcessorTime;
            while (watch.Elapsed.TotalSeconds < seconds)
            {
                model.EmbedPixelValues(pixels, 32, output);
                runs++;
            }

            var elapsed = watch.Elapsed.TotalSeconds;
            var cores = (Process.GetCurrentProcess().TotalProcessorTime - cpu).TotalSeconds / elapsed;
            stop.Cancel();
            thread?.Join();
            Console.WriteLine($"{mode,-7} tower {runs * 32 / elapsed:F2} images/s, decoded beside it {decoded / elapsed:F1} images/s, {cores:F2} cores busy");
        }

        return 0;
    }

    [StructLayout(LayoutKind.Sequential)]
    private struct SchedParam
    {
        public int Priority;
    }

    [LibraryImport("libc", SetLastError = true)]
    private static partial int gettid();

    [LibraryImport("libc", SetLastError = true)]
    private static partial int sched_setscheduler(int pid, int policy, ref SchedParam param);

    [LibraryImport("libc", SetLastError = true)]
    private static partial int setpriority(int which, int who, int prio);
}
