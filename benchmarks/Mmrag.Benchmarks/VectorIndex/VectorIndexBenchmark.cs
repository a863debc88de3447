using System.Diagnostics;
using System.Globalization;
using System.Numerics.Tensors;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Text.Json;
using Mmrag.Storage.Embedded.Indexing;

namespace Mmrag.Benchmarks.VectorIndex;

/// <summary>
/// Exact and HNSW vector index benchmark on the TEXMEX files of <c>shared/bench/gen_data.py</c>
/// (<c>$MMRAG_BENCH_DIR/data/base_{n}.fvecs</c>, <c>query_1k.fvecs</c>, <c>gt_{n}_top100.ivecs</c>): exact single-query
/// latency on one thread, HNSW build time, and per efSearch recall@10 and single-thread QPS, printed beside the
/// reference results that <c>bench_vec.py</c>, <c>bench_flat_blas.py</c> and <c>run-native-hnswlib.sh</c> left in
/// <c>$MMRAG_BENCH_DIR/results/</c>. A Stopwatch harness with warm-up, timed like the references: a QPS figure is
/// 1,000 queries one after another on one thread, median over passes.
/// </summary>
public static class VectorIndexBenchmark
{
    private const int K = 10;

    private const string Usage = """
        usage: vector-index [--n 100k|1m|N] [--M 16] [--efc 200] [--efs 16,32,64,128,256] [--threads 2]
                            [--reps 3] [--nq 1000] [--exact-nq N] [--skip-exact] [--skip-hnsw] [--skip-batch] [--batch-only]
                            [--dir DIR] [--generate N [--dim 512]]
          --n          data set: base_{n}.fvecs and gt_{n}_top100.ivecs (100k, 1m, or the N of --generate)
          --threads    HNSW build threads (the references build on 2)
          --batch-only only the many-queries-at-once comparison (SearchBatch on 1 and 2 threads vs faiss flat / numpy sgemm)
          --reps       timed passes per measurement (after one warm-up pass)
          --exact-nq   queries timed for exact search and the batch (default 1000, 100 above 200k vectors)
          --dir        bench folder (default $MMRAG_BENCH_DIR or /tmp/mmrag-bench); data in DIR/data, references in DIR/results
          --generate N write a small synthetic clustered set (base_N, query_1k, gt_N_top100) into DIR/data first,
                       for smoke runs where gen_data.py has not been run (not the reference distribution)
        """;

    /// <summary>Runs the benchmark; returns the process exit code.</summary>
    public static int Run(string[] args)
    {
        Options o;
        try
        {
            o = Options.Parse(args);
        }
        catch (ArgumentException e)
        {
            Console.Error.WriteLine(e.Message);
            Console.Error.WriteLine(Usage);
            return 2;
        }

        if (o.Help)
        {
            Console.WriteLine(Usage);
            return 0;
        }

        string dataDir = Path.Combine(o.Dir, "data");
        if (o.Generate > 0)
        {
            SyntheticData.Write(dataDir, o.Generate, o.Dim);
        }

        string basePath = Path.Combine(dataDir, $"base_{o.N}.fvecs");
        string queryPath = Path.Combine(dataDir, "query_1k.fvecs");
        string gtPath = Path.Combine(dataDir, $"gt_{o.N}_top100.ivecs");
        foreach (string p in new[] { basePath, queryPath, gtPath })
        {
            if (!File.Exists(p))
            {
                Console.Error.WriteLine($"missing {p}: run shared/bench/gen_data.py (or pass --generate N for a smoke run)");
                return 1;
            }
        }

        long rss0 = Environment.WorkingSet;
        var sw = Stopwatch.StartNew();
        VectorSet vectors = Texmex.ReadVectorSet(basePath);
        float[] queries = Texmex.ReadFloats(queryPath, out int nqAll, out int dq);
        int[] gt = Texmex.ReadInts(gtPath, out int ngt, out int kgt);
        int nq = Math.Min(o.Nq, Math.Min(nqAll, ngt));
        if (dq != vectors.Dimension)
        {
            Console.Error.WriteLine($"query dimension {dq} differs from base dimension {vectors.Dimension}");
            return 1;
        }

        int n = vectors.Count;
        int d = vectors.Dimension;
        var refs = References.Load(Path.Combine(o.Dir, "results"), n, o.M, o.Efc);
        Console.WriteLine($"# mmrag vector index benchmark: n={n:N0} d={d} queries={nq} k={K} kernel={KernelName()} cpus={Environment.ProcessorCount} (loaded in {sw.Elapsed.TotalSeconds:F1} s)");
        Console.WriteLine($"# CPU: {MachineLimits.Cpu()}");
        Console.WriteLine($"# data: {basePath}; references: {(refs.Files.Count == 0 ? "none found" : string.Join(", ", refs.Files))}");
        Console.WriteLine();

        if (!o.SkipExact)
        {
            RunExact(o, vectors, queries, gt, kgt, nq, refs);
        }

        if (!o.SkipHnsw)
        {
            RunHnsw(o, vectors, queries, gt, kgt, nq, refs, rss0);
        }

        return 0;
    }

