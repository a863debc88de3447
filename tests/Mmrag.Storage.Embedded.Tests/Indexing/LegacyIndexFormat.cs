using System.Buffers.Binary;
using System.IO.Hashing;

namespace Mmrag.Storage.Embedded.Tests.Indexing;

/// <summary>
/// Writes the version 1 layouts (before sections were aligned for mapping) from today's files, as knowledge bases
/// saved by earlier builds have them: the same bytes without the alignment padding, with version 1 and the checksums
/// recomputed.
/// </summary>
internal static class LegacyIndexFormat
{
    private const int GraphHeaderSize = 128;
    private const int FileHeaderSize = 64;

    /// <summary>A saved <c>HnswIndex</c> (version 2, with its vectors) as version 1 wrote it.</summary>
    public static byte[] GraphToVersion1(byte[] graph)
    {
        Assert.Equal(2, BinaryPrimitives.ReadInt32LittleEndian(graph.AsSpan(8)));
        int dimension = BinaryPrimitives.ReadInt32LittleEndian(graph.AsSpan(16));
        int slots = BinaryPrimitives.ReadInt32LittleEndian(graph.AsSpan(20));
        Assert.Equal(1u, BinaryPrimitives.ReadUInt32LittleEndian(graph.AsSpan(72))); // with vectors

        var payload = new List<byte>();
        int position = GraphHeaderSize;
        void Take(long count)
        {
            payload.AddRange(graph.AsSpan(position, (int)count).ToArray());
            position += (int)count;
        }

        void SkipPadding() => position += -position & 63;

        Take(slots);
        Take(((slots + 63) / 64) * 8L);
        SkipPadding();
        Take((long)slots * dimension * sizeof(float));
        SkipPadding();
        Take(graph.Length - 24 - position); // layer-0 and upper lists, up to the trailer

        byte[] header = graph[..GraphHeaderSize];
        BinaryPrimitives.WriteInt32LittleEndian(header.AsSpan(8), 1);
        BinaryPrimitives.WriteUInt64LittleEndian(header.AsSpan(120), XxHash3.HashToUInt64(header.AsSpan(0, 120)));
        byte[] body = [.. payload];
        var trailer = new byte[24];
        "MMRAGEND"u8.CopyTo(trailer);
        BinaryPrimitives.WriteInt64LittleEndian(trailer.AsSpan(8), body.Length);
        BinaryPrimitives.WriteUInt64LittleEndian(trailer.AsSpan(16), XxHash3.HashToUInt64(body));
        return [.. header, .. body, .. trailer];
    }

    /// <summary>A store's <c>vectors.hnsw</c> (version 2) as version 1 wrote it.</summary>
    public static byte[] IndexFileToVersion1(byte[] file)
    {
        Assert.Equal(2, BinaryPrimitives.ReadInt32LittleEndian(file.AsSpan(8)));
        int slots = BinaryPrimitives.ReadInt32LittleEndian(file.AsSpan(32));
        int mapEnd = FileHeaderSize + (slots * 8) + 8;
        int graphStart = (mapEnd + 63) & ~63;
        byte[] head = file[..mapEnd];
        BinaryPrimitives.WriteInt32LittleEndian(head.AsSpan(8), 1);
        BinaryPrimitives.WriteUInt64LittleEndian(head.AsSpan(56), XxHash3.HashToUInt64(head.AsSpan(0, 56)));
        return [.. head, .. GraphToVersion1(file[graphStart..])];
    }
}
