using Microsoft.Extensions.Configuration;
using Mmrag.Answering;
using Mmrag.Clip.Inference;
using Mmrag.Hosting;
using Mmrag.Ingestion.Pipeline;
using Mmrag.Retrieval.Search;
using Mmrag.Storage;

namespace Mmrag.Server;

/// <summary>The served knowledge base as the endpoints see it: the host's <see cref="MmragKnowledgeBase"/> and the server's limits. Thread-safe.</summary>
internal sealed class KnowledgeBase(MmragServerOptions options, IConfiguration configuration)
{
    public MmragServerOptions Options { get; } = options;

    public MmragKnowledgeBase Opened => Options.KnowledgeBase;

    public string Folder => Opened.Folder;

    public string UploadsFolder => Opened.UploadsFolder;

    public IKnowledgeStore Store => Opened.Store;

    public ClipModel Model => Opened.Model;

    public KnowledgeSearcher Searcher => Opened.Searcher;

    public Answerer Answerer => Opened.Answerer;

    /// <summary>The largest image, in pixels, of the knowledge base (<see cref="MmragOptions.MaxImagePixels"/>): one limit for queries, uploads and ingestion.</summary>
    public long MaxImagePixels => Opened.Options.MaxImagePixels;

    /// <summary>
    /// The knowledge base's ingestion options; web pages on private hosts are refused unless the server is configured to
    /// allow them (<see cref="MmragServerOptions.AllowPrivateHosts"/>, or <c>Mmrag:Ingestion:AllowPrivateHosts</c>).
    /// </summary>
    public IngestionOptions IngestionOptions { get; } = options.KnowledgeBase.CreateIngestionOptions(ingestion => new WebIngestionRequest
    {
        AllowPrivateHosts = options.AllowPrivateHosts || configuration.GetValue<bool>(MmragServerOptions.AllowPrivateHostsSetting),
    }.ApplyTo(ingestion));

    public IngestionPipeline CreatePipeline() => Opened.CreatePipeline();
}
