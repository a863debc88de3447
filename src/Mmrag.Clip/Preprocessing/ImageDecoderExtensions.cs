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
        var bytes = ReadImageFile(path);
        try
        {
            return decoder.Decode(bytes, options);
        }
        catch (ImageTooLargeException ex)
        {
            throw new ImageTooLargeException($"Image file '{path}': {ex.Message}", ex);
        }
        catch (ImageDecodeException ex)
        {
            throw new ImageDecodeException($"Cannot decode image file '{path}': {ex.Message}", ex);
        }
    }

    /// <summary>The bytes of an image file; a read failure is an <see cref="ImageDecodeException"/> naming the file.</summary>
    internal static byte[] ReadImageFile(string path)
    {
        try
        {
            return File.ReadAllBytes(path);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or NotSupportedException)
        {
            throw new ImageDecodeException($"Cannot read image file '{path}': {ex.Message}", ex);
        }
    }
}
