using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using Mmrag.Clip.Inference;
using Mmrag.Clip.Preprocessing;
using Mmrag.Clip.Tokenization;
using SkiaSharp;

namespace Mmrag.Benchmarks.Clip;

/// <summary>
/// Throughput of the CLIP towers and of the JPEG → vector path, printed beside the PyTorch reference
/// (<c>shared/bench/bench_clip_torch.py</c>) and the machine's fp32 GEMM limit (the best of ONNX Runtime's MatMul, our Vector512 kernel and
/// <c>machine_info.py</c>'s numpy/torch GEMMs, <see cref="MachineLimits"/>) from the same run.
/// Usage: <c>clip --model DIR [--threads N] [--seconds S] [--reference] [--jpeg-size 1024x768] [--spin] [--gemm-only] [--decode-profile]</c>, or
/// <c>clip --jpeg-only [--jpeg-sizes 1024x768,4000x3000] [--jpegs 64] [--repeat 3]</c> for the JPEG path alone, exact and fast.
/// </summary>
public static class ClipThroughputBenchmark
{
    public static async Task<int> RunAsync(string[] args)
    {
        var options = BenchOptions.Parse(args);
        var benchDir = Environment.GetEnvironmentVariable("MMRAG_BENCH_DIR") ?? "/tmp/mmrag-bench";
        var model = options.Get("--model") ?? Path.Combine(benchDir, "models", "vit-b-32-random");
        var threads = int.Parse(options.Get("--threads") ?? "2", CultureInfo.InvariantCulture);
        var seconds = double.Parse(options.Get("--seconds") ?? "6", CultureInfo.InvariantCulture);
        var spin = options.Has("--spin");

        if (options.Has("--reference"))
        {
            ReferenceRuns.Run(benchDir, "machine_info.py", "--tag openblas");
        }

        if (options.Has("--reference") && !options.Has("--gemm-only"))
        {
            ReferenceRuns.Run(benchDir, "bench_clip_torch.py", "--tag openblas --threads 2 --vision-batches 1,8,32 --text-batches 1,32 --text-seqs 77,16");
        }

        // The limit is the best GEMM measured on this machine in this run (OpenBLAS's Haswell kernel under-reports AVX-512 EPYCs).
        // numpy/torch GEMMs count only when --reference measured them in this run: an older file may be another machine's.
        var openBlas = options.Has("--reference") ? ReferenceRuns.Load(benchDir, "machine_openblas.json") : null;
        var gemm = MachineLimits.PrintLimit(MachineLimits.Measure(openBlas, threads, Math.Min(seconds, 4)), threads);
        if (options.Has("--gemm-only"))
        {
            return 0;
        }

        var entries = args.Select((a, i) => (a, i)).Where(p => p.a == "--ort-config" && p.i + 1 < args.Length)
            .Select(p => args[p.i + 1].Split('=', 2)).ToDictionary(kv => kv[0], kv => kv[1]);
        using var clip = ClipModel.Load(model, new ClipModelOptions { IntraOpThreads = threads, AllowSpinning = spin, MaxBatchSize = 32, SessionConfigEntries = entries });
        clip.WarmUp();
        Console.WriteLine($"model {clip.Directory.Path}: {clip.Dimension}-d, {threads} intra-op threads, spinning {(spin ? "on" : "off")}, min {seconds} s per row");

        var reference = ReferenceRuns.Load(benchDir, "clip_torch_openblas.json");
        var visionFlops = reference?.GetProperty("flops").GetProperty("vision_per_image").GetDouble() ?? 8.8e9;
        var imageLimit = gemm is { } g ? g * 1e9 / visionFlops : (double?)null;
        if (gemm is { } limit)
        {
            Console.WriteLine($"fp32 GEMM limit (best GEMM above, {threads} threads, this run): {limit:F1} GFLOP/s → vision limit {imageLimit:F1} images/s at {visionFlops / 1e9:F1} GFLOP per image");
        }

        var table = new List<string[]> { new[] { "measure", "mmrag", "PyTorch ref", "ratio", "% of fp32 limit" } };
        if (options.Has("--vision-only"))
        {
            foreach (var batch in new[] { 1, 8 })
            {
                var pixels = RandomPixels(batch * clip.PixelValuesLength, seed: batch);
                var output = new float[batch * clip.Dimension];
                var rate = Measure(batch, seconds, () => clip.EmbedPixelValues(pixels, batch, output));
                table.Add(Row($"vision b={batch} (images/s)", rate.Median, null, null));
            }

            Print(table);
            return 0;
        }

        if (options.Has("--decode-profile"))
        {
            DecodeProfile(clip, benchDir, options, seconds);
            return 0;
        }

        if (options.Has("--jpeg-only"))
        {
            await MeasureJpegPathAsync(clip, new ClipModelOptions { IntraOpThreads = threads, AllowSpinning = spin, MaxBatchSize = 32, SessionConfigEntries = entries, FastJpegDecode = true },
                model, options, benchDir, seconds).ConfigureAwait(false);
            return 0;
        }

        if (options.Has("--latency-only"))
        {
            await MeasureQueryLatencyAsync(clip, seconds, table).ConfigureAwait(false);
            Print(table);
            return 0;
        }

        // Vision tower on ready pixel values.
        var modelOnly = new Dictionary<int, double>();
        foreach (var batch in new[] { 1, 8, 32 })
        {
            var pixels = RandomPixels(batch * clip.PixelValuesLength, seed: batch);
            var output = new float[batch * clip.Dimension];
            var rate = Measure(batch, seconds, () => clip.EmbedPixelValues(pixels, batch, output));
            modelOnly[batch] = rate.Median;
            var torch = ReferenceRate(reference, "vision", batch.ToString(CultureInfo.InvariantCulture));
            table.Add(Row($"vision b={batch} (images/s)", rate.Median, torch, imageLimit));
        }

        // Text tower: a 16-token query uses 16 positions; 77 is CLIP's full window.
        var tokenizer = clip.Tokenizer;
        foreach (var (sequence, batch) in new[] { (16, 1), (16, 32), (77, 1), (77, 32) })
        {
            var tokens = Enumerable.Range(0, batch).Select(i => SyntheticTokens(tokenizer, sequence, i)).ToArray();
            var output = new float[batch * clip.Dimension];
            var rate = Measure(batch, seconds, () => clip.EmbedTokens(tokens, output));
            var torch = ReferenceRate(reference, "text", $"seq{sequence}_b{batch}");
            table.Add(Row($"text {sequence} tok b={batch} (texts/s)", rate.Median, torch, null));
        }

        await MeasureQueryLatencyAsync(clip, seconds, table).ConfigureAwait(false);

        // JPEG file → vector, decode overlapped with inference.
        var size = (options.Get("--jpeg-size") ?? "1024x768").Split('x').Select(s => int.Parse(s, CultureInfo.InvariantCulture)).ToArray();
        var jpegs = WriteJpegs(Path.Combine(benchDir, "jpegs", $"{size[0]}x{size[1]}"), 64, size[0], size[1]);
        var decodeOnly = MeasureDecode(clip, jpegs, seconds / 2);
        table.Add(["decode + preprocess, 1 thread (ms/image)", $"{decodeOnly:F2}", "", "", ""]);
        var pipeline = await MeasurePipelineAsync(clip, jpegs, seconds).ConfigureAwait(false);
        var modelRate = modelOnly[32];
        table.Add([$"JPEG {size[0]}x{size[1]} → vector, b=32 (images/s)", $"{pipeline:F2}", "", $"{pipeline / modelRate:P0} of model-only", imageLimit is { } l ? $"{pipeline / l:P0}" : ""]);

        Print(table);
        return 0;
    }

