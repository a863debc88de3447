using System.Diagnostics;
using System.Diagnostics.CodeAnalysis;
using System.Globalization;
using System.Numerics.Tensors;
using System.Runtime.InteropServices;
using System.Text;
using Microsoft.Extensions.AI;
using Mmrag.Benchmarks.EndToEnd;
using Mmrag.Benchmarks.VectorIndex;
using Mmrag.Knowledge;
using Mmrag.Retrieval.Search;
using Mmrag.Storage;
using Mmrag.Storage.Embedded;
using Mmrag.Storage.Postgres;
using Npgsql;

namespace Mmrag.Benchmarks.Backends;

/// <summary>
/// The two <see cref="IKnowledgeStore"/> backends side by side (issue 6): the same synthetic unit vectors, wrapped as
/// text items in documents, go into the embedded store (SQLite + in-process HNSW) and the PostgreSQL + pgvector store
/// through the public store API; the table gives insert rate, index build time, top-k query latency through the store
/// and through <see cref="KnowledgeSearcher"/>, and recall@k against exact search computed here over the same vectors.
/// PostgreSQL is <c>--connection</c> / <c>MMRAG_PG</c>, else PGlite started for the run (WebAssembly, one thread:
/// far slower than a native server, and the table says so).
/// </summary>
public static class BackendsBenchmark
{
    private const string Usage = """
        usage: backends [--items 100000] [--dim 512] [--queries 200] [--batch 1000] [--k 10] [--backend embedded|postgres|both]
                        [--connection CONNSTRING] [--ef N[,N...]] [--M N] [--efc N] [--threads N] [--exact-threshold N]
                        [--maintenance-work-mem 1GB] [--keep]
          --items       synthetic 512-d unit vectors stored in each backend (gen_data.py's base_100k/base_1m.fvecs
                        under $MMRAG_BENCH_DIR/data when present, else generated here with its recipe)
          --batch       items per document: one UpsertDocumentAsync, i.e. one transaction, each
          --backend     which stores to run (default both, one after the other)
          --connection  PostgreSQL with pgvector 0.8+ (default $MMRAG_PG; without either, PGlite is started)
          --ef          search candidate lists to measure (embedded HnswOptions.EfSearch, postgres MinEfSearch; both use
                        at least 2k); default: each store's own default
          --M, --efc    HNSW graph degree and construction list for both stores (default: each store's own default)
          --threads     embedded graph build threads (default: the store's, half the cores)
          --exact-threshold  embedded ExactSearchThreshold (default 20,000: below it the store searches exactly, no graph)
          --maintenance-work-mem  for the timed REINDEX (pgvector builds fast only while the graph fits in it)
          --keep        keep the embedded folder and the PostgreSQL schema afterwards
        """;

    public static async Task<int> RunAsync(string[] args)
    {
        if (!Settings.TryParse(BenchOptions.Parse(args), out Settings? settings, out string? error))
        {
            Console.Error.WriteLine($"{error}\n{Usage}");
            return 2;
        }

        if (settings.Help)
        {
            Console.WriteLine(Usage);
            return 0;
        }

        using var cancel = new CancellationTokenSource();
        // Ctrl+C, kill and a closed terminal stop the run through its token, which also kills the PGlite server at once
        // (a REINDEX there does not answer cancel requests); the finally blocks close the stores. Left to .NET's
        // default, SIGTERM ended the process without killing node.
        PosixSignalRegistration[] signals = [.. new[] { PosixSignal.SIGINT, PosixSignal.SIGTERM, PosixSignal.SIGHUP }.Select(signal =>
            PosixSignalRegistration.Create(signal, context =>
            {
                context.Cancel = true;
                cancel.Cancel();
            }))];
        try
        {
            var total = Stopwatch.StartNew();
            Workload workload = Workload.Create(settings);
            Progress($"data: {workload.Source}; exact top-{settings.K} of {workload.QueryCount} queries computed in {workload.ExactSeconds:F1} s");
            var columns = new List<Column>();
            var notes = new List<string>();
            if (settings.RunEmbedded)
            {
                columns.Add(await RunEmbeddedAsync(settings, workload, cancel.Token).ConfigureAwait(false));
            }

            if (settings.RunPostgres)
            {
                columns.Add(await RunPostgresAsync(settings, workload, notes, cancel.Token).ConfigureAwait(false));
            }

            Console.WriteLine();
            Console.WriteLine($"# mmrag storage backends: {workload.Count:N0} items x {workload.Dimension}-d, {workload.QueryCount} queries, k={settings.K}, " +
                $"{Environment.ProcessorCount} cores, {total.Elapsed.TotalMinutes:F1} min in all");
            PrintTable(columns);
            Console.WriteLine($"# data: {workload.Source}");
            Console.WriteLine($"# recall@{settings.K}: share of the exact top-{settings.K} (brute-force float32 inner products over the same vectors, computed by this benchmark) that the store returned.");
            foreach (string note in notes)
            {
                Console.WriteLine($"# {note}");
            }

            return 0;
        }
        catch (Exception e) when (e is NpgsqlException or KnowledgeStoreException && !cancel.IsCancellationRequested)
        {
            Console.Error.WriteLine($"postgres: {e.Message}{(e.InnerException is { } inner ? $" ({inner.Message})" : "")}");
            return 1;
        }
        catch (Exception) when (cancel.IsCancellationRequested)
        {
            // Cancelled, or a PostgreSQL call failed because the server was killed on the way out.
            Console.Error.WriteLine("cancelled");
            return 130;
        }
        finally
        {
            foreach (PosixSignalRegistration signal in signals)
            {
                signal.Dispose();
            }
        }
    }

