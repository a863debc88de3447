using System.Text.RegularExpressions;

namespace Mmrag.Ingestion.Ocr;

/// <summary>How <see cref="TesseractOcr"/> runs Tesseract. Validated when an OCR reader is created.</summary>
public sealed partial record TesseractOcrOptions
{
    /// <summary>The install hint every "Tesseract is missing" message carries.</summary>
    public const string InstallHint = "OCR needs Tesseract: apt-get install tesseract-ocr tesseract-ocr-eng";

    /// <summary>The Tesseract executable: a name looked up on PATH, or a full path.</summary>
    public string ExecutablePath { get; init; } = "tesseract";

    /// <summary>Tesseract's languages, joined with <c>+</c> as on its command line (<c>eng</c>, <c>eng+deu</c>).</summary>
    public string Languages { get; init; } = "eng";

    /// <summary>Longest time one image may take; Tesseract is killed past it and the image keeps no OCR text.</summary>
    public TimeSpan Timeout { get; init; } = TimeSpan.FromMinutes(1);

    /// <summary>Most characters of text kept from one image; the rest of Tesseract's output is read and dropped.</summary>
    public int MaxOutputChars { get; init; } = 200_000;

    /// <summary>Largest image passed to Tesseract, in pixels (width × height, read from the image's header).</summary>
    public long MaxImagePixels { get; init; } = 100_000_000;

    /// <summary>
    /// Most Tesseract processes run at once in an ingestion run, over the images of one document (the pages of a scanned
    /// PDF) and over files loaded side by side (<see cref="Pipeline.IngestionOptions.ParallelLoads"/>), one core each. One
    /// per core by default: OCR takes about nine tenths of an ingest that uses it, so it gets the cores, and embedding
    /// takes its turn on them.
    /// </summary>
    public int MaxParallelism { get; init; } = Math.Max(1, Environment.ProcessorCount);

    /// <summary>The languages as a list.</summary>
    public IReadOnlyList<string> LanguageList => Languages.Split('+');

    /// <summary>Throws when a setting is out of range; the message names it.</summary>
    public void Validate()
    {
        if (string.IsNullOrWhiteSpace(ExecutablePath))
        {
            throw new ArgumentException("TesseractOcrOptions.ExecutablePath must not be blank.", nameof(ExecutablePath));
        }

        if (Languages is null || !LanguagePattern().IsMatch(Languages))
        {
            throw new ArgumentException(
                $"TesseractOcrOptions.Languages '{Languages}' is not a list of Tesseract language names joined with '+' (e.g. 'eng' or 'eng+deu').",
                nameof(Languages));
        }

        if (Timeout <= TimeSpan.Zero)
        {
            throw new ArgumentOutOfRangeException(nameof(Timeout), Timeout, "TesseractOcrOptions.Timeout must be positive.");
        }

        if (MaxOutputChars < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(MaxOutputChars), MaxOutputChars, "TesseractOcrOptions.MaxOutputChars must be positive.");
        }

        if (MaxParallelism < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(MaxParallelism), MaxParallelism, "TesseractOcrOptions.MaxParallelism must be at least 1.");
        }

        if (MaxImagePixels < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(MaxImagePixels), MaxImagePixels, "TesseractOcrOptions.MaxImagePixels must be positive.");
        }
    }

    // Tesseract's traineddata names: letters, digits, underscores (chi_sim, script/Latin is not supported here).
    [GeneratedRegex("^[A-Za-z0-9_]{1,32}(\\+[A-Za-z0-9_]{1,32}){0,15}$")]
    private static partial Regex LanguagePattern();
}
