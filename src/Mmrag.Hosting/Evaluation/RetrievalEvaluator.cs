using System.Diagnostics;
using System.Numerics.Tensors;
using Microsoft.Extensions.AI;
using Mmrag.Answering.Reranking;
using Mmrag.Ingestion.Loaders;
using Mmrag.Knowledge;
using Mmrag.Retrieval.Search;
using Mmrag.Storage;

namespace Mmrag.Hosting.Evaluation;

/// <summary>Settings of one evaluation run.</summary>
public sealed record EvaluationOptions
{
    /// <summary>Results asked per query (ranking metrics go to 10 whatever k is; default 10).</summary>
    public int K { get; init; } = 10;

    /// <summary>The calibrated threshold for kept / declined; null means the searcher's default.</summary>
    public double? Threshold { get; init; }

    /// <summary>Fuse keyword search with vector search (the searcher's default: on).</summary>
    public bool Hybrid { get; init; } = true;

    /// <summary>Near-duplicate removal; null means the searcher's default (<see cref="DedupeOptions.Default"/>).</summary>
    public DedupeOptions? Dedupe { get; init; }

    /// <summary>Apply the knowledge base's query adapter when one is stored (the searcher's default: on). The plain cosine baseline never does.</summary>
    public bool UseAdapter { get; init; } = true;

    /// <summary>The thresholds of the sweep (default 0, 0.05, …, 1).</summary>
    public IReadOnlyList<double> SweepThresholds { get; init; } = [.. Enumerable.Range(0, 21).Select(static i => i / 20.0)];

    /// <summary>The largest query image read.</summary>
    public long MaxImageBytes { get; init; } = 64L * 1024 * 1024;

    /// <summary>
    /// Rerank each query's ranking with the LLM (<see cref="MmragKnowledgeBase.SearchAsync"/>) before the ranking metrics
    /// are read; null (default) for none. Kept / declined do not change (a rerank reorders, it removes nothing).
    /// </summary>
    public RerankOptions? Rerank { get; init; }
}

/// <summary>How the LLM reranks of an evaluation went.</summary>
/// <param name="Applied">Queries whose ranking the LLM reordered.</param>
/// <param name="Failed">Queries whose rerank failed (their search order was scored).</param>
/// <param name="Skipped">Queries with nothing to rerank, or no LLM configured.</param>
/// <param name="FirstProblem">Why the first failed or skipped rerank did not apply, when one did not.</param>
public sealed record RerankSummary(int Applied, int Failed, int Skipped, string? FirstProblem);

/// <summary>The outcome of an evaluation (<see cref="RetrievalEvaluator.EvaluateAsync"/>).</summary>
/// <param name="Directions">Ranking metrics per direction (<see cref="EvaluationQuery.Direction"/>), over matched queries.</param>
/// <param name="Overall">Ranking metrics over every matched query.</param>
/// <param name="Threshold">The calibrated threshold in force.</param>
/// <param name="Kept">The share of matched queries that keep at least one relevant hit at <paramref name="Threshold"/>.</param>
/// <param name="Declined">The share of no-match queries that return no hit at <paramref name="Threshold"/>.</param>
/// <param name="MatchedQueries">Queries with relevant entries.</param>
/// <param name="NoMatchQueries">Queries with none.</param>
/// <param name="Sweep">Kept and declined across thresholds.</param>
/// <param name="BestThreshold">The sweep point with the highest balanced accuracy.</param>
/// <param name="Baseline">Plain exact cosine search on the same knowledge base.</param>
/// <param name="LatencyP50Ms">Median search time (embedding included) at the threshold in force, in milliseconds.</param>
/// <param name="LatencyP95Ms">95th percentile of the same.</param>
/// <param name="Rerank">How the LLM reranks went, when <see cref="EvaluationOptions.Rerank"/> was set.</param>
public sealed record EvaluationReport(
    IReadOnlyDictionary<string, RankingSummary> Directions,
    RankingSummary Overall,
    double Threshold,
    double Kept,
    double Declined,
    int MatchedQueries,
    int NoMatchQueries,
    IReadOnlyList<SweepPoint> Sweep,
    SweepPoint? BestThreshold,
    BaselineReport Baseline,
    double LatencyP50Ms,
    double LatencyP95Ms,
    RerankSummary? Rerank = null);