    private static void RunExact(Options o, VectorSet vectors, float[] queries, int[] gt, int kgt, int nq, References refs)
    {
        int d = vectors.Dimension;
        var exact = new ExactVectorIndex(vectors);
        int exactNq = Math.Min(nq, o.ExactNq ?? (vectors.Count > 200_000 ? 100 : 1000));
        if (o.BatchOnly)
        {
            RunBatch(o, vectors, queries, gt, kgt, exactNq, refs);
            Console.WriteLine();
            return;
        }

        var hits = new VectorHit[K];
        var found = new int[exactNq * K];
        for (int i = 0; i < 50; i++)
        {
            exact.Search(queries.AsSpan(i % exactNq * d, d), K, hits); // warm-up: lets the JIT reach tier 1
        }

        var lat = new List<double>();
        for (int r = 0; r < o.Reps; r++)
        {
            for (int i = 0; i < exactNq; i++)
            {
                long t = Stopwatch.GetTimestamp();
                exact.Search(queries.AsSpan(i * d, d), K, hits);
                lat.Add(Stopwatch.GetElapsedTime(t).TotalMilliseconds);
                if (r == 0)
                {
                    for (int j = 0; j < K; j++)
                    {
                        found[(i * K) + j] = hits[j].Slot;
                    }
                }
            }
        }

        double recall = Recall(found, exactNq, gt, kgt);
        double mean = lat.Average();
        double p50 = Percentile(lat, 0.50);
        double gbps = vectors.Count * (double)d * sizeof(float) / (p50 / 1e3) / 1e9;
        Console.WriteLine($"## Exact search, one query at a time, 1 thread ({exactNq} queries x {o.Reps} passes)");
        Console.WriteLine($"{"",-34} {"mean ms",9} {"p50 ms",9} {"p99 ms",9} {"scan GB/s",10} {"recall@10",10}");
        Console.WriteLine($"{"mmrag ExactVectorIndex",-34} {mean,9:F3} {p50,9:F3} {Percentile(lat, 0.99),9:F3} {gbps,10:F1} {recall,10:F4}");
        double floor = ReadFloorMs(vectors, o.Reps);
        Console.WriteLine($"{"read all vectors once (best, floor)",-34} {"",9} {floor,9:F3} {"",9} {vectors.Count * (double)d * sizeof(float) / (floor / 1e3) / 1e9,10:F1} {"",10}   ours/floor p50 {p50 / floor:F2}x");
        foreach (ExactReference r in refs.Exact)
        {
            Console.WriteLine($"{r.Name,-34} {Fmt(r.MeanMs, "F3"),9} {Fmt(r.P50Ms, "F3"),9} {Fmt(r.P99Ms, "F3"),9} {Fmt(r.P50Ms is double x ? vectors.Count * (double)d * sizeof(float) / (x / 1e3) / 1e9 : null, "F1"),10} {Fmt(r.Recall, "F4"),10}   ours/ref p50 {Fmt(p50 / r.P50Ms, "F2")}x");
        }

        if (!o.SkipBatch)
        {
            RunBatch(o, vectors, queries, gt, kgt, exactNq, refs);
        }

        Console.WriteLine();
    }

    /// <summary>
    /// Many queries at once: <see cref="ExactVectorIndex.SearchBatch"/> on 1 and 2 threads beside faiss flat's and
    /// numpy+OpenBLAS's batch searches (sgemm + top-k) on the same threads, as QPS and ratios; the spread is min–max over passes.
    /// </summary>
    private static void RunBatch(Options o, VectorSet vectors, float[] queries, int[] gt, int kgt, int batchNq, References refs)
    {
        int d = vectors.Dimension;
        ReadOnlySpan<float> all = queries.AsSpan(0, batchNq * d);
        double flops = 2.0 * batchNq * vectors.Count * d;
        Console.WriteLine($"## Exact search, {batchNq} queries at once (SearchBatch: blocked queries x rows, {VectorMath.KernelName} 3x2 register kernel), {o.Reps} passes after a warm-up");
        Console.WriteLine($"{"",-34} {"QPS",9} {"min-max",15} {"GFLOP/s",8} {"recall@10",10} {"QPS/CPU-s",10}   ratio to each reference with the same threads");
        foreach (int threads in new[] { 1, 2 })
        {
            var index = new ExactVectorIndex(vectors, new ExactVectorIndexOptions { MaxDegreeOfParallelism = threads });
            VectorHit[][] batch = index.SearchBatch(all, K);
            var qps = new List<double>();
            var perCpu = new List<double>();
            using var self = Process.GetCurrentProcess();
            for (int r = 0; r < o.Reps; r++)
            {
                self.Refresh();
                TimeSpan cpu = self.TotalProcessorTime;
                long t = Stopwatch.GetTimestamp();
                batch = index.SearchBatch(all, K);
                qps.Add(batchNq / Stopwatch.GetElapsedTime(t).TotalSeconds);
                self.Refresh();
                perCpu.Add(batchNq / (self.TotalProcessorTime - cpu).TotalSeconds); // on a shared machine: what one CPU-second buys
            }

            var found = new int[batchNq * K];
            for (int i = 0; i < batchNq; i++)
            {
                for (int j = 0; j < Math.Min(K, batch[i].Length); j++)
                {
                    found[(i * K) + j] = batch[i][j].Slot;
                }
            }

            double median = Median(qps);
            string ratios = string.Join("; ", refs.ExactBatch.Where(r => r.Threads == threads).Select(r => $"{median / r.Qps:F2}x {r.Name}"));
            Console.WriteLine($"{$"mmrag SearchBatch {threads}t",-34} {median,9:F0} {$"{qps.Min():F0}-{qps.Max():F0}",15} {flops * median / batchNq / 1e9,8:F1} {Recall(found, batchNq, gt, kgt),10:F4} {Median(perCpu),10:F0}   {ratios}");
        }

        foreach (BatchReference r in refs.ExactBatch.OrderBy(r => r.Threads))
        {
            Console.WriteLine($"{$"{r.Name} {r.Threads}t",-34} {r.Qps,9:F0} {(r.Min is double lo && r.Max is double hi ? $"{lo:F0}-{hi:F0}" : ""),15} {flops * r.Qps / batchNq / 1e9,8:F1} {Fmt(r.Recall, "F4"),10} {"",10}   ({r.File}, {r.Started ?? "time unknown"})");
        }
    }

