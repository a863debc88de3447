namespace Mmrag.Answering.Images;

/// <summary>A JPEG ready to send, with its pixel size.</summary>
/// <param name="Jpeg">The encoded bytes.</param>
/// <param name="Width">Width in pixels.</param>
/// <param name="Height">Height in pixels.</param>
public sealed record EncodedImage(byte[] Jpeg, int Width, int Height)
{
    /// <summary>Width × height.</summary>
    public long Pixels => (long)Width * Height;
}

/// <summary>Re-encodes an image as JPEG, downscaled so its longest side is at most a given size (never upscaled). Thread-safe.</summary>
public interface IImageReencoder
{
    /// <summary>Decodes <paramref name="image"/> (any common format) and re-encodes it.</summary>
    /// <exception cref="InvalidDataException">The bytes are not a decodable image.</exception>
    EncodedImage Reencode(ReadOnlyMemory<byte> image, int maxSide, int quality);
}
