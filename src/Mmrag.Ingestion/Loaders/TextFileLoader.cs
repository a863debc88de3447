using System.Text;
using Mmrag.Ingestion.Chunking;

namespace Mmrag.Ingestion.Loaders;

/// <summary>
/// Reads a plain-text file (<c>.txt</c>) into chunks. UTF-8 (a BOM is skipped; UTF-16 with a BOM is read too);
/// invalid UTF-8 sequences are replaced with U+FFFD and reported as one failure naming the first bad byte offset,
/// so a stray Latin-1 byte costs one character, not the file. The title is the first line when it is short.
/// The file is read as a stream and chunked paragraph by paragraph, and reading stops once
/// <see cref="DocumentLoadContext.MaxItems"/> chunks are in (reported), so a file of hundreds of megabytes costs
/// neither its size in memory nor time past the limit. Stateless and thread-safe.
/// </summary>
public sealed class TextFileLoader : IDocumentLoader
{
    private const int MaxTitleLength = 100;

    // A paragraph (or a line without breaks) is handed to the chunker in pieces of at most this many characters.
    private const int MaxParagraphChars = 64 * 1024;

    private readonly TextChunker _chunker;

    /// <summary>Creates the loader.</summary>
    public TextFileLoader(TextChunker chunker)
    {
        ArgumentNullException.ThrowIfNull(chunker);
        _chunker = chunker;
    }

    /// <inheritdoc />
    public bool CanLoad(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        return Path.GetExtension(path).Equals(".txt", StringComparison.OrdinalIgnoreCase);
    }

    /// <inheritdoc />
    public async Task<LoadedDocument> LoadAsync(string path, DocumentLoadContext context, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(path);
        ArgumentNullException.ThrowIfNull(context);
        var full = Path.GetFullPath(path);
        var builder = new DocumentBuilder(full, _chunker, context.MaxItems);
        var stream = LoaderFiles.Open(full, context.MaxFileBytes);
        TextStreamDecoder decoder;
        await using (stream.ConfigureAwait(false))
        {
            decoder = new TextStreamDecoder(stream);
            var paragraphs = new ParagraphReader(builder);
            while (await ReadAsync(decoder, full, cancellationToken).ConfigureAwait(false) is { } block)
            {
                paragraphs.Add(block);
                if (builder.IsFull)
                {
                    builder.MarkTruncated();
                    break;
                }

                if (decoder.BytesRead > context.MaxFileBytes)
                {
                    // The file grew past the limit while it was read.
                    throw new DocumentLoadException($"{full}: the file is larger than the {context.MaxFileBytes:N0}-byte limit (MaxFileBytes).");
                }
            }

            paragraphs.Finish();
        }

        if (decoder.InvalidSequences > 0)
        {
            builder.AddFailure(
                $"Invalid UTF-8 at byte offset {decoder.FirstInvalidOffset} (line {decoder.FirstInvalidLine}); "
                + $"{decoder.InvalidSequences} invalid sequence(s) were replaced with U+FFFD and the rest of the file was read.",
                $"byte {decoder.FirstInvalidOffset}");
        }

        return builder.Build("text/plain");
    }

    private static async Task<string?> ReadAsync(TextStreamDecoder decoder, string path, CancellationToken cancellationToken)
    {
        try
        {
            return await decoder.ReadAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (IOException ex)
        {
            throw new DocumentLoadException($"{path}: cannot be read ({ex.Message}).", ex);
        }
    }

    /// <summary>Cuts decoded blocks into paragraphs (at blank lines) for the builder; the first short line is the title.</summary>
    private sealed class ParagraphReader(DocumentBuilder builder)
    {
        private readonly StringBuilder _paragraph = new();
        private string _line = string.Empty;
        private bool _titleSeen;

        public void Add(string block)
        {
            var text = _line.Length == 0 ? block : _line + block;
            var start = 0;
            int end;
            while ((end = text.IndexOf('\n', start)) >= 0 && !builder.IsFull)
            {
                Line(text.AsSpan(start, end - start));
                start = end + 1;
            }

            _line = text[start..];
            while (_line.Length > MaxParagraphChars && !builder.IsFull)
            {
                // A line with no break in sight: pass it on in pieces, cut at a space where there is one.
                var cut = _line.LastIndexOf(' ', MaxParagraphChars - 1, MaxParagraphChars / 2);
                cut = cut > 0 ? cut : char.IsHighSurrogate(_line[MaxParagraphChars - 1]) ? MaxParagraphChars - 1 : MaxParagraphChars;
                Line(_line.AsSpan(0, cut));
                Flush();
                _line = _line[cut..];
            }
        }

        public void Finish()
        {
            if (!builder.IsFull)
            {
                Line(_line);
            }

            _line = string.Empty;
            Flush();
        }

        private void Line(ReadOnlySpan<char> line)
        {
            var trimmed = line.Trim();
            if (trimmed.IsEmpty)
            {
                Flush();
                return;
            }

            if (!_titleSeen)
            {
                _titleSeen = true;
                builder.Title = trimmed.Length <= MaxTitleLength ? trimmed.ToString() : null;
            }

            _paragraph.Append(line).Append('\n');
            if (_paragraph.Length > MaxParagraphChars)
            {
                Flush();
            }
        }

        private void Flush()
        {
            if (_paragraph.Length > 0)
            {
                builder.AddParagraph(_paragraph.ToString(), section: null);
                _paragraph.Clear();
            }
        }
    }
}