    private static async Task<Column> RunEmbeddedAsync(Settings settings, Workload workload, CancellationToken cancellationToken)
    {
        var column = new Column("embedded (SQLite + mmrag HNSW)");
        string folder = Path.Combine(settings.BenchDir, "backends", $"embedded-{workload.Count}");
        DeleteFolder(folder);
        var space = new EmbeddingSpace("synthetic", workload.Dimension);
        EmbeddedStoreOptions defaults = OptionsFor(settings, ef: null);
        column.Add("engine", "SQLite (WAL, FTS5) + HNSW in process");
        column.Add("HNSW parameters", $"M={defaults.Hnsw.M}, efConstruction={defaults.Hnsw.EfConstruction}, build threads={defaults.Hnsw.MaxDegreeOfParallelism}; " +
            $"exact below {defaults.ExactSearchThreshold:N0} items");
        try
        {
            EmbeddedKnowledgeStore store = await EmbeddedKnowledgeStore.OpenAsync(folder, space, defaults, cancellationToken).ConfigureAwait(false);
            try
            {
                InsertRate insert = await InsertAsync(store, workload, "embedded", cancellationToken).ConfigureAwait(false);
                column.Add(InsertRow(workload, settings), insert.Describe());
                column.Add("index during inserts", $"none up to {defaults.ExactSearchThreshold:N0} items (exact search); then a background graph build, then linking on write");
                var wait = Stopwatch.StartNew();
                await store.WaitForIndexAsync(cancellationToken).ConfigureAwait(false);
                EmbeddedIndexStatus status = store.IndexStatus;
                column.Add("index ready after the last insert (s)", status.GraphReady
                    ? $"{wait.Elapsed.TotalSeconds:F2} (waiting for background index work; {status.GraphBuilds} graph build(s) during the load)"
                    : $"{wait.Elapsed.TotalSeconds:F2} (no graph: {status.LiveVectors:N0} items are within the exact-search threshold)");
                column.Add(IndexedRateRow, $"{workload.Count / (insert.Seconds + wait.Elapsed.TotalSeconds):F0} (inserts + waiting for the index)");
                KnowledgeBaseStats stats = await store.GetStatsAsync(cancellationToken).ConfigureAwait(false);
                column.Add("storage (MiB)", $"{Mib(stats.StorageBytes)} (knowledge.db + WAL + vectors.hnsw)");
            }
            finally
            {
                await store.DisposeAsync().ConfigureAwait(false);
            }

            var open = Stopwatch.StartNew();
            store = await EmbeddedKnowledgeStore.OpenAsync(folder, space, defaults, cancellationToken).ConfigureAwait(false);
            try
            {
                EmbeddedIndexStatus status = store.IndexStatus;
                column.Add("open the loaded knowledge base (s)", $"{open.Elapsed.TotalSeconds:F2} " +
                    (status.GraphLoadedFromFile ? "(vectors + graph read from vectors.hnsw)" : $"(vectors read from SQLite: {status.IndexFileProblem})"));
                await MeasureQueriesAsync(column, store, workload, settings, defaults.Hnsw.EfSearch, "embedded", cancellationToken).ConfigureAwait(false);
                foreach (int ef in settings.Ef.Skip(1))
                {
                    await store.DisposeAsync().ConfigureAwait(false);
                    store = await EmbeddedKnowledgeStore.OpenAsync(folder, space, OptionsFor(settings, ef), cancellationToken).ConfigureAwait(false);
                    await MeasureQueriesAsync(column, store, workload, settings, ef, "embedded", cancellationToken).ConfigureAwait(false);
                }

                status = store.IndexStatus;
                column.Add("searches answered by", $"{(status.GraphSearches > 0 ? "HNSW graph" : "exact scan")} ({status.GraphSearches:N0} graph, {status.ExactSearches:N0} exact)");
                await MeasureSearcherAsync(column, store, workload, settings, cancellationToken).ConfigureAwait(false);
            }
            finally
            {
                await store.DisposeAsync().ConfigureAwait(false);
            }

            // A build from scratch: without vectors.hnsw the store reads the vectors from SQLite and builds the graph.
            File.Delete(Path.Combine(folder, EmbeddedKnowledgeStore.IndexFileName));
            Progress("embedded: rebuilding the graph from scratch");
            var load = Stopwatch.StartNew();
            store = await EmbeddedKnowledgeStore.OpenAsync(folder, space, defaults, cancellationToken).ConfigureAwait(false);
            try
            {
                double loadSeconds = load.Elapsed.TotalSeconds;
                var build = Stopwatch.StartNew();
                await store.WaitForIndexAsync(cancellationToken).ConfigureAwait(false);
                EmbeddedIndexStatus status = store.IndexStatus;
                column.Add("index build from scratch (s)", status.GraphReady
                    ? $"{loadSeconds + build.Elapsed.TotalSeconds:F1}: read vectors from SQLite {loadSeconds:F1} + graph build and save {build.Elapsed.TotalSeconds:F1} " +
                      $"({defaults.Hnsw.MaxDegreeOfParallelism} thread(s))"
                    : $"none: {status.LiveVectors:N0} items are within the exact-search threshold (read vectors from SQLite {loadSeconds:F2})");
            }
            finally
            {
                await store.DisposeAsync().ConfigureAwait(false);
            }
        }
        finally
        {
            if (!settings.Keep)
            {
                DeleteFolder(folder);
            }
        }

        return column;
    }

