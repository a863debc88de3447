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

    /// <summary>
    /// Scores three queries against two rows (<paramref name="scores"/> receives q0·r0, q0·r1, q1·r0, q1·r1, q2·r0, q2·r1),
    /// each pair accumulated exactly as <see cref="Dot512"/> does (block i into accumulator i mod 4, same tails, same
    /// final sums), so every score is bit-identical to a lone <see cref="Dot"/>: the batch kernel of the exact index.
    /// Each query block is loaded once for two rows and each row block once for three queries (24 accumulators).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Dot3x2x512(float* q0, float* q1, float* q2, float* r0, float* r1, int stride, float* scores)
    {
        Vector512<float> z = Vector512<float>.Zero;
        Vector512<float> c000 = z, c001 = z, c002 = z, c003 = z, c010 = z, c011 = z, c012 = z, c013 = z;
        Vector512<float> c100 = z, c101 = z, c102 = z, c103 = z, c110 = z, c111 = z, c112 = z, c113 = z;
        Vector512<float> c200 = z, c201 = z, c202 = z, c203 = z, c210 = z, c211 = z, c212 = z, c213 = z;
        int j = 0;
        for (; j + 64 <= stride; j += 64)
        {
            Fma3x2(q0, q1, q2, r0, r1, j, ref c000, ref c010, ref c100, ref c110, ref c200, ref c210);
            Fma3x2(q0, q1, q2, r0, r1, j + 16, ref c001, ref c011, ref c101, ref c111, ref c201, ref c211);
            Fma3x2(q0, q1, q2, r0, r1, j + 32, ref c002, ref c012, ref c102, ref c112, ref c202, ref c212);
            Fma3x2(q0, q1, q2, r0, r1, j + 48, ref c003, ref c013, ref c103, ref c113, ref c203, ref c213);
        }

        if (j + 32 <= stride)
        {
            Fma3x2(q0, q1, q2, r0, r1, j, ref c000, ref c010, ref c100, ref c110, ref c200, ref c210);
            Fma3x2(q0, q1, q2, r0, r1, j + 16, ref c001, ref c011, ref c101, ref c111, ref c201, ref c211);
            j += 32;
        }

        if (j < stride)
        {
            Fma3x2(q0, q1, q2, r0, r1, j, ref c002, ref c012, ref c102, ref c112, ref c202, ref c212);
        }

        scores[0] = Sum((c000 + c001) + (c002 + c003));
        scores[1] = Sum((c010 + c011) + (c012 + c013));
        scores[2] = Sum((c100 + c101) + (c102 + c103));
        scores[3] = Sum((c110 + c111) + (c112 + c113));
        scores[4] = Sum((c200 + c201) + (c202 + c203));
        scores[5] = Sum((c210 + c211) + (c212 + c213));
    }

    /// <summary>One 16-float block at offset <paramref name="j"/> of three queries times two rows into six accumulators.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Fma3x2(float* q0, float* q1, float* q2, float* r0, float* r1, int j,
        ref Vector512<float> c00, ref Vector512<float> c01, ref Vector512<float> c10, ref Vector512<float> c11, ref Vector512<float> c20, ref Vector512<float> c21)
    {
        Vector512<float> y0 = Vector512.Load(r0 + j);
        Vector512<float> y1 = Vector512.Load(r1 + j);
        Vector512<float> x = Vector512.Load(q0 + j);
        c00 = Vector512.MultiplyAddEstimate(x, y0, c00);
        c01 = Vector512.MultiplyAddEstimate(x, y1, c01);
        x = Vector512.Load(q1 + j);
        c10 = Vector512.MultiplyAddEstimate(x, y0, c10);
        c11 = Vector512.MultiplyAddEstimate(x, y1, c11);
        x = Vector512.Load(q2 + j);
        c20 = Vector512.MultiplyAddEstimate(x, y0, c20);
        c21 = Vector512.MultiplyAddEstimate(x, y1, c21);
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
