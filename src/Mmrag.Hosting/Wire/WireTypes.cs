using System.Text.Json.Serialization;

namespace Mmrag.Hosting.Wire;

// The one wire format of mmrag: what `mmrag … --format json` prints and what the HTTP API sends (snake_case names,
// written by MmragJsonContext). Changing a record here changes both, which is the point.

/// <summary>
/// A search: the hits, best first, where the time went, whether the knowledge base's query adapter was applied (and why
/// a stored adapter was not, e.g. trained for another model), and <see cref="Rerank"/> only when a rerank was asked.
/// </summary>
public sealed record SearchResponse(
    IReadOnlyList<SearchHitResponse> Hits,
    double EmbedMs,
    double SearchMs,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] RerankResponse? Rerank = null,
    bool AdapterApplied = false,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] string? AdapterWarning = null);

/// <summary>How an LLM rerank went: <c>applied</c>, <c>failed</c> (the search's order stands) or <c>skipped</c>, and why.</summary>
public sealed record RerankResponse(string Status, string? Detail, int Candidates, int Graded, double ElapsedMs);

/// <summary>
/// One search hit: a text chunk (<see cref="Text"/>) or an image (<see cref="Description"/>, <see cref="ImagePath"/>,
/// and <see cref="Attribution"/>, the credit line its licence asks for, e.g. a Wikipedia photo's author and licence).
/// </summary>
public sealed record SearchHitResponse(
    string Id,
    string Kind,
    double Score,
    double? RawScore,
    string Source,
    int? Page,
    string? Section,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] string? Text,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] string? Description,
    string? ImagePath,
    string MatchedBy,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] double? KeywordEvidence = null,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] int? RerankGrade = null,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] string? RerankReason = null,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] string? Attribution = null);

/// <summary>An answer with its citations, the sources it was given and the LLM's token usage.</summary>
public sealed record AnswerResponse(
    string Answer,
    bool NoContext,
    string Strategy,
    IReadOnlyList<CitationResponse> Citations,
    IReadOnlyList<int> UnresolvedCitations,
    IReadOnlyList<SourceResponse> Sources,
    UsageResponse? Usage,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] RerankResponse? Rerank = null);

/// <summary>A source the answer cites as <c>[n]</c>; an image with a licence that asks for credit carries its <see cref="Attribution"/>.</summary>
public sealed record CitationResponse(int N, string Id, string Kind, string Source, int? Page, string? ImagePath, double Score,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] string? Attribution = null);

/// <summary>A numbered source given to the LLM.</summary>
public sealed record SourceResponse(
    int N,
    string Id,
    string Kind,
    string Source,
    int? Page,
    string? ImagePath,
    double Score,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] string? Text,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] string? Description,
    bool ImageSent,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] int? RerankGrade = null,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] string? RerankReason = null,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] string? Attribution = null);

/// <summary>Tokens the LLM reported.</summary>
public sealed record UsageResponse(long? InputTokens, long? OutputTokens, long? TotalTokens);

/// <summary>The <c>sources</c> event of a streamed answer.</summary>
public sealed record AnswerSourcesEvent(bool NoContext, IReadOnlyList<SourceResponse> Sources);

/// <summary>A <c>token</c> event of a streamed answer: the next piece of text.</summary>
public sealed record AnswerTokenEvent(string Text);

/// <summary>The <c>citations</c> event of a streamed answer.</summary>
public sealed record AnswerCitationsEvent(IReadOnlyList<CitationResponse> Citations, IReadOnlyList<int> UnresolvedCitations);

/// <summary>One stored item with its provenance.</summary>
public sealed record ItemResponse(
    string Id,
    string DocumentId,
    string Kind,
    string Text,
    string? Description,
    string Source,
    string? Title,
    int? Page,
    string? Section,
    string? Caption,
    int Position,
    string? ImagePath,
    string? ImageUrl,
    string ContentHash,
    IReadOnlyList<string> Tags);

/// <summary>The stored documents.</summary>
public sealed record DocumentListResponse(IReadOnlyList<DocumentResponse> Documents);

/// <summary>One stored document.</summary>
public sealed record DocumentResponse(string Id, string Source, string MediaType, string? Title, int Items, DateTimeOffset IngestedAt, IReadOnlyList<string> Tags);

/// <summary>
/// A knowledge base's model, counts, size and the server's limits, and the calibrated threshold a search or question
/// uses when it names none (so a client can say which cut nothing passed).
/// </summary>
public sealed record KnowledgeBaseResponse(
    string Folder,
    ModelResponse Model,
    int Documents,
    int TextChunks,
    int Images,
    int Failures,
    long StorageBytes,
    bool LlmConfigured,
    int Jobs,
    LimitsResponse Limits,
    double DefaultThreshold);

/// <summary>A model's id and vector dimension.</summary>
public sealed record ModelResponse(string Id, int Dimension);

