using System.Numerics;

namespace Mmrag.Storage.Embedded.Indexing;

/// <summary>
/// Restricts a search to a subset of slots, given either as a bitset (bit <c>s</c> set ⇒ slot <c>s</c> allowed;
/// fastest, and lets exact search skip 64 slots at a time) or as a predicate.
/// </summary>
/// <remarks>Immutable once built. A predicate must be thread-safe if the filter is shared by concurrent searches,
/// and may be called for any slot, more than once, in any order.</remarks>
public sealed class SlotFilter
{
    private readonly ulong[]? _bits;
    private readonly Func<int, bool>? _predicate;
    private readonly int _allowedCount;

    private SlotFilter(ulong[]? bits, Func<int, bool>? predicate, int allowedCount)
    {
        _bits = bits;
        _predicate = predicate;
        _allowedCount = allowedCount;
    }

    /// <summary>Number of allowed slots when known (bitset filters), else null. The store uses it to choose exact search for very selective filters.</summary>
    public int? AllowedCount => _bits is null ? null : _allowedCount;

    /// <summary>A filter that calls <paramref name="allows"/> for each candidate slot.</summary>
    public static SlotFilter FromPredicate(Func<int, bool> allows)
    {
        ArgumentNullException.ThrowIfNull(allows);
        return new SlotFilter(null, allows, -1);
    }

    /// <summary>A filter over a bitset (bit <c>s % 64</c> of word <c>s / 64</c>); slots past the end are not allowed. The array is copied.</summary>
    public static SlotFilter FromBitset(ReadOnlySpan<ulong> bits)
    {
        ulong[] copy = bits.ToArray();
        int count = 0;
        foreach (ulong w in copy)
        {
            count += BitOperations.PopCount(w);
        }

        return new SlotFilter(copy, null, count);
    }

    /// <summary>A filter over <paramref name="bits"/> without copying it; the caller promises never to change the array
    /// and that <paramref name="allowedCount"/> is its number of set bits.</summary>
    internal static SlotFilter Wrap(ulong[] bits, int allowedCount) => new(bits, null, allowedCount);

    /// <summary>A filter allowing exactly <paramref name="slots"/> (negative slots are ignored).</summary>
    public static SlotFilter FromSlots(IEnumerable<int> slots)
    {
        ArgumentNullException.ThrowIfNull(slots);
        var bits = new ulong[64];
        int count = 0;
        foreach (int s in slots)
        {
            if (s < 0)
            {
                continue;
            }

            int w = s >> 6;
            if (w >= bits.Length)
            {
                Array.Resize(ref bits, Math.Max(w + 1, bits.Length * 2));
            }

            ulong bit = 1UL << (s & 63);
            if ((bits[w] & bit) == 0)
            {
                bits[w] |= bit;
                count++;
            }
        }

        return new SlotFilter(bits, null, count);
    }

    /// <summary>Whether the slot passes the filter.</summary>
    public bool Allows(int slot)
    {
        if (_bits is not null)
        {
            int w = slot >> 6;
            return slot >= 0 && w < _bits.Length && (_bits[w] & (1UL << (slot & 63))) != 0;
        }

        return _predicate!(slot);
    }

    /// <summary>Of the slots <c>64·wordIndex + i</c> whose bit i is set in <paramref name="candidates"/>, those allowed.</summary>
    internal ulong Restrict(int wordIndex, ulong candidates)
    {
        if (_bits is not null)
        {
            return (uint)wordIndex < (uint)_bits.Length ? _bits[wordIndex] & candidates : 0;
        }

        ulong allowed = 0;
        int baseSlot = wordIndex << 6;
        while (candidates != 0)
        {
            int i = BitOperations.TrailingZeroCount(candidates);
            candidates &= candidates - 1;
            if (_predicate!(baseSlot + i))
            {
                allowed |= 1UL << i;
            }
        }

        return allowed;
    }
}
