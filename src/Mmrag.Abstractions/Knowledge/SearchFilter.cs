namespace Mmrag.Knowledge;

/// <summary>Metadata conditions an item must meet to be returned. All set conditions must hold (AND); null means no condition.</summary>
public sealed record SearchFilter
{
    /// <summary>No condition.</summary>
    public static SearchFilter None { get; } = new();

    /// <summary>Only items of these documents.</summary>
    public IReadOnlyList<string>? DocumentIds { get; init; }

    /// <summary>Only items whose source path starts with this prefix (ordinal).</summary>
    public string? PathPrefix { get; init; }

    /// <summary>Only items carrying every one of these tags.</summary>
    public IReadOnlyList<string>? Tags { get; init; }

    /// <summary>Only items of this kind.</summary>
    public ItemKind? Kind { get; init; }

    /// <summary>Never these content hashes (e.g. the query image itself).</summary>
    public IReadOnlyList<string>? ExcludeContentHashes { get; init; }

    /// <summary>Whether no condition is set.</summary>
    public bool IsEmpty => DocumentIds is null && PathPrefix is null && (Tags is null || Tags.Count == 0) && Kind is null
        && (ExcludeContentHashes is null || ExcludeContentHashes.Count == 0);

    /// <summary>Whether <paramref name="item"/> satisfies the filter (the reference semantics every backend must reproduce).</summary>
    public bool Matches(KnowledgeItem item)
    {
        ArgumentNullException.ThrowIfNull(item);
        return (Kind is null || item.Kind == Kind)
            && (DocumentIds is null || DocumentIds.Contains(item.DocumentId))
            && (PathPrefix is null || item.Provenance.SourcePath.StartsWith(PathPrefix, StringComparison.Ordinal))
            && (Tags is null || Tags.All(item.Tags.Contains))
            && (ExcludeContentHashes is null || !ExcludeContentHashes.Contains(item.ContentHash));
    }
}
