using System.ComponentModel;
using System.Diagnostics;
using System.Text;
using Mmrag.Imaging;
using Mmrag.Ingestion.Loaders;

namespace Mmrag.Ingestion.Ocr;

/// <summary>
/// Reads the text printed in an image with the Tesseract command line (<c>tesseract FILE stdout -l LANGS</c>), one
/// process per image. A process rather than the C API so that a crash or hang inside Tesseract cannot take the
/// ingester down: the process is killed at <see cref="TesseractOcrOptions.Timeout"/> or on cancellation, its output is
/// bounded, and there is no native binding to keep in step with Tesseract's versions. The input is passed as a file
/// path argument (never through a shell). Stateless apart from its options and thread-safe; images may be read in
/// parallel.
/// </summary>
public sealed class TesseractOcr
{
    private const int MaxErrorChars = 4_000;

    /// <summary>Creates a reader; <paramref name="options"/> are validated here.</summary>
    public TesseractOcr(TesseractOcrOptions? options = null)
    {
        Options = options ?? new TesseractOcrOptions();
        Options.Validate();
    }

    /// <summary>The options this reader runs with.</summary>
    public TesseractOcrOptions Options { get; }

    /// <summary>
    /// Checks that Tesseract runs and has data for every language of <see cref="TesseractOcrOptions.Languages"/>
    /// (<c>tesseract --list-langs</c>), so that a run fails at its start with one clear message rather than per image.
    /// </summary>
    /// <exception cref="OcrException">Tesseract is missing, fails, or lacks a language.</exception>
    public async Task VerifyAsync(CancellationToken cancellationToken = default)
    {
        var result = await RunAsync(["--list-langs"], "tesseract --list-langs", cancellationToken).ConfigureAwait(false);
        if (result.ExitCode != 0)
        {
            throw new OcrException($"'{Options.ExecutablePath} --list-langs' failed (exit code {result.ExitCode}): {result.Error.Trim()}. {TesseractOcrOptions.InstallHint}");
        }

        // The first line is a heading ("List of available languages in "/usr/share/...": (N)").
        var installed = result.Output.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Skip(1)
            .ToHashSet(StringComparer.Ordinal);
        var missing = Options.LanguageList.Where(language => !installed.Contains(language)).ToList();
        if (missing.Count > 0)
        {
            throw new OcrException(MissingLanguages(missing, installed));
        }
    }

    /// <summary>The text Tesseract reads in the image file at <paramref name="imagePath"/> (trimmed; empty when it finds none).</summary>
    /// <exception cref="OcrException">Tesseract is missing, lacks a language, failed on the image, or took longer than the timeout.</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled; Tesseract was killed.</exception>
    public async Task<string> RecognizeFileAsync(string imagePath, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(imagePath);
        var full = Path.GetFullPath(imagePath);
        var result = await RunAsync([full, "stdout", "-l", Options.Languages], full, cancellationToken).ConfigureAwait(false);
        // Tesseract reads on with the languages it has when one is missing (exit code 0): a missing one is an error all the same.
        if (result.Error.Contains("Failed loading language", StringComparison.Ordinal) || result.Error.Contains("couldn't load any languages", StringComparison.Ordinal))
        {
            throw new OcrException($"OCR of '{full}': {MissingLanguages(Options.LanguageList, null)}");
        }

        if (result.ExitCode != 0)
        {
            throw new OcrException($"OCR of '{full}': Tesseract failed (exit code {result.ExitCode}): {result.Error.Trim()}");
        }

        return result.Output.Trim();
    }

