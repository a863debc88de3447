namespace Mmrag.Ingestion.Ocr;

/// <summary>
/// OCR could not run: Tesseract is missing, lacks a language's data, failed, or took too long. The message names the
/// input (or the executable) and says what to do.
/// </summary>
public sealed class OcrException : Exception
{
    /// <summary>Creates the exception.</summary>
    public OcrException(string message) : base(message) { }

    /// <summary>Creates the exception with its cause.</summary>
    public OcrException(string message, Exception innerException) : base(message, innerException) { }

    /// <summary>Creates the exception.</summary>
    public OcrException() { }
}
