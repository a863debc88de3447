using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.Json;
using Microsoft.ML.OnnxRuntime;
using Mmrag.Storage.Embedded.Indexing;

namespace Mmrag.Benchmarks;

/// <summary>
/// The machine's physical limits for the tables: the CPU model and the SIMD flags that decide which kernels run, and
/// the fp32 GEMM limit as the best GEMM measured on this machine in this run. Debian's OpenBLAS 0.3.21 runs its
/// Haswell AVX2 kernel on AVX-512 EPYCs and reports about half their fp32 peak, so a large square MatMul through ONNX
/// Runtime (MLAS, which picks its AVX-512 kernel at run time) and our own register-blocked Vector512 kernel are timed
/// beside the numpy/torch figures of <c>machine_info.py</c>, and the limit is the best of them.
/// </summary>
internal static class MachineLimits
{
    private static readonly string[] SimdFlags = ["avx2", "fma", "avx512f", "avx512_vnni", "avx512_bf16", "avx512_vp2intersect", "amx_tile", "amx_bf16"];

    /// <summary>"AMD EPYC, 2 cpus, avx2 fma avx512f …" from <c>/proc/cpuinfo</c> (the flags that decide the kernels).</summary>
    public static string Cpu()
    {
        string model = "unknown CPU";
        var flags = new HashSet<string>(StringComparer.Ordinal);
        if (File.Exists("/proc/cpuinfo"))
        {
            foreach (string line in File.ReadLines("/proc/cpuinfo"))
            {
                if (line.StartsWith("model name", StringComparison.Ordinal))
                {
                    model = line[(line.IndexOf(':', StringComparison.Ordinal) + 1)..].Trim();
                }
                else if (line.StartsWith("flags", StringComparison.Ordinal))
                {
                    flags.UnionWith(line[(line.IndexOf(':', StringComparison.Ordinal) + 1)..].Split(' ', StringSplitOptions.RemoveEmptyEntries));
                    break;
                }
            }
        }

        string present = string.Join(' ', SimdFlags.Where(flags.Contains));
        return $"{model}, {Environment.ProcessorCount} cpus, flags: {(present.Length == 0 ? "(none of " + string.Join(' ', SimdFlags) + ")" : present)}";
    }

    /// <summary>One GEMM measured: what ran it, its shape, and its median GFLOP/s over the timed runs (min–max beside).</summary>
    public sealed record Gemm(string Name, double Gflops, double Min, double Max);

    /// <summary>
    /// Times the GEMMs this process can run (ONNX Runtime MatMul at 2048² and 4096², the Vector512 kernel at 2048²) on
    /// <paramref name="threads"/> threads, and adds the numpy/torch figures that <c>machine_info.py</c> left in
    /// <paramref name="machine"/>. The limit is the largest median.
    /// </summary>
    public static List<Gemm> Measure(JsonElement? machine, int threads, double seconds)
    {
        var all = new List<Gemm>();
        foreach (int n in new[] { 2048, 4096 })
        {
            all.Add(OrtMatMul(n, threads, seconds));
        }

        if (Vector512Gemm.IsSupported)
        {
            all.Add(Vector512Gemm.Measure(2046, 2048, 2048, threads, seconds));
        }

        if (machine is { } m && m.TryGetProperty("gemm_gflops", out var gemm))
        {
            foreach (string key in new[] { "torch_square2048_2t", "numpy_square2048_2t", "torch_square4096_2t", "numpy_square4096_2t" })
            {
                if (gemm.TryGetProperty(key, out var value) && key.EndsWith($"_{threads}t", StringComparison.Ordinal))
                {
                    all.Add(new Gemm($"{key[..key.LastIndexOf('_')].Replace('_', ' ')} (machine_info.py, OpenBLAS {Core(m)})", Stat(value, "median"), Stat(value, "min"), Stat(value, "max")));
                }
            }
        }

        return all;

        static double Stat(JsonElement v, string name) => v.TryGetProperty(name, out var x) ? x.GetDouble() : double.NaN;
        static string Core(JsonElement m) =>
            m.TryGetProperty("blas", out var b) && b.TryGetProperty("openblas_core", out var c) && c.ValueKind == JsonValueKind.String ? c.GetString() ?? "?" : "?";
    }

