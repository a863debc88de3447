using Mmrag.Knowledge;
using Mmrag.Retrieval.Search;

namespace Mmrag.Answering.Reranking;

/// <summary>What became of a rerank request.</summary>
public enum RerankStatus
{
    /// <summary>The LLM graded the candidates and they were reordered by grade.</summary>
    Applied,

    /// <summary>The LLM call failed or its reply was unusable; the original order stands (<see cref="RerankReport.Detail"/> says why).</summary>
    Failed,

    /// <summary>Nothing was asked: no LLM is configured, or there was nothing to grade (<see cref="RerankReport.Detail"/> says which).</summary>
    Skipped,
}

/// <summary>The LLM's grade of one candidate.</summary>
/// <param name="Grade">0 (not relevant) to <see cref="RerankOptions.MaxGrade"/> (exactly what the query asks for).</param>
/// <param name="Reason">The LLM's one-line reason (possibly empty); untrusted text, shown as is.</param>
public sealed record RerankGrade(int Grade, string Reason);

/// <summary>How a rerank went. Immutable.</summary>
public sealed record RerankReport
{
    /// <summary>Applied, failed or skipped.</summary>
    public required RerankStatus Status { get; init; }

    /// <summary>Why it failed or was skipped (null when applied).</summary>
    public string? Detail { get; init; }

    /// <summary>Candidates sent to the LLM.</summary>
    public int Candidates { get; init; }

    /// <summary>Candidates the reply graded (the others follow the graded ones, in their original order).</summary>
    public int Graded { get; init; }

    /// <summary>Time spent building the request and waiting for the reply.</summary>
    public TimeSpan Elapsed { get; init; }
}

/// <summary>A candidate offered to the reranker.</summary>
/// <param name="Item">The item.</param>
/// <param name="SendImage">Whether its image may be attached (false for text-only answering).</param>
public sealed record RerankCandidate(KnowledgeItem Item, bool SendImage = true);

/// <summary>The reranker's verdict on a list of candidates. Immutable.</summary>
/// <param name="Report">How it went.</param>
/// <param name="Order">The new order, as indices into the candidates given (the identity unless applied).</param>
/// <param name="Grades">Each candidate's grade, by its index in the candidates given (null when not graded).</param>
public sealed record RerankOutcome(RerankReport Report, IReadOnlyList<int> Order, IReadOnlyList<RerankGrade?> Grades)
{
    /// <summary><paramref name="items"/> (the candidates' own list, same length and order) in the new order.</summary>
    public IReadOnlyList<T> Apply<T>(IReadOnlyList<T> items)
    {
        ArgumentNullException.ThrowIfNull(items);
        if (items.Count != Order.Count)
        {
            throw new ArgumentException($"The list has {items.Count} items; the outcome orders {Order.Count}.", nameof(items));
        }

        return [.. Order.Select(i => items[i])];
    }
}

/// <summary>A search result after reranking: its hits in the new order (ranks renumbered), their grades and the report.</summary>
/// <param name="Result">The result, hits reordered when the rerank was applied.</param>
/// <param name="Grades">The grade of each hit of <paramref name="Result"/>, in its order (null where not graded; empty when no rerank was asked).</param>
/// <param name="Report">How the rerank went; null when none was asked.</param>
public sealed record RerankedSearch(SearchResult Result, IReadOnlyList<RerankGrade?> Grades, RerankReport? Report)
{
    /// <summary>The grade of hit <paramref name="index"/> (0-based), or null.</summary>
    public RerankGrade? GradeAt(int index) => index < Grades.Count ? Grades[index] : null;
}
