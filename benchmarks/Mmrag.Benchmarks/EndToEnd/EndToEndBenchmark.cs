using System.Diagnostics;
using System.Globalization;
using Mmrag.Benchmarks.VectorIndex;
using Mmrag.Clip.Inference;
using Mmrag.Ingestion.Chunking;
using Mmrag.Ingestion.Loaders;
using Mmrag.Ingestion.Pipeline;
using Mmrag.Knowledge;
using Mmrag.Retrieval.Search;
using Mmrag.Storage;
using Mmrag.Storage.Embedded;
using SkiaSharp;
using UglyToad.PdfPig.Content;
using UglyToad.PdfPig.Core;
using UglyToad.PdfPig.Fonts.Standard14Fonts;
using UglyToad.PdfPig.Writer;

namespace Mmrag.Benchmarks.EndToEnd;

/// <summary>
/// The knowledge base end to end with the full-size (random-weight) ViT-B/32: ingest rate on a folder of JPEGs and on a
/// PDF with images, and text-query latency (embed + hybrid search + fusion + calibration) over 100k stored items.
/// Usage: <c>e2e [--model DIR] [--threads 2] [--images 200] [--items 100000] [--queries 200] [--keyword-budget N] [--keyword-recall] [--memory-map BYTES] [--queries-only] [--ingest-only] [--cli PATH]</c>;
/// <c>--keyword-budget</c> sets <see cref="EmbeddedStoreOptions.KeywordCandidateBudget"/> for the query rows (to compare
/// budgets), <c>--keyword-recall</c> also runs the keyword searches ranking every match and counts how often the top
/// lists agree, <c>--memory-map</c> sets <see cref="EmbeddedStoreOptions.MemoryMapSize"/>, <c>--queries-only</c> skips the ingest rows (to iterate on search),
/// <c>--ingest-only</c> skips the query rows (to iterate on ingestion). The JPEG folder is ingested with the exact decode
/// and with <see cref="ClipModelOptions.FastJpegDecode"/>, each beside the vision tower alone measured right before it,
/// with the model already loaded (its load time is a row of its own); then by the <c>mmrag</c> command line
/// (<c>--cli</c>, default the Release build in <c>src/Mmrag.Cli</c>) under <c>/usr/bin/time</c>, which loads the model
/// inside the run, with its peak resident memory.
/// </summary>
public static class EndToEndBenchmark
{
    private static readonly string[] Words =
    [
        "garden", "flower", "storm", "river", "mountain", "engine", "bicycle", "kitchen", "window", "forest", "ocean", "bridge",
        "camera", "capacity", "battery", "leaf", "stone", "winter", "summer", "market", "train", "castle", "desert", "lamp",
    ];

    private static readonly int WarmUpQueries = int.Parse(Environment.GetEnvironmentVariable("MMRAG_BENCH_WARMUP") ?? "60", CultureInfo.InvariantCulture);