    /// <summary>Prints the GEMMs measured and returns the limit (the best median), or null when none ran.</summary>
    public static double? PrintLimit(List<Gemm> gemms, int threads)
    {
        Console.WriteLine($"CPU: {Cpu()}");
        if (gemms.Count == 0)
        {
            return null;
        }

        Gemm best = gemms.MaxBy(static g => g.Gflops)!;
        foreach (Gemm g in gemms)
        {
            Console.WriteLine($"  fp32 GEMM {threads}t {g.Name,-62} {g.Gflops,7:F1} GFLOP/s [{g.Min:F1}–{g.Max:F1}]{(ReferenceEquals(g, best) ? "  ← limit" : "")}");
        }

        return best.Gflops;
    }

    /// <summary>C = A·B for n×n fp32 matrices through a one-node ONNX graph (MatMul), so MLAS runs it with its own kernel choice.</summary>
    private static Gemm OrtMatMul(int n, int threads, double seconds)
    {
        using var options = new SessionOptions { IntraOpNumThreads = threads, InterOpNumThreads = 1, ExecutionMode = ExecutionMode.ORT_SEQUENTIAL };
        options.GraphOptimizationLevel = GraphOptimizationLevel.ORT_ENABLE_ALL;
        using var session = new InferenceSession(OnnxMatMulModel(n), options);
        var random = new Random(n);
        float[] a = new float[n * n], b = new float[n * n], c = new float[n * n];
        for (int i = 0; i < a.Length; i++)
        {
            a[i] = (float)(random.NextDouble() - 0.5);
            b[i] = (float)(random.NextDouble() - 0.5);
        }

        long[] shape = [n, n];
        using var va = OrtValue.CreateTensorValueFromMemory(a, shape);
        using var vb = OrtValue.CreateTensorValueFromMemory(b, shape);
        using var vc = OrtValue.CreateTensorValueFromMemory(c, shape);
        using var run = new RunOptions();
        string[] inputs = ["A", "B"], outputs = ["C"];
        OrtValue[] inputValues = [va, vb], outputValues = [vc];
        var rates = Time(2.0 * n * n * n, seconds, () => session.Run(run, inputs, inputValues, outputs, outputValues));

        // A wrong product would make a fast figure meaningless: check one entry against a float64 dot product.
        double expected = 0;
        for (int k = 0; k < n; k++)
        {
            expected += (double)a[(7 * n) + k] * b[(k * n) + 5];
        }

        if (Math.Abs(expected - c[(7 * n) + 5]) > 1e-2)
        {
            throw new InvalidOperationException($"ONNX Runtime MatMul gave {c[(7 * n) + 5]} where {expected} was expected.");
        }

        return new Gemm($"ONNX Runtime {OrtEnv.Instance().GetVersionString()} MatMul {n}x{n}x{n} (MLAS)", rates.Median, rates.Min, rates.Max);
    }

    /// <summary>Median, min and max GFLOP/s of <paramref name="run"/> over at least 3 runs and <paramref name="seconds"/>, after one warm-up.</summary>
    internal static (double Median, double Min, double Max) Time(double flops, double seconds, Action run)
    {
        run();
        var rates = new List<double>();
        var clock = Stopwatch.StartNew();
        while (rates.Count < 3 || (clock.Elapsed.TotalSeconds < seconds && rates.Count < 50))
        {
            long start = Stopwatch.GetTimestamp();
            run();
            rates.Add(flops / Stopwatch.GetElapsedTime(start).TotalSeconds / 1e9);
        }

        rates.Sort();
        return (rates[rates.Count / 2], rates[0], rates[^1]);
    }

    /// <summary>
    /// A serialized ONNX ModelProto holding one MatMul node, C[n,n] = A[n,n]·B[n,n] in float32 (IR 8, opset 13),
    /// written field by field so that no ONNX package is needed.
    /// </summary>
    internal static byte[] OnnxMatMulModel(int n)
    {
        byte[] Tensor(string name) => Proto.Message(
            Proto.Text(1, name),
            Proto.Bytes(2, Proto.Message(                               // TypeProto
                Proto.Bytes(1, Proto.Message(                           // TypeProto.Tensor
                    Proto.Varint(1, 1),                                 // elem_type FLOAT
                    Proto.Bytes(2, Proto.Message(                       // TensorShapeProto
                        Proto.Bytes(1, Proto.Message(Proto.Varint(1, n))),
                        Proto.Bytes(1, Proto.Message(Proto.Varint(1, n))))))))));

        byte[] node = Proto.Message(Proto.Text(1, "A"), Proto.Text(1, "B"), Proto.Text(2, "C"), Proto.Text(3, "matmul"), Proto.Text(4, "MatMul"));
        byte[] graph = Proto.Message(Proto.Bytes(1, node), Proto.Text(2, "gemm"), Proto.Bytes(11, Tensor("A")), Proto.Bytes(11, Tensor("B")), Proto.Bytes(12, Tensor("C")));
        return Proto.Message(
            Proto.Varint(1, 8),                                         // ir_version
            Proto.Text(2, "mmrag-benchmarks"),                          // producer_name
            Proto.Bytes(7, graph),
            Proto.Bytes(8, Proto.Message(Proto.Text(1, ""), Proto.Varint(2, 13)))); // opset_import: ai.onnx 13
    }

