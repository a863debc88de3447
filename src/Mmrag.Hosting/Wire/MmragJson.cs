using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Serialization;
using System.Text.Json.Serialization.Metadata;
using Mmrag.Answering;
using Mmrag.Answering.Reranking;
using Mmrag.Hosting.Feedback;
using Mmrag.Knowledge;
using Mmrag.Retrieval.Search;

namespace Mmrag.Hosting.Wire;

/// <summary>The source-generated serializers of the wire format (snake_case, nulls written).</summary>
[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower)]
[JsonSerializable(typeof(SearchResponse))]
[JsonSerializable(typeof(AnswerResponse))]
[JsonSerializable(typeof(AnswerSourcesEvent))]
[JsonSerializable(typeof(AnswerTokenEvent))]
[JsonSerializable(typeof(AnswerCitationsEvent))]
[JsonSerializable(typeof(ItemResponse))]
[JsonSerializable(typeof(DocumentListResponse))]
[JsonSerializable(typeof(KnowledgeBaseResponse))]
[JsonSerializable(typeof(ProblemResponse))]
[JsonSerializable(typeof(JobResponse))]
[JsonSerializable(typeof(IngestAcceptedResponse))]
[JsonSerializable(typeof(CrawlRequest))]
[JsonSerializable(typeof(CsrfTokenResponse))]
[JsonSerializable(typeof(HealthResponse))]
[JsonSerializable(typeof(EvaluationResponse))]
[JsonSerializable(typeof(DatasetEvaluationResponse))]
[JsonSerializable(typeof(FeedbackRequest))]
[JsonSerializable(typeof(FeedbackRecordedResponse))]
[JsonSerializable(typeof(FeedbackListResponse))]
[JsonSerializable(typeof(TuneResponse))]
[JsonSerializable(typeof(TuneResetResponse))]
public sealed partial class MmragJsonContext : JsonSerializerContext;

/// <summary>Turns search results, answers and items into the wire format, and writes it.</summary>
public static class MmragJson
{
    /// <summary>
    /// The serializer options of the wire format: <see cref="MmragJsonContext"/>'s, with text left readable (accents
    /// and quotes unescaped; the JSON is never embedded in HTML). The HTTP API uses them too.
    /// </summary>
    public static JsonSerializerOptions Options { get; } = CreateOptions();

    private static JsonSerializerOptions CreateOptions()
    {
        var options = new JsonSerializerOptions(MmragJsonContext.Default.Options) { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };
        options.TypeInfoResolverChain.Clear();
        options.TypeInfoResolverChain.Add(MmragJsonContext.Default);
        options.MakeReadOnly();
        return options;
    }

    /// <summary>Serializes a wire-format value.</summary>
    public static string Serialize<T>(T value) => JsonSerializer.Serialize(value, (JsonTypeInfo<T>)Options.GetTypeInfo(typeof(T)));

    /// <summary>The wire name of an item kind.</summary>
    public static string KindName(ItemKind kind) => kind == ItemKind.Image ? "image" : "text";

    /// <summary>A search result on the wire.</summary>
    public static SearchResponse ToResponse(SearchResult result)
    {
        ArgumentNullException.ThrowIfNull(result);
        return new SearchResponse([.. result.Hits.Select(ToResponse)], Math.Round(result.EmbedTime.TotalMilliseconds, 2), Math.Round(result.SearchTime.TotalMilliseconds, 2),
            AdapterApplied: result.AdapterApplied, AdapterWarning: result.AdapterWarning);
    }

    /// <summary>A search result on the wire, with each hit's rerank grade and the rerank's report when one was asked.</summary>
    public static SearchResponse ToResponse(RerankedSearch search)
    {
        ArgumentNullException.ThrowIfNull(search);
        var result = search.Result;
        return new SearchResponse([.. result.Hits.Select((hit, i) => ToResponse(hit, search.GradeAt(i)))], Math.Round(result.EmbedTime.TotalMilliseconds, 2),
            Math.Round(result.SearchTime.TotalMilliseconds, 2), ToResponse(search.Report), result.AdapterApplied, result.AdapterWarning);
    }

    /// <summary>A rerank report on the wire (null for none).</summary>
    public static RerankResponse? ToResponse(RerankReport? report) => report is null
        ? null
        : new RerankResponse(report.Status.ToString().ToLowerInvariant(), report.Detail, report.Candidates, report.Graded, Math.Round(report.Elapsed.TotalMilliseconds, 2));

