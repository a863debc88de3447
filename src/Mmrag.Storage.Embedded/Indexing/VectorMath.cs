using System.Numerics.Tensors;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Mmrag.Storage.Embedded.Indexing;

/// <summary>
/// Inner-product kernels over padded rows. Rows and queries are stored with a stride that is a multiple of
/// 16 floats and zero padding, so the kernels never need a scalar tail. Every kernel accumulates one row in
/// the same order (four accumulators over 16-float blocks, block i into accumulator i mod 4, then
/// (a0 + a1) + (a2 + a3)), so a row scores bit-identically whether it is scored alone, four at a time, by the
/// exact scan or by the HNSW graph search.
/// </summary>
internal static unsafe class VectorMath
{
    /// <summary>Rows are padded to a multiple of this many floats (one 64-byte cache line).</summary>
    public const int StrideMultiple = 16;

    public static int StrideFor(int dimension) => (dimension + StrideMultiple - 1) & ~(StrideMultiple - 1);

    /// <summary>Which kernel family this process uses (for benchmark reports).</summary>
    public static string KernelName =>
        Vector512.IsHardwareAccelerated ? "Vector512" : Vector256.IsHardwareAccelerated ? "Vector256" : "TensorPrimitives";

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float Dot(float* a, float* b, int stride)
    {
        if (Vector512.IsHardwareAccelerated)
        {
            return Dot512(a, b, stride);
        }

        if (Vector256.IsHardwareAccelerated)
        {
            return Dot256(a, b, stride);
        }

        return TensorPrimitives.Dot(new ReadOnlySpan<float>(a, stride), new ReadOnlySpan<float>(b, stride));
    }

    /// <summary>Scores four rows against one query; <paramref name="scores"/> receives four floats.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Dot4(float* q, float* r0, float* r1, float* r2, float* r3, int stride, float* scores)
    {
        if (Vector512.IsHardwareAccelerated)
        {
            Dot4x512(q, r0, r1, r2, r3, stride, scores);
            return;
        }

        scores[0] = Dot(q, r0, stride);
        scores[1] = Dot(q, r1, stride);
        scores[2] = Dot(q, r2, stride);
        scores[3] = Dot(q, r3, stride);
    }

