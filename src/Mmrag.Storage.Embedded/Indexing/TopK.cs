using System.Runtime.CompilerServices;

namespace Mmrag.Storage.Embedded.Indexing;

/// <summary>
/// The best <c>k</c> (score, slot) pairs seen so far: a bounded binary heap whose root is the worst kept pair, so
/// the common case (a score below the k-th best) costs one comparison. Ranking: higher score, then smaller slot.
/// </summary>
internal sealed class TopK
{
    private readonly float[] _scores;
    private readonly int[] _slots;

    public TopK(int k)
    {
        _scores = new float[k];
        _slots = new int[k];
        Threshold = float.NegativeInfinity;
    }

    public int Capacity => _scores.Length;

    public int Count { get; private set; }

    /// <summary>The worst kept score once full, else negative infinity: a score strictly below it can never enter.</summary>
    public float Threshold { get; private set; }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Offer(float score, int slot)
    {
        if (score >= Threshold)
        {
            OfferSlow(score, slot);
        }
    }

    public void Clear()
    {
        Count = 0;
        Threshold = float.NegativeInfinity;
    }

    public void Merge(TopK other)
    {
        for (int i = 0; i < other.Count; i++)
        {
            Offer(other._scores[i], other._slots[i]);
        }
    }

    /// <summary>Writes the kept pairs best first; returns how many.</summary>
    public int CopySorted(Span<VectorHit> destination)
    {
        int n = Math.Min(Count, destination.Length);
        Span<VectorHit> all = Count <= 256 ? stackalloc VectorHit[Count] : new VectorHit[Count];
        for (int i = 0; i < Count; i++)
        {
            all[i] = new VectorHit(_slots[i], _scores[i]);
        }

        all.Sort(static (a, b) => VectorHit.RanksBefore(a.Score, a.Slot, b.Score, b.Slot) ? -1 : VectorHit.RanksBefore(b.Score, b.Slot, a.Score, a.Slot) ? 1 : 0);
        all[..n].CopyTo(destination);
        return n;
    }

    private void OfferSlow(float score, int slot)
    {
        int k = _scores.Length;
        if (Count < k)
        {
            int i = Count++;
            // Sift up: every parent ranks after (is worse than) its children.
            while (i > 0)
            {
                int parent = (i - 1) >> 1;
                if (!VectorHit.RanksBefore(_scores[parent], _slots[parent], score, slot))
                {
                    break;
                }

                _scores[i] = _scores[parent];
                _slots[i] = _slots[parent];
                i = parent;
            }

            _scores[i] = score;
            _slots[i] = slot;
            if (Count == k)
            {
                Threshold = _scores[0];
            }

            return;
        }

        if (!VectorHit.RanksBefore(score, slot, _scores[0], _slots[0]))
        {
            return;
        }

        // Replace the root and sift down.
        int pos = 0;
        while (true)
        {
            int child = (2 * pos) + 1;
            if (child >= k)
            {
                break;
            }

            int right = child + 1;
            if (right < k && VectorHit.RanksBefore(_scores[child], _slots[child], _scores[right], _slots[right]))
            {
                child = right; // the worse child
            }

            if (!VectorHit.RanksBefore(score, slot, _scores[child], _slots[child]))
            {
                break;
            }

            _scores[pos] = _scores[child];
            _slots[pos] = _slots[child];
            pos = child;
        }

        _scores[pos] = score;
        _slots[pos] = slot;
        Threshold = _scores[0];
    }
}
