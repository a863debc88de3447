using System.Text;

namespace Mmrag.Ingestion.Loaders;

/// <summary>A CSV record with the lines it spans; <see cref="Error"/> is set when it breaks RFC 4180.</summary>
internal sealed record CsvRecord(IReadOnlyList<string> Fields, int StartLine, int EndLine, string? Error);

/// <summary>
/// RFC 4180 CSV: comma-separated fields, double-quoted fields may hold commas, line breaks and doubled quotes; CRLF or
/// LF line ends. A malformed record (a quote inside an unquoted field, text after a closing quote) is returned with an
/// error and parsing resumes at the next line; an unterminated quote ends the input.
/// </summary>
internal static class Csv
{
    public static IEnumerable<CsvRecord> Parse(string text)
    {
        var fields = new List<string>();
        var field = new StringBuilder();
        var line = 1;
        var startLine = 1;
        var inQuotes = false;
        var quoted = false;
        var afterQuote = false;
        string? error = null;
        var recordHasContent = false;
        var i = 0;
        while (i < text.Length)
        {
            var c = text[i];
            if (inQuotes)
            {
                if (c == '"')
                {
                    if (i + 1 < text.Length && text[i + 1] == '"')
                    {
                        field.Append('"');
                        i += 2;
                        continue;
                    }

                    inQuotes = false;
                    afterQuote = true;
                }
                else
                {
                    if (c == '\n')
                    {
                        line++;
                    }

                    field.Append(c);
                }

                i++;
                continue;
            }

            if (c is '\r' or '\n')
            {
                if (c == '\r' && i + 1 < text.Length && text[i + 1] == '\n')
                {
                    i++;
                }

                if (recordHasContent || fields.Count > 0 || field.Length > 0)
                {
                    fields.Add(field.ToString());
                    yield return new CsvRecord([.. fields], startLine, line, error);
                }

                fields.Clear();
                field.Clear();
                quoted = afterQuote = recordHasContent = false;
                error = null;
                line++;
                startLine = line;
                i++;
                continue;
            }

            recordHasContent = true;
            if (c == ',')
            {
                fields.Add(field.ToString());
                field.Clear();
                quoted = afterQuote = false;
            }
            else if (error is not null)
            {
                // Skip the rest of a malformed record.
            }
            else if (c == '"' && field.Length == 0 && !quoted)
            {
                inQuotes = quoted = true;
            }
            else if (afterQuote)
            {
                error = $"unexpected '{c}' after a closing quote";
            }
            else if (c == '"')
            {
                error = "a quote inside an unquoted field";
            }
            else
            {
                field.Append(c);
            }

            i++;
        }

        if (inQuotes)
        {
            fields.Add(field.ToString());
            yield return new CsvRecord([.. fields], startLine, line, "a quoted field is never closed");
        }
        else if (recordHasContent || fields.Count > 0 || field.Length > 0)
        {
            fields.Add(field.ToString());
            yield return new CsvRecord([.. fields], startLine, line, error);
        }
    }
}
