using System.Globalization;
using System.Numerics.Tensors;
using System.Runtime.InteropServices;
using System.Security.Cryptography;
using System.Text;
using Mmrag.Knowledge;
using Mmrag.Retrieval.Scoring;
using Mmrag.Retrieval.Search;
using Mmrag.Storage;

namespace Mmrag.Retrieval.Adapters;

/// <summary>The outcome of <see cref="QueryAdapterTrainer.TrainAsync"/>.</summary>
/// <param name="Adapter">The adapter with the maps that improved held-out recall@5, or null when none did (then nothing should be stored).</param>
/// <param name="Modalities">Per query modality with queries: held-out quality before and after, and whether its map was kept.</param>
/// <param name="Judgements">Judgements given.</param>
/// <param name="Used">Judgements trained or judged on.</param>
/// <param name="OtherModel">Judgements of another model (or dimension), ignored.</param>
/// <param name="MissingItems">Judgements naming an item no longer stored (or without a vector), ignored.</param>
/// <param name="WithoutRelevant">Queries with only "not relevant" judgements, which a contrastive loss cannot use.</param>
public sealed record QueryAdapterTrainingResult(QueryAdapter? Adapter, IReadOnlyList<AdapterModalityReport> Modalities, int Judgements, int Used,
    int OtherModel, int MissingItems, int WithoutRelevant)
{
    /// <summary>Whether held-out recall@5 improved for at least one modality (the gate for storing the adapter).</summary>
    public bool Improved => Adapter is not null;
}

/// <summary>
/// Learns a <see cref="QueryAdapter"/> from relevance judgements: per query modality a d×d map W, started at the
/// identity, trained with a contrastive (InfoNCE) loss of the adapted query against the knowledge base's items of the
/// judged kind, plus λ‖W − I‖².
/// </summary>
/// <remarks>
/// <para>
/// Judgements are grouped into queries by modality and query vector. Per modality a seeded share of the queries is held
/// out. Each relevant item of a query is a positive; its negatives are the query's "not relevant" items, the nearest
/// items of the same kind to the plain query that are not judged relevant (hard negatives, mined once from the store by
/// exact search), and the positives of the other queries of its batch (in-batch). Adam, mini-batches in a seeded order,
/// one thread: the same judgements, store content and seed give bit-identical maps on the same machine.
/// </para>
/// <para>
/// After each epoch the held-out queries are ranked within their own positives and negatives; the best epoch by
/// held-out recall@5 (then loss) is kept, and training stops when it has not improved for
/// <see cref="QueryAdapterTrainingOptions.Patience"/> epochs. Then the held-out queries are searched in the store
/// (exact, top 10) with plain and with adapted vectors: a modality's map is kept only if (the gate) its recall@5 rose,
/// its MRR@10 fell by at most <see cref="QueryAdapterTrainingOptions.MaxMrrLoss"/>, at least
/// <see cref="QueryAdapterTrainingOptions.MinNetImprovedQueries"/> more queries gained than lost, and the plain vectors
/// agreed with the held-out judgements at all (<see cref="QueryAdapterTrainingOptions.MinPlainMrr"/>).
/// Finally the adapted background of each kept map is measured for calibration (<see cref="AdapterBackground"/>).
/// </para>
/// <para>Not thread-safe (one training per instance at a time); does not own the store.</para>
/// </remarks>
public sealed class QueryAdapterTrainer
{
    private const int MetricDepth = 10;
    private readonly IKnowledgeStore _store;
    private readonly QueryAdapterTrainingOptions _options;
    private readonly TimeProvider _time;
    private readonly Dictionary<string, int> _itemIndex = new(StringComparer.Ordinal);
    private readonly List<KnowledgeItem> _items = [];

