namespace Mmrag.Ingestion.Tests.Support;

/// <summary>
/// A test that runs Debian's Tesseract (<c>/usr/bin/tesseract</c> with English data) on renderings drawn with Debian's
/// fonts: skipped with a message on a machine without them, but run (and failing) when <c>CI=true</c>, so CI cannot
/// pass without OCR.
/// </summary>
public sealed class OcrFactAttribute : FactAttribute
{
    public OcrFactAttribute()
    {
        if (OcrTheoryAttribute.UnavailableReason is { } reason)
        {
            Skip = reason;
        }
    }
}

/// <summary>The theory form of <see cref="OcrFactAttribute"/>.</summary>
public sealed class OcrTheoryAttribute : TheoryAttribute
{
    public const string Tesseract = "/usr/bin/tesseract";

    public OcrTheoryAttribute()
    {
        if (UnavailableReason is { } reason)
        {
            Skip = reason;
        }
    }

    /// <summary>Why OCR tests cannot run here, or null (always null under <c>CI=true</c>).</summary>
    internal static string? UnavailableReason =>
        string.Equals(Environment.GetEnvironmentVariable("CI"), "true", StringComparison.OrdinalIgnoreCase) ? null
        : !File.Exists(Tesseract) || !File.Exists("/usr/share/tesseract-ocr/5/tessdata/eng.traineddata")
            ? "Tesseract not found: install it with 'apt-get install -y tesseract-ocr tesseract-ocr-eng' (in CI this test fails instead)."
        : TextRenderings.Fonts.FirstOrDefault(font => !File.Exists(font)) is { } missing
            ? $"Font '{missing}' not found: install fonts-liberation and fonts-dejavu-core (in CI this test fails instead)."
        : null;
}