    /// <summary>
    /// The JPEG → vector path alone, at each size of <c>--jpeg-sizes</c> (default 1024x768,4000x3000): decode and
    /// preprocess on one thread (exact and with <see cref="ClipModelOptions.FastJpegDecode"/>), the pipeline at batch 32
    /// beside the model-only rate measured right before it, <c>--repeat</c> times (median and spread), and the cosine of
    /// each fast vector to its exact one.
    /// </summary>
    private static async Task MeasureJpegPathAsync(ClipModel clip, ClipModelOptions fastOptions, string modelDir, BenchOptions options, string benchDir,
        double seconds)
    {
        var repeat = int.Parse(options.Get("--repeat") ?? "3", CultureInfo.InvariantCulture);
        var count = int.Parse(options.Get("--jpegs") ?? "64", CultureInfo.InvariantCulture);
        using var fast = ClipModel.Load(modelDir, fastOptions);
        Console.WriteLine($"CPU: {CpuModel()}, {Environment.ProcessorCount} cores visible; {count} JPEGs per size, {repeat} repeats (median [min–max])");
        var batch = Math.Min(32, count);
        var pixels = RandomPixels(batch * clip.PixelValuesLength, seed: batch);
        var output = new float[batch * clip.Dimension];
        var table = new List<string[]> { new[] { "measure", "exact (default)", "fast decode", "fast / exact" } };
        foreach (var sizeText in (options.Get("--jpeg-sizes") ?? "1024x768,4000x3000").Split(','))
        {
            var size = sizeText.Split('x').Select(s => int.Parse(s, CultureInfo.InvariantCulture)).ToArray();
            var jpegs = WriteJpegs(Path.Combine(benchDir, "jpegs", $"{size[0]}x{size[1]}"), count, size[0], size[1]);
            var exactDecode = MeasureDecode(clip, jpegs, seconds / 2);
            var fastDecode = MeasureDecode(fast, jpegs, seconds / 2);
            table.Add([$"{sizeText} decode + preprocess, 1 thread (ms/image)", $"{exactDecode:F2}", $"{fastDecode:F2}", $"{fastDecode / exactDecode:F2}x"]);

            var modelRates = new List<double>();
            var exactRates = new List<double>();
            var fastRates = new List<double>();
            for (var r = 0; r < repeat; r++)
            {
                modelRates.Add(Measure(batch, seconds / 2, () => clip.EmbedPixelValues(pixels, batch, output)).Median);
                exactRates.Add(await MeasurePipelineAsync(clip, jpegs, seconds).ConfigureAwait(false) / modelRates[^1]);
                fastRates.Add(await MeasurePipelineAsync(fast, jpegs, seconds).ConfigureAwait(false) / modelRates[^1]);
            }

            table.Add([$"model only, b={batch} (images/s)", Spread(modelRates, "F2"), "", ""]);
            table.Add([$"{sizeText} JPEG → vector, b={batch} (% of model-only)", Spread(exactRates, "P0"), Spread(fastRates, "P0"),
                $"{Median(fastRates) / Median(exactRates):F2}x"]);

            var exactVectors = await clip.EmbedImageFilesAsync(jpegs).ConfigureAwait(false);
            var fastVectors = await fast.EmbedImageFilesAsync(jpegs).ConfigureAwait(false);
            var cosines = exactVectors.Zip(fastVectors, static (e, f) => Cosine(e.Vector.Span, f.Vector.Span)).ToArray();
            table.Add([$"{sizeText} cosine fast vs exact (min / mean)", "", $"{cosines.Min():F6} / {cosines.Average():F6}", ""]);

            // For scale: how alike this model finds two different photos of the set (exact path, neighbours in the list).
            var others = exactVectors.Zip(exactVectors.Skip(1), static (a, b) => Cosine(a.Vector.Span, b.Vector.Span)).ToArray();
            table.Add([$"{sizeText} cosine between different photos (mean / max)", $"{others.Average():F4} / {others.Max():F4}", "", ""]);
        }

        Print(table);
    }