/// <summary>The server's request limits.</summary>
public sealed record LimitsResponse(long MaxUploadBytes, long MaxImagePixels);

/// <summary>An error, as RFC 9457 problem details (also the <c>error</c> event of a streamed answer).</summary>
public sealed record ProblemResponse(string Type, string Title, int Status, string? Detail);

/// <summary>An ingestion job of the server: where it stands, its progress, what it did and what failed.</summary>
public sealed record JobResponse(
    string Id,
    string State,
    IReadOnlyList<string> Paths,
    DateTimeOffset CreatedAt,
    DateTimeOffset? FinishedAt,
    JobProgressResponse? Progress,
    JobSummaryResponse? Summary,
    IReadOnlyList<JobFailureResponse> Failures,
    string? Error);

/// <summary>How far a running job is; within a large file, how far its items are.</summary>
public sealed record JobProgressResponse(
    int FilesDone, int FilesTotal, int ItemsStored, int Failures, string? CurrentFile, double ElapsedMs, int FileItemsDone, int FileItemsTotal);

/// <summary>What a finished job did (the CLI prints the same summary).</summary>
public sealed record JobSummaryResponse(
    int Files,
    int Added,
    int Unchanged,
    int ClaimedElsewhere,
    int Replaced,
    int Pruned,
    int Failed,
    int Empty,
    int Warnings,
    int Items,
    int Embedded,
    IReadOnlyList<string> Skipped,
    IReadOnlyList<string> Hidden,
    double ElapsedMs);

/// <summary>A file or part of one that failed (<see cref="Warning"/>: it was stored all the same).</summary>
public sealed record JobFailureResponse(string Source, string Reason, string? Detail, bool Warning);

/// <summary>An accepted ingestion request: the job to follow.</summary>
public sealed record IngestAcceptedResponse(
    string JobId,
    string State,
    string StatusUrl,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] IReadOnlyList<string>? SkippedHidden);

/// <summary>
/// How a web ingestion's <c>urls</c> are crawled, as <c>POST /api/ingest</c> takes them beside <c>urls</c> and the
/// server's job journal keeps them: <c>depth</c>, <c>max_pages</c>, <c>same_site</c>, <c>follow</c> (<c>["pdf"]</c>);
/// absent or null is the default. <see cref="WebIngestionRequest.FromWire"/> and <see cref="WebIngestionRequest.ToWire"/>
/// convert it, so the fields are read and written in one place.
/// </summary>
public sealed record CrawlRequest(int? Depth = null, int? MaxPages = null, bool? SameSite = null, IReadOnlyList<string>? Follow = null)
{
    /// <summary>The request's field names, as an error naming them spells them.</summary>
    public const string FieldNames = "'depth', 'max_pages', 'same_site' and 'follow'";

    /// <summary>Whether no field was given (absent and null alike).</summary>
    [JsonIgnore]
    public bool IsEmpty => Depth is null && MaxPages is null && SameSite is null && Follow is null;
}

/// <summary>The token a same-origin page sends with multipart POSTs, and the header to send it in.</summary>
public sealed record CsrfTokenResponse(string Token, string Header);

/// <summary>Liveness.</summary>
public sealed record HealthResponse(string Status);

/// <summary>The body of <c>POST /api/feedback</c>: the query as it was searched (text and/or image), the judged item, and the verdict.</summary>
/// <param name="Query">The query the item was found for.</param>
/// <param name="ItemId">The judged item.</param>
/// <param name="Relevant">True (thumbs up) or false (thumbs down).</param>
/// <param name="Source"><c>api</c> (the default) or <c>page</c>.</param>
public sealed record FeedbackRequest(FeedbackQueryRequest? Query, string? ItemId, bool? Relevant, string? Source);

/// <summary>A query in a feedback request: <see cref="Image"/> as in a search (base64 or a <c>data:</c> URL).</summary>
public sealed record FeedbackQueryRequest(string? Text, string? Image, string? ImageName);

/// <summary>What <c>POST /api/feedback</c> stored: one judgement per query vector.</summary>
public sealed record FeedbackRecordedResponse(IReadOnlyList<string> Ids, IReadOnlyList<FeedbackResponse> Feedback);

/// <summary>The stored relevance judgements, oldest first: those from <see cref="Offset"/> on, of <see cref="Total"/> in all.</summary>
public sealed record FeedbackListResponse(IReadOnlyList<FeedbackResponse> Feedback, int Total, int Offset);

/// <summary>A stored relevance judgement (<see cref="ItemSource"/> null when the item is gone).</summary>
public sealed record FeedbackResponse(
    string Id,
    DateTimeOffset CreatedAt,
    string Source,
    string Modality,
    string? QueryText,
    string? QueryImage,
    string ItemId,
    string? ItemSource,
    bool Relevant,
    string ModelId);
