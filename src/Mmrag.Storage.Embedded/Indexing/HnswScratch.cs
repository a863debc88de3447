using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace Mmrag.Storage.Embedded.Indexing;

/// <summary>A (score, node) pair in the search heaps.</summary>
[StructLayout(LayoutKind.Sequential)]
internal struct ScoredNode
{
    public float Score;
    public int Id;

    public ScoredNode(float score, int id)
    {
        Score = score;
        Id = id;
    }
}

/// <summary>
/// Per-thread working memory of HNSW searches and insertions, reused so that a search allocates nothing: the
/// visited marks (an epoch-tagged ushort per node, cleared only when the epoch wraps), the candidate max-heap,
/// the bounded result min-heap, an aligned copy of the query and small buffers for neighbour selection.
/// </summary>
internal sealed unsafe class HnswScratch
{
    [ThreadStatic]
    private static HnswScratch? t_cached;

    private ushort[] _visited = [];
    private ushort _epoch;
    private ScoredNode[] _candidates = new ScoredNode[256];
    private ScoredNode[] _results = new ScoredNode[256];
    private float[] _query = [];
    private int[] _fresh = [];

    public ushort* Visited { get; private set; }

    /// <summary>Unvisited neighbours of the node being expanded (M0 ids at most).</summary>
    public int* Fresh { get; private set; }

    public float* Query { get; private set; }

    public int CandidateCount { get; private set; }

    public int ResultCount { get; private set; }

    /// <summary>Candidates sorted by decreasing score (neighbour selection input).</summary>
    public ScoredNode[] Sorted { get; private set; } = new ScoredNode[256];

    /// <summary>Neighbour selection output.</summary>
    public ScoredNode[] Selected { get; private set; } = new ScoredNode[64];

    /// <summary>Pruning buffers for a full neighbour list (M0 + 1 entries).</summary>
    public ScoredNode[] PruneInput { get; private set; } = new ScoredNode[64];

    public ScoredNode[] PruneOutput { get; private set; } = new ScoredNode[64];

    private bool InUse { get; set; }

    public static HnswScratch Rent()
    {
        HnswScratch? s = t_cached;
        if (s is null || s.InUse)
        {
            // Re-entrant use on one thread (a filter predicate that searches) gets its own scratch.
            s = new HnswScratch();
            t_cached ??= s;
        }

        s.InUse = true;
        return s;
    }

    public void Return() => InUse = false;

    /// <summary>Sizes the neighbour buffer for lists of up to <paramref name="m0"/> links.</summary>
    public void EnsureLinkCapacity(int m0)
    {
        if (_fresh.Length < m0)
        {
            _fresh = GC.AllocateArray<int>(m0, pinned: true);
            Fresh = (int*)Unsafe.AsPointer(ref MemoryMarshal.GetArrayDataReference(_fresh));
        }
    }

    public void EnsureSelectionCapacity(int ef, int m0)
    {
        if (Sorted.Length < ef + 1)
        {
            Sorted = new ScoredNode[ef + 1];
        }

        if (Selected.Length < m0 + 1)
        {
            Selected = new ScoredNode[m0 + 1];
            PruneInput = new ScoredNode[m0 + 1];
            PruneOutput = new ScoredNode[m0 + 1];
        }
    }

    /// <summary>Copies the query into a 64-byte aligned, zero-padded buffer of <paramref name="stride"/> floats.</summary>
    public float* SetQuery(ReadOnlySpan<float> query, int stride)
    {
        if (_query.Length < stride + 16)
        {
            _query = GC.AllocateArray<float>(stride + 16, pinned: true);
            nint start = (nint)Unsafe.AsPointer(ref MemoryMarshal.GetArrayDataReference(_query));
            Query = (float*)((start + 63) & ~(nint)63);
        }

        Span<float> q = new(Query, stride);
        query.CopyTo(q);
        q[query.Length..].Clear();
        return Query;
    }