    /// <summary>Creates a trainer over <paramref name="store"/>.</summary>
    /// <exception cref="ArgumentOutOfRangeException">An option is out of range; the message names it.</exception>
    public QueryAdapterTrainer(IKnowledgeStore store, QueryAdapterTrainingOptions? options = null, TimeProvider? timeProvider = null)
    {
        ArgumentNullException.ThrowIfNull(store);
        options ??= new QueryAdapterTrainingOptions();
        options.Validate();
        _store = store;
        _options = options;
        _time = timeProvider ?? TimeProvider.System;
    }

    /// <summary>Trains on <paramref name="judgements"/> (those of other models are ignored) and judges the result on held-out queries.</summary>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled.</exception>
    public async Task<QueryAdapterTrainingResult> TrainAsync(IReadOnlyList<RelevanceJudgement> judgements, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(judgements);
        _itemIndex.Clear();
        _items.Clear();
        var space = _store.Space;
        var dimension = space.Dimension;

        // Later judgements of the same query and item win; the order is made independent of the caller's.
        var ordered = judgements.OrderBy(static j => j.CreatedAt).ThenBy(static j => j.Id, StringComparer.Ordinal).ToList();
        var otherModel = 0;
        var missing = 0;
        var used = new List<RelevanceJudgement>();
        var groups = new SortedDictionary<string, QueryGroup>(StringComparer.Ordinal);
        foreach (var judgement in ordered)
        {
            cancellationToken.ThrowIfCancellationRequested();
            if (judgement.ModelId != space.ModelId || judgement.QueryVector.Length != dimension)
            {
                otherModel++;
                continue;
            }

            var item = await ResolveAsync(judgement.ItemId, cancellationToken).ConfigureAwait(false);
            var vector = Normalized(judgement.QueryVector.Span);
            if (item is null || vector is null)
            {
                missing++;
                continue;
            }

            var modality = judgement.Modality == FeedbackQueryModality.Image ? QueryModality.Image : QueryModality.Text;
            var key = GroupKey(modality, vector);
            if (!groups.TryGetValue(key, out var group))
            {
                group = new QueryGroup(modality, vector);
                groups.Add(key, group);
            }

            group.Judged[item.Value] = judgement.Relevant;
            used.Add(judgement);
        }

        var withoutRelevant = groups.Values.Count(static g => !g.Judged.ContainsValue(true));
        var random = new Random(_options.Seed);
        var reports = new List<AdapterModalityReport>(2);
        var maps = new Dictionary<QueryModality, float[]>();
        foreach (var modality in (QueryModality[])[QueryModality.Text, QueryModality.Image])
        {
            var candidates = groups.Values.Where(g => g.Modality == modality && g.Judged.ContainsValue(true)).ToList();
            if (candidates.Count == 0)
            {
                continue;
            }

            Shuffle(candidates, random);
            var heldCount = candidates.Count < 2 ? 0 : Math.Clamp((int)Math.Round(candidates.Count * _options.HoldoutShare), 1, candidates.Count - 1);
            var held = await UnitsAsync(candidates.GetRange(0, heldCount), cancellationToken).ConfigureAwait(false);
            var train = await UnitsAsync(candidates.GetRange(heldCount, candidates.Count - heldCount), cancellationToken).ConfigureAwait(false);
            var (before, beforeRecalls) = await SearchMetricsAsync(held, null, cancellationToken).ConfigureAwait(false);
            if (held.Count == 0 || train.Count == 0)
            {
                reports.Add(new AdapterModalityReport(modality, train.Count, held.Count, before, before, 0, 0, 0, Kept: false));
                continue;
            }

            var (map, epochs) = Train(train, held, dimension, new Random(_options.Seed + (int)modality + 1), cancellationToken);
            var (after, afterRecalls) = await SearchMetricsAsync(held, map, cancellationToken).ConfigureAwait(false);
            var better = afterRecalls.Where((r, i) => r > beforeRecalls[i] + 1e-9).Count();
            var worse = afterRecalls.Where((r, i) => r < beforeRecalls[i] - 1e-9).Count();
            var kept = after.Recall5 > before.Recall5 + _options.MinRecallGain && after.Mrr10 >= before.Mrr10 - _options.MaxMrrLoss
                && better - worse >= _options.MinNetImprovedQueries && before.Mrr10 >= _options.MinPlainMrr;
            reports.Add(new AdapterModalityReport(modality, train.Count, held.Count, before, after, better, worse, epochs, kept));
            if (kept)
            {
                maps[modality] = map;
            }
        }

        QueryAdapter? adapter = null;
        if (maps.Count > 0)
        {
            var backgrounds = await BackgroundsAsync(maps, cancellationToken).ConfigureAwait(false);
            var info = new QueryAdapterInfo(0, _time.GetUtcNow(), _options.Seed, used.Count, JudgementsHash(used), reports);
            adapter = new QueryAdapter(space.ModelId, dimension, maps.GetValueOrDefault(QueryModality.Text), maps.GetValueOrDefault(QueryModality.Image),
                backgrounds, info);
        }

        return new QueryAdapterTrainingResult(adapter, reports, judgements.Count, used.Count, otherModel, missing, withoutRelevant);
    }

