namespace Mmrag.Ingestion.Loaders;

/// <summary>The raster formats the CLIP image decoder reads, recognised by their magic bytes rather than their file names.</summary>
internal static class ImageFormats
{
    public const string Jpeg = "image/jpeg";
    public const string Png = "image/png";
    public const string Gif = "image/gif";
    public const string Bmp = "image/bmp";
    public const string WebP = "image/webp";

    private static readonly HashSet<string> ExtensionSet = new(StringComparer.OrdinalIgnoreCase) { ".jpg", ".jpeg", ".png", ".webp", ".gif", ".bmp" };

    public static IReadOnlySet<string> Extensions => ExtensionSet;

    public static bool HasImageExtension(string path) => ExtensionSet.Contains(Path.GetExtension(path));

    /// <summary>The media type the bytes start like, or null when they are none of JPEG, PNG, GIF, BMP, WebP.</summary>
    public static string? Sniff(ReadOnlySpan<byte> bytes)
    {
        if (bytes.Length >= 3 && bytes[0] == 0xFF && bytes[1] == 0xD8 && bytes[2] == 0xFF)
        {
            return Jpeg;
        }

        if (bytes.StartsWith((ReadOnlySpan<byte>)[0x89, (byte)'P', (byte)'N', (byte)'G', 0x0D, 0x0A, 0x1A, 0x0A]))
        {
            return Png;
        }

        if (bytes.StartsWith("GIF87a"u8) || bytes.StartsWith("GIF89a"u8))
        {
            return Gif;
        }

        if (bytes.Length >= 12 && bytes.StartsWith("RIFF"u8) && bytes.Slice(8, 4).SequenceEqual("WEBP"u8))
        {
            return WebP;
        }

        // "BM" alone is a weak signature: also require the header size field of a BITMAPINFOHEADER family member.
        if (bytes.Length >= 18 && bytes[0] == (byte)'B' && bytes[1] == (byte)'M')
        {
            var headerSize = BitConverter.ToUInt32(bytes.Slice(14, 4));
            if (headerSize is 12 or 16 or 40 or 52 or 56 or 64 or 108 or 124)
            {
                return Bmp;
            }
        }

        return null;
    }

    /// <summary>The usual file extension for a media type returned by <see cref="Sniff"/>.</summary>
    public static string ExtensionOf(string mediaType) => mediaType switch
    {
        Jpeg => ".jpg",
        Png => ".png",
        Gif => ".gif",
        Bmp => ".bmp",
        WebP => ".webp",
        _ => ".bin",
    };
}