    /// <summary>Starts a new visited epoch covering node ids below <paramref name="capacity"/>; returns the tag.</summary>
    public ushort NewEpoch(int capacity)
    {
        if (_visited.Length < capacity)
        {
            int length = Math.Max(capacity, Math.Min(int.MaxValue / 2, _visited.Length) * 2);
            _visited = GC.AllocateArray<ushort>(length, pinned: true);
            Visited = (ushort*)Unsafe.AsPointer(ref MemoryMarshal.GetArrayDataReference(_visited));
            _epoch = 0;
        }

        if (++_epoch == 0)
        {
            Array.Clear(_visited);
            _epoch = 1;
        }

        return _epoch;
    }

    // ---------------------------------------------------------------- candidate max-heap (best score on top)

    public ref ScoredNode CandidateTop => ref MemoryMarshal.GetArrayDataReference(_candidates);

    public void ClearCandidates() => CandidateCount = 0;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void PushCandidate(float score, int id)
    {
        if (CandidateCount == _candidates.Length)
        {
            Array.Resize(ref _candidates, _candidates.Length * 2);
        }

        ref ScoredNode h = ref MemoryMarshal.GetArrayDataReference(_candidates);
        int i = CandidateCount++;
        while (i > 0)
        {
            int parent = (i - 1) >> 1;
            ref ScoredNode p = ref Unsafe.Add(ref h, parent);
            if (p.Score >= score)
            {
                break;
            }

            Unsafe.Add(ref h, i) = p;
            i = parent;
        }

        Unsafe.Add(ref h, i) = new ScoredNode(score, id);
    }

    public void PopCandidate()
    {
        ref ScoredNode h = ref MemoryMarshal.GetArrayDataReference(_candidates);
        int n = --CandidateCount;
        if (n == 0)
        {
            return;
        }

        ScoredNode last = Unsafe.Add(ref h, n);
        int pos = 0;
        while (true)
        {
            int child = (2 * pos) + 1;
            if (child >= n)
            {
                break;
            }

            if (child + 1 < n && Unsafe.Add(ref h, child + 1).Score > Unsafe.Add(ref h, child).Score)
            {
                child++;
            }

            if (Unsafe.Add(ref h, child).Score <= last.Score)
            {
                break;
            }

            Unsafe.Add(ref h, pos) = Unsafe.Add(ref h, child);
            pos = child;
        }

        Unsafe.Add(ref h, pos) = last;
    }

    // ---------------------------------------------------------------- result min-heap (worst score on top)

    public ref ScoredNode ResultTop => ref MemoryMarshal.GetArrayDataReference(_results);

    public void ClearResults(int ef)
    {
        ResultCount = 0;
        if (_results.Length < ef + 1)
        {
            _results = new ScoredNode[ef + 1];
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void PushResult(float score, int id)
    {
        ref ScoredNode h = ref MemoryMarshal.GetArrayDataReference(_results);
        int i = ResultCount++;
        while (i > 0)
        {
            int parent = (i - 1) >> 1;
            ref ScoredNode p = ref Unsafe.Add(ref h, parent);
            if (p.Score <= score)
            {
                break;
            }

            Unsafe.Add(ref h, i) = p;
            i = parent;
        }

        Unsafe.Add(ref h, i) = new ScoredNode(score, id);
    }

    /// <summary>Replaces the worst result by (score, id) and restores the heap.</summary>
    public void ReplaceWorstResult(float score, int id)
    {
        ref ScoredNode h = ref MemoryMarshal.GetArrayDataReference(_results);
        int n = ResultCount;
        int pos = 0;
        while (true)
        {
            int child = (2 * pos) + 1;
            if (child >= n)
            {
                break;
            }

            if (child + 1 < n && Unsafe.Add(ref h, child + 1).Score < Unsafe.Add(ref h, child).Score)
            {
                child++;
            }

            if (Unsafe.Add(ref h, child).Score >= score)
            {
                break;
            }

            Unsafe.Add(ref h, pos) = Unsafe.Add(ref h, child);
            pos = child;
        }

        Unsafe.Add(ref h, pos) = new ScoredNode(score, id);
    }

    /// <summary>Removes the worst result.</summary>
    public ScoredNode PopWorstResult()
    {
        ScoredNode top = _results[0];
        int n = --ResultCount;
        if (n > 0)
        {
            ScoredNode last = _results[n];
            ResultCount = n;
            ReplaceWorstResult(last.Score, last.Id);
        }

        return top;
    }
}