    private static SearchHitResponse ToResponse(SearchHit hit) => ToResponse(hit, null);

    private static SearchHitResponse ToResponse(SearchHit hit, RerankGrade? grade)
    {
        var item = hit.Item;
        var image = item.Kind == ItemKind.Image;
        return new SearchHitResponse(item.Id, KindName(item.Kind), Math.Round(hit.Score, 6), hit.RawScore is { } raw ? Math.Round(raw, 6) : null,
            item.Provenance.SourcePath, item.Provenance.Page, item.Provenance.Section,
            Text: image ? null : item.Text, Description: image ? item.DescribeImage() : null, ImagePath: image ? item.ImagePath : null,
            hit.MatchedBy.ToString().ToLowerInvariant(), hit.KeywordEvidence is { } evidence ? Math.Round(evidence, 4) : null, grade?.Grade, grade?.Reason,
            item.Credit());
    }

    /// <summary>An answer on the wire.</summary>
    public static AnswerResponse ToResponse(Answer answer)
    {
        ArgumentNullException.ThrowIfNull(answer);
        return new AnswerResponse(answer.Text, answer.NoContext, answer.Strategy.ToString(), Citations(answer), answer.UnresolvedCitations,
            Sources(answer.Sources),
            answer.Usage is { } usage ? new UsageResponse(usage.InputTokenCount, usage.OutputTokenCount, usage.TotalTokenCount) : null,
            ToResponse(answer.Rerank));
    }

    /// <summary>The <c>citations</c> event of a streamed answer.</summary>
    public static AnswerCitationsEvent CitationsEvent(Answer answer)
    {
        ArgumentNullException.ThrowIfNull(answer);
        return new AnswerCitationsEvent(Citations(answer), answer.UnresolvedCitations);
    }

    /// <summary>Numbered sources on the wire.</summary>
    public static IReadOnlyList<SourceResponse> Sources(IReadOnlyList<AnswerSource> sources)
    {
        ArgumentNullException.ThrowIfNull(sources);
        return [.. sources.Select(static source =>
        {
            var image = source.Kind == ItemKind.Image;
            return new SourceResponse(source.Number, source.Item.Id, KindName(source.Kind), source.SourcePath, source.Page, source.ImagePath,
                Math.Round(source.Score, 6), Text: image ? null : source.Item.Text, Description: image ? source.Item.DescribeImage() : null,
                source.ImageSent, source.Rerank?.Grade, source.Rerank?.Reason, source.Item.Credit());
        })];
    }

    private static List<CitationResponse> Citations(Answer answer) => [.. answer.Citations.Select(static citation =>
        new CitationResponse(citation.Number, citation.Source.Item.Id, KindName(citation.Source.Kind), citation.Source.SourcePath, citation.Source.Page,
            citation.Source.ImagePath, Math.Round(citation.Source.Score, 6), citation.Source.Item.Credit()))];

    /// <summary>A stored item on the wire, with the API address of its image.</summary>
    public static ItemResponse ToResponse(KnowledgeItem item)
    {
        ArgumentNullException.ThrowIfNull(item);
        return new ItemResponse(item.Id, item.DocumentId, KindName(item.Kind), item.Text, item.Description, item.Provenance.SourcePath,
            item.Provenance.DocumentTitle, item.Provenance.Page, item.Provenance.Section, item.Provenance.Caption, item.Provenance.Position, item.ImagePath,
            item.ImagePath is null ? null : $"/api/items/{Uri.EscapeDataString(item.Id)}/image", item.ContentHash, item.Tags);
    }

    /// <summary>A stored document on the wire.</summary>
    public static DocumentResponse ToResponse(DocumentRecord document)
    {
        ArgumentNullException.ThrowIfNull(document);
        return new DocumentResponse(document.Id, document.SourcePath, document.MediaType, document.Title, document.ItemCount, document.IngestedAt, document.Tags);
    }

    /// <summary>A stored judgement on the wire.</summary>
    public static FeedbackResponse ToResponse(FeedbackEntry entry)
    {
        ArgumentNullException.ThrowIfNull(entry);
        var j = entry.Judgement;
        return new FeedbackResponse(j.Id, j.CreatedAt, j.Source, j.Modality == Storage.FeedbackQueryModality.Image ? "image" : "text", j.QueryText, j.QueryImage,
            j.ItemId, entry.ItemSource, j.Relevant, j.ModelId);
    }
}