    private static void RunHnsw(Options o, VectorSet vectors, float[] queries, int[] gt, int kgt, int nq, References refs, long rss0)
    {
        int d = vectors.Dimension;
        var index = new HnswIndex(vectors, new HnswOptions { M = o.M, EfConstruction = o.Efc, MaxDegreeOfParallelism = o.Threads });
        long rssBefore = Environment.WorkingSet;
        long t0 = Stopwatch.GetTimestamp();
        index.InsertRange(0, vectors.Count);
        double build = Stopwatch.GetElapsedTime(t0).TotalSeconds;
        long rssAfter = Environment.WorkingSet;
        long graphBytes = index.MemoryBytes - vectors.MemoryBytes;

        Console.WriteLine($"## HNSW M={o.M} efConstruction={o.Efc}");
        Console.WriteLine($"{"",-34} {"build s",9} {"threads",8} {"memory",28}");
        Console.WriteLine($"{"mmrag HnswIndex",-34} {build,9:F2} {o.Threads,8} {$"vectors {Mib(vectors.MemoryBytes)} + graph {Mib(graphBytes)}",28}   (RSS +{Mib(rssAfter - rssBefore)} during build, {Mib(rssAfter - rss0)} total)");
        foreach (HnswReference r in refs.Hnsw)
        {
            string mem = r.IndexBytes is long b ? $"index file {Mib(b)}" : "";
            Console.WriteLine($"{r.Name,-34} {Fmt(r.BuildS, "F2"),9} {Fmt(r.BuildThreads, "F0"),8} {mem,28}   ours/ref build {Fmt(build / r.BuildS, "F2")}x");
        }

        Console.WriteLine();
        var hits = new VectorHit[K];
        var found = new int[nq * K];
        var points = new List<(double Recall, double Qps)>();
        Console.Write($"{"ef",5} {"recall@10",10} {"QPS 1t",9} {"p50 ms",8} {"p99 ms",8}");
        foreach (HnswReference r in refs.Hnsw)
        {
            Console.Write($" | {Short(r.Name),22}");
        }

        Console.WriteLine();
        foreach (int ef in o.Efs)
        {
            var qps = new List<double>();
            var lat = new List<double>();
            for (int r = 0; r <= o.Reps; r++)
            {
                long passStart = Stopwatch.GetTimestamp();
                for (int i = 0; i < nq; i++)
                {
                    long t = Stopwatch.GetTimestamp();
                    index.Search(queries.AsSpan(i * d, d), K, hits, ef);
                    if (r > 0)
                    {
                        lat.Add(Stopwatch.GetElapsedTime(t).TotalMilliseconds);
                    }
                    else
                    {
                        for (int j = 0; j < K; j++)
                        {
                            found[(i * K) + j] = hits[j].Slot;
                        }
                    }
                }

                if (r > 0)
                {
                    qps.Add(nq / Stopwatch.GetElapsedTime(passStart).TotalSeconds);
                }
            }

            double recall = Recall(found, nq, gt, kgt);
            double q = Median(qps);
            points.Add((recall, q));
            Console.Write($"{ef,5} {recall,10:F4} {q,9:F0} {Percentile(lat, 0.5),8:F3} {Percentile(lat, 0.99),8:F3}");
            foreach (HnswReference r in refs.Hnsw)
            {
                (double Recall, double Qps)? p = r.Sweep.TryGetValue(ef, out var v) ? v : null;
                Console.Write($" | {(p is null ? "-" : $"{p.Value.Recall:F4} {p.Value.Qps,7:F0}"),22}");
            }

            Console.WriteLine();
        }

        Console.WriteLine();
        Console.WriteLine("QPS at recall@10 (log-linear interpolation between ef values, as common.py does)");
        foreach (double target in new[] { 0.90, 0.95, 0.99 })
        {
            (double? ours, string note) = InterpolateQps(points, target);
            Console.Write($"  >= {target:F2}: mmrag {Fmt(ours, "F0")} ({note})");
            foreach (HnswReference r in refs.Hnsw)
            {
                (double? theirs, _) = InterpolateQps(r.Sweep.OrderBy(kv => kv.Key).Select(kv => kv.Value).ToList(), target);
                Console.Write($"; {Short(r.Name)} {Fmt(theirs, "F0")}{(ours is double a && theirs is double b ? $" (ours/ref {a / b:F2}x)" : "")}");
            }

            Console.WriteLine();
        }

        Console.WriteLine();
    }

