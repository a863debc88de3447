using Mmrag.Ingestion.Chunking;

namespace Mmrag.Ingestion.Loaders;

/// <summary>
/// Picks the loader for a file: the first registered loader whose <see cref="IDocumentLoader.CanLoad"/> accepts it
/// (loaders decide by extension). A file no loader accepts is skipped by ingestion, not failed. Immutable and thread-safe.
/// </summary>
public sealed class LoaderRegistry
{
    /// <summary>Creates a registry over <paramref name="loaders"/>, asked in order.</summary>
    public LoaderRegistry(IEnumerable<IDocumentLoader> loaders)
    {
        ArgumentNullException.ThrowIfNull(loaders);
        Loaders = [.. loaders];
        if (Loaders.Any(l => l is null))
        {
            throw new ArgumentException("A loader is null.", nameof(loaders));
        }
    }

    /// <summary>The chunker the standard loaders share (<see cref="CreateDefault"/>), used for text read from images; null for a custom registry.</summary>
    public TextChunker? Chunker { get; private init; }

    /// <summary>The loaders, in the order they are asked.</summary>
    public IReadOnlyList<IDocumentLoader> Loaders { get; }

    /// <summary>
    /// The standard loaders: image files, <c>.txt</c>, Markdown, HTML and PDF, chunking text with <paramref name="chunker"/>.
    /// </summary>
    public static LoaderRegistry CreateDefault(TextChunker chunker, PdfLoaderOptions? pdfOptions = null)
    {
        ArgumentNullException.ThrowIfNull(chunker);
        return new LoaderRegistry(
        [
            new ImageFileLoader(),
            new TextFileLoader(chunker),
            new MarkdownLoader(chunker),
            new HtmlLoader(chunker),
            new PdfLoader(chunker, pdfOptions),
        ])
        {
            Chunker = chunker,
        };
    }

    /// <summary>The loader for <paramref name="path"/>, or null when no loader reads it.</summary>
    public IDocumentLoader? Find(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        foreach (var loader in Loaders)
        {
            if (loader.CanLoad(path))
            {
                return loader;
            }
        }

        return null;
    }
}