    private static EmbeddedStoreOptions OptionsFor(Settings settings, int? ef)
    {
        var options = new EmbeddedStoreOptions();
        options.ExactSearchThreshold = settings.ExactThreshold ?? options.ExactSearchThreshold;
        options.Hnsw.M = settings.M ?? options.Hnsw.M;
        options.Hnsw.EfConstruction = settings.EfConstruction ?? options.Hnsw.EfConstruction;
        options.Hnsw.EfSearch = ef ?? settings.Ef.FirstOrDefault(options.Hnsw.EfSearch);
        options.Hnsw.MaxDegreeOfParallelism = settings.Threads ?? options.Hnsw.MaxDegreeOfParallelism;
        return options;
    }

    private static async Task<Column> RunPostgresAsync(Settings settings, Workload workload, List<string> notes, CancellationToken cancellationToken)
    {
        PgliteServer? pglite = null;
        string connectionString;
        if (settings.Connection is { } given)
        {
            connectionString = PostgresConnectionStrings.Normalize(given);
        }
        else
        {
            Progress("postgres: no --connection or MMRAG_PG; starting PGlite");
            pglite = await PgliteServer.StartAsync(cancellationToken).ConfigureAwait(false);
            connectionString = pglite.ConnectionString;
        }

        string schema = "mmrag_bench_" + Guid.NewGuid().ToString("N")[..8];
        try
        {
            string version = await ScalarAsync<string>(connectionString, "SELECT version()", cancellationToken).ConfigureAwait(false);
            // PGlite's build says so in its version string (emscripten); one started here is PGlite in any case.
            bool isPglite = pglite is not null || version.Contains("emscripten", StringComparison.OrdinalIgnoreCase) || version.Contains("wasm", StringComparison.OrdinalIgnoreCase);
            var column = new Column(isPglite ? "postgres (PGlite, WASM)" : "postgres + pgvector");
            var space = new EmbeddingSpace("synthetic", workload.Dimension);
            PostgresStoreOptions defaults = PostgresOptionsFor(settings, schema, ef: null);
            var open = Stopwatch.StartNew();
            PostgresKnowledgeStore store = await PostgresKnowledgeStore.OpenAsync(connectionString, space, defaults, cancellationToken).ConfigureAwait(false);
            double createSeconds = open.Elapsed.TotalSeconds;
            string pgvector = await ScalarAsync<string>(connectionString, "SELECT extversion FROM pg_extension WHERE extname = 'vector'", cancellationToken).ConfigureAwait(false);
            column.Add("engine", $"PostgreSQL {ShortVersion(version)} + pgvector {pgvector}{(isPglite ? $" (PGlite {PgliteServer.PgliteVersion}, WebAssembly, 1 thread, in memory)" : "")}");
            column.Add("HNSW parameters", $"m={defaults.HnswM}, ef_construction={defaults.HnswEfConstruction}, vector_ip_ops");
            string s = "\"" + schema + "\"";
            try
            {
                InsertRate insert = await InsertAsync(store, workload, "postgres", cancellationToken).ConfigureAwait(false);
                column.Add(InsertRow(workload, settings), insert.Describe() + $" ({defaults.InsertBatchSize} rows per INSERT … unnest)");
                column.Add("index during inserts", "HNSW index created with the schema (empty); every INSERT links its rows into it");
                var analyze = Stopwatch.StartNew();
                await ExecuteAsync(connectionString, $"ANALYZE {s}.items", cancellationToken).ConfigureAwait(false);
                column.Add("index ready after the last insert (s)", $"0 (maintained by each INSERT); ANALYZE items afterwards {analyze.Elapsed.TotalSeconds:F2}");
                column.Add(IndexedRateRow, $"{workload.Count / insert.Seconds:F0} (= the insert rate)");
                long indexBytes = await ScalarAsync<long>(connectionString, $"SELECT pg_relation_size('{s}.items_embedding')", cancellationToken).ConfigureAwait(false);
                KnowledgeBaseStats stats = await store.GetStatsAsync(cancellationToken).ConfigureAwait(false);
                column.Add("storage (MiB)", $"{Mib(stats.StorageBytes)} (tables + indexes; HNSW index {Mib(indexBytes)})");
            }
            finally
            {
                await store.DisposeAsync().ConfigureAwait(false);
            }

            open.Restart();
            store = await PostgresKnowledgeStore.OpenAsync(connectionString, space, defaults, cancellationToken).ConfigureAwait(false);
            try
            {
                column.Add("open the loaded knowledge base (s)", $"{open.Elapsed.TotalSeconds:F2} (the server keeps the index; creating the schema took {createSeconds:F2})");
                await MeasureQueriesAsync(column, store, workload, settings, defaults.MinEfSearch, "postgres", cancellationToken).ConfigureAwait(false);
                foreach (int ef in settings.Ef.Skip(1))
                {
                    await store.DisposeAsync().ConfigureAwait(false);
                    store = await PostgresKnowledgeStore.OpenAsync(connectionString, space, PostgresOptionsFor(settings, schema, ef), cancellationToken).ConfigureAwait(false);
                    await MeasureQueriesAsync(column, store, workload, settings, ef, "postgres", cancellationToken).ConfigureAwait(false);
                }

                column.Add("searches answered by", await PlanAsync(connectionString, s, workload, settings.K, cancellationToken).ConfigureAwait(false));
                await MeasureSearcherAsync(column, store, workload, settings, cancellationToken).ConfigureAwait(false);
            }
            finally
            {
                await store.DisposeAsync().ConfigureAwait(false);
            }

            Progress($"postgres: REINDEX of the HNSW index (maintenance_work_mem {settings.MaintenanceWorkMem})");
            (double seconds, string workers, List<string> notices) = await ReindexAsync(connectionString, s, settings.MaintenanceWorkMem, cancellationToken).ConfigureAwait(false);
            column.Add("index build from scratch (s)", $"{seconds:F1}: REINDEX of the HNSW index, maintenance_work_mem {settings.MaintenanceWorkMem}, " +
                (isPglite ? "1 thread (PGlite)" : $"max_parallel_maintenance_workers {workers}") +
                (notices.Count > 0 ? $"; server said: {string.Join(" / ", notices)}" : ""));

            notes.Add($"postgres server: {version}");
            notes.Add(isPglite
                ? "postgres is PGlite: PostgreSQL compiled to WebAssembly, single-threaded, in memory, one transaction at a time — a test server, " +
                  "much slower than a native PostgreSQL; its figures say nothing about a real server's speed (run with --connection or MMRAG_PG for that)."
                : "postgres is a native server (not PGlite).");
            if (!settings.Keep || isPglite)
            {
                await ExecuteAsync(connectionString, $"DROP SCHEMA IF EXISTS {s} CASCADE", cancellationToken).ConfigureAwait(false);
            }
            else
            {
                notes.Add($"the postgres knowledge base is kept in schema {schema}");
            }

            return column;
        }
        finally
        {
            if (pglite is not null)
            {
                await pglite.DisposeAsync().ConfigureAwait(false);
            }
        }
    }