    /// <summary>SHA-256 (hex) of the sorted ids of <paramref name="judgements"/>, one per line.</summary>
    public static string JudgementsHash(IEnumerable<RelevanceJudgement> judgements)
    {
        ArgumentNullException.ThrowIfNull(judgements);
        var ids = judgements.Select(static j => j.Id).Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal);
        return Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(string.Join('\n', ids))));
    }

    private async Task<int?> ResolveAsync(string itemId, CancellationToken cancellationToken)
    {
        if (_itemIndex.TryGetValue(itemId, out var index))
        {
            return index;
        }

        var item = await _store.GetItemAsync(itemId, cancellationToken).ConfigureAwait(false);
        return item is null || item.Vector.Length != _store.Space.Dimension ? null : Register(item);
    }

    private int Register(KnowledgeItem item)
    {
        if (!_itemIndex.TryGetValue(item.Id, out var index))
        {
            index = _items.Count;
            _items.Add(item);
            _itemIndex.Add(item.Id, index);
        }

        return index;
    }

    /// <summary>
    /// One (query, judged kind) pair per kind the query has relevant items of, with its hard negatives mined from the store
    /// (the exact searches of all queries of a kind run as one batch; items are registered in query order as before).
    /// </summary>
    private async Task<List<Unit>> UnitsAsync(List<QueryGroup> groups, CancellationToken cancellationToken)
    {
        ItemKind[] kinds = [ItemKind.Image, ItemKind.TextChunk];
        var positives = new int[groups.Count][][];
        var mined = new Dictionary<(int Group, ItemKind Kind), IReadOnlyList<StoreHit>>();
        foreach (var kind in kinds)
        {
            var owners = new List<int>();
            for (var g = 0; g < groups.Count; g++)
            {
                positives[g] ??= new int[kinds.Length][];
                var found = groups[g].Judged.Where(p => p.Value && _items[p.Key].Kind == kind).Select(static p => p.Key).Order().ToArray();
                positives[g][Array.IndexOf(kinds, kind)] = found;
                if (found.Length > 0)
                {
                    owners.Add(g);
                }
            }

            if (_options.HardNegatives > 0 && owners.Count > 0)
            {
                // Exact top k is a prefix of exact top k' > k, so one depth serves every query of the batch.
                var depth = _options.HardNegatives + owners.Max(g => positives[g][Array.IndexOf(kinds, kind)].Length);
                var hits = await _store.SearchVectorsExactAsync([.. owners.Select(g => (ReadOnlyMemory<float>)groups[g].Vector)], depth,
                    new SearchFilter { Kind = kind }, cancellationToken).ConfigureAwait(false);
                for (var i = 0; i < owners.Count; i++)
                {
                    mined[(owners[i], kind)] = [.. hits[i].Take(_options.HardNegatives + positives[owners[i]][Array.IndexOf(kinds, kind)].Length)];
                }
            }
        }

        var units = new List<Unit>();
        for (var g = 0; g < groups.Count; g++)
        {
            var group = groups[g];
            for (var kindIndex = 0; kindIndex < kinds.Length; kindIndex++)
            {
                var kind = kinds[kindIndex];
                var unitPositives = positives[g][kindIndex];
                if (unitPositives.Length == 0)
                {
                    continue;
                }

                var negatives = new SortedSet<int>(group.Judged.Where(p => !p.Value && _items[p.Key].Kind == kind).Select(static p => p.Key));
                if (mined.TryGetValue((g, kind), out var hits))
                {
                    var hard = 0;
                    foreach (var hit in hits)
                    {
                        if (hard == _options.HardNegatives || hit.Item.Vector.Length != _store.Space.Dimension)
                        {
                            continue;
                        }

                        var index = Register(hit.Item);
                        if (!group.Judged.ContainsKey(index) && negatives.Add(index))
                        {
                            hard++;
                        }
                    }
                }

                units.Add(new Unit(group.Modality, group.Vector, kind, unitPositives, [.. negatives]));
            }
        }

        return units;
    }

    private (float[] Map, int Epochs) Train(List<Unit> train, List<Unit> held, int d, Random random, CancellationToken cancellationToken)
    {
        var w = Identity(d);
        var gradient = new float[d * d];
        var m = new float[d * d];
        var v = new float[d * d];
        var scratch = new Scratch(d);
        var best = (float[])w.Clone();
        var (bestRecall, bestLoss) = PoolMetrics(held, w, scratch);
        var sinceBest = 0;
        var step = 0;
        var order = Enumerable.Range(0, train.Count).ToArray();
        var epoch = 0;
        const double beta1 = 0.9, beta2 = 0.999, epsilon = 1e-8;
        while (epoch < _options.MaxEpochs && sinceBest < _options.Patience)
        {
            cancellationToken.ThrowIfCancellationRequested();
            epoch++;
            random.Shuffle(order);
            for (var start = 0; start < order.Length; start += _options.BatchSize)
            {
                var batch = order.AsSpan(start, Math.Min(_options.BatchSize, order.Length - start)).ToArray();
                Array.Clear(gradient);
                foreach (var u in batch)
                {
                    var unit = train[u];
                    var inBatch = new SortedSet<int>();
                    foreach (var other in batch)
                    {
                        if (other != u && train[other].Kind == unit.Kind)
                        {
                            inBatch.UnionWith(train[other].Positives);
                        }
                    }

                    inBatch.ExceptWith(unit.Positives);
                    inBatch.ExceptWith(unit.Negatives);
                    AddGradient(w, unit, [.. unit.Negatives, .. inBatch], gradient, 1f / batch.Length, scratch);
                }

                // λ‖W − I‖² adds 2λ(W − I); then one Adam step.
                var penalty = (float)(2 * _options.IdentityPenalty);
                step++;
                var correction1 = 1 - Math.Pow(beta1, step);
                var correction2 = 1 - Math.Pow(beta2, step);
                var rate = (float)(_options.LearningRate * Math.Sqrt(correction2) / correction1);
                for (var i = 0; i < w.Length; i++)
                {
                    var g = gradient[i] + (penalty * (w[i] - (i % (d + 1) == 0 ? 1f : 0f)));
                    m[i] = (float)((beta1 * m[i]) + ((1 - beta1) * g));
                    v[i] = (float)((beta2 * v[i]) + ((1 - beta2) * g * g));
                    w[i] -= rate * m[i] / (MathF.Sqrt(v[i]) + (float)epsilon);
                }
            }

            var (recall, loss) = PoolMetrics(held, w, scratch);
            if (recall > bestRecall + 1e-9 || (Math.Abs(recall - bestRecall) <= 1e-9 && loss < bestLoss - 1e-9))
            {
                (bestRecall, bestLoss) = (recall, loss);
                Array.Copy(w, best, w.Length);
                sinceBest = 0;
            }
            else
            {
                sinceBest++;
            }
        }

        return (best, epoch);
    }

    /// <summary>Adds the gradient of the unit's contrastive loss (mean over its positives) times <paramref name="scale"/>; returns the loss.</summary>
    private double AddGradient(float[] w, Unit unit, int[] negatives, float[] gradient, float scale, Scratch s)
    {
        var d = s.U.Length;
        var norm = Adapt(w, unit.Query, s);
        var inverseTemperature = 1 / _options.Temperature;
        var positiveScores = Scores(unit.Positives, s.Z, inverseTemperature);
        var negativeScores = Scores(negatives, s.Z, inverseTemperature);
        var positiveWeights = new double[positiveScores.Length];
        var negativeWeights = new double[negativeScores.Length];
        var loss = 0.0;
        for (var p = 0; p < positiveScores.Length; p++)
        {
            var max = negativeScores.Length == 0 ? positiveScores[p] : Math.Max(positiveScores[p], negativeScores.Max());
            var sum = Math.Exp(positiveScores[p] - max);
            foreach (var n in negativeScores)
            {
                sum += Math.Exp(n - max);
            }

            loss += max + Math.Log(sum) - positiveScores[p];
            positiveWeights[p] += (Math.Exp(positiveScores[p] - max) / sum) - 1;
            for (var n = 0; n < negativeScores.Length; n++)
            {
                negativeWeights[n] += Math.Exp(negativeScores[n] - max) / sum;
            }
        }

        // dL/dz = Σ g_c v_c / τ; through z = u/‖u‖: dL/du = (dL/dz − (dL/dz · z) z)/‖u‖; dL/dW = dL/du ⊗ q.
        var count = positiveScores.Length;
        Array.Clear(s.Dz);
        Accumulate(unit.Positives, positiveWeights, count, inverseTemperature, s.Dz);
        Accumulate(negatives, negativeWeights, count, inverseTemperature, s.Dz);
        var along = TensorPrimitives.Dot(s.Dz, s.Z);
        TensorPrimitives.MultiplyAdd(s.Z, -along, s.Dz, s.Dz);
        TensorPrimitives.Multiply(s.Dz, scale / norm, s.Dz);
        for (var i = 0; i < d; i++)
        {
            var row = gradient.AsSpan(i * d, d);
            TensorPrimitives.MultiplyAdd(unit.Query, s.Dz[i], row, row);
        }

        return loss / count;
    }

    private void Accumulate(int[] items, double[] weights, int count, double inverseTemperature, float[] dz)
    {
        for (var c = 0; c < items.Length; c++)
        {
            if (weights[c] != 0)
            {
                TensorPrimitives.MultiplyAdd(_items[items[c]].Vector.Span, (float)(weights[c] * inverseTemperature / count), dz, dz);
            }
        }
    }

    private double[] Scores(int[] items, float[] z, double inverseTemperature)
    {
        var scores = new double[items.Length];
        for (var i = 0; i < items.Length; i++)
        {
            scores[i] = TensorPrimitives.Dot(z, _items[items[i]].Vector.Span) * inverseTemperature;
        }

        return scores;
    }

    /// <summary>z = W q / ‖W q‖ into the scratch; returns ‖W q‖.</summary>
    private static float Adapt(float[] w, float[] query, Scratch s)
    {
        QueryAdapter.Multiply(w, query, s.U);
        var norm = Math.Max(TensorPrimitives.Norm(s.U), 1e-12f);
        TensorPrimitives.Divide(s.U, norm, s.Z);
        return norm;
    }

    /// <summary>Held-out recall@5 (mean over units) and contrastive loss, ranking each unit within its own positives and negatives.</summary>
    private (double Recall, double Loss) PoolMetrics(List<Unit> held, float[] w, Scratch s)
    {
        double recall = 0, loss = 0;
        var inverseTemperature = 1 / _options.Temperature;
        foreach (var unit in held)
        {
            Adapt(w, unit.Query, s);
            var positives = Scores(unit.Positives, s.Z, inverseTemperature);
            var negatives = Scores(unit.Negatives, s.Z, inverseTemperature);
            var pool = positives.Select(static (score, i) => (score, positive: true, i)).Concat(negatives.Select(static (score, i) => (score, positive: false, i)))
                .OrderByDescending(static c => c.score).ThenBy(static c => c.positive).ThenBy(static c => c.i).Take(5);
            recall += (double)pool.Count(static c => c.positive) / positives.Length;
            foreach (var p in positives)
            {
                var max = negatives.Length == 0 ? p : Math.Max(p, negatives.Max());
                loss += max + Math.Log(Math.Exp(p - max) + negatives.Sum(n => Math.Exp(n - max))) - p;
            }
        }

        return held.Count == 0 ? (0, 0) : (recall / held.Count, loss / held.Count);
    }

    /// <summary>
    /// Recall@5 and MRR@10 of exact store search (top 10 of the unit's kind) with plain (<paramref name="map"/> null) or
    /// adapted queries; the searches of all units of a kind run as one batch.
    /// </summary>
    private async Task<(AdapterMetrics Metrics, double[] Recalls)> SearchMetricsAsync(List<Unit> units, float[]? map, CancellationToken cancellationToken)
    {
        var queries = new ReadOnlyMemory<float>[units.Count];
        var scratch = new Scratch(_store.Space.Dimension);
        for (var u = 0; u < units.Count; u++)
        {
            queries[u] = units[u].Query;
            if (map is not null)
            {
                Adapt(map, units[u].Query, scratch);
                queries[u] = (float[])scratch.Z.Clone();
            }
        }

        var found = new IReadOnlyList<StoreHit>[units.Count];
        foreach (var kind in (ItemKind[])[ItemKind.Image, ItemKind.TextChunk])
        {
            var owners = Enumerable.Range(0, units.Count).Where(u => units[u].Kind == kind).ToList();
            if (owners.Count == 0)
            {
                continue;
            }

            var hits = await _store.SearchVectorsExactAsync([.. owners.Select(u => queries[u])], MetricDepth, new SearchFilter { Kind = kind }, cancellationToken)
                .ConfigureAwait(false);
            for (var i = 0; i < owners.Count; i++)
            {
                found[owners[i]] = hits[i];
            }
        }

        double recall = 0, reciprocal = 0;
        var recalls = new double[units.Count];
        for (var u = 0; u < units.Count; u++)
        {
            var hits = found[u];
            var positives = units[u].Positives.Select(p => _items[p].Id).ToHashSet(StringComparer.Ordinal);
            recalls[u] = (double)hits.Take(5).Count(h => positives.Contains(h.Item.Id)) / positives.Count;
            recall += recalls[u];
            var first = hits.Select(static (h, i) => (h, i)).FirstOrDefault(x => positives.Contains(x.h.Item.Id));
            reciprocal += first.h is null ? 0 : 1.0 / (first.i + 1);
        }

        return (units.Count == 0 ? new AdapterMetrics(0, 0, 0) : new AdapterMetrics(units.Count, recall / units.Count, reciprocal / units.Count), recalls);
    }

    /// <summary>
    /// Background cosines of plain and adapted query proxies per (modality, kind), sampled as <see cref="Scoring.ScoreCalibrator"/> samples them;
    /// pairs with fewer than <see cref="Scoring.ScoreCalibrationOptions.MinItems"/> items on either side are left out (the calibration uses its prior there).
    /// </summary>
    private async Task<List<AdapterBackground>> BackgroundsAsync(Dictionary<QueryModality, float[]> maps, CancellationToken cancellationToken)
    {
        var calibration = _options.Calibration;
        var dimension = _store.Space.Dimension;
        var samples = new Dictionary<ItemKind, KnowledgeItem[]>();
        foreach (var kind in (ItemKind[])[ItemKind.Image, ItemKind.TextChunk])
        {
            samples[kind] = [.. (await _store.SampleItemsAsync(kind, calibration.SampleSize, calibration.Seed, cancellationToken).ConfigureAwait(false))
                .Where(item => item.Vector.Length == dimension)];
        }

        var backgrounds = new List<AdapterBackground>();
        var scratch = new Scratch(dimension);
        foreach (var (modality, map) in maps.OrderBy(static p => p.Key))
        {
            var proxies = samples[modality == QueryModality.Image ? ItemKind.Image : ItemKind.TextChunk];
            var adapted = proxies.Select(p =>
            {
                Adapt(map, p.Vector.ToArray(), scratch);
                return (float[])scratch.Z.Clone();
            }).ToArray();
            foreach (var kind in (ItemKind[])[ItemKind.Image, ItemKind.TextChunk])
            {
                var targets = samples[kind];
                if (proxies.Length < calibration.MinItems || targets.Length < calibration.MinItems)
                {
                    continue;
                }

                var plain = default(CosineMoments);
                var moved = default(CosineMoments);
                for (var p = 0; p < proxies.Length; p++)
                {
                    cancellationToken.ThrowIfCancellationRequested();
                    foreach (var target in targets)
                    {
                        if (CosineMoments.IsBackgroundPair(proxies[p], target))
                        {
                            plain.Add(TensorPrimitives.Dot(proxies[p].Vector.Span, target.Vector.Span));
                            moved.Add(TensorPrimitives.Dot(adapted[p], target.Vector.Span));
                        }
                    }
                }

                // The calibration's floor on both sides: an adapted background squeezed near one value would otherwise
                // stretch every adapted score by the ratio of the two deviations.
                if (plain.Count >= calibration.MinItems)
                {
                    var floor = calibration.MinStandardDeviation;
                    backgrounds.Add(new AdapterBackground(modality, kind, plain.Mean, plain.StandardDeviation(floor), moved.Mean, moved.StandardDeviation(floor)));
                }
            }
        }

        return backgrounds;
    }

    private static float[] Identity(int d)
    {
        var w = new float[d * d];
        for (var i = 0; i < d; i++)
        {
            w[(i * d) + i] = 1;
        }

        return w;
    }

    private static float[]? Normalized(ReadOnlySpan<float> vector)
    {
        var copy = vector.ToArray();
        var norm = TensorPrimitives.Norm(copy);
        if (!(norm > 0) || !float.IsFinite(norm))
        {
            return null;
        }

        TensorPrimitives.Divide(copy, norm, copy);
        return copy;
    }

    private static string GroupKey(QueryModality modality, float[] vector) =>
        string.Create(CultureInfo.InvariantCulture, $"{(int)modality}:{Convert.ToHexStringLower(SHA256.HashData(MemoryMarshal.AsBytes(vector.AsSpan())))}");

    private static void Shuffle<T>(List<T> list, Random random)
    {
        var span = CollectionsMarshal.AsSpan(list);
        random.Shuffle(span);
    }

    private sealed class QueryGroup(QueryModality modality, float[] vector)
    {
        public QueryModality Modality { get; } = modality;

        public float[] Vector { get; } = vector;

        /// <summary>Item index → relevant.</summary>
        public SortedDictionary<int, bool> Judged { get; } = [];
    }

    private sealed record Unit(QueryModality Modality, float[] Query, ItemKind Kind, int[] Positives, int[] Negatives);

    private sealed class Scratch(int d)
    {
        public float[] U { get; } = new float[d];

        public float[] Z { get; } = new float[d];

        public float[] Dz { get; } = new float[d];
    }
}
