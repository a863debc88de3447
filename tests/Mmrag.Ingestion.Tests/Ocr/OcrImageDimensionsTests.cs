using System.Buffers.Binary;
using Mmrag.Ingestion.Ocr;

namespace Mmrag.Ingestion.Tests.Ocr;

public sealed class OcrImageDimensionsTests
{
    private static byte[] Bmp(int width, int height)
    {
        var bytes = new byte[54];
        bytes[0] = (byte)'B';
        bytes[1] = (byte)'M';
        BinaryPrimitives.WriteInt32LittleEndian(bytes.AsSpan(18), width);
        BinaryPrimitives.WriteInt32LittleEndian(bytes.AsSpan(22), height);
        return bytes;
    }

    [Fact]
    public void Read_BmpStoredTopDown_HasThePositiveHeight()
    {
        Assert.Equal((640, 480), ImageDimensions.Read(Bmp(640, -480)));
    }

    [Theory]
    [InlineData(640, int.MinValue)]
    [InlineData(0, 480)]
    [InlineData(-5, 480)]
    public void Read_ForgedBmpHeader_IsNoSizeInsteadOfAnOverflow(int width, int height)
    {
        Assert.Null(ImageDimensions.Read(Bmp(width, height)));
    }
}