    private static double Cosine(ReadOnlySpan<float> a, ReadOnlySpan<float> b) =>
        System.Numerics.Tensors.TensorPrimitives.CosineSimilarity(a, b);

    private static double Median(List<double> values) => values.Order().ElementAt(values.Count / 2);

    private static string Spread(List<double> values, string format) =>
        $"{Median(values).ToString(format, CultureInfo.InvariantCulture)} [{values.Min().ToString(format, CultureInfo.InvariantCulture)}–{values.Max().ToString(format, CultureInfo.InvariantCulture)}]";

    /// <summary>The CPU model from /proc/cpuinfo (tables are only comparable on the same CPU).</summary>
    internal static string CpuModel() =>
        File.Exists("/proc/cpuinfo")
            ? File.ReadLines("/proc/cpuinfo").FirstOrDefault(static l => l.StartsWith("model name", StringComparison.Ordinal))?.Split(':', 2)[1].Trim() ?? "unknown"
            : "unknown";

    /// <summary>One text query end to end (tokenize + embed + normalize), one at a time, as a search box sends them.</summary>
    private static async Task MeasureQueryLatencyAsync(ClipModel clip, double seconds, List<string[]> table)
    {
        using var generator = new ClipTextEmbeddingGenerator(clip);
        var queries = new[] { "a red bicycle leaning against a brick wall", "what is the capacity of this item?", "two dogs playing in the snow at sunset", "a diagram of the engine" };
        var latencies = new List<double>();
        foreach (var query in queries)
        {
            _ = await generator.GenerateAsync([query]).ConfigureAwait(false);
        }

        var clock = Stopwatch.StartNew();
        for (var i = 0; clock.Elapsed.TotalSeconds < seconds || latencies.Count < 50; i++)
        {
            var start = Stopwatch.GetTimestamp();
            _ = await generator.GenerateAsync([queries[i % queries.Length]]).ConfigureAwait(false);
            latencies.Add(Stopwatch.GetElapsedTime(start).TotalMilliseconds);
        }

        latencies.Sort();
        table.Add(["text query latency p50 / p95 (ms)", $"{latencies[latencies.Count / 2]:F2} / {latencies[(int)(latencies.Count * 0.95)]:F2}", "", "", ""]);
    }

