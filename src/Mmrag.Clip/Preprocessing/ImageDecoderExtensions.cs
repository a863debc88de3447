namespace Mmrag.Clip.Preprocessing;

/// <summary>Conveniences over <see cref="IImageDecoder"/>.</summary>
public static class ImageDecoderExtensions
{
    /// <summary>
    /// Reads and decodes the image file at <paramref name="path"/>. Any failure, including a missing or
    /// unreadable file, is an <see cref="ImageDecodeException"/> whose message names the file.
    /// </summary>
    public static RgbImage DecodeFile(this IImageDecoder decoder, string path, ImageDecodeOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(decoder);
        ArgumentException.ThrowIfNullOrEmpty(path);

        byte[] bytes;
        try
        {
            bytes = File.ReadAllBytes(path);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or NotSupportedException)
        {
            throw new ImageDecodeException($"Cannot read image file '{path}': {ex.Message}", ex);
        }

        try
        {
            return decoder.Decode(bytes, options);
        }
        catch (ImageDecodeException ex)
        {
            throw new ImageDecodeException($"Cannot decode image file '{path}': {ex.Message}", ex);
        }
    }
}