    public static async Task<int> RunAsync(string[] args)
    {
        var options = BenchOptions.Parse(args);
        var benchDir = Environment.GetEnvironmentVariable("MMRAG_BENCH_DIR") ?? "/tmp/mmrag-bench";
        var modelDir = options.Get("--model") ?? Path.Combine(benchDir, "models", "vit-b-32-random");
        var imageCount = int.Parse(options.Get("--images") ?? "200", CultureInfo.InvariantCulture);
        var itemCount = int.Parse(options.Get("--items") ?? "100000", CultureInfo.InvariantCulture);
        var queryCount = int.Parse(options.Get("--queries") ?? "200", CultureInfo.InvariantCulture);
        var storeOptions = new EmbeddedStoreOptions();
        if (options.Get("--keyword-budget") is { } budget)
        {
            storeOptions.KeywordCandidateBudget = int.Parse(budget, CultureInfo.InvariantCulture);
        }

        if (options.Get("--memory-map") is { } mapped)
        {
            storeOptions.MemoryMapSize = long.Parse(mapped, CultureInfo.InvariantCulture);
        }

        var work = Path.Combine(benchDir, "e2e");
        Directory.CreateDirectory(work);

        var modelOptions = new ClipModelOptions { IntraOpThreads = int.Parse(options.Get("--threads") ?? "2", CultureInfo.InvariantCulture), AllowSpinning = options.Has("--spin") };
        using var model = ClipModel.Load(modelDir, modelOptions);
        var load = Stopwatch.StartNew();
        model.WarmUp();
        var loadTime = load.Elapsed;
        using var texts = new ClipTextEmbeddingGenerator(model);
        using var images = new ClipImageEmbeddingGenerator(model);
        var chunker = new TextChunker(text => model.Tokenizer.EncodeToIds(text).Length);
        var loaders = LoaderRegistry.CreateDefault(chunker);
        var rows = new List<string[]> { new[] { "measure", "value" } };
        Console.WriteLine($"CPU: {Clip.ClipThroughputBenchmark.CpuModel()}, {Environment.ProcessorCount} cores visible; load average {LoadAverage()}");
        rows.Add(["model load, both towers (s)", $"{loadTime.TotalSeconds:F2}"]);

        if (!options.Has("--queries-only"))
        {
            // 1. A folder of JPEGs with descriptions (then again, unchanged). 2. A PDF with text and images.
            var folder = WriteJpegFolder(Path.Combine(work, $"jpegs-{imageCount}"), imageCount);
            var towerRates = new Dictionary<string, double>(StringComparer.Ordinal);
            towerRates["exact"] = await IngestPhotosAsync(Path.Combine(work, "kb-jpegs"), folder, "exact decode", images, again: true).ConfigureAwait(false);
            var visionLoad = Stopwatch.StartNew();
            TimeSpan visionLoadTime;
            using (var fastModel = ClipModel.Load(modelDir, modelOptions with { FastJpegDecode = true }))
            using (var fastImages = new ClipImageEmbeddingGenerator(fastModel))
            {
                // The first image also loads the vision tower's session: about what `mmrag ingest` spends before its first batch.
                fastModel.EmbedPixelValues(new float[fastModel.PixelValuesLength], 1, new float[fastModel.Dimension]);
                visionLoadTime = visionLoad.Elapsed;
                rows.Add(["vision tower load + its first image (s)", $"{visionLoadTime.TotalSeconds:F2}"]);
                towerRates["fast"] = await IngestPhotosAsync(Path.Combine(work, "kb-jpegs-fast"), folder, "--fast-decode", fastImages, again: false).ConfigureAwait(false);
            }

            // The first run above also warms up the process (code, store, thread pool); this one compares with the fast run on equal terms.
            towerRates["exact"] = await IngestPhotosAsync(Path.Combine(work, "kb-jpegs-exact-again"), folder, "exact decode, again after the fast run", images, again: false)
                .ConfigureAwait(false);

            var pdf = Path.Combine(work, "kb-pdf");
            ResetFolder(pdf);
            await using (var store = await EmbeddedKnowledgeStore.OpenAsync(pdf, new EmbeddingSpace(model.ModelId, model.Dimension)).ConfigureAwait(false))
            {
                var summary = await new IngestionPipeline(store, texts, images, loaders)
                    .IngestAsync([WritePdf(Path.Combine(work, "report.pdf"), pages: 30)], new IngestionOptions { KnowledgeBaseDirectory = pdf }).ConfigureAwait(false);
                rows.Add(["ingest a 30-page PDF with 30 images (items/s)", $"{summary.Items / summary.Elapsed.TotalSeconds:F2} ({summary.Items} items, {summary.Elapsed.TotalSeconds:F1} s)"]);
            }

            rows.Add(["peak resident memory of this process so far (MiB)", $"{PeakResidentMiB():F0}"]);
            if (CommandLineIngest.Find(options.Get("--cli")) is { } cli)
            {
                foreach (var (mode, flag) in new[] { ("exact", ""), ("fast", "--fast-decode") })
                {
                    rows.Add([$"mmrag ingest {imageCount} JPEGs {flag}".TrimEnd() + " (items/s; /usr/bin/time)",
                        await CommandLineIngest.RunAsync(cli, folder, Path.Combine(work, $"kb-cli-{mode}"), modelDir, flag, towerRates[mode], visionLoadTime)
                            .ConfigureAwait(false)]);
                }
            }
            else
            {
                rows.Add(["mmrag ingest (command line)", "not run: build src/Mmrag.Cli in Release or pass --cli PATH"]);
            }
        }

        if (options.Has("--ingest-only"))
        {
            Print(rows);
            return 0;
        }

        // 3. Query latency over 100k items (vectors from gen_data.py, keyword text from a small vocabulary).
        var kbLarge = Path.Combine(work, $"kb-{itemCount}");
        var space = new EmbeddingSpace(model.ModelId, model.Dimension);
        if (!File.Exists(Path.Combine(kbLarge, EmbeddedKnowledgeStore.DatabaseFileName)))
        {
            ResetFolder(kbLarge);
            var vectors = VectorIndexBenchmark.Texmex.ReadFloats(Path.Combine(benchDir, "data", "base_100k.fvecs"), out var n, out var d);
            if (d != model.Dimension)
            {
                throw new InvalidOperationException($"base vectors are {d}-d, the model is {model.Dimension}-d");
            }

            var fill = Stopwatch.StartNew();
            await using var store = await EmbeddedKnowledgeStore.OpenAsync(kbLarge, space).ConfigureAwait(false);
            var random = new Random(1);
            var vocabulary = new ZipfWords(10_000, seed: 3);
            const int PerDocument = 1000;
            for (var start = 0; start < Math.Min(itemCount, n); start += PerDocument)
            {
                var documentId = $"doc{start / PerDocument:D4}";
                var items = new List<KnowledgeItem>(PerDocument);
                for (var i = start; i < Math.Min(start + PerDocument, itemCount); i++)
                {
                    var text = string.Join(' ', Enumerable.Range(0, 12).Select(_ => vocabulary.Next(random)));
                    items.Add(new KnowledgeItem
                    {
                        Id = $"item{i:D6}",
                        DocumentId = documentId,
                        Kind = i % 2 == 0 ? ItemKind.Image : ItemKind.TextChunk,
                        ContentHash = $"{i:x64}",
                        Text = text,
                        ImagePath = i % 2 == 0 ? $"/synthetic/{i}.jpg" : null,
                        Provenance = new Provenance($"/synthetic/{documentId}.txt", Position: i - start),
                        Vector = vectors.AsMemory(i * d, d),
                    });
                }

                await store.UpsertDocumentAsync(new DocumentRecord(documentId, $"/synthetic/{documentId}.txt", $"{start:x64}", "text/plain", null, items.Count, DateTimeOffset.UtcNow), items).ConfigureAwait(false);
            }

            rows.Add([$"store {itemCount} items (inserts/s)", $"{itemCount / fill.Elapsed.TotalSeconds:F0}"]);
        }

        var queryRandom = new Random(2);
        var queryWords = new ZipfWords(10_000, seed: 3);
        var queries = Enumerable.Range(0, queryCount)
            .Select(_ => string.Join(' ', Enumerable.Range(0, queryRandom.Next(2, 6)).Select(_ => queryWords.Next(queryRandom))))
            .ToArray();
        (List<string[]> Single, List<string[]> ByKind) keywordHits;
        await using (var store = await EmbeddedKnowledgeStore.OpenExistingAsync(kbLarge, storeOptions).ConfigureAwait(false))
        {
            var searcher = new KnowledgeSearcher(store, texts, images);
            foreach (var hybrid in new[] { true, false })
            {
                // Enough calls for tiered compilation to promote the search path (30 calls, then a background recompile),
                // so the timed queries measure optimized code rather than the JIT's first tier.
                for (var i = 0; i < WarmUpQueries; i++)
                {
                    _ = await searcher.SearchAsync(new SearchRequest { Text = queries[i % queries.Length], K = 10, Threshold = 0, Hybrid = hybrid }).ConfigureAwait(false);
                }

                await Task.Delay(200).ConfigureAwait(false);

                var total = new List<double>();
                var embed = new List<double>();
                var search = new List<double>();
                var calibration = new List<double>();
                // CPU time of the whole process per query (every thread): the work a query costs, which a busy machine
                // does not inflate the way it inflates wall-clock latency.
                var cpu = Process.GetCurrentProcess().TotalProcessorTime;
                foreach (var query in queries)
                {
                    var start = Stopwatch.GetTimestamp();
                    var result = await searcher.SearchAsync(new SearchRequest { Text = query, K = 10, Threshold = 0, Hybrid = hybrid }).ConfigureAwait(false);
                    total.Add(Stopwatch.GetElapsedTime(start).TotalMilliseconds);
                    embed.Add(result.EmbedTime.TotalMilliseconds);
                    search.Add(result.SearchTime.TotalMilliseconds);
                    calibration.Add(result.CalibrationTime.TotalMilliseconds);
                }

                var cpuPerQuery = CpuPerQuery(cpu, queries.Length);
                total.Sort();
                embed.Sort();
                search.Sort();
                calibration.Sort();
                rows.Add([$"text query over {itemCount} items, {(hybrid ? "hybrid" : "vector only")}, p50 / p95 (ms)",
                    $"{total[total.Count / 2]:F2} / {total[(int)(total.Count * 0.95)]:F2}  (p50: embed {embed[embed.Count / 2]:F2}, search {search[search.Count / 2]:F2}, calibration {calibration[calibration.Count / 2]:F2}; CPU {cpuPerQuery:F2} ms/query)"]);
            }

            // Where a query's milliseconds go: each part alone, as the searcher calls it.
            var embedAlone = new List<double>();
            var vectors = new List<float[]>();
            foreach (var query in queries)
            {
                var start = Stopwatch.GetTimestamp();
                vectors.Add((await texts.GenerateAsync([query]).ConfigureAwait(false))[0].Vector.ToArray());
                embedAlone.Add(Stopwatch.GetElapsedTime(start).TotalMilliseconds);
            }

            rows.Add(["text embed alone (tokenize + text tower + normalize), p50 / p95 (ms)", Percentiles(embedAlone)]);
            foreach (var kind in new[] { ItemKind.Image, ItemKind.TextChunk })
            {
                var vectorAlone = new List<double>();
                foreach (var vector in vectors)
                {
                    var start = Stopwatch.GetTimestamp();
                    _ = await store.SearchVectorsAsync(vector, 40, new SearchFilter { Kind = kind }).ConfigureAwait(false);
                    vectorAlone.Add(Stopwatch.GetElapsedTime(start).TotalMilliseconds);
                }

                rows.Add([$"vector search alone, 40 {kind} hits with items, p50 / p95 (ms)", Percentiles(vectorAlone)]);
            }

            // An image query (a 1024x768 JPEG): decode + vision tower, then the vector searches.
            var photos = Enumerable.Range(0, 20).Select(i => new Microsoft.Extensions.AI.DataContent(Jpeg(1024, 768, 5000 + i), "image/jpeg")).ToArray();
            _ = await searcher.SearchAsync(new SearchRequest { Image = photos[0], K = 10, Threshold = 0 }).ConfigureAwait(false);
            var imageTotal = new List<double>();
            var imageEmbed = new List<double>();
            var imageSearch = new List<double>();
            foreach (var photo in photos)
            {
                var start = Stopwatch.GetTimestamp();
                var result = await searcher.SearchAsync(new SearchRequest { Image = photo, K = 10, Threshold = 0 }).ConfigureAwait(false);
                imageTotal.Add(Stopwatch.GetElapsedTime(start).TotalMilliseconds);
                imageEmbed.Add(result.EmbedTime.TotalMilliseconds);
                imageSearch.Add(result.SearchTime.TotalMilliseconds);
            }

            imageTotal.Sort();
            rows.Add([$"image query (JPEG 1024x768) over {itemCount} items, p50 / p95 (ms)",
                $"{Percentiles(imageTotal)}  (p50: embed {imageEmbed.Order().ElementAt(imageEmbed.Count / 2):F2}, search {imageSearch.Order().ElementAt(imageSearch.Count / 2):F2})"]);

            keywordHits = await KeywordSearchesAsync(store, queries, $"keyword search alone, budget {storeOptions.KeywordCandidateBudget}", rows).ConfigureAwait(false);
        }

        if (options.Has("--keyword-recall"))
        {
            // The same keyword searches ranking every match: how many of the budgeted top lists they agree with.
            await using var store = await EmbeddedKnowledgeStore.OpenExistingAsync(kbLarge, new EmbeddedStoreOptions { KeywordCandidateBudget = int.MaxValue, MemoryMapSize = storeOptions.MemoryMapSize }).ConfigureAwait(false);
            var exact = await KeywordSearchesAsync(store, queries, "keyword search alone, every match ranked", rows).ConfigureAwait(false);
            foreach (var (budgeted, how) in new[] { (keywordHits.Single, "text chunks alone"), (keywordHits.ByKind, "text chunks of the one call for both kinds") })
            {
                var same = exact.Single.Where((ids, q) => ids.SequenceEqual(budgeted[q])).Count();
                var overlap = exact.Single.Select((ids, q) => ids.Length == 0 ? 1.0 : ids.Intersect(budgeted[q]).Count() / (double)ids.Length).Average();
                rows.Add([$"keyword top lists ({how}) equal to ranking every match (queries; mean overlap)", $"{same} / {queries.Length}; {overlap:P1}"]);
            }
        }

        Print(rows);
        return 0;

        // The JPEG folder into a fresh knowledge base, beside the vision tower alone (returned, images/s).
        async Task<double> IngestPhotosAsync(string kbFolder, string source, string decode, ClipImageEmbeddingGenerator imageGenerator, bool again)
        {
            ResetFolder(kbFolder);
            // The vision tower alone at batch 32 right before the ingest (on the generator's own model, so its session is
            // loaded before the clock starts), so the ingest rate reads as a share of it.
            var tower = (ClipModel)imageGenerator.GetService(typeof(ClipModel))!;
            var (modelOnlyRate, towerCores) = VisionTowerAlone(tower);
            rows.Add(["vision tower alone, b=32 (images/s, median of 3)", $"{modelOnlyRate:F2}  ({towerCores:F2} cores busy; load average {LoadAverage()})"]);
            await using var store = await EmbeddedKnowledgeStore.OpenAsync(kbFolder, new EmbeddingSpace(model.ModelId, model.Dimension)).ConfigureAwait(false);
            var pipeline = new IngestionPipeline(store, texts, imageGenerator, loaders);
            var progress = new StoredItemsClock();
            var cpu = CpuTime();
            var summary = await pipeline.IngestAsync([source], new IngestionOptions { KnowledgeBaseDirectory = kbFolder }, progress).ConfigureAwait(false);
            var cores = (CpuTime() - cpu) / summary.Elapsed;
            var rate = summary.Items / summary.Elapsed.TotalSeconds;
            var steady = progress.SteadyRate(summary.Items, summary.Elapsed);
            rows.Add([$"ingest {imageCount} JPEGs 1024x768 + descriptions, {decode}, model loaded (items/s)",
                $"{rate:F2} ({summary.Items} items, {summary.Elapsed.TotalSeconds:F1} s, {rate / modelOnlyRate:P0} of the vision tower alone; " +
                $"after the first 32 stored {steady:F2} = {steady / modelOnlyRate:P0}; {cores:F2} cores busy)"]);
            if (again)
            {
                var unchanged = await pipeline.IngestAsync([source], new IngestionOptions { KnowledgeBaseDirectory = kbFolder }).ConfigureAwait(false);
                rows.Add(["re-ingest unchanged folder (s)", $"{unchanged.Elapsed.TotalSeconds:F2} ({unchanged.Unchanged} unchanged, {unchanged.Embedded} embedded)"]);
            }

            return modelOnlyRate;
        }
    }

