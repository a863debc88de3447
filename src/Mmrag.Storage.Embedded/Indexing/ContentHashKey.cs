using System.Buffers;
using System.IO.Hashing;
using System.Text;

namespace Mmrag.Storage.Embedded.Indexing;

/// <summary>
/// An item's content hash as the in-memory index keeps it for the exclusion filter: the 128-bit XxHash of its UTF-8
/// text. Sixteen bytes per slot instead of a 64-character string (at a million items, 16 MiB instead of 150 MiB, and
/// nothing for the collector to copy while the store opens); two different content hashes share a key with odds of
/// about 2⁻¹²⁸ per pair, far below anything a search could notice.
/// </summary>
internal static class ContentHashKey
{
    public static UInt128 Of(ReadOnlySpan<byte> utf8) => XxHash128.HashToUInt128(utf8);

    public static UInt128 Of(string contentHash)
    {
        int max = Encoding.UTF8.GetMaxByteCount(contentHash.Length);
        byte[]? rented = max > 512 ? ArrayPool<byte>.Shared.Rent(max) : null;
        Span<byte> buffer = rented ?? stackalloc byte[512];
        try
        {
            return Of(buffer[..Encoding.UTF8.GetBytes(contentHash, buffer)]);
        }
        finally
        {
            if (rented is not null)
            {
                ArrayPool<byte>.Shared.Return(rented);
            }
        }
    }
}
