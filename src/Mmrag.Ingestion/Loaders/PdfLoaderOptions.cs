namespace Mmrag.Ingestion.Loaders;

/// <summary>Settings of <see cref="PdfLoader"/>.</summary>
public sealed record PdfLoaderOptions
{
    /// <summary>
    /// Longest time one step (opening the file, reading one page) may take before the file is given up as malformed.
    /// PdfPig cannot be interrupted, so a step that overruns is abandoned on a worker thread and the file fails.
    /// </summary>
    public TimeSpan StepTimeout { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>Embedded images narrower or lower than this many pixels (rules, bullets, spacers) are skipped.</summary>
    public int MinImageSide { get; init; } = 16;

    /// <summary>Most characters of page text kept as an image's nearby (keyword) text.</summary>
    public int NearbyTextLength { get; init; } = 200;

    /// <summary>Throws when a setting is out of range; the message names it.</summary>
    public void Validate()
    {
        if (StepTimeout <= TimeSpan.Zero)
        {
            throw new ArgumentOutOfRangeException(nameof(StepTimeout), StepTimeout, "PdfLoaderOptions.StepTimeout must be positive.");
        }

        if (MinImageSide < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(MinImageSide), MinImageSide, "PdfLoaderOptions.MinImageSide must be at least 1.");
        }

        if (NearbyTextLength < 0)
        {
            throw new ArgumentOutOfRangeException(nameof(NearbyTextLength), NearbyTextLength, "PdfLoaderOptions.NearbyTextLength must not be negative.");
        }
    }
}