    private static void Print(List<string[]> rows)
    {
        rows.Add(["load average at the end (1 / 5 / 15 min)", LoadAverage()]);
        var width = rows.Max(r => r[0].Length);
        foreach (var (row, index) in rows.Select((r, i) => (r, i)))
        {
            Console.WriteLine($"| {row[0].PadRight(width)} | {row[1]} |");
            if (index == 0)
            {
                Console.WriteLine($"|{new string('-', width + 2)}|---|");
            }
        }
    }

    /// <summary>
    /// The vision tower alone on a batch of 32: images/s (median of 3 after one run that also loads the session), and the
    /// cores the process kept busy meanwhile (how much room the tower leaves for decoding and storing beside it).
    /// </summary>
    private static (double Rate, double Cores) VisionTowerAlone(ClipModel model)
    {
        var pixels = new float[32 * model.PixelValuesLength];
        for (var i = 0; i < pixels.Length; i++)
        {
            pixels[i] = ((i * 7919) % 255 / 128f) - 1;
        }

        var output = new float[32 * model.Dimension];
        model.EmbedPixelValues(pixels, 32, output);
        var rates = new List<double>();
        var cpu = CpuTime();
        var wall = Stopwatch.StartNew();
        for (var i = 0; i < 3; i++)
        {
            var start = Stopwatch.GetTimestamp();
            model.EmbedPixelValues(pixels, 32, output);
            rates.Add(32 / Stopwatch.GetElapsedTime(start).TotalSeconds);
        }

        return (rates.Order().ElementAt(1), (CpuTime() - cpu) / wall.Elapsed);
    }

