using SkiaSharp;

namespace Mmrag.Ingestion.Tests.Support;

/// <summary>PNGs drawn by the tests: a size and a colour, with a diagonal stripe so that two colours never encode alike.</summary>
internal static class GeneratedPngs
{
    public static byte[] Create(int width, int height, SKColor color)
    {
        using var bitmap = new SKBitmap(width, height);
        using (var canvas = new SKCanvas(bitmap))
        {
            canvas.Clear(color);
            using var paint = new SKPaint { Color = SKColors.White, StrokeWidth = Math.Max(1, width / 10f) };
            canvas.DrawLine(0, 0, width, height, paint);
        }

        using var image = SKImage.FromBitmap(bitmap);
        using var data = image.Encode(SKEncodedImageFormat.Png, 100);
        return data.ToArray();
    }
}
