using System.Text.Json;
using System.Text.Json.Serialization;

namespace Mmrag.Clip.Tests.Preprocessing;

/// <summary>The per-image expectations of <c>images_manifest.json</c> (see the fixtures README).</summary>
internal static class ImageManifest
{
    private static readonly Lazy<IReadOnlyDictionary<string, ManifestImage>> Images = new(Load);

    public static ManifestImage Get(string name) => Images.Value[name];

    public static IEnumerable<ManifestImage> All => Images.Value.Values;

    public static TheoryData<string> Names(Func<ManifestImage, bool> predicate)
    {
        var data = new TheoryData<string>();
        foreach (var image in All.Where(predicate))
        {
            data.Add(image.Name);
        }

        return data;
    }

    public static byte[] ReadSource(this ManifestImage image) => File.ReadAllBytes(ClipFixtures.PathOf(image.File));

    public static byte[] ReadFixture(string relative) => File.ReadAllBytes(ClipFixtures.PathOf(relative));

    private static IReadOnlyDictionary<string, ManifestImage> Load()
    {
        var json = File.ReadAllText(ClipFixtures.PathOf("images_manifest.json"));
        var options = new JsonSerializerOptions { PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower };
        var manifest = JsonSerializer.Deserialize<ManifestFile>(json, options)
            ?? throw new InvalidDataException("images_manifest.json is empty.");
        return manifest.Images.ToDictionary(i => i.Name);
    }

    private sealed record ManifestFile(IReadOnlyList<ManifestImage> Images);
}

internal sealed record ManifestImage(
    string Name,
    string File,
    string Format,
    string PilMode,
    int Width,
    int Height,
    int ResizedWidth,
    int ResizedHeight,
    int CropLeft,
    int CropTop,
    string DecodedRgbSha256,
    IReadOnlyList<double> DecodedRgbMean,
    bool LossySource,
    string? Quirk,
    string CropU8,
    string? PixelValues,
    AltExifTransposed? AltExifTransposed,
    [property: JsonPropertyName("alt_scaled_16bit")] AltScaled16Bit? AltScaled16Bit);

internal sealed record AltExifTransposed(int Width, int Height, int ResizedWidth, int ResizedHeight, int CropLeft, int CropTop, string CropU8);

internal sealed record AltScaled16Bit(string CropU8);
