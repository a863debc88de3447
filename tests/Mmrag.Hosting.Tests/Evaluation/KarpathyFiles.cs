using System.Text.Json;
using System.Text.Json.Nodes;

namespace Mmrag.Testing;

/// <summary>
/// Writes small Karpathy-split caption files (the <c>dataset_flickr30k.json</c> / <c>dataset_coco.json</c> format) with
/// their images, for <c>mmrag eval --dataset</c> tests: test images copied from the CLIP fixtures, five captions each,
/// and train / val / restval entries whose images do not exist (they must be skipped).
/// </summary>
internal sealed class KarpathyFiles : IDisposable
{
    public KarpathyFiles()
    {
        Directory.CreateDirectory(Images);
    }

    public string Root { get; } = Path.Combine(Path.GetTempPath(), "mmrag-karpathy-" + Guid.NewGuid().ToString("N"));

    public string Images => Path.Combine(Root, "images");

    public string Annotations => Path.Combine(Root, "dataset.json");

    /// <summary>Distinct decodable fixture images (PNG and JPEG), in name order.</summary>
    public static IReadOnlyList<string> FixtureImages { get; } = [.. Directory.EnumerateFiles(Path.Combine(ClipFixtureLocator.Directory, "images"))
        .Where(static f => f.EndsWith(".png", StringComparison.OrdinalIgnoreCase) || f.EndsWith(".jpg", StringComparison.OrdinalIgnoreCase))
        .Where(static f => !Path.GetFileName(f).StartsWith("pixel_", StringComparison.Ordinal))
        .Order(StringComparer.Ordinal)];

    /// <summary>An entry: <c>{"filename", "filepath"?, "split", "imgid", "sentences": [{"raw", "tokens", "sentid"}], "sentids"}</c>.</summary>
    public static JsonObject Entry(int imgid, string filename, string split, IEnumerable<string> captions, string? filepath = null)
    {
        var sentences = new JsonArray();
        var ids = new JsonArray();
        var sentid = imgid * 10;
        foreach (var caption in captions)
        {
            sentences.Add(new JsonObject
            {
                ["tokens"] = new JsonArray([.. caption.ToLowerInvariant().Split(' ').Select(static t => (JsonNode)JsonValue.Create(t.Trim('.'))!)]),
                ["raw"] = caption,
                ["imgid"] = imgid,
                ["sentid"] = sentid,
            });
            ids.Add(sentid++);
        }

        var entry = new JsonObject { ["filename"] = filename };
        if (filepath is not null)
        {
            entry["filepath"] = filepath;
        }

        entry["imgid"] = imgid;
        entry["sentences"] = sentences;
        entry["split"] = split;
        entry["sentids"] = ids;
        return entry;
    }

    /// <summary>Five distinct captions of test image <paramref name="n"/>.</summary>
    public static IEnumerable<string> Captions(int n) =>
        Enumerable.Range(1, 5).Select(i => $"Picture {n} seen for the {i} time: a small thing on a plain background.");

    /// <summary>
    /// <paramref name="testImages"/> fixture images as the test split (copied into <see cref="Images"/>, under
    /// <paramref name="filepath"/> when given), each with five captions, and train, val and restval entries naming
    /// images that do not exist; the test entries are interleaved with them. Returns the entries for further changes.
    /// </summary>
    public JsonArray WriteSplit(int testImages, string dataset = "flickr30k", string? filepath = null)
    {
        var entries = new JsonArray();
        var folder = filepath is null ? Images : Path.Combine(Images, filepath);
        Directory.CreateDirectory(folder);
        for (var n = 0; n < testImages; n++)
        {
            var source = FixtureImages[n];
            var name = $"{1000 + n}{Path.GetExtension(source)}";
            File.Copy(source, Path.Combine(folder, name), overwrite: true);
            entries.Add(Entry(n, name, "test", Captions(n), filepath));
            if (n % 3 == 0)
            {
                entries.Add(Entry(100 + n, $"missing-train-{n}.jpg", n % 2 == 0 ? "train" : "restval", ["A train caption."], filepath));
            }
        }

        entries.Add(Entry(200, "missing-val.jpg", "val", ["A val caption."], filepath));
        Write(entries, dataset);
        return entries;
    }

    /// <summary><see cref="WriteSplit"/> of <paramref name="testImages"/> images, then <paramref name="extra"/> as the last entry.</summary>
    public void WriteSplitWith(int testImages, JsonObject extra)
    {
        var entries = WriteSplit(testImages);
        entries.Add(extra);
        Write(entries);
    }

    /// <summary>Writes <paramref name="entries"/> as the annotations file.</summary>
    public void Write(JsonArray entries, string dataset = "flickr30k") =>
        File.WriteAllText(Annotations, new JsonObject { ["images"] = entries.DeepClone(), ["dataset"] = dataset }.ToJsonString(new JsonSerializerOptions { WriteIndented = false }));

    public void Dispose()
    {
        try
        {
            Directory.Delete(Root, recursive: true);
        }
        catch (IOException)
        {
            // Best effort.
        }
    }
}