    private static string KernelName() => VectorMath.KernelName;

    /// <summary>
    /// Best single-thread time to stream the stored rows once with a plain 4-accumulator vector sum (no scoring,
    /// no heap), after warm-up passes: this run's memory-read floor for one exact query.
    /// </summary>
    private static unsafe double ReadFloorMs(VectorSet vectors, int reps)
    {
        var times = new List<double>();
        float sink = 0;
        for (int r = 0; r < 3 + (reps * 3); r++)
        {
            long t = Stopwatch.GetTimestamp();
            VectorSet.Chunk[] chunks = vectors.Chunks;
            for (int c = 0; c < chunks.Length; c++)
            {
                long floats = (long)Math.Min(vectors.ChunkRows, vectors.Count - (c * vectors.ChunkRows)) * vectors.Stride;
                sink += StreamSum(chunks[c].Rows, floats);
            }

            if (r >= 3)
            {
                times.Add(Stopwatch.GetElapsedTime(t).TotalMilliseconds);
            }
        }

        GC.KeepAlive(sink);
        return times.Min();
    }

    private static unsafe float StreamSum(float* p, long n)
    {
        if (!Vector512.IsHardwareAccelerated)
        {
            return TensorPrimitives.Sum(new ReadOnlySpan<float>(p, (int)n));
        }

        Vector512<float> a0 = Vector512<float>.Zero, a1 = a0, a2 = a0, a3 = a0;
        long j = 0;
        for (; j + 64 <= n; j += 64)
        {
            a0 += Vector512.Load(p + j);
            a1 += Vector512.Load(p + j + 16);
            a2 += Vector512.Load(p + j + 32);
            a3 += Vector512.Load(p + j + 48);
        }

        float tail = 0;
        for (; j < n; j++)
        {
            tail += p[j];
        }

        return Vector512.Sum((a0 + a1) + (a2 + a3)) + tail;
    }

    private static string Short(string name) => name.Length <= 22 ? name : name[..22];

    private static string Mib(long bytes) => $"{bytes / (1024.0 * 1024.0):F0} MiB";

    private static string Fmt(double? v, string format) => v is double x ? x.ToString(format, CultureInfo.InvariantCulture) : "-";

    private static double Recall(int[] found, int nq, int[] gt, int kgt)
    {
        int hitCount = 0;
        var truth = new HashSet<int>();
        for (int i = 0; i < nq; i++)
        {
            truth.Clear();
            for (int j = 0; j < K; j++)
            {
                truth.Add(gt[(i * kgt) + j]);
            }

            for (int j = 0; j < K; j++)
            {
                hitCount += truth.Contains(found[(i * K) + j]) ? 1 : 0;
            }
        }

        return hitCount / (double)(nq * K);
    }

    private static double Median(List<double> v) => Percentile(v, 0.5);

    internal static double Percentile(List<double> v, double p)
    {
        if (v.Count == 0)
        {
            return double.NaN;
        }

        var s = v.ToArray();
        Array.Sort(s);
        return s[Math.Min(s.Length - 1, (int)(p * s.Length))];
    }

    /// <summary>common.py's interp_qps_at_recall: log-linear between the first bracketing pair.</summary>
    private static (double? Qps, string Note) InterpolateQps(List<(double Recall, double Qps)> pts, double target)
    {
        if (pts.Count == 0)
        {
            return (null, "no data");
        }

        if (pts[0].Recall >= target)
        {
            return (pts[0].Qps, "lower bound");
        }

        for (int i = 0; i + 1 < pts.Count; i++)
        {
            (double r0, double q0) = pts[i];
            (double r1, double q1) = pts[i + 1];
            if (r0 < target && target <= r1)
            {
                double t = r1 > r0 ? (target - r0) / (r1 - r0) : 1.0;
                return (Math.Exp(Math.Log(q0) + (t * (Math.Log(q1) - Math.Log(q0)))), "interpolated");
            }
        }

        return (null, $"not reached, max {pts.Max(p => p.Recall):F4}");
    }

    private sealed class Options
    {
        public string N { get; private set; } = "100k";

        public int M { get; private set; } = 16;

        public int Efc { get; private set; } = 200;

        public int[] Efs { get; private set; } = [16, 32, 64, 128, 256];

        public int Threads { get; private set; } = 2;

        public int Reps { get; private set; } = 3;

        public int Nq { get; private set; } = 1000;

        public int? ExactNq { get; private set; }

        public bool SkipExact { get; private set; }

        public bool SkipHnsw { get; private set; }

        public bool SkipBatch { get; private set; }

        public bool BatchOnly { get; private set; }

        public bool Help { get; private set; }

