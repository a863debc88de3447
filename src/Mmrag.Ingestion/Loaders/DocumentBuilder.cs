using System.Text;
using Mmrag.Ingestion.Chunking;
using Mmrag.Knowledge;

namespace Mmrag.Ingestion.Loaders;

/// <summary>
/// Collects what a loader reads, in document order: paragraphs (grouped per section and page, then chunked) and
/// images, plus partial failures. Items get their title and positions when the document is built, because a title
/// (first H1, &lt;title&gt;) may only be known after text that precedes it.
/// </summary>
internal sealed class DocumentBuilder
{
    private readonly string _sourcePath;
    private readonly TextChunker _chunker;
    private readonly List<Entry> _entries = [];
    private readonly List<IngestionFailure> _failures = [];
    private readonly StringBuilder _pending = new();
    private string? _pendingSection;
    private int? _pendingPage;

    public DocumentBuilder(string sourcePath, TextChunker chunker)
    {
        _sourcePath = sourcePath;
        _chunker = chunker;
    }

    public string SourcePath => _sourcePath;

    public string? Title { get; set; }

    public IReadOnlyList<IngestionFailure> Failures => _failures;

    private abstract record Entry;

    private sealed record TextEntry(string Text, string? Section, int? Page) : Entry;

    private sealed record ImageEntry(LoadedItem Item) : Entry;

    /// <summary>Adds a paragraph; consecutive paragraphs of one section and page are chunked together.</summary>
    public void AddParagraph(string text, string? section, int? page = null)
    {
        if (string.IsNullOrWhiteSpace(text))
        {
            return;
        }

        if (_pending.Length > 0 && (!string.Equals(section, _pendingSection, StringComparison.Ordinal) || page != _pendingPage))
        {
            FlushText();
        }

        _pendingSection = section;
        _pendingPage = page;
        if (_pending.Length > 0)
        {
            _pending.Append("\n\n");
        }

        _pending.Append(text.Trim());
    }

    /// <summary>Adds an image after the text read so far.</summary>
    public void AddImage(ReadOnlyMemory<byte> bytes, string mediaType, string? imagePath, string keywordText, string? caption,
        string? description, string? section, int? page = null)
    {
        FlushText();
        _entries.Add(new ImageEntry(new LoadedItem
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

    public LoadedDocument Build(string mediaType)
    {
        FlushText();
        var title = string.IsNullOrWhiteSpace(Title) ? null : Title.Trim();
        var items = new List<LoadedItem>();
        foreach (var entry in _entries)
        {
            switch (entry)
            {
                case TextEntry text:
                    items.AddRange(_chunker.Chunk(text.Text,
                        new Provenance(_sourcePath, title, text.Page, text.Section, Position: items.Count)));
                    break;
                case ImageEntry image:
                    items.Add(image.Item with
                    {
                        Provenance = image.Item.Provenance with { DocumentTitle = title, Position = items.Count },
                    });
                    break;
            }
        }

        return new LoadedDocument(_sourcePath, mediaType, title, items, [.. _failures]);
    }

    private void FlushText()
    {
        if (_pending.Length == 0)
        {
            return;
        }

        _entries.Add(new TextEntry(_pending.ToString(), _pendingSection, _pendingPage));
        _pending.Clear();
    }
}
