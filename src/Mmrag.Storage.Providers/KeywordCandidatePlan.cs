namespace Mmrag.Storage.Providers;

/// <summary>
/// Which rows a keyword search ranks, so that ranking costs about a budget of rows however frequent the query's words
/// are. Ranking an OR of words means scoring every row that holds any of them, and a word found in a tenth of a large
/// knowledge base makes that a tenth of the rows; yet such a word adds little to a row's BM25 score (its inverse
/// document frequency is low), so the rows that rank first are those holding the rarer words.
/// </summary>
/// <remarks>
/// <para>The plan takes the words rarest first. Each word whose matching rows still fit in the budget is
/// <see cref="Whole"/>: all its rows are candidates. The rarest words that no longer fit are <see cref="Capped"/>: the
/// first <see cref="CappedRows"/> of their rows that are not candidates already fill what is left of the budget, so a
/// query made only of frequent words still finds rows. When several such words are too frequent to tell which is rarer
/// (their counts stopped at the budget), they share the rest of the budget. More frequent words are
/// <see cref="Dropped"/>: their rows are candidates only through the other words.</para>
/// <para>A row holding two of the frequent words outranks most rows holding one, so the capped rows are taken first
/// from the rows holding at least two of the <see cref="PairedWords"/> (the rarest capped and dropped words), then from
/// the other rows of the capped words; each in the backend's stable row order.</para>
/// <para>Candidates are then ranked by the whole query, every word included, so their scores and order are exactly
/// those of an unpruned search; what pruning changes is only which rows compete. A row holding only dropped words (or
/// only capped words, past the capped rows) is missed, which changes the top k only when such a row would have
/// outscored the rarer words' rows.</para>
/// <para>Immutable and thread-safe.</para>
/// </remarks>
public sealed class KeywordCandidatePlan
{
    /// <summary>At most this many words make <see cref="PairedWords"/>: rows holding two of n words are an OR of n(n-1)/2 pairs.</summary>
    public const int MaxPairedWords = 5;

    private KeywordCandidatePlan(IReadOnlyList<string> whole, IReadOnlyList<string> capped, int cappedRows, IReadOnlyList<string> dropped)
    {
        Whole = whole;
        Capped = capped;
        CappedRows = cappedRows;
        Dropped = dropped;
        PairedWords = cappedRows > 0 && capped.Count + dropped.Count >= 2 ? [.. capped.Concat(dropped).Take(MaxPairedWords)] : [];
    }

    /// <summary>Words every row of which is a candidate, rarest first.</summary>
    public IReadOnlyList<string> Whole { get; }

    /// <summary>Words whose rows fill what the <see cref="Whole"/> words left of the budget (<see cref="CappedRows"/> rows, after those holding two <see cref="PairedWords"/>).</summary>
    public IReadOnlyList<string> Capped { get; }

    /// <summary>How many rows beyond the <see cref="Whole"/> words' are candidates; 0 when there are no <see cref="Capped"/> words.</summary>
    public int CappedRows { get; }

    /// <summary>Words whose rows are candidates only when they match a <see cref="Whole"/> or <see cref="Capped"/> word, or two <see cref="PairedWords"/>.</summary>
    public IReadOnlyList<string> Dropped { get; }

    /// <summary>
    /// The rarest <see cref="Capped"/> and <see cref="Dropped"/> words (at most <see cref="MaxPairedWords"/>): rows holding
    /// two of them are the first capped rows. Empty when there are no capped rows or fewer than two such words.
    /// </summary>
    public IReadOnlyList<string> PairedWords { get; }

    /// <summary>Whether some matching rows are not candidates; false when the whole query can simply be ranked.</summary>
    public bool IsPruned => Capped.Count > 0 || Dropped.Count > 0;

    /// <summary>
    /// Plans a search for <paramref name="terms"/> given how many rows match each word.
    /// </summary>
    /// <param name="terms">The query's words (as <see cref="KeywordTerms.Split"/> returns them).</param>
    /// <param name="matchCounts">How many rows match each word, in the order of <paramref name="terms"/>; a backend may stop
    /// counting past <paramref name="budget"/> (any count above it means "more than the budget").</param>
    /// <param name="budget">About how many rows the search may rank; at least 1.</param>
    /// <exception cref="ArgumentException">The counts are not one per word, or one is negative.</exception>
    public static KeywordCandidatePlan Create(IReadOnlyList<string> terms, IReadOnlyList<int> matchCounts, int budget)
    {
        ArgumentNullException.ThrowIfNull(terms);
        ArgumentNullException.ThrowIfNull(matchCounts);
        ArgumentOutOfRangeException.ThrowIfLessThan(budget, 1);
        if (matchCounts.Count != terms.Count)
        {
            throw new ArgumentException($"{matchCounts.Count} match counts were given for {terms.Count} words; give one per word.", nameof(matchCounts));
        }

        var order = new List<int>(terms.Count);
        for (var i = 0; i < terms.Count; i++)
        {
            if (matchCounts[i] < 0)
            {
                throw new ArgumentException($"The match count of word {i} is negative ({matchCounts[i]}).", nameof(matchCounts));
            }

            // A word matching no row costs nothing and adds nothing.
            if (matchCounts[i] > 0)
            {
                order.Add(i);
            }
        }

        // Counts above the budget all mean "more than the budget": clamped, such words stay in query order among themselves.
        long Rarity(int word) => Math.Min(matchCounts[word], budget + 1L);
        order.Sort((a, b) => Rarity(a).CompareTo(Rarity(b)) is not 0 and var byCount ? byCount : a.CompareTo(b));

        var whole = new List<string>();
        var capped = new List<string>();
        var dropped = new List<string>();
        long used = 0;
        var next = 0;
        while (next < order.Count && used + matchCounts[order[next]] <= budget)
        {
            used += matchCounts[order[next]];
            whole.Add(terms[order[next++]]);
        }

        var left = (int)(budget - used);
        if (next < order.Count && left > 0)
        {
            var rarest = Rarity(order[next]);
            while (next < order.Count && Rarity(order[next]) == rarest)
            {
                capped.Add(terms[order[next++]]);
            }
        }

        while (next < order.Count)
        {
            dropped.Add(terms[order[next++]]);
        }

        return new KeywordCandidatePlan(whole, capped, capped.Count > 0 ? left : 0, dropped);
    }
}