        public string Dir { get; private set; } = Environment.GetEnvironmentVariable("MMRAG_BENCH_DIR") is { Length: > 0 } e ? e : "/tmp/mmrag-bench";

        public int Generate { get; private set; }

        public int Dim { get; private set; } = 512;

        public static Options Parse(string[] args)
        {
            var o = new Options();
            bool nGiven = false;
            for (int i = 0; i < args.Length; i++)
            {
                string a = args[i];
                string Next() => i + 1 < args.Length ? args[++i] : throw new ArgumentException($"{a} needs a value");
                int NextInt() => int.TryParse(Next(), NumberStyles.Integer, CultureInfo.InvariantCulture, out int v) && v > 0 ? v : throw new ArgumentException($"{a} needs a positive integer");
                switch (a)
                {
                    case "--n": o.N = Next(); nGiven = true; break;
                    case "--M": o.M = NextInt(); break;
                    case "--efc": o.Efc = NextInt(); break;
                    case "--efs":
                        o.Efs = Next().Split(',', StringSplitOptions.RemoveEmptyEntries)
                            .Select(s => int.TryParse(s, NumberStyles.Integer, CultureInfo.InvariantCulture, out int v) && v > 0 ? v : throw new ArgumentException("--efs needs positive integers"))
                            .ToArray();
                        break;
                    case "--threads": o.Threads = NextInt(); break;
                    case "--reps": o.Reps = NextInt(); break;
                    case "--nq": o.Nq = NextInt(); break;
                    case "--exact-nq": o.ExactNq = NextInt(); break;
                    case "--skip-exact": o.SkipExact = true; break;
                    case "--skip-hnsw": o.SkipHnsw = true; break;
                    case "--skip-batch": o.SkipBatch = true; break;
                    case "--batch-only": o.BatchOnly = true; o.SkipHnsw = true; break;
                    case "--dir": o.Dir = Next(); break;
                    case "--generate": o.Generate = NextInt(); break;
                    case "--dim": o.Dim = NextInt(); break;
                    case "-h" or "--help": o.Help = true; break;
                    default: throw new ArgumentException($"unknown option {a}");
                }
            }

            if (o.Generate > 0 && !nGiven)
            {
                o.N = o.Generate.ToString(CultureInfo.InvariantCulture);
            }

            return o;
        }
    }

    /// <summary>TEXMEX .fvecs/.ivecs: per record an int32 dimension then that many float32/int32.</summary>
    internal static class Texmex
    {
        public static VectorSet ReadVectorSet(string path)
        {
            using var f = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 20);
            Span<byte> dimBytes = stackalloc byte[4];
            f.ReadExactly(dimBytes);
            int d = BitConverter.ToInt32(dimBytes);
            long records = f.Length / (4L * (d + 1));
            f.Position = 0;
            var set = new VectorSet(d);
            const int block = 1024;
            var raw = new int[block * (d + 1)];
            var floats = new float[block * d];
            for (long r = 0; r < records; r += block)
            {
                int n = (int)Math.Min(block, records - r);
                f.ReadExactly(MemoryMarshal.AsBytes(raw.AsSpan(0, n * (d + 1))));
                for (int i = 0; i < n; i++)
                {
                    if (raw[i * (d + 1)] != d)
                    {
                        throw new InvalidDataException($"{path}: record {r + i} has dimension {raw[i * (d + 1)]}, expected {d}");
                    }

                    MemoryMarshal.Cast<int, float>(raw.AsSpan((i * (d + 1)) + 1, d)).CopyTo(floats.AsSpan(i * d, d));
                }

                set.AddRange(floats.AsSpan(0, n * d));
            }

            return set;
        }

        public static float[] ReadFloats(string path, out int n, out int d, int maxRecords = int.MaxValue) =>
            MemoryMarshal.Cast<int, float>(ReadInts(path, out n, out d, maxRecords)).ToArray();

        /// <summary>The first <paramref name="maxRecords"/> records (all by default); only those are read from disk.</summary>
        public static int[] ReadInts(string path, out int n, out int d, int maxRecords = int.MaxValue)
        {
            using var f = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 20);
            Span<byte> dimBytes = stackalloc byte[4];
            f.ReadExactly(dimBytes);
            d = BitConverter.ToInt32(dimBytes);
            f.Position = 0;
            long records = Math.Min(maxRecords, f.Length / (4L * (d + 1)));
            var bytes = new byte[records * 4 * (d + 1)];
            f.ReadExactly(bytes);
            ReadOnlySpan<int> all = MemoryMarshal.Cast<byte, int>(bytes);
            n = all.Length / (d + 1);
            var body = new int[n * d];
            for (int i = 0; i < n; i++)
            {
                if (all[i * (d + 1)] != d)
                {
                    throw new InvalidDataException($"{path}: record {i} has dimension {all[i * (d + 1)]}, expected {d}");
                }

                all.Slice((i * (d + 1)) + 1, d).CopyTo(body.AsSpan(i * d, d));
            }

