using System.Text.Json;

namespace Mmrag.Cli.Commands;

/// <summary>Reads inputs given as JSON Lines: one JSON string per line, so a text may contain newlines.</summary>
internal static class JsonLines
{
    public static async IAsyncEnumerable<string> ReadStringsAsync(TextReader reader,
        [System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        var lineNumber = 0;
        while (await reader.ReadLineAsync(cancellationToken).ConfigureAwait(false) is { } line)
        {
            lineNumber++;
            if (string.IsNullOrWhiteSpace(line))
            {
                continue;
            }

            string? value;
            try
            {
                value = JsonSerializer.Deserialize<string>(line);
            }
            catch (JsonException exception)
            {
                throw new FormatException($"stdin line {lineNumber}: expected a JSON string such as \"a photo of a cat\" ({exception.Message}).", exception);
            }

            yield return value ?? throw new FormatException($"stdin line {lineNumber}: expected a JSON string, found null.");
        }
    }

    public static Utf8JsonWriter CreateWriter(Stream stream) =>
        new(stream, new JsonWriterOptions { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping, SkipValidation = false });
}