    private static TimeSpan CpuTime()
    {
        using var process = Process.GetCurrentProcess();
        return process.TotalProcessorTime;
    }

    private static string LoadAverage() =>
        File.Exists("/proc/loadavg") ? string.Join(' ', File.ReadAllText("/proc/loadavg").Split(' ').Take(3)) : "unknown";

    /// <summary>VmHWM of this process (what <c>/usr/bin/time -v</c> reports as its maximum resident set size).</summary>
    private static double PeakResidentMiB()
    {
        using var process = Process.GetCurrentProcess();
        return process.PeakWorkingSet64 / (1024.0 * 1024);
    }

    /// <summary>
    /// Progress taken synchronously (not posted, as <see cref="Progress{T}"/> does), to time the run once its first
    /// batch (32 items) is stored: the steady rate, without discovery and the first batch's reads.
    /// </summary>
    private sealed class StoredItemsClock : IProgress<IngestionProgress>
    {
        private readonly object _gate = new();
        private (int Items, TimeSpan At)? _first;

        public void Report(IngestionProgress value)
        {
            lock (_gate)
            {
                if (_first is null && value.ItemsStored >= 32)
                {
                    _first = (value.ItemsStored, value.Elapsed);
                }
            }
        }

        public double SteadyRate(int items, TimeSpan elapsed)
        {
            lock (_gate)
            {
                return _first is { } first && elapsed > first.At ? (items - first.Items) / (elapsed - first.At).TotalSeconds : double.NaN;
            }
        }
    }