/// <summary>What plain cosine search achieves: exact vector search, no keyword fusion, calibration, threshold or dedupe.</summary>
/// <param name="Directions">Ranking metrics per direction.</param>
/// <param name="Overall">Ranking metrics over every matched query.</param>
/// <param name="DeclinedAtEqualKept">
/// The share of no-match queries declined by the one global cosine cut that keeps the same share of matched queries as
/// the pipeline's threshold does.
/// </param>
/// <param name="CosineCutAtEqualKept">That cut (negative infinity when none keeps that many).</param>
/// <param name="Sweep">
/// For each point of the pipeline's sweep, the global cosine cut keeping at least as many matched queries, as
/// <see cref="SweepPoint.Threshold"/>, with what it keeps and declines: the curve calibration is compared with.
/// </param>
public sealed record BaselineReport(IReadOnlyDictionary<string, RankingSummary> Directions, RankingSummary Overall, double DeclinedAtEqualKept,
    double CosineCutAtEqualKept, IReadOnlyList<SweepPoint> Sweep);

/// <summary>
/// Scores a knowledge base against labelled queries (<see cref="EvaluationQuerySet"/>): per direction ranking metrics
/// of the searcher (<see cref="RankingMetrics"/>), kept / declined at its threshold and across a sweep
/// (<see cref="ThresholdMetrics"/>), latency, and beside them the same ranking metrics of plain exact cosine search.
/// </summary>
/// <remarks>
/// <para>
/// Each query runs at the threshold in force (timed; kept / declined), with threshold 0 (the ranking the metrics read,
/// so that what a threshold removes is judged by kept / declined, not twice), at each threshold of the sweep, and as
/// exact cosine search over each target kind, merged by raw cosine (the baseline, the way the shapes sets'
/// <c>reference.json</c> is computed). Hits are matched to relevant entries by their source file's full
/// path (relative entries are resolved against the queries file's folder) or by item id; a document found through
/// several chunks counts once, at its first chunk's rank.
/// </para>
/// <para>Queries run one after another, so latency is that of a lone search. Not thread-safe; owns nothing.</para>
/// </remarks>
public sealed class RetrievalEvaluator(MmragKnowledgeBase knowledgeBase)
{
    private readonly MmragKnowledgeBase _knowledgeBase = knowledgeBase ?? throw new ArgumentNullException(nameof(knowledgeBase));