            return body;
        }

        public static void Write<T>(string path, ReadOnlySpan<T> values, int d)
            where T : unmanaged
        {
            using var f = new FileStream(path, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 20);
            Span<byte> dimBytes = stackalloc byte[4];
            BitConverter.TryWriteBytes(dimBytes, d);
            for (int i = 0; i < values.Length / d; i++)
            {
                f.Write(dimBytes);
                f.Write(MemoryMarshal.AsBytes(values.Slice(i * d, d)));
            }
        }
    }

    /// <summary>
    /// A seeded CLIP-like set for smoke runs, following gen_data.py's recipe (not its random streams, so not its
    /// numbers): an anisotropic power-law spectrum in a random orthonormal basis, a shared cone direction, 2,000
    /// Zipf-weighted clusters each with its own 32-d subspace and spread, and exact float64 top-100 ground truth.
    /// </summary>
    internal static class SyntheticData
    {
        private const int Clusters = 2000;
        private const int Rank = 32;

        public static void Write(string dir, int n, int d)
        {
            Directory.CreateDirectory(dir);
            string basePath = Path.Combine(dir, $"base_{n}.fvecs");
            string gtPath = Path.Combine(dir, $"gt_{n}_top100.ivecs");
            string queryPath = Path.Combine(dir, "query_1k.fvecs");
            if (File.Exists(basePath) && File.Exists(gtPath) && File.Exists(queryPath))
            {
                return;
            }

            var sw = Stopwatch.StartNew();
            (float[] base_, float[] queries) = Generate(n, 1000, d);
            double[] base64 = Array.ConvertAll(base_, f => (double)f);
            var gt = new int[1000 * 100];
            var scores = new double[n];
            var order = new int[n];
            var q64 = new double[d];
            for (int qi = 0; qi < 1000; qi++)
            {
                for (int j = 0; j < d; j++)
                {
                    q64[j] = queries[(qi * d) + j];
                }

                for (int i = 0; i < n; i++)
                {
                    scores[i] = -TensorPrimitives.Dot<double>(base64.AsSpan(i * d, d), q64);
                    order[i] = i;
                }

                Array.Sort(scores, order); // ascending negated score; exact float64 ties are vanishingly rare here
                order.AsSpan(0, Math.Min(100, n)).CopyTo(gt.AsSpan(qi * 100));
            }

            Texmex.Write<float>(basePath, base_, d);
            Texmex.Write<float>(queryPath, queries, d);
            Texmex.Write<int>(gtPath, gt, 100);
            Console.WriteLine($"# generated synthetic base_{n} (d={d}), query_1k, gt_{n}_top100 in {dir} in {sw.Elapsed.TotalSeconds:F1} s");
        }

        /// <summary>
        /// <paramref name="n"/> base and <paramref name="nq"/> query unit vectors (row-major), the queries drawn first
        /// from the same seeded stream, so a given (n, nq, d) always gives the same set.
        /// </summary>
        public static (float[] Base, float[] Queries) Generate(int n, int nq, int d)
        {
            var rng = new Random(20250601);
            double[] basis = RandomOrthonormal(rng, d);
            var spec = new double[d];
            for (int i = 0; i < d; i++)
            {
                spec[i] = Math.Pow(i + 1.0, -0.7);
            }

            double specNorm = Math.Sqrt(spec.Sum(x => x * x));
            var mu = new double[d];
            FillGaussian(rng, mu);
            Scale(mu, 1 / Math.Sqrt(mu.Sum(x => x * x)));

            var centres = new float[Clusters * d];
            var g = new double[d];
            var c = new double[d];
            for (int k = 0; k < Clusters; k++)
            {
                FillGaussian(rng, g);
                for (int i = 0; i < d; i++)
                {
                    c[i] = 0.8 * mu[i];
                }

                for (int j = 0; j < d; j++)
                {
                    double coef = g[j] * spec[j] / specNorm;
                    for (int i = 0; i < d; i++)
                    {
                        c[i] += basis[(i * d) + j] * coef;
                    }
                }

                Scale(c, 1 / Math.Sqrt(c.Sum(x => x * x)));
                for (int i = 0; i < d; i++)
                {
                    centres[(k * d) + i] = (float)c[i];
                }
            }

            var prof = new double[Rank];
            for (int j = 0; j < Rank; j++)
            {
                prof[j] = Math.Pow(j + 1.0, -0.5);
            }

            double profNorm = Math.Sqrt(prof.Sum(x => x * x));
            var subspaces = new float[Clusters * Rank * d]; // per cluster: Rank columns of d
            var col = new double[d];
            for (int k = 0; k < Clusters; k++)
            {
                for (int j = 0; j < Rank; j++)
                {
                    FillGaussian(rng, col);
                    for (int i = 0; i < d; i++)
                    {
                        subspaces[(((k * Rank) + j) * d) + i] = (float)(col[i] * prof[j] / profNorm / Math.Sqrt(d));
                    }
                }
            }

            var sigma = new double[Clusters];
            var weights = new double[Clusters];
            int[] ranks = Enumerable.Range(0, Clusters).OrderBy(_ => rng.Next()).ToArray();
            for (int k = 0; k < Clusters; k++)
            {
                sigma[k] = Math.Exp(Math.Log(0.7) + (0.35 * Gaussian(rng)));
                weights[k] = Math.Pow(ranks[k] + 10.0, -0.8);
            }

            var cumulative = new double[Clusters];
            double acc = 0;
            for (int k = 0; k < Clusters; k++)
            {
                acc += weights[k];
                cumulative[k] = acc;
            }

            float[] Points(int count)
            {
                var x = new float[count * d];
                var h = new double[Rank];
                var eps = new double[d];
                var local = new double[d];
                for (int p = 0; p < count; p++)
                {
                    int k = Array.BinarySearch(cumulative, rng.NextDouble() * acc);
                    k = Math.Min(Clusters - 1, k < 0 ? ~k : k);
                    FillGaussian(rng, h);
                    FillGaussian(rng, eps);
                    for (int i = 0; i < d; i++)
                    {
                        local[i] = 0.8 * eps[i] / Math.Sqrt(d);
                    }

                    for (int j = 0; j < Rank; j++)
                    {
                        ReadOnlySpan<float> u = subspaces.AsSpan(((k * Rank) + j) * d, d);
                        for (int i = 0; i < d; i++)
                        {
                            local[i] += u[i] * h[j];
                        }
                    }

                    Span<float> v = x.AsSpan(p * d, d);
                    for (int i = 0; i < d; i++)
                    {
                        v[i] = (float)(centres[(k * d) + i] + (sigma[k] * local[i]));
                    }

                    TensorPrimitives.Divide(v, TensorPrimitives.Norm(v), v);
                }

                return x;
            }

            float[] queries = Points(nq);
            return (Points(n), queries);
        }

        /// <summary>Row-major d x d orthonormal matrix (modified Gram-Schmidt on Gaussian columns, stored as columns j of rows i).</summary>
        private static double[] RandomOrthonormal(Random rng, int d)
        {
            var cols = new double[d][];
            for (int j = 0; j < d; j++)
            {
                var v = new double[d];
                FillGaussian(rng, v);
                for (int p = 0; p < j; p++)
                {
                    double dot = TensorPrimitives.Dot<double>(v, cols[p]);
                    TensorPrimitives.MultiplyAdd(cols[p], -dot, v, v);
                }

                Scale(v, 1 / Math.Sqrt(TensorPrimitives.Dot<double>(v, v)));
                cols[j] = v;
            }

            var m = new double[d * d];
            for (int i = 0; i < d; i++)
            {
                for (int j = 0; j < d; j++)
                {
                    m[(i * d) + j] = cols[j][i];
                }
            }

            return m;
        }

        private static double Gaussian(Random rng) =>
            Math.Sqrt(-2.0 * Math.Log(1.0 - rng.NextDouble())) * Math.Cos(2 * Math.PI * rng.NextDouble());

        private static void FillGaussian(Random rng, Span<double> v)
        {
            for (int i = 0; i < v.Length; i++)
            {
                v[i] = Gaussian(rng);
            }
        }

        private static void Scale(Span<double> v, double s)
        {
            for (int i = 0; i < v.Length; i++)
            {
                v[i] *= s;
            }
        }
    }

    private sealed record ExactReference(string Name, double? MeanMs, double? P50Ms, double? P99Ms, double? Recall);

    private sealed record BatchReference(string Name, int Threads, double Qps, double? Min, double? Max, double? Recall, string File, string? Started);

    private sealed record HnswReference(string Name, double? BuildS, double? BuildThreads, long? IndexBytes, Dictionary<int, (double Recall, double Qps)> Sweep);

    /// <summary>Reference JSON files from shared/bench for the same data set, read leniently (a missing field prints as "-").</summary>
    private sealed class References
    {
        public List<string> Files { get; } = [];

        public List<ExactReference> Exact { get; } = [];

        public List<BatchReference> ExactBatch { get; } = [];

        public List<HnswReference> Hnsw { get; } = [];

        public static References Load(string dir, int n, int m, int efc)
        {
            var refs = new References();
            if (!Directory.Exists(dir))
            {
                return refs;
            }

            foreach (string path in Directory.GetFiles(dir, "*.json").Order(StringComparer.Ordinal))
            {
                JsonElement root;
                try
                {
                    using JsonDocument doc = JsonDocument.Parse(ExtractJson(File.ReadAllText(path)));
                    root = doc.RootElement.Clone();
                }
                catch (JsonException)
                {
                    continue;
                }

                if (root.ValueKind != JsonValueKind.Object || Num(root, "n") is not double fileN || (int)fileN != n)
                {
                    continue;
                }

                string file = Path.GetFileName(path);
                if (refs.TryAdd(root, file, m, efc))
                {
                    refs.Files.Add(file);
                }
            }

            return refs;
        }

        private bool TryAdd(JsonElement root, string file, int m, int efc)
        {
            if (root.TryGetProperty("avx512_kernel", out JsonElement avx))
            {
                // run-native-hnswlib.sh's stdout, saved to results/ by whoever ran it.
                if (Num(root, "M") != m || Num(root, "efc") != efc)
                {
                    return false;
                }

                var sweep = new Dictionary<int, (double, double)>();
                foreach (JsonElement p in Items(root, "sweep"))
                {
                    if (Num(p, "efSearch") is double ef && Num(p, "recall@10") is double r && MedianOf(p, "qps_1t") is double q)
                    {
                        sweep[(int)ef] = (r, q);
                    }
                }

                string name = avx.ValueKind == JsonValueKind.True ? "hnswlib C++ -march=native" : "hnswlib C++ -O3";
                Hnsw.Add(new HnswReference(name, Num(root, "build_s"), Num(root, "build_threads"), null, sweep));
                return true;
            }

            if (file.StartsWith("flat_blas_", StringComparison.Ordinal))
            {
                if (root.TryGetProperty("single_1t", out JsonElement s))
                {
                    Exact.Add(new ExactReference("numpy+OpenBLAS sgemv", null, Median(s, "p50_ms"), Median(s, "p99_ms"), Num(s, "recall@10")));
                }

                foreach (int t in new[] { 1, 2 })
                {
                    if (root.TryGetProperty($"batch_{t}t", out JsonElement b) && Median(b, "qps") is double qps)
                    {
                        ExactBatch.Add(new BatchReference("numpy+OpenBLAS sgemm", t, qps, Spread(b, "qps", "min"), Spread(b, "qps", "max"), Num(b, "recall@10"), file, Str(root, "started")));
                    }
                }

                return true;
            }

            string? lib = Str(root, "lib");
            string? kind = Str(root, "index");
            if (lib is null || kind is null)
            {
                return false;
            }

            if (kind == "flat")
            {
                if (root.TryGetProperty("search", out JsonElement s))
                {
                    JsonElement single = s.TryGetProperty("single_query_1t", out JsonElement x) ? x : default;
                    Exact.Add(new ExactReference($"{lib} flat", single.ValueKind == JsonValueKind.Object ? Median(single, "mean_ms") : null,
                        single.ValueKind == JsonValueKind.Object ? Median(single, "p50_ms") : null,
                        single.ValueKind == JsonValueKind.Object ? Median(single, "p99_ms") : null, Num(s, "recall@10")));
                    foreach (int t in new[] { 1, 2 })
                    {
                        if (Median(s, $"qps_{t}t") is double qps)
                        {
                            ExactBatch.Add(new BatchReference($"{lib} flat batch", t, qps, Spread(s, $"qps_{t}t", "min"), Spread(s, $"qps_{t}t", "max"), Num(s, "recall@10"), file, Str(root, "started")));
                        }
                    }
                }

                return true;
            }

            if (kind == "hnsw" && root.TryGetProperty("args", out JsonElement args) && Num(args, "M") == m && Num(args, "efc") == efc)
            {
                var sweep = new Dictionary<int, (double, double)>();
                foreach (JsonElement p in Items(root, "sweep"))
                {
                    if (Num(p, "efSearch") is double ef && Num(p, "recall@10") is double r && Median(p, "qps_1t") is double q)
                    {
                        sweep[(int)ef] = (r, q);
                    }
                }

                long? bytes = Num(root, "index_bytes") is double ib ? (long)ib : null;
                Hnsw.Add(new HnswReference($"{lib} hnsw (python)", Median(root, "build_s"), Num(args, "build_threads"), bytes, sweep));
                return true;
            }

            return false;
        }

        /// <summary>A summarize() object's min or max.</summary>
        private static double? Spread(JsonElement e, string name, string which) =>
            e.ValueKind == JsonValueKind.Object && e.TryGetProperty(name, out JsonElement v) && v.ValueKind == JsonValueKind.Object ? Num(v, which) : null;

        /// <summary>A saved stdout may carry log lines around the JSON object.</summary>
        private static string ExtractJson(string text)
        {
            int start = text.IndexOf('{', StringComparison.Ordinal);
            int end = text.LastIndexOf('}');
            return start >= 0 && end > start ? text[start..(end + 1)] : text;
        }

        private static IEnumerable<JsonElement> Items(JsonElement e, string name) =>
            e.TryGetProperty(name, out JsonElement a) && a.ValueKind == JsonValueKind.Array ? a.EnumerateArray() : [];

        private static double? Num(JsonElement e, string name) =>
            e.ValueKind == JsonValueKind.Object && e.TryGetProperty(name, out JsonElement v) && v.ValueKind == JsonValueKind.Number ? v.GetDouble() : null;

        private static string? Str(JsonElement e, string name) =>
            e.ValueKind == JsonValueKind.Object && e.TryGetProperty(name, out JsonElement v) && v.ValueKind == JsonValueKind.String ? v.GetString() : null;

        /// <summary>A summarize() object's median, or a plain number.</summary>
        private static double? Median(JsonElement e, string name)
        {
            if (e.ValueKind != JsonValueKind.Object || !e.TryGetProperty(name, out JsonElement v))
            {
                return null;
            }

            return v.ValueKind switch
            {
                JsonValueKind.Number => v.GetDouble(),
                JsonValueKind.Object => Num(v, "median"),
                _ => null,
            };
        }

        /// <summary>Median of a JSON array of numbers (native hnswlib's per-pass figures).</summary>
        private static double? MedianOf(JsonElement e, string name)
        {
            var values = Items(e, name).Where(x => x.ValueKind == JsonValueKind.Number).Select(x => x.GetDouble()).ToList();
            return values.Count == 0 ? null : VectorIndexBenchmark.Median(values);
        }
    }
}