    /// <summary>
    /// The keyword half of a hybrid search on its own (10 hits × the over-fetch factor of 4): text chunks only, then
    /// both kinds in one call as the searcher asks for them; adds a latency row for each and returns each query's
    /// text-chunk hit ids of both.
    /// </summary>
    private static async Task<(List<string[]> Single, List<string[]> ByKind)> KeywordSearchesAsync(EmbeddedKnowledgeStore store, string[] queries, string label, List<string[]> rows)
    {
        var filter = new SearchFilter { Kind = ItemKind.TextChunk };
        foreach (var query in queries.Take(5))
        {
            _ = await store.SearchKeywordsAsync(query, 40, filter).ConfigureAwait(false);
        }

        var times = new List<double>(queries.Length);
        var hits = new List<string[]>(queries.Length);
        var cpu = Process.GetCurrentProcess().TotalProcessorTime;
        foreach (var query in queries)
        {
            var start = Stopwatch.GetTimestamp();
            var found = await store.SearchKeywordsAsync(query, 40, filter).ConfigureAwait(false);
            times.Add(Stopwatch.GetElapsedTime(start).TotalMilliseconds);
            hits.Add([.. found.Select(h => h.Item.Id)]);
        }

        rows.Add([$"{label}, p50 / p95 (ms)", $"{Percentiles(times)}  (CPU {CpuPerQuery(cpu, queries.Length):F2} ms/query)"]);

        // As a hybrid query over both kinds asks: images and text chunks, 40 each, in one call.
        KindLimit[] kinds = [new(ItemKind.Image, 40), new(ItemKind.TextChunk, 40)];
        var byKind = new List<double>(queries.Length);
        var byKindHits = new List<string[]>(queries.Length);
        cpu = Process.GetCurrentProcess().TotalProcessorTime;
        foreach (var query in queries)
        {
            var start = Stopwatch.GetTimestamp();
            var found = await store.SearchKeywordsByKindAsync(query, kinds).ConfigureAwait(false);
            byKind.Add(Stopwatch.GetElapsedTime(start).TotalMilliseconds);
            byKindHits.Add([.. found[1].Select(h => h.Item.Id)]);
        }

        rows.Add([$"{label}, images + text chunks in one call, p50 / p95 (ms)", $"{Percentiles(byKind)}  (CPU {CpuPerQuery(cpu, queries.Length):F2} ms/query)"]);
        return (hits, byKindHits);
    }

