using Mmrag.Answering;
using Mmrag.Clip.Inference;
using Mmrag.Hosting;
using Mmrag.Ingestion.Pipeline;
using Mmrag.Ingestion.Web;
using Mmrag.Ingestion.Web.Wikipedia;
using Mmrag.Retrieval.Search;
using Mmrag.Storage;

namespace Mmrag.Server;

/// <summary>The served knowledge base as the endpoints see it: the host's <see cref="MmragKnowledgeBase"/> and the server's limits. Thread-safe.</summary>
internal sealed class KnowledgeBase(MmragServerOptions options)
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

    /// <summary>The ingestion options of a run that asks nothing (<see cref="IngestionOptionsFor(IngestionRequest)"/> of an empty request).</summary>
    public IngestionOptions IngestionOptions { get; } = IngestionOptionsFor(options, new IngestionRequest());

    /// <summary>The wiki the server's Wikipedia jobs read: the knowledge base's, with the server's <see cref="MmragServerOptions.WikipediaApi"/>.</summary>
    public WikipediaOptions Wikipedia { get; } = Configured(options, new IngestionRequest()).WikipediaFrom(options.KnowledgeBase.Options.Wikipedia);

    /// <summary>
    /// The ingestion options of a job's <paramref name="request"/> (its crawl, its OCR languages) under the server's own
    /// settings: private hosts only as the server is configured (never as a client asks), its Wikipedia API (whose host
    /// and port alone are reached even when private hosts are not: <see cref="IngestionRequest.TrustWikipediaApi"/>), and a crawl
    /// that names no page count held to <see cref="MmragServerOptions.MaxPages"/>.
    /// </summary>
    public IngestionOptions IngestionOptionsFor(IngestionRequest request) => IngestionOptionsFor(Options, request);

    private static IngestionOptions IngestionOptionsFor(MmragServerOptions options, IngestionRequest request) =>
        options.KnowledgeBase.CreateIngestionOptions(Configured(options, request));

    private static IngestionRequest Configured(MmragServerOptions options, IngestionRequest request) => request with
    {
        Web = request.Web with
        {
            AllowPrivateHosts = options.AllowPrivateHosts,
            MaxPages = request.Web.MaxPages ?? Math.Min(options.MaxPages, new WebIngestionOptions().MaxPages),
        },
        WikipediaApi = options.WikipediaApi,
        // The API is the operator's (this server's setting or the knowledge base's), never a client's: its host may be
        // a private mirror without AllowPrivateHosts opening every private host to every client.
        TrustWikipediaApi = true,
    };

    public IngestionPipeline CreatePipeline() => Opened.CreatePipeline();
}
