using System.Text.RegularExpressions;

namespace Mmrag.Ingestion.Loaders;

/// <summary>An image a document refers to, read into memory.</summary>
/// <param name="Bytes">Encoded image.</param>
/// <param name="MediaType">Sniffed media type.</param>
/// <param name="Path">The local file, or null for an image embedded in the document (data: URI).</param>
internal sealed record ResolvedImage(ReadOnlyMemory<byte> Bytes, string MediaType, string? Path)
{
    /// <summary>A description to store with the image (e.g. a downloaded image's licence and attribution).</summary>
    public string? Description { get; init; }
}

/// <summary>
/// Resolves the image references of Markdown and HTML documents (<c>![alt](src)</c>, <c>&lt;img src&gt;</c>):
/// remote URLs are ignored, <c>data:</c> URIs decoded, and local paths (relative to the document, URL-decoded) read
/// only when they stay inside the ingested root. Missing, escaping and unreadable images become failures of the
/// document; the rest of the document is still read.
/// </summary>
internal static partial class ImageReferences
{
    public static async Task<ResolvedImage?> ReadAsync(string reference, DocumentBuilder builder, DocumentLoadContext context,
        CancellationToken cancellationToken)
    {
        var trimmed = reference.Trim();
        if (trimmed.Length == 0 || trimmed.StartsWith('#'))
        {
            return null;
        }

        var detail = $"image '{Shorten(trimmed)}'";
        if (trimmed.StartsWith("data:", StringComparison.OrdinalIgnoreCase))
        {
            return FromDataUri(trimmed, builder, detail);
        }

        string local;
        if (trimmed.StartsWith("file:", StringComparison.OrdinalIgnoreCase))
        {
            if (!Uri.TryCreate(trimmed, UriKind.Absolute, out var fileUri) || !fileUri.IsFile)
            {
                builder.AddFailure("The image reference is not a valid file URI.", detail);
                return null;
            }

            local = fileUri.LocalPath;
        }
        else if (trimmed.StartsWith("//", StringComparison.Ordinal) || (UriScheme().IsMatch(trimmed) && !LooksLikeDrivePath(trimmed)))
        {
            // http(s), ftp, mailto …: not a local file, nothing to read.
            return null;
        }
        else
        {
            var withoutFragment = trimmed.Split('#', 2)[0].Split('?', 2)[0];
            string decoded;
            try
            {
                decoded = Uri.UnescapeDataString(withoutFragment);
            }
            catch (UriFormatException)
            {
                decoded = withoutFragment;
            }

            if (!OperatingSystem.IsWindows())
            {
                decoded = decoded.Replace('\\', '/');
            }

            var folder = Path.GetDirectoryName(builder.SourcePath) ?? context.Root;
            local = Path.Combine(folder, decoded);
        }

        string full;
        try
        {
            full = Path.GetFullPath(local);
        }
        catch (Exception ex) when (ex is ArgumentException or NotSupportedException or PathTooLongException)
        {
            builder.AddFailure("The image reference is not a valid path.", detail);
            return null;
        }

        if (!PathGuard.IsContained(local, context.Root))
        {
            builder.AddFailure($"The image is outside the ingested folder '{context.Root}'; it was not read.", detail);
            return null;
        }

        if (!File.Exists(full))
        {
            builder.AddFailure($"The image file '{full}' does not exist.", detail);
            return null;
        }

        byte[] bytes;
        try
        {
            bytes = await LoaderFiles.ReadAsync(full, context.MaxFileBytes, cancellationToken).ConfigureAwait(false);
        }
        catch (DocumentLoadException ex)
        {
            builder.AddFailure(ex.Message, detail);
            return null;
        }

        var mediaType = ImageFormats.Sniff(bytes);
        if (mediaType is null)
        {
            // Vector images (SVG) are common in saved web pages and simply not something CLIP can read.
            if (!full.EndsWith(".svg", StringComparison.OrdinalIgnoreCase))
            {
                builder.AddFailure($"'{full}' is not a JPEG, PNG, WebP, GIF or BMP image.", detail);
            }

            return null;
        }

        return new ResolvedImage(bytes, mediaType, full);
    }

    private static ResolvedImage? FromDataUri(string uri, DocumentBuilder builder, string detail)
    {
        var comma = uri.IndexOf(',', StringComparison.Ordinal);
        if (comma < 0)
        {
            builder.AddFailure("Malformed data: URI.", detail);
            return null;
        }

        var header = uri[5..comma];
        if (!header.EndsWith(";base64", StringComparison.OrdinalIgnoreCase))
        {
            // Percent-encoded data URIs hold SVG in practice.
            return null;
        }

        byte[] bytes;
        try
        {
            bytes = Convert.FromBase64String(uri[(comma + 1)..].Trim());
        }
        catch (FormatException)
        {
            builder.AddFailure("The data: URI is not valid base64.", detail);
            return null;
        }

        var mediaType = ImageFormats.Sniff(bytes);
        if (mediaType is null)
        {
            if (!header.StartsWith("image/svg", StringComparison.OrdinalIgnoreCase))
            {
                builder.AddFailure("The data: URI is not a JPEG, PNG, WebP, GIF or BMP image.", detail);
            }

            return null;
        }

        return new ResolvedImage(bytes, mediaType, null);
    }

    private static bool LooksLikeDrivePath(string reference) =>
        OperatingSystem.IsWindows() && reference.Length >= 2 && char.IsAsciiLetter(reference[0]) && reference[1] == ':';

    private static string Shorten(string reference) => reference.Length <= 120 ? reference : reference[..117] + "...";

    [GeneratedRegex("^[A-Za-z][A-Za-z0-9+.-]*:")]
    private static partial Regex UriScheme();
}