    /// <summary>The three protobuf wire forms a ModelProto needs.</summary>
    private static class Proto
    {
        public static byte[] Varint(int field, long value) => [.. Key(field, 0), .. Encode((ulong)value)];

        public static byte[] Text(int field, string value) => Bytes(field, Encoding.UTF8.GetBytes(value));

        public static byte[] Bytes(int field, byte[] value) => [.. Key(field, 2), .. Encode((ulong)value.Length), .. value];

        public static byte[] Message(params byte[][] fields) => [.. fields.SelectMany(static f => f)];

        private static byte[] Key(int field, int wireType) => Encode((ulong)((field << 3) | wireType));

        private static byte[] Encode(ulong value)
        {
            var bytes = new List<byte>(10);
            do
            {
                byte b = (byte)(value & 0x7F);
                value >>= 7;
                bytes.Add(value == 0 ? b : (byte)(b | 0x80));
            }
            while (value != 0);

            return [.. bytes];
        }
    }

    /// <summary>
    /// C = A·Bᵀ with the exact index's batch kernel (three rows of A against two of B, 24 Vector512 accumulators), cache
    /// blocked: each thread takes groups of A rows, and 32-row blocks of B (256 KiB at 2048 floats) are reused from L2.
    /// What the batch search's kernel reaches on a compute-bound shape.
    /// </summary>
    private static unsafe class Vector512Gemm
    {
        public static bool IsSupported => System.Runtime.Intrinsics.Vector512.IsHardwareAccelerated;

        public static Gemm Measure(int m, int n, int k, int threads, double seconds)
        {
            int stride = VectorMath.StrideFor(k);
            float* a = (float*)NativeMemory.AlignedAlloc((nuint)((long)m * stride * sizeof(float)), 64);
            float* b = (float*)NativeMemory.AlignedAlloc((nuint)((long)n * stride * sizeof(float)), 64);
            float* c = (float*)NativeMemory.AlignedAlloc((nuint)((long)m * n * sizeof(float)), 64);
            try
            {
                var random = new Random(k);
                for (long i = 0; i < (long)m * stride; i++)
                {
                    a[i] = (float)(random.NextDouble() - 0.5);
                }

                for (long i = 0; i < (long)n * stride; i++)
                {
                    b[i] = (float)(random.NextDouble() - 0.5);
                }

                nint pa = (nint)a, pb = (nint)b, pc = (nint)c;
                int groups = m / 3;
                var rates = Time(2.0 * m * n * k, seconds, () => Parallel.For(0, threads, new ParallelOptions { MaxDegreeOfParallelism = threads }, t =>
                    Multiply((float*)pa, (float*)pb, (float*)pc, groups * t / threads * 3, groups * (t + 1) / threads * 3, n, stride)));
                return new Gemm($"mmrag Vector512 3x2 kernel {m}x{n}x{k} (A·Bᵀ)", rates.Median, rates.Min, rates.Max);
            }
            finally
            {
                NativeMemory.AlignedFree(a);
                NativeMemory.AlignedFree(b);
                NativeMemory.AlignedFree(c);
            }
        }

        private static void Multiply(float* a, float* b, float* c, int rowFrom, int rowTo, int n, int stride)
        {
            float* scores = stackalloc float[6];
            for (int block = 0; block < n; block += 32)
            {
                int blockEnd = Math.Min(n, block + 32);
                for (int i = rowFrom; i < rowTo; i += 3)
                {
                    float* a0 = a + ((nint)i * stride);
                    for (int j = block; j < blockEnd; j += 2)
                    {
                        float* b0 = b + ((nint)j * stride);
                        VectorMath.Dot3x2x512(a0, a0 + stride, a0 + (2 * stride), b0, b0 + stride, stride, scores);
                        float* c0 = c + ((nint)i * n) + j;
                        c0[0] = scores[0];
                        c0[1] = scores[1];
                        c0[n] = scores[2];
                        c0[n + 1] = scores[3];
                        c0[2 * n] = scores[4];
                        c0[(2 * n) + 1] = scores[5];
                    }
                }
            }
        }
    }
}