    private static PostgresStoreOptions PostgresOptionsFor(Settings settings, string schema, int? ef)
    {
        var options = new PostgresStoreOptions { Schema = schema };
        options.HnswM = settings.M ?? options.HnswM;
        options.HnswEfConstruction = settings.EfConstruction ?? options.HnswEfConstruction;
        options.MinEfSearch = ef ?? settings.Ef.FirstOrDefault(options.MinEfSearch);
        return options;
    }

    /// <summary>Whether the planner takes the HNSW index for the store's query shape (a sequential scan would be exact and slow).</summary>
    private static async Task<string> PlanAsync(string connectionString, string s, Workload workload, int k, CancellationToken cancellationToken)
    {
        string literal = "[" + string.Join(',', workload.Query(0).ToArray().Select(x => x.ToString("R", CultureInfo.InvariantCulture))) + "]";
        var plan = new StringBuilder();
        var connection = new NpgsqlConnection(connectionString);
        await using (connection.ConfigureAwait(false))
        {
            await connection.OpenAsync(cancellationToken).ConfigureAwait(false);
            using var command = new NpgsqlCommand($"EXPLAIN SELECT id FROM {s}.items ORDER BY embedding <#> '{literal}'::vector LIMIT {k}", connection);
            NpgsqlDataReader reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
            await using (reader.ConfigureAwait(false))
            {
                while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
                {
                    plan.AppendLine(reader.GetString(0));
                }
            }
        }

        return plan.ToString().Contains("items_embedding", StringComparison.Ordinal)
            ? "HNSW index (EXPLAIN: Index Scan using items_embedding)"
            : "NOT the HNSW index (EXPLAIN: " + plan.ToString().Split('\n')[0].Trim() + ")";
    }

