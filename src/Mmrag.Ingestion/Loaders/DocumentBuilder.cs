using Mmrag.Ingestion.Chunking;
using Mmrag.Knowledge;

namespace Mmrag.Ingestion.Loaders;

/// <summary>
/// Collects what a loader reads, in document order: paragraphs (chunked as they arrive, per section and page) and
/// images, plus partial failures, up to <see cref="MaxItems"/> items: past that it takes nothing more, the loader
/// stops reading (<see cref="IsFull"/>), and the document reports what was left out. Items get their title and
/// positions when the document is built, because a title (first H1, &lt;title&gt;) may only be known after text that
/// precedes it.
/// </summary>
internal sealed class DocumentBuilder
{
    private readonly string _sourcePath;
    private readonly TextChunker _chunker;
    private readonly List<Entry> _entries = [];
    private readonly List<IngestionFailure> _failures = [];
    private TextChunker.ChunkStream? _text;
    private string? _textSection;
    private int? _textPage;
    private bool _truncated;

    public DocumentBuilder(string sourcePath, TextChunker chunker, int maxItems = int.MaxValue)
    {
        _sourcePath = sourcePath;
        _chunker = chunker;
        MaxItems = maxItems;
    }

    public string SourcePath => _sourcePath;

    public string? Title { get; set; }

    /// <summary>Most items kept (<see cref="DocumentLoadContext.MaxItems"/>).</summary>
    public int MaxItems { get; }

    /// <summary>Whether <see cref="MaxItems"/> items are in: a loader should stop reading.</summary>
    public bool IsFull => _entries.Count >= MaxItems;

    /// <summary>How many items are in so far.</summary>
    public int Count => _entries.Count;

    public IReadOnlyList<IngestionFailure> Failures => _failures;

    private abstract record Entry;

    private sealed record TextEntry(string Text, string? Section, int? Page) : Entry;

    private sealed record ImageEntry(LoadedItem Item) : Entry;

    /// <summary>Adds a paragraph; consecutive paragraphs of one section and page are chunked together (chunks overlap across them).</summary>
    public void AddParagraph(string text, string? section, int? page = null)
    {
        if (string.IsNullOrWhiteSpace(text))
        {
            return;
        }

        if (IsFull)
        {
            _truncated = true;
            return;
        }

        if (_text is not null && (!string.Equals(section, _textSection, StringComparison.Ordinal) || page != _textPage))
        {
            FlushText();
        }

        if (_text is null)
        {
            _textSection = section;
            _textPage = page;
            _text = new TextChunker.ChunkStream(_chunker, chunk => Add(new TextEntry(chunk, section, page)));
        }

        _text.Add(text);
    }

    /// <summary>Adds an image after the text read so far.</summary>
    public void AddImage(ReadOnlyMemory<byte> bytes, string mediaType, string? imagePath, string keywordText, string? caption,
        string? description, string? section, int? page = null)
    {
        FlushText();
        Add(new ImageEntry(new LoadedItem
        {
            Kind = ItemKind.Image,
            Text = keywordText,
            Description = description,
            ImageBytes = bytes,
            ImageMediaType = mediaType,
            ImagePath = imagePath,
            Provenance = new Provenance(_sourcePath, Section: section, Page: page, Caption: caption),
        }));
    }

    public void AddFailure(string reason, string? detail = null) => _failures.Add(LoaderFiles.Failure(_sourcePath, reason, detail));

    /// <summary>Records that the loader stopped before the end of the file because the document is full.</summary>
    public void MarkTruncated() => _truncated = true;

    public LoadedDocument Build(string mediaType)
    {
        FlushText();
        if (_truncated)
        {
            AddFailure($"The file holds more than {MaxItems:N0} items (text chunks and images); only the first {MaxItems:N0} were kept "
                + "and the rest of the file was not read (MaxItemsPerFile).");
        }

        var title = string.IsNullOrWhiteSpace(Title) ? null : Title.Trim();
        var items = new List<LoadedItem>(_entries.Count);
        foreach (var entry in _entries)
        {
            items.Add(entry switch
            {
                TextEntry text => new LoadedItem
                {
                    Kind = ItemKind.TextChunk,
                    Text = text.Text,
                    Provenance = new Provenance(_sourcePath, title, text.Page, text.Section, Position: items.Count),
                },
                ImageEntry image => image.Item with
                {
                    Provenance = image.Item.Provenance with { DocumentTitle = title, Position = items.Count },
                },
                _ => throw new InvalidOperationException("Unknown entry."),
            });
        }

        return new LoadedDocument(_sourcePath, mediaType, title, items, [.. _failures]);
    }

    private void Add(Entry entry)
    {
        if (IsFull)
        {
            _truncated = true;
            return;
        }

        _entries.Add(entry);
    }

    private void FlushText()
    {
        _text?.Finish();
        _text = null;
    }
}