    /// <summary>Evaluates <paramref name="queries"/>.</summary>
    /// <exception cref="ArgumentException"><paramref name="options"/> is out of range, or a query image does not decode.</exception>
    /// <exception cref="IOException">A query image cannot be read.</exception>
    public async Task<EvaluationReport> EvaluateAsync(IReadOnlyList<EvaluationQuery> queries, EvaluationOptions? options = null,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(queries);
        options ??= new EvaluationOptions();
        ArgumentOutOfRangeException.ThrowIfLessThan(options.K, 1, "options.K");
        var searcher = _knowledgeBase.Searcher;
        var threshold = options.Threshold ?? searcher.Options.DefaultThreshold;

        var pending = new List<(QueryOutcome Outcome, RelevanceKeys Keys, float[][] BaselineVectors)>(queries.Count);
        var latencies = new List<double>(queries.Count);
        var reranks = new List<RerankReport>();
        foreach (var query in queries)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var keys = new RelevanceKeys(query);
            DataContent? image = query.ImagePath is null
                ? null
                : new DataContent(await RegularFiles.ReadAllBytesAsync(query.ImagePath, options.MaxImageBytes, cancellationToken).ConfigureAwait(false),
                    "application/octet-stream") { Name = query.ImagePath };
            var request = new SearchRequest
            {
                Text = query.Text,
                Image = image,
                Target = query.Target,
                K = options.K,
                Hybrid = options.Hybrid ? null : false,
                Dedupe = options.Dedupe ?? DedupeOptions.Default,
                UseAdapter = options.UseAdapter,
            };

            var started = Stopwatch.GetTimestamp();
            var atThreshold = await searcher.SearchAsync(request with { Threshold = threshold }, cancellationToken).ConfigureAwait(false);
            latencies.Add(Stopwatch.GetElapsedTime(started).TotalMilliseconds);
            var reranked = await _knowledgeBase.SearchAsync(request with { Threshold = 0 }, options.Rerank, cancellationToken).ConfigureAwait(false);
            var ranked = reranked.Result;
            if (reranked.Report is { } rerank)
            {
                // The rerank runs once per query, on the ranking; its time counts in the query's latency.
                reranks.Add(rerank);
                latencies[^1] += rerank.Elapsed.TotalMilliseconds;
            }

            var baselineVectors = await BaselineVectorsAsync(query, image, cancellationToken).ConfigureAwait(false);

            // The sweep runs the real search at each threshold: which hits pass it changes which near-duplicates are
            // dropped and which candidates reach the top k, so reading it off the threshold-0 list would be approximate.
            var sweepOutcomes = new (bool Kept, bool Declined)[options.SweepThresholds.Count];
            for (var t = 0; t < sweepOutcomes.Length; t++)
            {
                var result = await searcher.SearchAsync(request with { Threshold = options.SweepThresholds[t] }, cancellationToken).ConfigureAwait(false);
                sweepOutcomes[t] = Judge(result, keys);
            }

            pending.Add((new QueryOutcome(query, keys.Relevant, keys.Rank(ranked.Hits.Select(static h => (h.Item, h.CalibratedScore))), null!,
                Judge(atThreshold, keys), sweepOutcomes), keys, baselineVectors));
        }

        // The baseline's exact searches run as batches (all queries against each kind at once) after the pipeline's.
        var baselines = await BaselinesAsync(pending.ConvertAll(static p => (p.Outcome.Query.Target, p.BaselineVectors)), options.K, cancellationToken)
            .ConfigureAwait(false);
        var outcomes = pending.Select((p, i) => p.Outcome with { Baseline = p.Keys.Rank(baselines[i]) }).ToList();

        var matched = outcomes.Where(static o => o.Relevant.Count > 0).ToList();
        var noMatch = outcomes.Where(static o => o.Relevant.Count == 0).ToList();
        var sweep = options.SweepThresholds
            .Select((t, i) => new SweepPoint(t, Share(matched, o => o.Sweep[i].Kept), Share(noMatch, o => o.Sweep[i].Declined)))
            .ToList();
        var kept = Share(matched, static o => o.AtThreshold.Kept);
        var declined = Share(noMatch, static o => o.AtThreshold.Declined);

        var baselineRelevant = matched.ConvertAll(static o => o.Baseline.BestRelevantScore);
        var baselineNoMatchTop = noMatch.ConvertAll(static o => o.Baseline.TopScore);