    private static string[] Row(string name, double ours, double? reference, double? limit) =>
    [
        name,
        ours.ToString("F2", CultureInfo.InvariantCulture),
        reference is { } r ? r.ToString("F2", CultureInfo.InvariantCulture) : "(not run)",
        reference is { } rr ? $"{ours / rr:F2}x" : "",
        limit is { } l ? $"{ours / l:P0}" : "",
    ];

    private static double? ReferenceRate(JsonElement? reference, string tower, string key) =>
        reference is { } r && r.GetProperty(tower).TryGetProperty(key, out var entry)
            ? entry.GetProperty("items_per_s").GetProperty("median").GetDouble()
            : null;

    internal readonly record struct Rate(double Median, int Runs);

    private static Rate Measure(int itemsPerRun, double seconds, Action run)
    {
        run();
        run();
        var rates = new List<double>();
        var clock = Stopwatch.StartNew();
        while (rates.Count < 5 || clock.Elapsed.TotalSeconds < seconds)
        {
            var start = Stopwatch.GetTimestamp();
            run();
            rates.Add(itemsPerRun / Stopwatch.GetElapsedTime(start).TotalSeconds);
            if (rates.Count >= 200)
            {
                break;
            }
        }

        rates.Sort();
        return new Rate(rates[rates.Count / 2], rates.Count);
    }

