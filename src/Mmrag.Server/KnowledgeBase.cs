using Mmrag.Answering;
using Mmrag.Clip.Inference;
using Mmrag.Ingestion.Chunking;
using Mmrag.Ingestion.Loaders;
using Mmrag.Ingestion.Pipeline;
using Mmrag.Retrieval.Search;
using Mmrag.Storage;

namespace Mmrag.Server;

/// <summary>The served knowledge base: the host's store and model with the generators, searcher and answerer built over them once. Thread-safe.</summary>
internal sealed class KnowledgeBase : IDisposable
{
    private readonly ClipTextEmbeddingGenerator _texts;
    private readonly ClipImageEmbeddingGenerator _images;

    public KnowledgeBase(MmragServerOptions options)
    {
        Options = options;
        Folder = Path.GetFullPath(options.KnowledgeBaseFolder);
        UploadsFolder = Path.Combine(Folder, "uploads");
        _texts = new ClipTextEmbeddingGenerator(options.Model);
        _images = new ClipImageEmbeddingGenerator(options.Model);
        Searcher = new KnowledgeSearcher(options.Store, _texts, _images);
        Answerer = new Answerer(Searcher, options.ChatClient);
        IngestionOptions = new IngestionOptions
        {
            KnowledgeBaseDirectory = Folder,
            ImageCacheDirectory = Path.Combine(Folder, IngestionOptions.ImageCacheFolderName),
            MaxImagePixels = options.MaxImagePixels,
        };
    }

    public MmragServerOptions Options { get; }

    public string Folder { get; }

    public string UploadsFolder { get; }

    public IKnowledgeStore Store => Options.Store;

    public ClipModel Model => Options.Model;

    public KnowledgeSearcher Searcher { get; }

    public Answerer Answerer { get; }

    public IngestionOptions IngestionOptions { get; }

    public IngestionPipeline CreatePipeline()
    {
        var tokenizer = Model.Tokenizer;
        var chunker = new TextChunker(text => tokenizer.EncodeToIds(text).Length);
        return new IngestionPipeline(Store, _texts, _images, LoaderRegistry.CreateDefault(chunker));
    }

    public void Dispose()
    {
        _texts.Dispose();
        _images.Dispose();
    }
}