    /// <summary>Asks the cache for the first <paramref name="lines"/> 64-byte lines at <paramref name="p"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Prefetch(void* p, int lines)
    {
        if (Sse.IsSupported)
        {
            byte* b = (byte*)p;
            for (int i = 0; i < lines; i++)
            {
                Sse.Prefetch0(b + (i << 6));
            }
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Prefetch(void* p)
    {
        if (Sse.IsSupported)
        {
            Sse.Prefetch0(p);
        }
    }

    /// <summary>Horizontal sum in a fixed order, in fewer instructions than Vector512.Sum's expansion (about 28 here).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static float Sum(Vector512<float> v) => Sum(v.GetLower() + v.GetUpper());

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static float Sum(Vector256<float> v)
    {
        Vector128<float> t = v.GetLower() + v.GetUpper();
        t += Vector128.Shuffle(t, Vector128.Create(2, 3, 0, 1));
        t += Vector128.Shuffle(t, Vector128.Create(1, 0, 3, 2));
        return t.ToScalar();
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<float> Fma(float* a, float* b, Vector512<float> acc) =>
        Vector512.MultiplyAddEstimate(Vector512.Load(a), Vector512.Load(b), acc);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static float Dot512(float* a, float* b, int stride)
    {
        Vector512<float> a0 = Vector512<float>.Zero, a1 = a0, a2 = a0, a3 = a0;
        int j = 0;
        for (; j + 64 <= stride; j += 64)
        {
            a0 = Fma(a + j, b + j, a0);
            a1 = Fma(a + j + 16, b + j + 16, a1);
            a2 = Fma(a + j + 32, b + j + 32, a2);
            a3 = Fma(a + j + 48, b + j + 48, a3);
        }

        if (j + 32 <= stride)
        {
            a0 = Fma(a + j, b + j, a0);
            a1 = Fma(a + j + 16, b + j + 16, a1);
            j += 32;
        }

        if (j < stride)
        {
            a2 = Fma(a + j, b + j, a2);
        }

        return Sum((a0 + a1) + (a2 + a3));
    }

    private static void Dot4x512(float* q, float* r0, float* r1, float* r2, float* r3, int stride, float* scores)
    {
        Vector512<float> z = Vector512<float>.Zero;
        Vector512<float> a00 = z, a01 = z, a02 = z, a03 = z;
        Vector512<float> a10 = z, a11 = z, a12 = z, a13 = z;
        Vector512<float> a20 = z, a21 = z, a22 = z, a23 = z;
        Vector512<float> a30 = z, a31 = z, a32 = z, a33 = z;
        int j = 0;
        for (; j + 64 <= stride; j += 64)
        {
            Vector512<float> q0 = Vector512.Load(q + j);
            Vector512<float> q1 = Vector512.Load(q + j + 16);
            Vector512<float> q2 = Vector512.Load(q + j + 32);
            Vector512<float> q3 = Vector512.Load(q + j + 48);
            a00 = Vector512.MultiplyAddEstimate(Vector512.Load(r0 + j), q0, a00);
            a10 = Vector512.MultiplyAddEstimate(Vector512.Load(r1 + j), q0, a10);
            a20 = Vector512.MultiplyAddEstimate(Vector512.Load(r2 + j), q0, a20);
            a30 = Vector512.MultiplyAddEstimate(Vector512.Load(r3 + j), q0, a30);
            a01 = Vector512.MultiplyAddEstimate(Vector512.Load(r0 + j + 16), q1, a01);
            a11 = Vector512.MultiplyAddEstimate(Vector512.Load(r1 + j + 16), q1, a11);
            a21 = Vector512.MultiplyAddEstimate(Vector512.Load(r2 + j + 16), q1, a21);
            a31 = Vector512.MultiplyAddEstimate(Vector512.Load(r3 + j + 16), q1, a31);
            a02 = Vector512.MultiplyAddEstimate(Vector512.Load(r0 + j + 32), q2, a02);
            a12 = Vector512.MultiplyAddEstimate(Vector512.Load(r1 + j + 32), q2, a12);
            a22 = Vector512.MultiplyAddEstimate(Vector512.Load(r2 + j + 32), q2, a22);
            a32 = Vector512.MultiplyAddEstimate(Vector512.Load(r3 + j + 32), q2, a32);
            a03 = Vector512.MultiplyAddEstimate(Vector512.Load(r0 + j + 48), q3, a03);
            a13 = Vector512.MultiplyAddEstimate(Vector512.Load(r1 + j + 48), q3, a13);
            a23 = Vector512.MultiplyAddEstimate(Vector512.Load(r2 + j + 48), q3, a23);
            a33 = Vector512.MultiplyAddEstimate(Vector512.Load(r3 + j + 48), q3, a33);
        }

        if (j + 32 <= stride)
        {
            Vector512<float> q0 = Vector512.Load(q + j);
            Vector512<float> q1 = Vector512.Load(q + j + 16);
            a00 = Vector512.MultiplyAddEstimate(Vector512.Load(r0 + j), q0, a00);
            a10 = Vector512.MultiplyAddEstimate(Vector512.Load(r1 + j), q0, a10);
            a20 = Vector512.MultiplyAddEstimate(Vector512.Load(r2 + j), q0, a20);
            a30 = Vector512.MultiplyAddEstimate(Vector512.Load(r3 + j), q0, a30);
            a01 = Vector512.MultiplyAddEstimate(Vector512.Load(r0 + j + 16), q1, a01);
            a11 = Vector512.MultiplyAddEstimate(Vector512.Load(r1 + j + 16), q1, a11);
            a21 = Vector512.MultiplyAddEstimate(Vector512.Load(r2 + j + 16), q1, a21);
            a31 = Vector512.MultiplyAddEstimate(Vector512.Load(r3 + j + 16), q1, a31);
            j += 32;
        }

        if (j < stride)
        {
            Vector512<float> q0 = Vector512.Load(q + j);
            a02 = Vector512.MultiplyAddEstimate(Vector512.Load(r0 + j), q0, a02);
            a12 = Vector512.MultiplyAddEstimate(Vector512.Load(r1 + j), q0, a12);
            a22 = Vector512.MultiplyAddEstimate(Vector512.Load(r2 + j), q0, a22);
            a32 = Vector512.MultiplyAddEstimate(Vector512.Load(r3 + j), q0, a32);
        }

        scores[0] = Sum((a00 + a01) + (a02 + a03));
        scores[1] = Sum((a10 + a11) + (a12 + a13));
        scores[2] = Sum((a20 + a21) + (a22 + a23));
        scores[3] = Sum((a30 + a31) + (a32 + a33));
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> Fma(float* a, float* b, Vector256<float> acc) =>
        Vector256.MultiplyAddEstimate(Vector256.Load(a), Vector256.Load(b), acc);

    // Same block order as Dot512, with each 16-float block split into two 8-float halves (lo/hi accumulators).
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static float Dot256(float* a, float* b, int stride)
    {
        Vector256<float> a0 = Vector256<float>.Zero, a1 = a0, a2 = a0, a3 = a0;
        Vector256<float> h0 = a0, h1 = a0, h2 = a0, h3 = a0;
        int j = 0;
        for (; j + 64 <= stride; j += 64)
        {
            a0 = Fma(a + j, b + j, a0);
            h0 = Fma(a + j + 8, b + j + 8, h0);
            a1 = Fma(a + j + 16, b + j + 16, a1);
            h1 = Fma(a + j + 24, b + j + 24, h1);
            a2 = Fma(a + j + 32, b + j + 32, a2);
            h2 = Fma(a + j + 40, b + j + 40, h2);
            a3 = Fma(a + j + 48, b + j + 48, a3);
            h3 = Fma(a + j + 56, b + j + 56, h3);
        }

        if (j + 32 <= stride)
        {
            a0 = Fma(a + j, b + j, a0);
            h0 = Fma(a + j + 8, b + j + 8, h0);
            a1 = Fma(a + j + 16, b + j + 16, a1);
            h1 = Fma(a + j + 24, b + j + 24, h1);
            j += 32;
        }

        if (j < stride)
        {
            a2 = Fma(a + j, b + j, a2);
            h2 = Fma(a + j + 8, b + j + 8, h2);
        }

        return Sum(((a0 + a1) + (a2 + a3)) + ((h0 + h1) + (h2 + h3)));
    }
}
