using SkiaSharp;

namespace Mmrag.Ingestion.Tests.Support;

/// <summary>
/// Images of printed text drawn by the tests with SkiaSharp from Debian's fonts (Liberation, DejaVu): plain pages, a
/// photo-like noisy background, a rotated line. Seeded, so each rendering is the same every run.
/// </summary>
internal static class TextRenderings
{
    public const string Serif = "/usr/share/fonts/truetype/liberation/LiberationSerif-Regular.ttf";
    public const string Sans = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf";
    public const string MonoBold = "/usr/share/fonts/truetype/liberation/LiberationMono-Bold.ttf";

    public static IReadOnlyList<string> Fonts { get; } = [Serif, Sans, MonoBold];

    /// <summary>The lines drawn in <paramref name="font"/> at <paramref name="size"/> px, as PNG.</summary>
    /// <param name="lines">The text, one line each.</param>
    /// <param name="font">A TrueType file.</param>
    /// <param name="size">Text size in pixels.</param>
    /// <param name="photo">Draw over a photo-like background (gradient, soft blobs, pixel noise) instead of white paper.</param>
    /// <param name="rotateDegrees">Rotate the whole text block by this much around the image centre.</param>
    public static byte[] Png(IReadOnlyList<string> lines, string font, float size, bool photo = false, float rotateDegrees = 0)
    {
        using var typeface = SKTypeface.FromFile(font) ?? throw new InvalidOperationException($"Font '{font}' cannot be loaded.");
        using var skFont = new SKFont(typeface, size);
        var lineHeight = size * 1.5f;
        var width = (int)Math.Ceiling(lines.Max(line => skFont.MeasureText(line)) + 2 * size * 2);
        // Room for the ends of the rotated lines, which would otherwise leave the image.
        var tilt = (float)Math.Abs(width * Math.Sin(rotateDegrees * Math.PI / 180));
        var height = (int)Math.Ceiling(lines.Count * lineHeight + 2 * size * 2 + tilt);
        var info = new SKImageInfo(width, height, SKColorType.Rgba8888, SKAlphaType.Premul);
        using var surface = SKSurface.Create(info);
        var canvas = surface.Canvas;
        if (photo)
        {
            DrawPhoto(canvas, width, height);
        }
        else
        {
            canvas.Clear(SKColors.White);
        }

        canvas.Save();
        canvas.RotateDegrees(rotateDegrees, width / 2f, height / 2f);
        using var ink = new SKPaint { Color = photo ? new SKColor(10, 10, 30) : SKColors.Black, IsAntialias = true };
        for (var i = 0; i < lines.Count; i++)
        {
            canvas.DrawText(lines[i], size * 2, tilt / 2 + size * 2 + size + i * lineHeight, SKTextAlign.Left, skFont, ink);
        }

        canvas.Restore();
        using var image = surface.Snapshot();
        using var data = image.Encode(SKEncodedImageFormat.Png, 100);
        return data.ToArray();
    }

    /// <summary>A light sky-to-sand gradient with soft coloured blobs and per-pixel noise, like a washed-out photo.</summary>
    private static void DrawPhoto(SKCanvas canvas, int width, int height)
    {
        var random = new Random(20260101);
        using (var gradient = new SKPaint())
        {
            gradient.Shader = SKShader.CreateLinearGradient(new SKPoint(0, 0), new SKPoint(width, height),
                [new SKColor(200, 220, 240), new SKColor(235, 215, 180)], SKShaderTileMode.Clamp);
            canvas.DrawRect(0, 0, width, height, gradient);
        }

        using var blob = new SKPaint { IsAntialias = true, MaskFilter = SKMaskFilter.CreateBlur(SKBlurStyle.Normal, 12) };
        for (var i = 0; i < 25; i++)
        {
            blob.Color = new SKColor((byte)random.Next(140, 240), (byte)random.Next(140, 240), (byte)random.Next(140, 240), 120);
            canvas.DrawCircle(random.Next(width), random.Next(height), random.Next(10, Math.Max(11, height / 3)), blob);
        }

        using var speck = new SKPaint();
        for (var i = 0; i < width * height / 12; i++)
        {
            var grey = (byte)random.Next(100, 256);
            speck.Color = new SKColor(grey, grey, grey, 70);
            canvas.DrawPoint(random.Next(width), random.Next(height), speck);
        }
    }

    /// <summary>Edit distance over <paramref name="reference"/>'s length, after collapsing runs of white space to one space.</summary>
    public static double CharacterErrorRate(string recognized, string reference)
    {
        var a = Collapse(recognized);
        var b = Collapse(reference);
        var previous = new int[b.Length + 1];
        var current = new int[b.Length + 1];
        for (var j = 0; j <= b.Length; j++)
        {
            previous[j] = j;
        }

        for (var i = 1; i <= a.Length; i++)
        {
            current[0] = i;
            for (var j = 1; j <= b.Length; j++)
            {
                current[j] = Math.Min(Math.Min(current[j - 1] + 1, previous[j] + 1), previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1));
            }

            (previous, current) = (current, previous);
        }

        return (double)previous[b.Length] / b.Length;
    }

    private static string Collapse(string text) => string.Join(' ', text.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries));
}