        return new EvaluationReport(
            ByDirection(matched, static o => o.Pipeline.Ranking),
            Summarize(matched, static o => o.Pipeline.Ranking),
            threshold,
            kept,
            declined,
            matched.Count,
            noMatch.Count,
            sweep,
            ThresholdMetrics.BestBalanced(sweep),
            new BaselineReport(
                ByDirection(matched, static o => o.Baseline.Ranking),
                Summarize(matched, static o => o.Baseline.Ranking),
                ThresholdMetrics.DeclinedAtEqualKept(baselineRelevant, baselineNoMatchTop, kept),
                ThresholdMetrics.CutForKept(baselineRelevant, kept),
                [.. sweep.Select(p => ThresholdMetrics.CutForKept(baselineRelevant, p.Kept))
                    .Select(c => new SweepPoint(c, ThresholdMetrics.Kept(baselineRelevant, c), ThresholdMetrics.Declined(baselineNoMatchTop, c)))]),
            RankingMetrics.Percentile(latencies, 50),
            RankingMetrics.Percentile(latencies, 95),
            options.Rerank is null ? null : new RerankSummary(
                reranks.Count(static r => r.Status == RerankStatus.Applied),
                reranks.Count(static r => r.Status == RerankStatus.Failed),
                reranks.Count(static r => r.Status == RerankStatus.Skipped),
                reranks.FirstOrDefault(static r => r.Status != RerankStatus.Applied)?.Detail));
    }

    private static (bool Kept, bool Declined) Judge(SearchResult result, RelevanceKeys keys) =>
        (result.Hits.Any(h => keys.IsRelevant(h.Item)), result.Hits.Count == 0);

    private static double Share(List<QueryOutcome> outcomes, Func<QueryOutcome, bool> predicate) =>
        outcomes.Count == 0 ? 0 : (double)outcomes.Count(predicate) / outcomes.Count;

    private static RankingSummary Summarize(IEnumerable<QueryOutcome> outcomes, Func<QueryOutcome, IReadOnlyList<string>> ranking) =>
        RankingMetrics.Summarize(outcomes.Select(o => (ranking(o), (IReadOnlySet<string>)o.Relevant)));

    private static Dictionary<string, RankingSummary> ByDirection(List<QueryOutcome> matched, Func<QueryOutcome, IReadOnlyList<string>> ranking) =>
        matched.GroupBy(static o => o.Query.Direction, StringComparer.Ordinal)
            .OrderBy(static g => DirectionOrder(g.Key)).ThenBy(static g => g.Key, StringComparer.Ordinal)
            .ToDictionary(static g => g.Key, g => Summarize(g, ranking), StringComparer.Ordinal);

    /// <summary>The order of the table: text→image, image→image, text→text, image→text, text→all, image→all.</summary>
    private static int DirectionOrder(string direction) => direction switch
    {
        "text->image" => 0,
        "image->image" => 1,
        "text->text" => 2,
        "image->text" => 3,
        "text->all" => 4,
        "image->all" => 5,
        _ => 6,
    };

    /// <summary>The query's vectors for the baseline: its text's and its image's, each unit length.</summary>
    private async Task<float[][]> BaselineVectorsAsync(EvaluationQuery query, DataContent? image, CancellationToken cancellationToken)
    {
        var vectors = new List<float[]>(2);
        if (query.Text is not null)
        {
            vectors.Add(Normalized(await _knowledgeBase.TextEmbedder.GenerateVectorAsync(query.Text, cancellationToken: cancellationToken).ConfigureAwait(false)));
        }

        if (image is not null)
        {
            vectors.Add(Normalized(await _knowledgeBase.ImageEmbedder.GenerateVectorAsync(image, cancellationToken: cancellationToken).ConfigureAwait(false)));
        }

        return [.. vectors];
    }

    /// <summary>
    /// Exact cosine search per target kind, merged by raw cosine: the ceiling the pipeline is compared with. Every query
    /// vector meets every item of a kind in one batch (<see cref="BatchVectorSearchExtensions.SearchVectorsExactAsync"/>).
    /// </summary>
    private async Task<List<(KnowledgeItem Item, double Score)>[]> BaselinesAsync(List<(SearchTarget Target, float[][] Vectors)> queries, int k,
        CancellationToken cancellationToken)
    {
        // A combined text + image query scores each item by its best cosine over the two vectors.
        var best = queries.ConvertAll(static _ => new Dictionary<string, (KnowledgeItem Item, double Score)>(StringComparer.Ordinal));
        foreach (var kind in new[] { ItemKind.Image, ItemKind.TextChunk })
        {
            var owners = new List<int>();
            var vectors = new List<ReadOnlyMemory<float>>();
            for (var q = 0; q < queries.Count; q++)
            {
                ItemKind[] kinds = queries[q].Target switch
                {
                    SearchTarget.Images => [ItemKind.Image],
                    SearchTarget.Text => [ItemKind.TextChunk],
                    _ => [ItemKind.Image, ItemKind.TextChunk],
                };
                if (kinds.Contains(kind))
                {
                    foreach (var vector in queries[q].Vectors)
                    {
                        owners.Add(q);
                        vectors.Add(vector);
                    }
                }
            }

            if (vectors.Count == 0)
            {
                continue;
            }

            var found = await _knowledgeBase.Store.SearchVectorsExactAsync(vectors, k, new SearchFilter { Kind = kind }, cancellationToken).ConfigureAwait(false);
            for (var i = 0; i < found.Count; i++)
            {
                foreach (var hit in found[i])
                {
                    if (!best[owners[i]].TryGetValue(hit.Item.Id, out var known) || hit.Score > known.Score)
                    {
                        best[owners[i]][hit.Item.Id] = (hit.Item, hit.Score);
                    }
                }
            }
        }

        return [.. best.Select(b => b.Values.OrderByDescending(static h => h.Score).ThenBy(static h => h.Item.Id, StringComparer.Ordinal).Take(k).ToList())];
    }

    /// <summary>A unit-length copy of <paramref name="vector"/> (a zero vector stays zero); <c>mmrag tune</c> embeds its queries the same way.</summary>
    internal static float[] Normalized(ReadOnlyMemory<float> vector)
    {
        var copy = vector.ToArray();
        var norm = TensorPrimitives.Norm(copy);
        if (norm > 0)
        {
            TensorPrimitives.Divide(copy, norm, copy);
        }

        return copy;
    }

    private sealed record QueryOutcome(EvaluationQuery Query, HashSet<string> Relevant, Ranked Pipeline, Ranked Baseline, (bool Kept, bool Declined) AtThreshold,
        (bool Kept, bool Declined)[] Sweep);

    /// <summary>A query's ranking as distinct keys, its best relevant hit's score and its top hit's score (negative infinity for none).</summary>
    private sealed record Ranked(IReadOnlyList<string> Ranking, double BestRelevantScore, double TopScore);

    /// <summary>Matches hits to a query's relevant entries: by source file (full path) or by item id.</summary>
    private sealed class RelevanceKeys
    {
        private readonly Dictionary<string, string> _aliases = new(StringComparer.Ordinal);

        public RelevanceKeys(EvaluationQuery query)
        {
            foreach (var entry in query.Relevant)
            {
                Relevant.Add(entry);
                _aliases.TryAdd(entry, entry);
                if (query.SourceOf(entry) is { } source)
                {
                    _aliases.TryAdd(source, entry);
                }
            }
        }

        public HashSet<string> Relevant { get; } = new(StringComparer.Ordinal);

        public string Key(KnowledgeItem item)
        {
            var source = item.Provenance.SourcePath;
            var full = Uri.IsWellFormedUriString(source, UriKind.Absolute) && !Path.IsPathRooted(source) ? source : Path.GetFullPath(source);
            return _aliases.GetValueOrDefault(full) ?? _aliases.GetValueOrDefault(item.Id) ?? full;
        }

        public bool IsRelevant(KnowledgeItem item) => Relevant.Contains(Key(item));

        public Ranked Rank(IEnumerable<(KnowledgeItem Item, double Score)> hits)
        {
            var ranking = new List<string>();
            var seen = new HashSet<string>(StringComparer.Ordinal);
            var bestRelevant = double.NegativeInfinity;
            var top = double.NegativeInfinity;
            foreach (var (item, score) in hits)
            {
                var key = Key(item);
                top = Math.Max(top, score);
                if (Relevant.Contains(key))
                {
                    bestRelevant = Math.Max(bestRelevant, score);
                }

                if (seen.Add(key))
                {
                    ranking.Add(key);
                }
            }

            return new Ranked(ranking, bestRelevant, top);
        }
    }
}