    /// <summary>Process CPU time (every thread) since <paramref name="start"/>, per query.</summary>
    private static double CpuPerQuery(TimeSpan start, int queries) => (Process.GetCurrentProcess().TotalProcessorTime - start).TotalMilliseconds / queries;

    private static string Percentiles(List<double> times)
    {
        var sorted = times.Order().ToArray();
        return $"{sorted[sorted.Length / 2]:F2} / {sorted[(int)(sorted.Length * 0.95)]:F2}";
    }

    /// <summary>Synthetic words with Zipf-like frequencies (rank r drawn with weight 1/(r+10)), like words in real text.</summary>
    internal sealed class ZipfWords
    {
        private readonly string[] _words;
        private readonly double[] _cumulative;

        public ZipfWords(int size, int seed)
        {
            var random = new Random(seed);
            _words = [.. Enumerable.Range(0, size).Select(_ => new string([.. Enumerable.Range(0, random.Next(4, 9)).Select(_ => (char)('a' + random.Next(26)))]))];
            _cumulative = new double[size];
            var total = 0.0;
            for (var r = 0; r < size; r++)
            {
                total += 1.0 / (r + 10);
                _cumulative[r] = total;
            }

            for (var r = 0; r < size; r++)
            {
                _cumulative[r] /= total;
            }
        }

