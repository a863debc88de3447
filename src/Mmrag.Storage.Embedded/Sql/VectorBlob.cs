using System.Buffers.Binary;
using System.Runtime.InteropServices;

namespace Mmrag.Storage.Embedded.Sql;

/// <summary>Vectors as BLOBs: float32, little endian, one after another.</summary>
internal static class VectorBlob
{
    public static byte[] Encode(ReadOnlySpan<float> vector)
    {
        var bytes = new byte[vector.Length * sizeof(float)];
        if (BitConverter.IsLittleEndian)
        {
            MemoryMarshal.AsBytes(vector).CopyTo(bytes);
        }
        else
        {
            for (int i = 0; i < vector.Length; i++)
            {
                BinaryPrimitives.WriteSingleLittleEndian(bytes.AsSpan(i * sizeof(float)), vector[i]);
            }
        }

        return bytes;
    }

    /// <summary>Decodes into <paramref name="destination"/>; false when the blob is not exactly that many floats.</summary>
    public static bool TryDecode(ReadOnlySpan<byte> blob, Span<float> destination)
    {
        if (blob.Length != destination.Length * sizeof(float))
        {
            return false;
        }

        if (BitConverter.IsLittleEndian)
        {
            blob.CopyTo(MemoryMarshal.AsBytes(destination));
        }
        else
        {
            for (int i = 0; i < destination.Length; i++)
            {
                destination[i] = BinaryPrimitives.ReadSingleLittleEndian(blob[(i * sizeof(float))..]);
            }
        }

        return true;
    }
}