    /// <summary>Where the exact decode + preprocess time of one JPEG goes, stage by stage, on one thread (medians).</summary>
    private static void DecodeProfile(ClipModel clip, string benchDir, BenchOptions options, double seconds)
    {
        var size = (options.Get("--jpeg-size") ?? "1024x768").Split('x').Select(s => int.Parse(s, CultureInfo.InvariantCulture)).ToArray();
        var files = WriteJpegs(Path.Combine(benchDir, "jpegs", $"{size[0]}x{size[1]}"), 64, size[0], size[1]);
        var bytes = files.Select(File.ReadAllBytes).ToArray();
        var images = bytes.Select(b => clip.ImageDecoder.Decode(b, clip.ImageDecoding)).ToArray();
        var crop = new byte[clip.ImagePreprocessor.CropByteCount];
        var destination = new float[clip.PixelValuesLength];
        // Wall-clock median and the process's CPU time per image (which other processes on a busy machine do not inflate).
        string Time(Action<int> run)
        {
            var times = new List<double>();
            var clock = Stopwatch.StartNew();
            var cpu = Process.GetCurrentProcess().TotalProcessorTime;
            for (var i = 0; times.Count < 20 || clock.Elapsed.TotalSeconds < seconds / 4; i++)
            {
                var start = Stopwatch.GetTimestamp();
                run(i % bytes.Length);
                times.Add(Stopwatch.GetElapsedTime(start).TotalMilliseconds);
            }

            var cpuPerImage = (Process.GetCurrentProcess().TotalProcessorTime - cpu).TotalMilliseconds / times.Count;
            times.Sort();
            return $"{times[times.Count / 2]:F2} / {cpuPerImage:F2}";
        }

        var table = new List<string[]> { new[] { $"{size[0]}x{size[1]} JPEG, 1 thread", "ms/image: wall p50 / CPU" } };
        Console.WriteLine($"CPU: {CpuModel()}; JPEG decoder: {(TurboJpeg.IsAvailable ? "the system's libjpeg-turbo (TurboJPEG API), Skia as fallback" : "Skia (libturbojpeg.so.0 not found)")}");
        Time(i => clip.PreprocessImage(bytes[i], destination)); // warm-up: the first second after loading runs slow
        var declined = 0;
        table.Add(["decode to RGB: TurboJPEG into native memory", Time(i =>
        {
            if (TurboJpeg.TryDecodeToBuffer(bytes[i], static (_, _) => { }, out var decoded))
            {
                decoded.Dispose();
            }
            else
            {
                declined++;
            }
        })]);
        table.Add(["decode to RGB: Skia (before)", Time(i => SkiaImageDecoder.DecodeWithSkia(bytes[i], clip.ImageDecoding, out _))]);
        table.Add(["decode to RGB: the model's decoder (an RgbImage)", Time(i => clip.ImageDecoder.Decode(bytes[i], clip.ImageDecoding))]);
        table.Add(["resize + crop (Pillow bicubic)", Time(i => clip.ImagePreprocessor.ResizeAndCrop(images[i], crop))]);
        foreach (var bits in new[] { 0, 128, 256, 512 })
        {
            var plan = clip.ImagePreprocessor.ComputeResize(images[0].Width, images[0].Height);
            table.Add([$"resize alone, {bits}-bit vectors", Time(i => PillowBicubicResizer.Resize(images[i], plan.ResizedWidth, plan.ResizedHeight, bits))]);
        }

        table.Add(["normalize to CHW float", Time(i => clip.ImagePreprocessor.WritePixelValues(crop, destination))]);
        table.Add(["whole: decode + preprocess", Time(i => clip.PreprocessImage(bytes[i], destination))]);
        if (declined > 0)
        {
            Console.WriteLine($"TurboJPEG declined {declined} decodes (they went to Skia)");
        }

        Print(table);
    }

    private static double MeasureDecode(ClipModel clip, string[] files, double seconds)
    {
        var bytes = files.Select(File.ReadAllBytes).ToArray();
        var destination = new float[clip.PixelValuesLength];
        var times = new List<double>();
        var clock = Stopwatch.StartNew();
        for (var i = 0; times.Count < 20 || clock.Elapsed.TotalSeconds < seconds; i++)
        {
            var start = Stopwatch.GetTimestamp();
            clip.PreprocessImage(bytes[i % bytes.Length], destination);
            times.Add(Stopwatch.GetElapsedTime(start).TotalMilliseconds);
        }

        times.Sort();
        return times[times.Count / 2];
    }

    private static async Task<double> MeasurePipelineAsync(ClipModel clip, string[] files, double seconds)
    {
        _ = await clip.EmbedImageFilesAsync(files[..8]).ConfigureAwait(false);
        var rates = new List<double>();
        var clock = Stopwatch.StartNew();
        while (rates.Count < 2 || clock.Elapsed.TotalSeconds < seconds)
        {
            var start = Stopwatch.GetTimestamp();
            var results = await clip.EmbedImageFilesAsync(files).ConfigureAwait(false);
            if (results.Any(static r => !r.Succeeded))
            {
                throw new InvalidOperationException("a benchmark JPEG failed to embed");
            }

            rates.Add(files.Length / Stopwatch.GetElapsedTime(start).TotalSeconds);
        }

        rates.Sort();
        return rates[rates.Count / 2];
    }

    private static float[] RandomPixels(int count, int seed)
    {
        var random = new Random(seed);
        var pixels = new float[count];
        for (var i = 0; i < pixels.Length; i++)
        {
            pixels[i] = (float)(random.NextDouble() * 4 - 2);
        }

        return pixels;
    }

    private static ClipTokens SyntheticTokens(ClipTokenizer tokenizer, int length, int seed)
    {
        var random = new Random(seed);
        var ids = new int[length];
        ids[0] = tokenizer.BosId;
        for (var i = 1; i < length - 1; i++)
        {
            ids[i] = random.Next(300, 40_000);
        }

        ids[^1] = tokenizer.EosId;
        return new ClipTokens(ids, Truncated: false);
    }

    /// <summary>Photo-like JPEGs (smooth gradients, shapes and noise) at quality 90, generated once and reused.</summary>
    private static string[] WriteJpegs(string folder, int count, int width, int height)
    {
        Directory.CreateDirectory(folder);
        var files = new string[count];
        for (var i = 0; i < count; i++)
        {
            files[i] = Path.Combine(folder, $"photo_{i:D3}.jpg");
            if (File.Exists(files[i]))
            {
                continue;
            }

            var random = new Random(i);
            using var bitmap = new SKBitmap(width, height, SKColorType.Rgba8888, SKAlphaType.Opaque);
            using (var canvas = new SKCanvas(bitmap))
            {
                using var gradient = SKShader.CreateLinearGradient(new SKPoint(0, 0), new SKPoint(width, height),
                    [new SKColor((byte)random.Next(256), (byte)random.Next(256), (byte)random.Next(256)), new SKColor((byte)random.Next(256), (byte)random.Next(256), (byte)random.Next(256))],
                    SKShaderTileMode.Clamp);
                using var paint = new SKPaint { Shader = gradient };
                canvas.DrawRect(0, 0, width, height, paint);
                using var shape = new SKPaint { IsAntialias = true };
                for (var s = 0; s < 40; s++)
                {
                    shape.Color = new SKColor((byte)random.Next(256), (byte)random.Next(256), (byte)random.Next(256), (byte)random.Next(80, 255));
                    canvas.DrawCircle(random.Next(width), random.Next(height), random.Next(10, width / 4), shape);
                }
            }

            var pixels = bitmap.GetPixelSpan();
            var noise = new byte[pixels.Length];
            random.NextBytes(noise);
            var writable = System.Runtime.InteropServices.MemoryMarshal.CreateSpan(ref System.Runtime.InteropServices.MemoryMarshal.GetReference(pixels), pixels.Length);
            for (var p = 0; p < writable.Length; p++)
            {
                writable[p] = (byte)Math.Clamp(writable[p] + (noise[p] % 17) - 8, 0, 255);
            }

            using var image = SKImage.FromBitmap(bitmap);
            using var data = image.Encode(SKEncodedImageFormat.Jpeg, 90);
            File.WriteAllBytes(files[i], data.ToArray());
        }

        return files;
    }

    private static void Print(List<string[]> table)
    {
        var widths = Enumerable.Range(0, table[0].Length).Select(c => table.Max(r => r[c].Length)).ToArray();
        foreach (var (row, index) in table.Select((r, i) => (r, i)))
        {
            Console.WriteLine("| " + string.Join(" | ", row.Select((cell, c) => c == 0 ? cell.PadRight(widths[c]) : cell.PadLeft(widths[c]))) + " |");
            if (index == 0)
            {
                Console.WriteLine("|" + string.Join("|", widths.Select((w, c) => c == 0 ? new string('-', w + 2) : new string('-', w + 1) + ":")) + "|");
            }
        }
    }
}