        public string Next(Random random)
        {
            var index = Array.BinarySearch(_cumulative, random.NextDouble());
            return _words[Math.Min(index < 0 ? ~index : index, _words.Length - 1)];
        }
    }

    private static void ResetFolder(string folder)
    {
        if (Directory.Exists(folder))
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    private static string WriteJpegFolder(string folder, int count)
    {
        Directory.CreateDirectory(folder);
        var descriptions = new List<string>();
        for (var i = 0; i < count; i++)
        {
            var path = Path.Combine(folder, $"img_{i:D4}.jpg");
            if (!File.Exists(path))
            {
                File.WriteAllBytes(path, Jpeg(1024, 768, i));
            }

            descriptions.Add($$"""{"image_path": "img_{{i:D4}}.jpg", "description": "synthetic photo {{i}} of a {{Words[i % Words.Length]}} near a {{Words[(i * 7) % Words.Length]}}"}""");
        }

        File.WriteAllLines(Path.Combine(folder, "description.json"), descriptions);
        return folder;
    }

    private static string WritePdf(string path, int pages)
    {
        using var builder = new PdfDocumentBuilder();
        var font = builder.AddStandard14Font(Standard14Font.Helvetica);
        for (var p = 0; p < pages; p++)
        {
            var page = builder.AddPage(PageSize.A4);
            page.AddText($"Section {p + 1}: the {Words[p % Words.Length]}", 16, new PdfPoint(50, 790), font);
            for (var line = 0; line < 20; line++)
            {
                page.AddText(string.Join(' ', Enumerable.Range(0, 10).Select(w => Words[(p * 31 + line * 7 + w) % Words.Length])) + ".", 10, new PdfPoint(50, 760 - line * 14), font);
            }

            page.AddJpeg(Jpeg(800, 600, 1000 + p), new PdfRectangle(50, 80, 450, 380));
        }

        File.WriteAllBytes(path, builder.Build());
        return path;
    }

    private static byte[] Jpeg(int width, int height, int seed)
    {
        var random = new Random(seed);
        using var bitmap = new SKBitmap(width, height);
        using (var canvas = new SKCanvas(bitmap))
        {
            canvas.Clear(new SKColor((byte)random.Next(256), (byte)random.Next(256), (byte)random.Next(256)));
            using var paint = new SKPaint { IsAntialias = true };
            for (var s = 0; s < 30; s++)
            {
                paint.Color = new SKColor((byte)random.Next(256), (byte)random.Next(256), (byte)random.Next(256));
                canvas.DrawCircle(random.Next(width), random.Next(height), random.Next(10, width / 4), paint);
            }
        }

        using var data = bitmap.Encode(SKEncodedImageFormat.Jpeg, 90);
        return data.ToArray();
    }
}