    private static async Task<(double Seconds, string Workers, List<string> Notices)> ReindexAsync(string connectionString, string s, string maintenanceWorkMem,
        CancellationToken cancellationToken)
    {
        var notices = new List<string>();
        var connection = new NpgsqlConnection(connectionString);
        await using (connection.ConfigureAwait(false))
        {
            // Only what the server says to users (pgvector's "graph no longer fits into maintenance_work_mem"); PGlite also sends its log lines.
            connection.Notice += (_, e) =>
            {
                if (e.Notice.InvariantSeverity is "NOTICE" or "WARNING")
                {
                    notices.Add(e.Notice.MessageText);
                }
            };
            await connection.OpenAsync(cancellationToken).ConfigureAwait(false);
            using (var set = new NpgsqlCommand($"SET maintenance_work_mem = '{maintenanceWorkMem.Replace("'", "", StringComparison.Ordinal)}'", connection))
            {
                await set.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
            }

            using var show = new NpgsqlCommand("SHOW max_parallel_maintenance_workers", connection);
            string workers = (string)(await show.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false))!;
            var clock = Stopwatch.StartNew();
            using var reindex = new NpgsqlCommand($"REINDEX INDEX {s}.items_embedding", connection) { CommandTimeout = 0 };
            await reindex.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
            return (clock.Elapsed.TotalSeconds, workers, notices);
        }
    }

    /// <summary>Stores the workload's documents one after another, one <see cref="IKnowledgeStore.UpsertDocumentAsync"/> (one transaction) each.</summary>
    private static async Task<InsertRate> InsertAsync(IKnowledgeStore store, Workload workload, string name, CancellationToken cancellationToken)
    {
        var marks = new List<(int Items, double Seconds)> { (0, 0) };
        int done = 0;
        int nextReport = workload.Count / 10;
        var clock = Stopwatch.StartNew();
        foreach ((DocumentRecord document, KnowledgeItem[] items) in workload.Documents)
        {
            await store.UpsertDocumentAsync(document, items, cancellationToken).ConfigureAwait(false);
            done += items.Length;
            marks.Add((done, clock.Elapsed.TotalSeconds));
            if (done >= nextReport && done < workload.Count)
            {
                Progress($"{name}: {done:N0} / {workload.Count:N0} items in {clock.Elapsed.TotalSeconds:F1} s ({done / clock.Elapsed.TotalSeconds:F0} items/s)");
                nextReport += workload.Count / 10;
            }
        }

        return new InsertRate(marks);
    }

    /// <summary>The embedded store links items into its graph partly in the background, so its insert rate alone flatters it.</summary>
    private const string IndexedRateRow = "load until the index covers every item (items/s)";

    private static string InsertRow(Workload workload, Settings settings) =>
        $"insert {workload.Count:N0} items (items/s; {workload.Documents.Count:N0} docs x {settings.Batch:N0} items, 1 upsert = 1 transaction)";

    private static async Task MeasureQueriesAsync(Column column, IKnowledgeStore store, Workload workload, Settings settings, int ef, string name,
        CancellationToken cancellationToken)
    {
        int k = settings.K;
        for (int i = 0; i < Math.Min(10, workload.QueryCount); i++)
        {
            _ = await store.SearchVectorsAsync(workload.Query(i), k, cancellationToken: cancellationToken).ConfigureAwait(false);
        }

        var latencies = new List<double>(workload.QueryCount);
        int found = 0;
        for (int q = 0; q < workload.QueryCount; q++)
        {
            long start = Stopwatch.GetTimestamp();
            IReadOnlyList<StoreHit> hits = await store.SearchVectorsAsync(workload.Query(q), k, cancellationToken: cancellationToken).ConfigureAwait(false);
            latencies.Add(Stopwatch.GetElapsedTime(start).TotalMilliseconds);
            found += hits.Count(h => workload.Exact[q].Contains(Workload.IndexOf(h.Item.Id)));
        }

        int effective = Math.Max(ef, 2 * k);
        double recall = found / (double)(workload.QueryCount * k);
        string label = settings.Ef.Count > 0 ? $"ef {ef}" : "each store's default ef";
        column.Add($"store top-{k} vector query p50 / p95 (ms), {label}", $"{Percentiles(latencies)} (ef={effective})");
        column.Add($"recall@{k} vs exact, {label}", $"{recall:F4} (ef={effective})");
        Progress($"{name}: ef={effective}: p50/p95 {Percentiles(latencies)} ms, recall@{k} {recall:F4}");
    }

    /// <summary>
    /// The application's path: <see cref="KnowledgeSearcher"/> with vector search only, over text items (one kind-filtered
    /// store search of k × over-fetch candidates, then scoring and calibration). The query "embedding" is a lookup.
    /// </summary>
    private static async Task MeasureSearcherAsync(Column column, IKnowledgeStore store, Workload workload, Settings settings, CancellationToken cancellationToken)
    {
        using var texts = new QueryLookup(workload);
        using var images = new NoImages();
        var searcher = new KnowledgeSearcher(store, texts, images);
        SearchRequest Request(int q) => new()
        {
            Text = QueryLookup.Name(q),
            K = settings.K,
            Target = SearchTarget.Text,
            Hybrid = false,
            Threshold = 0,
            Dedupe = DedupeOptions.None,
        };

        // The first search computes the score calibration (a sample of the store); it is not what a query costs.
        for (int i = 0; i < Math.Min(10, workload.QueryCount); i++)
        {
            _ = await searcher.SearchAsync(Request(i), cancellationToken).ConfigureAwait(false);
        }

        var latencies = new List<double>(workload.QueryCount);
        for (int q = 0; q < workload.QueryCount; q++)
        {
            long start = Stopwatch.GetTimestamp();
            _ = await searcher.SearchAsync(Request(q), cancellationToken).ConfigureAwait(false);
            latencies.Add(Stopwatch.GetElapsedTime(start).TotalMilliseconds);
        }

        column.Add($"KnowledgeSearcher vector-only top-{settings.K} p50 / p95 (ms)",
            $"{Percentiles(latencies)} ({searcher.Options.OverFetchFactor * settings.K} candidates, kind filter, calibration)");
    }

    private static string Percentiles(List<double> latencies) =>
        $"{VectorIndexBenchmark.Percentile(latencies, 0.50):F2} / {VectorIndexBenchmark.Percentile(latencies, 0.95):F2}";

    private static void PrintTable(List<Column> columns)
    {
        var rows = new List<string>();
        foreach (Column column in columns)
        {
            foreach ((string row, _) in column.Cells)
            {
                if (!rows.Contains(row))
                {
                    rows.Add(row);
                }
            }
        }

        List<string[]> table = [["measure", .. columns.Select(c => c.Name)]];
        foreach (string row in rows)
        {
            table.Add([row, .. columns.Select(c => string.Join("; ", c.Cells.Where(x => x.Row == row).Select(x => x.Value)) is { Length: > 0 } v ? v : "-")]);
        }

        int[] widths = [.. Enumerable.Range(0, table[0].Length).Select(i => table.Max(r => r[i].Length))];
        for (int r = 0; r < table.Count; r++)
        {
            Console.WriteLine("| " + string.Join(" | ", table[r].Select((cell, i) => cell.PadRight(widths[i]))) + " |");
            if (r == 0)
            {
                Console.WriteLine("|" + string.Join("|", widths.Select(w => new string('-', w + 2))) + "|");
            }
        }
    }

    private static string ShortVersion(string version) => version.Split(' ') is [_, var number, ..] ? number : version;

    private static string Mib(long bytes) => (bytes / (1024.0 * 1024.0)).ToString("F0", CultureInfo.InvariantCulture);

    private static void Progress(string line) => Console.Error.WriteLine($"# {DateTime.Now:HH:mm:ss} {line}");

    private static void DeleteFolder(string folder)
    {
        if (Directory.Exists(folder))
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    private static async Task<T> ScalarAsync<T>(string connectionString, string sql, CancellationToken cancellationToken)
    {
        var connection = new NpgsqlConnection(connectionString);
        await using (connection.ConfigureAwait(false))
        {
            await connection.OpenAsync(cancellationToken).ConfigureAwait(false);
            using var command = new NpgsqlCommand(sql, connection);
            return (T)(await command.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false))!;
        }
    }

    private static async Task ExecuteAsync(string connectionString, string sql, CancellationToken cancellationToken)
    {
        var connection = new NpgsqlConnection(connectionString);
        await using (connection.ConfigureAwait(false))
        {
            await connection.OpenAsync(cancellationToken).ConfigureAwait(false);
            using var command = new NpgsqlCommand(sql, connection) { CommandTimeout = 0 };
            await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
        }
    }

    private sealed class Column(string name)
    {
        public string Name { get; } = name;

        public List<(string Row, string Value)> Cells { get; } = [];

        public void Add(string row, string value) => Cells.Add((row, value));
    }

    /// <summary>Insert progress: (items stored, seconds) after each document.</summary>
    private sealed class InsertRate(List<(int Items, double Seconds)> marks)
    {
        public double Seconds => marks[^1].Seconds;

        public string Describe()
        {
            (int items, double seconds) = marks[^1];
            return $"{items / seconds:F0} ({seconds:F1} s; first 10 %: {Rate(0, 0.1):F0}/s, last 10 %: {Rate(0.9, 1.0):F0}/s)";
        }

        /// <summary>Items per second over the documents that cover the two fractions of the load (whole documents, so maybe more).</summary>
        private double Rate(double from, double to)
        {
            int total = marks[^1].Items;
            (int Items, double Seconds) a = marks.Last(m => m.Items <= from * total);
            (int Items, double Seconds) b = marks.First(m => m.Items >= to * total);
            return (b.Items - a.Items) / (b.Seconds - a.Seconds);
        }
    }

    private sealed class Settings
    {
        public int Items { get; private init; }

        public int Dimension { get; private init; }

        public int Queries { get; private init; }

        public int Batch { get; private init; }

        public int K { get; private init; }

        public bool RunEmbedded { get; private init; }

        public bool RunPostgres { get; private init; }

        public string? Connection { get; private init; }

        public IReadOnlyList<int> Ef { get; private init; } = [];

        public int? M { get; private init; }

        public int? EfConstruction { get; private init; }

        public int? Threads { get; private init; }

        public int? ExactThreshold { get; private init; }

        public string MaintenanceWorkMem { get; private init; } = "1GB";

        public bool Keep { get; private init; }

        public bool Help { get; private init; }

        public string BenchDir { get; } = Environment.GetEnvironmentVariable("MMRAG_BENCH_DIR") is { Length: > 0 } dir ? dir : "/tmp/mmrag-bench";

        public static bool TryParse(BenchOptions o, [NotNullWhen(true)] out Settings? settings, out string? error)
        {
            try
            {
                (settings, error) = (Parse(o), null);
                return true;
            }
            catch (ArgumentException e)
            {
                (settings, error) = (null, e.Message);
                return false;
            }
        }

        private static Settings Parse(BenchOptions o)
        {
            string backend = o.Get("--backend") ?? "both";
            if (backend is not ("embedded" or "postgres" or "both"))
            {
                throw new ArgumentException($"--backend must be embedded, postgres or both, not {backend}");
            }

            var settings = new Settings
            {
                Items = Positive(o, "--items") ?? 100_000,
                Dimension = Positive(o, "--dim") ?? 512,
                Queries = Positive(o, "--queries") ?? 200,
                Batch = Positive(o, "--batch") ?? 1000,
                K = Positive(o, "--k") ?? 10,
                RunEmbedded = backend != "postgres",
                RunPostgres = backend != "embedded",
                Connection = o.Get("--connection") ?? (Environment.GetEnvironmentVariable("MMRAG_PG") is { Length: > 0 } pg ? pg : null),
                Ef = o.Get("--ef") is { } ef ? [.. ef.Split(',', StringSplitOptions.RemoveEmptyEntries).Select(v => PositiveValue("--ef", v))] : [],
                M = Positive(o, "--M"),
                EfConstruction = Positive(o, "--efc"),
                Threads = Positive(o, "--threads"),
                ExactThreshold = o.Get("--exact-threshold") is { } t ? NonNegative("--exact-threshold", t) : null,
                MaintenanceWorkMem = o.Get("--maintenance-work-mem") ?? "1GB",
                Keep = o.Has("--keep"),
                Help = o.Has("--help") || o.Has("-h"),
            };
            return settings;
        }

        private static int? Positive(BenchOptions o, string name) => o.Get(name) is { } v ? PositiveValue(name, v) : null;

        private static int NonNegative(string name, string value) =>
            int.TryParse(value, NumberStyles.Integer, CultureInfo.InvariantCulture, out int n) && n >= 0
                ? n
                : throw new ArgumentException($"{name} needs a whole number of 0 or more, not '{value}'");

        private static int PositiveValue(string name, string value) =>
            int.TryParse(value, NumberStyles.Integer, CultureInfo.InvariantCulture, out int n) && n > 0
                ? n
                : throw new ArgumentException($"{name} needs a positive integer, not '{value}'");
    }

    /// <summary>The vectors, the documents that carry them, the queries and their exact top-k, shared by both backends.</summary>
    private sealed class Workload(float[] vectors, int count, float[] queries, int queryCount, int dimension, string source)
    {
        private readonly float[] _vectors = vectors;
        private readonly float[] _queries = queries;

        public int Count { get; } = count;

        public int QueryCount { get; } = queryCount;

        public int Dimension { get; } = dimension;

        public string Source { get; } = source;

        public List<(DocumentRecord Document, KnowledgeItem[] Items)> Documents { get; } = [];

        /// <summary>Per query, the indexes of the exact top-k.</summary>
        public HashSet<int>[] Exact { get; private set; } = [];

        public double ExactSeconds { get; private set; }

        public ReadOnlyMemory<float> Query(int q) => _queries.AsMemory(q * Dimension, Dimension);

        public static int IndexOf(string itemId) => int.Parse(itemId.AsSpan(4), NumberStyles.Integer, CultureInfo.InvariantCulture);

        public static Workload Create(Settings settings)
        {
            int n = settings.Items;
            int d = settings.Dimension;
            string dataDir = Path.Combine(settings.BenchDir, "data");
            string basePath = Path.Combine(dataDir, n <= 100_000 ? "base_100k.fvecs" : "base_1m.fvecs");
            string queryPath = Path.Combine(dataDir, "query_1k.fvecs");
            Workload workload;
            if (d == 512 && n <= 1_000_000 && settings.Queries <= 1000 && File.Exists(basePath) && File.Exists(queryPath))
            {
                float[] vectors = VectorIndexBenchmark.Texmex.ReadFloats(basePath, out int count, out _, n);
                float[] queries = VectorIndexBenchmark.Texmex.ReadFloats(queryPath, out int queryCount, out _, settings.Queries);
                workload = new Workload(vectors, count, queries, queryCount,
                    d, $"gen_data.py vectors: the first {count:N0} of {Path.GetFileName(basePath)}, the first {queryCount} of query_1k.fvecs ({dataDir})");
            }
            else
            {
                var clock = Stopwatch.StartNew();
                (float[] vectors, float[] queries) = VectorIndexBenchmark.SyntheticData.Generate(n, settings.Queries, d);
                workload = new Workload(vectors, n, queries, settings.Queries, d,
                    $"generated here with gen_data.py's recipe (clustered CLIP-like unit vectors, seeded; not its files) in {clock.Elapsed.TotalSeconds:F1} s");
            }

            workload.BuildDocuments(settings.Batch);
            workload.ComputeExact(settings.K);
            return workload;
        }

        private void BuildDocuments(int perDocument)
        {
            // Short Zipf-worded texts give the keyword index real work, as in the e2e benchmark.
            var vocabulary = new EndToEndBenchmark.ZipfWords(10_000, seed: 3);
            var random = new Random(1);
            DateTimeOffset now = DateTimeOffset.UtcNow;
            for (int start = 0; start < Count; start += perDocument)
            {
                string documentId = $"doc{start / perDocument:D6}";
                string path = $"/synthetic/{documentId}.txt";
                var items = new KnowledgeItem[Math.Min(perDocument, Count - start)];
                for (int i = 0; i < items.Length; i++)
                {
                    int index = start + i;
                    items[i] = new KnowledgeItem
                    {
                        Id = $"item{index:D7}",
                        DocumentId = documentId,
                        Kind = ItemKind.TextChunk,
                        ContentHash = index.ToString("x64", CultureInfo.InvariantCulture),
                        Text = string.Join(' ', Enumerable.Range(0, 12).Select(_ => vocabulary.Next(random))),
                        Provenance = new Provenance(path, Position: i),
                        Vector = _vectors.AsMemory(index * Dimension, Dimension),
                    };
                }

                Documents.Add((new DocumentRecord(documentId, path, start.ToString("x64", CultureInfo.InvariantCulture), "text/plain", null, items.Length, now), items));
            }
        }

        private void ComputeExact(int k)
        {
            var clock = Stopwatch.StartNew();
            Exact = new HashSet<int>[QueryCount];
            Parallel.For(0, QueryCount, q =>
            {
                ReadOnlySpan<float> query = _queries.AsSpan(q * Dimension, Dimension);
                // Best k so far, ascending by score; ties keep the smaller index, as gen_data.py's ground truth does.
                var scores = new float[k];
                var ids = new int[k];
                Array.Fill(scores, float.NegativeInfinity);
                Array.Fill(ids, -1);
                for (int i = 0; i < Count; i++)
                {
                    float score = TensorPrimitives.Dot(query, _vectors.AsSpan(i * Dimension, Dimension));
                    if (score <= scores[0])
                    {
                        continue;
                    }

                    int p = 0;
                    while (p + 1 < k && scores[p + 1] < score)
                    {
                        scores[p] = scores[p + 1];
                        ids[p] = ids[p + 1];
                        p++;
                    }

                    scores[p] = score;
                    ids[p] = i;
                }

                Exact[q] = [.. ids.Where(i => i >= 0)];
            });
            ExactSeconds = clock.Elapsed.TotalSeconds;
        }
    }

    /// <summary>Gives <see cref="KnowledgeSearcher"/> the workload's query vectors for the names <c>q0</c>, <c>q1</c>, … in place of a text model.</summary>
    private sealed class QueryLookup(Workload workload) : IEmbeddingGenerator<string, Embedding<float>>
    {
        public static string Name(int q) => "q" + q.ToString(CultureInfo.InvariantCulture);

        public Task<GeneratedEmbeddings<Embedding<float>>> GenerateAsync(IEnumerable<string> values, EmbeddingGenerationOptions? options = null,
            CancellationToken cancellationToken = default) =>
            Task.FromResult(new GeneratedEmbeddings<Embedding<float>>(
                values.Select(v => new Embedding<float>(workload.Query(int.Parse(v.AsSpan(1), NumberStyles.Integer, CultureInfo.InvariantCulture))))));

        public object? GetService(Type serviceType, object? serviceKey = null) => null;

        public void Dispose()
        {
        }
    }

    /// <summary>The benchmark sends no image queries.</summary>
    private sealed class NoImages : IEmbeddingGenerator<DataContent, Embedding<float>>
    {
        public Task<GeneratedEmbeddings<Embedding<float>>> GenerateAsync(IEnumerable<DataContent> values, EmbeddingGenerationOptions? options = null,
            CancellationToken cancellationToken = default) => throw new NotSupportedException("The backends benchmark sends no image queries.");

        public object? GetService(Type serviceType, object? serviceKey = null) => null;

        public void Dispose()
        {
        }
    }
}
