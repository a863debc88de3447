using Mmrag.Clip;
using Mmrag.Clip.Preprocessing;

namespace Mmrag.Cli.Commands;

/// <summary>Turns the errors a user can cause into one line on stderr and an exit code, instead of a stack trace.</summary>
internal static class CliErrors
{
    public const int Failure = 1;

    public static async Task<int> RunAsync(TextWriter error, Func<Task<int>> action)
    {
        try
        {
            return await action().ConfigureAwait(false);
        }
        catch (Exception exception) when (IsUserFacing(exception))
        {
            await error.WriteLineAsync($"error: {exception.Message}").ConfigureAwait(false);
            return Failure;
        }
    }

    public static bool IsUserFacing(Exception exception) => exception is ClipModelException or ImageDecodeException or Mmrag.Clip.Models.ModelDownloadException or Mmrag.Storage.KnowledgeStoreException
        or Mmrag.Storage.EmbeddingSpaceMismatchException or Mmrag.Ingestion.DocumentLoadException or Mmrag.Answering.Llm.LlmException
        or Mmrag.Ingestion.Ocr.OcrException
        or IOException
        or UnauthorizedAccessException or InvalidDataException or System.Text.Json.JsonException or FormatException
        // What reaches a command as ArgumentException comes from checking what the user gave it (an option the parser
        // cannot range-check, an MMRAG_* variable, an image that does not decode), and its message says which.
        or ArgumentException;
}
