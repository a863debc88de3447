namespace Mmrag.Storage.Embedded.Indexing;

/// <summary>One search result: a slot and its inner product with the query (the cosine, for normalized vectors).</summary>
/// <param name="Slot">The slot of the vector in its <see cref="VectorSet"/>.</param>
/// <param name="Score">The inner product with the query; higher is more similar.</param>
public readonly record struct VectorHit(int Slot, float Score)
{
    /// <summary>Whether hit a ranks before hit b: higher score first, then the smaller slot.</summary>
    internal static bool RanksBefore(float aScore, int aSlot, float bScore, int bSlot) =>
        aScore > bScore || (aScore == bScore && aSlot < bSlot);
}
