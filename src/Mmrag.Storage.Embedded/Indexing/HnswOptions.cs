namespace Mmrag.Storage.Embedded.Indexing;

/// <summary>Parameters of an <see cref="HnswIndex"/> (Malkov &amp; Yashunin); validated when the index is created.</summary>
public sealed class HnswOptions
{
    /// <summary>Links per node on the upper layers; layer 0 keeps up to 2·M. Default 16.</summary>
    public int M { get; set; } = 16;

    /// <summary>Candidate list size while inserting. Default 200.</summary>
    public int EfConstruction { get; set; } = 200;

    /// <summary>Default candidate list size of a search (raised to k when smaller). Default 64.</summary>
    public int EfSearch { get; set; } = 64;

    /// <summary>Seed of the level draws: the same seed and insertion order give the same graph on one thread. Default 100.</summary>
    public long Seed { get; set; } = 100;

    /// <summary>Threads used by <see cref="HnswIndex.InsertRange"/> and <see cref="HnswIndex.AddRange"/>; 1 gives a deterministic build. Default 1.</summary>
    public int MaxDegreeOfParallelism { get; set; } = 1;

    internal void Validate()
    {
        if (M is < 2 or > 512)
        {
            throw new ArgumentOutOfRangeException(nameof(M), M, "HnswOptions.M must be in [2, 512].");
        }

        if (EfConstruction < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(EfConstruction), EfConstruction, "HnswOptions.EfConstruction must be at least 1.");
        }

        if (EfSearch < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(EfSearch), EfSearch, "HnswOptions.EfSearch must be at least 1.");
        }

        if (MaxDegreeOfParallelism < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(MaxDegreeOfParallelism), MaxDegreeOfParallelism, "HnswOptions.MaxDegreeOfParallelism must be at least 1.");
        }
    }
}
