using System.Buffers.Binary;
using Mmrag.Imaging;

namespace Mmrag.Clip.Tests.Preprocessing;

/// <summary>
/// The header reader OCR and the web loader share with the decoder (<see cref="ImageHeader"/>, in Mmrag.Abstractions):
/// tested here, beside the fixture images and the forged-image writers, against what the reference decoder sees.
/// </summary>
public sealed class ImageHeaderTests
{
    private static readonly byte[] TwoColours = [255, 0, 0, 0, 0, 255];

    private static byte[] Bmp(int width, int height)
    {
        var bytes = new byte[54];
        bytes[0] = (byte)'B';
        bytes[1] = (byte)'M';
        BinaryPrimitives.WriteInt32LittleEndian(bytes.AsSpan(14), 40);
        BinaryPrimitives.WriteInt32LittleEndian(bytes.AsSpan(18), width);
        BinaryPrimitives.WriteInt32LittleEndian(bytes.AsSpan(22), height);
        return bytes;
    }

    [Fact]
    public void Read_EveryFixtureImage_GivesTheReferenceDecoderSize()
    {
        foreach (var image in ImageManifest.All)
        {
            var header = ImageHeader.Read(image.ReadSource());

            Assert.NotNull(header);
            Assert.Equal((image.Name, image.Width, image.Height), (image.Name, header.Width, header.Height));
            Assert.Equal(image.Format, header.Format, StringComparer.OrdinalIgnoreCase);
        }
    }

    [Fact]
    public void Read_JpegWithStrayByteBeforeDqt_GivesTheFrameHeaderSizeLikeTheDecoder()
    {
        var jpeg = TestJpeg.WithStrayByteBeforeDqt(TestJpeg.ClaimingSize(9000, 9000));

        var header = ImageHeader.Read(jpeg);

        Assert.Equal(("JPEG", 9000, 9000), (header?.Format, header?.Width, header?.Height));
        Assert.Equal(81_000_000, header!.CanvasPixels);
    }

    [Fact]
    public void Read_GifFirstFrameLargerThanItsLogicalScreen_CanvasIsTheFrame()
    {
        var gif = TestGif.Encode(1, 1, TwoColours, new TestGif.Frame(0, 0, 9000, 9000, [1]));

        var header = ImageHeader.Read(gif);

        Assert.Equal((9000, 9000, 1), (header?.Width, header?.Height, header?.FrameCount));
        Assert.Equal(81_000_000, header!.CanvasPixels);
    }

    [Fact]
    public void Read_GifLaterFrameLargerThanItsLogicalScreen_CanvasGrowsToThatFrame()
    {
        var gif = TestGif.Encode(2, 2, TwoColours,
            new TestGif.Frame(0, 0, 2, 2, [0, 1, 1, 0]) { LocalPalette = TwoColours },
            new TestGif.Frame(100, 100, 8000, 8000, [1]) { TransparentIndex = 0 });

        var header = ImageHeader.Read(gif);

        Assert.Equal((2, 2, 2), (header?.Width, header?.Height, header?.FrameCount));
        Assert.Equal((8100, 8100), (header!.CanvasWidth, header.CanvasHeight));
        Assert.Equal(8100L * 8100, header.CanvasPixels);
    }

    [Fact]
    public void Read_GifCutInsideItsSecondFrame_KeepsTheFramesSeen()
    {
        var gif = TestGif.Encode(4, 4, TwoColours,
            new TestGif.Frame(0, 0, 4, 4, new byte[16]),
            new TestGif.Frame(0, 0, 4, 4, new byte[16]));

        var header = ImageHeader.Read(gif.AsSpan(0, gif.Length - 6));

        Assert.Equal((4, 4), (header?.Width, header?.Height));
        Assert.Null(ImageHeader.Read(gif.AsSpan(0, 16)));
    }

    [Fact]
    public void Read_BmpStoredTopDown_HasThePositiveHeight()
    {
        var header = ImageHeader.Read(Bmp(640, -480));

        Assert.Equal(("BMP", 640, 480), (header?.Format, header?.Width, header?.Height));
    }

    [Theory]
    [InlineData(640, int.MinValue)]
    [InlineData(0, 480)]
    [InlineData(-5, 480)]
    public void Read_ForgedBmpHeader_IsNoSizeInsteadOfAnOverflow(int width, int height)
    {
        Assert.Null(ImageHeader.Read(Bmp(width, height)));
    }

    [Fact]
    public void Read_NotAnImage_IsNull()
    {
        Assert.Null(ImageHeader.Read("not an image at all"u8));
        Assert.Null(ImageHeader.Read([0xFF, 0xD8, 0xFF, 0xD9]));
    }
}