    /// <summary>
    /// The text in an image held in memory (JPEG, PNG, WebP, GIF or BMP), written to a temporary file for Tesseract.
    /// An image over <see cref="TesseractOcrOptions.MaxImagePixels"/> (for a GIF, any frame's canvas), or whose size cannot
    /// be read from its header (<see cref="ImageHeader"/>), is refused before Tesseract sees it.
    /// </summary>
    /// <param name="image">The image's bytes.</param>
    /// <param name="name">What the image is called in messages (its file, or its document and page).</param>
    /// <param name="cancellationToken">Cancels the read; Tesseract is killed.</param>
    /// <exception cref="OcrException">The image is too large or unreadable, or Tesseract failed (see <see cref="RecognizeFileAsync"/>).</exception>
    public async Task<string> RecognizeAsync(ReadOnlyMemory<byte> image, string name, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(name);
        var mediaType = ImageFormats.Sniff(image.Span)
            ?? throw new OcrException($"OCR of '{name}': not a JPEG, PNG, WebP, GIF or BMP image.");
        if (ImageHeader.Read(image.Span) is not { } size)
        {
            throw new OcrException($"OCR of '{name}': the image's width and height cannot be read from its header; it was not passed to Tesseract.");
        }

        if (size.CanvasPixels > Options.MaxImagePixels)
        {
            throw new OcrException($"OCR of '{name}': the image is {size.CanvasWidth} × {size.CanvasHeight} pixels, more than the {Options.MaxImagePixels:N0}-pixel limit (MaxImagePixels); it was not passed to Tesseract.");
        }

        var temporary = Path.Combine(Path.GetTempPath(), "mmrag-ocr-" + Guid.NewGuid().ToString("N") + ImageFormats.ExtensionOf(mediaType));
        try
        {
            await File.WriteAllBytesAsync(temporary, image, cancellationToken).ConfigureAwait(false);
            try
            {
                return await RecognizeFileAsync(temporary, cancellationToken).ConfigureAwait(false);
            }
            catch (OcrException ex)
            {
                throw new OcrException(ex.Message.Replace(temporary, name, StringComparison.Ordinal), ex);
            }
        }
        finally
        {
            File.Delete(temporary);
        }
    }

    private string MissingLanguages(IEnumerable<string> missing, IReadOnlySet<string>? installed)
    {
        var names = string.Join(", ", missing);
        var packages = string.Join(' ', missing.Select(language => "tesseract-ocr-" + language.ToLowerInvariant().Replace('_', '-')));
        var have = installed is null ? string.Empty : $" (installed: {(installed.Count == 0 ? "none" : string.Join(", ", installed.Order(StringComparer.Ordinal)))})";
        return $"Tesseract ('{Options.ExecutablePath}') has no data for the OCR language(s) {names}{have}: apt-get install {packages}";
    }

    private sealed record ProcessResult(int ExitCode, string Output, string Error);

    /// <summary>Runs Tesseract with <paramref name="arguments"/>, killed at the timeout or on cancellation; output bounded.</summary>
    private async Task<ProcessResult> RunAsync(IReadOnlyList<string> arguments, string input, CancellationToken cancellationToken)
    {
        var start = new ProcessStartInfo(Options.ExecutablePath)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            StandardOutputEncoding = Encoding.UTF8,
            StandardErrorEncoding = Encoding.UTF8,
            UseShellExecute = false,
            CreateNoWindow = true,
        };
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        // One thread per process: images are read beside embedding, and OpenMP's threads per process would oversubscribe the cores.
        start.Environment["OMP_THREAD_LIMIT"] = "1";

        using var process = new Process { StartInfo = start };
        try
        {
            process.Start();
        }
        catch (Win32Exception ex)
        {
            throw new OcrException($"OCR of '{input}': '{Options.ExecutablePath}' cannot be run ({ex.Message}). {TesseractOcrOptions.InstallHint}", ex);
        }

        process.StandardInput.Close();
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(Options.Timeout);
        var output = ReadBoundedAsync(process.StandardOutput, Options.MaxOutputChars);
        var error = ReadBoundedAsync(process.StandardError, MaxErrorChars);
        try
        {
            await process.WaitForExitAsync(timeout.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            Kill(process);
            await process.WaitForExitAsync(CancellationToken.None).ConfigureAwait(false);
            await Task.WhenAll(output, error).ConfigureAwait(false);
            cancellationToken.ThrowIfCancellationRequested();
            throw new OcrException($"OCR of '{input}': Tesseract took longer than {Options.Timeout.TotalSeconds:0.###} s (TesseractOcrOptions.Timeout) and was stopped.");
        }

        return new ProcessResult(process.ExitCode, await output.ConfigureAwait(false), await error.ConfigureAwait(false));
    }

    private static void Kill(Process process)
    {
        try
        {
            process.Kill(entireProcessTree: true);
        }
        catch (InvalidOperationException)
        {
            // It ended on its own meanwhile.
        }
    }

    /// <summary>Reads a stream to its end, keeping the first <paramref name="limit"/> characters: the process never blocks on a full pipe.</summary>
    private static async Task<string> ReadBoundedAsync(StreamReader reader, int limit)
    {
        var kept = new StringBuilder();
        var buffer = new char[4096];
        int read;
        while ((read = await reader.ReadAsync(buffer).ConfigureAwait(false)) > 0)
        {
            kept.Append(buffer, 0, Math.Min(read, limit - kept.Length));
        }

        return kept.ToString();
    }
}
