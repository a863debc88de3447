using Mmrag.Knowledge;

namespace Mmrag.Storage.ContractTests;

/// <summary>Seeded test data for the contract suite: documents, items, unit vectors, and brute-force references.</summary>
public static class ContractData
{
    /// <summary>A fixed time with whole milliseconds (every backend keeps at least microseconds).</summary>
    public static readonly DateTimeOffset Time = new(2024, 5, 1, 12, 30, 15, 123, TimeSpan.FromHours(2));

    /// <summary>A random unit vector.</summary>
    public static float[] UnitVector(Random random, int dimension)
    {
        var v = new float[dimension];
        Gaussian(random, v, 1);
        Normalize(v);
        return v;
    }

    /// <summary><paramref name="count"/> unit vectors around <paramref name="clusters"/> random centres (like embeddings).</summary>
    public static float[][] ClusteredVectors(int count, int dimension, int clusters, int seed, float spread = 0.7f)
    {
        var random = new Random(seed);
        float[][] centres = Enumerable.Range(0, clusters).Select(_ => UnitVector(random, dimension)).ToArray();
        var vectors = new float[count][];
        for (int i = 0; i < count; i++)
        {
            var v = new float[dimension];
            Gaussian(random, v, spread / MathF.Sqrt(dimension));
            float[] centre = centres[random.Next(clusters)];
            for (int j = 0; j < dimension; j++)
            {
                v[j] += centre[j];
            }

            Normalize(v);
            vectors[i] = v;
        }

        return vectors;
    }

    /// <summary>A vector close to <paramref name="vector"/> (cosine about 1 - noise²/2).</summary>
    public static float[] Near(float[] vector, Random random, float noise = 0.05f)
    {
        var v = (float[])vector.Clone();
        for (int j = 0; j < v.Length; j++)
        {
            v[j] += noise * (float)(random.NextDouble() - 0.5) * 2 / MathF.Sqrt(v.Length);
        }

        Normalize(v);
        return v;
    }

    public static DocumentRecord Document(string id, string? sourcePath = null, string? title = null, IReadOnlyList<string>? tags = null,
        int itemCount = 0, string mediaType = "text/plain") =>
        new(id, sourcePath ?? $"/kb/{id}.txt", $"hash-of-{id}", mediaType, title, itemCount, Time) { Tags = tags ?? [] };

    public static KnowledgeItem Item(DocumentRecord document, int position, float[] vector, string text = "", ItemKind kind = ItemKind.TextChunk,
        IReadOnlyList<string>? tags = null, string? contentHash = null, string? id = null, string? description = null, string? caption = null,
        string? section = null, int? page = null, string? imagePath = null) =>
        new()
        {
            Id = id ?? $"{document.Id}#{position}",
            DocumentId = document.Id,
            Kind = kind,
            ContentHash = contentHash ?? $"c-{document.Id}-{position}",
            Text = text,
            Description = description,
            ImagePath = imagePath,
            Provenance = new Provenance(document.SourcePath, document.Title, page, section, caption, position),
            Vector = vector,
            Tags = tags ?? [],
        };

    /// <summary>Inner product in double precision.</summary>
    public static double Dot(ReadOnlySpan<float> a, ReadOnlySpan<float> b)
    {
        double s = 0;
        for (int i = 0; i < a.Length; i++)
        {
            s += (double)a[i] * b[i];
        }

        return s;
    }

    /// <summary>The ids of the top <paramref name="k"/> items by inner product with <paramref name="query"/> among those passing <paramref name="filter"/>.</summary>
    public static string[] BruteForceTopK(IEnumerable<KnowledgeItem> items, float[] query, int k, SearchFilter? filter = null) =>
        items.Where(i => filter is null || filter.Matches(i))
            .Select(i => (i.Id, Score: Dot(query, i.Vector.Span)))
            .OrderByDescending(x => x.Score).ThenBy(x => x.Id, StringComparer.Ordinal)
            .Take(k).Select(x => x.Id).ToArray();

    /// <summary>Asserts that two items are equal field by field (vectors within a tolerance).</summary>
    public static void AssertSameItem(KnowledgeItem expected, KnowledgeItem? actual, bool compareVectors = true)
    {
        Assert.NotNull(actual);
        Assert.Equal(expected.Id, actual.Id);
        Assert.Equal(expected.DocumentId, actual.DocumentId);
        Assert.Equal(expected.Kind, actual.Kind);
        Assert.Equal(expected.ContentHash, actual.ContentHash);
        Assert.Equal(expected.Text, actual.Text);
        Assert.Equal(expected.Description, actual.Description);
        Assert.Equal(expected.ImagePath, actual.ImagePath);
        Assert.Equal(expected.Provenance, actual.Provenance);
        Assert.Equal(expected.Tags, actual.Tags);
        if (compareVectors)
        {
            AssertVectorsClose(expected.Vector.Span, actual.Vector.Span);
        }
    }

    public static void AssertVectorsClose(ReadOnlySpan<float> expected, ReadOnlySpan<float> actual, float tolerance = 1e-5f)
    {
        Assert.Equal(expected.Length, actual.Length);
        for (int i = 0; i < expected.Length; i++)
        {
            Assert.True(MathF.Abs(expected[i] - actual[i]) <= tolerance, $"Component {i}: expected {expected[i]}, got {actual[i]}.");
        }
    }

    public static void AssertSameDocument(DocumentRecord expected, DocumentRecord? actual, int expectedItemCount)
    {
        Assert.NotNull(actual);
        Assert.Equal(expected.Id, actual.Id);
        Assert.Equal(expected.SourcePath, actual.SourcePath);
        Assert.Equal(expected.ContentHash, actual.ContentHash);
        Assert.Equal(expected.MediaType, actual.MediaType);
        Assert.Equal(expected.Title, actual.Title);
        Assert.Equal(expectedItemCount, actual.ItemCount);
        Assert.Equal(expected.IngestedAt, actual.IngestedAt);
        Assert.Equal(expected.Tags, actual.Tags);
    }

    private static void Gaussian(Random random, float[] v, float sigma)
    {
        for (int i = 0; i < v.Length; i++)
        {
            double u1 = 1.0 - random.NextDouble();
            double u2 = random.NextDouble();
            v[i] = sigma * (float)(Math.Sqrt(-2.0 * Math.Log(u1)) * Math.Cos(2 * Math.PI * u2));
        }
    }

    private static void Normalize(float[] v)
    {
        double norm = Math.Sqrt(Dot(v, v));
        for (int i = 0; i < v.Length; i++)
        {
            v[i] = (float)(v[i] / norm);
        }
    }
}
