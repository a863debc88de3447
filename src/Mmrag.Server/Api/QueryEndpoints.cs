using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Routing;
using Mmrag.Answering;
using Mmrag.Answering.Reranking;
using Mmrag.Hosting.Wire;
using Mmrag.Retrieval.Search;
using Mmrag.Server.Observability;

namespace Mmrag.Server.Api;

/// <summary><c>POST /api/search</c> and <c>POST /api/ask</c> (JSON, or Server-Sent Events with <c>Accept: text/event-stream</c>).</summary>
internal static class QueryEndpoints
{
    public static void Map(IEndpointRouteBuilder api)
    {
        api.MapPost("/search", SearchAsync)
            .WithName("Search").WithSummary("Search by text and/or image (JSON with base64 image, or multipart).")
            .Accepts<SearchBody>("application/json", "multipart/form-data")
            .ProducesProblem(StatusCodes.Status400BadRequest).ProducesProblem(StatusCodes.Status413PayloadTooLarge);
        api.MapPost("/ask", AskAsync)
            .WithName("Ask").WithSummary("Answer a question with citations; streams sources, token, citations, done events with Accept: text/event-stream.")
            .Accepts<AskBody>("application/json", "multipart/form-data")
            // One 200 per operation in OpenAPI: the JSON answer. The event stream's "done" event carries the same document.
            .Produces<AnswerResponse>(StatusCodes.Status200OK, "application/json")
            .ProducesProblem(StatusCodes.Status400BadRequest).ProducesProblem(StatusCodes.Status413PayloadTooLarge).ProducesProblem(StatusCodes.Status502BadGateway);
    }

    private static async Task<Ok<SearchResponse>> SearchAsync(HttpContext context, KnowledgeBase knowledgeBase, ServerMetrics metrics)
    {
        var cancellationToken = context.RequestAborted;
        var input = await QueryInput.ReadAsync(context.Request, knowledgeBase.MaxImagePixels, cancellationToken).ConfigureAwait(false);
        if (input.Text is null && input.Image is null)
        {
            throw ApiProblemException.BadRequest("Give 'text' and/or 'image'.");
        }

        var search = await knowledgeBase.Opened.SearchAsync(new SearchRequest
        {
            Text = input.Text,
            Image = input.ImageContent,
            K = input.K ?? QueryVocabulary.DefaultSearchK,
            Target = ParseTarget(input.Target),
            Threshold = input.Threshold,
            Recall = input.Recall,
            IncludeSelf = input.IncludeSelf,
            UseAdapter = input.UseAdapter,
        }, ParseRerank(input.Rerank), cancellationToken).ConfigureAwait(false);
        metrics.RecordSearch(search.Result.EmbedTime, search.Result.SearchTime);
        return TypedResults.Ok(MmragJson.ToResponse(search));
    }

    private static async Task AskAsync(HttpContext context, KnowledgeBase knowledgeBase)
    {
        var cancellationToken = context.RequestAborted;
        var input = await QueryInput.ReadAsync(context.Request, knowledgeBase.MaxImagePixels, cancellationToken).ConfigureAwait(false);
        if (input.Text is null && input.Image is null)
        {
            throw ApiProblemException.BadRequest("Give 'question' (or 'text') and/or 'image'.");
        }

        var question = new Question(input.Text ?? "", input.ImageContent);
        var options = new AnswerOptions
        {
            Strategy = ParseStrategy(input.Strategy),
            K = input.K ?? QueryVocabulary.DefaultAnswerK,
            MaxImages = input.MaxImages ?? QueryVocabulary.DefaultMaxImages,
            Threshold = input.Threshold,
            NoContextBehavior = input.Decline ? NoContextBehavior.Decline : NoContextBehavior.AnswerWithoutContext,
            Rerank = ParseRerank(input.Rerank),
            UseAdapter = input.UseAdapter,
        };

        var streaming = context.Request.Headers.Accept.Any(static a => a is not null && a.Contains("text/event-stream", StringComparison.OrdinalIgnoreCase));
        if (!streaming)
        {
            var answer = await knowledgeBase.Answerer.AskAsync(question, options, cancellationToken).ConfigureAwait(false);
            await TypedResults.Ok(MmragJson.ToResponse(answer)).ExecuteAsync(context).ConfigureAwait(false);
            return;
        }

        await StreamAsync(context, knowledgeBase.Answerer, question, options, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// <c>sources</c> first, then one <c>token</c> per piece of text, then <c>citations</c> and <c>done</c> (the whole
    /// answer as in the JSON response); a failure after the stream started ends it with <c>error</c> (a problem object).
    /// </summary>
    private static async Task StreamAsync(HttpContext context, Answerer answerer, Question question, AnswerOptions options, CancellationToken cancellationToken)
    {
        var response = context.Response;
        var updates = answerer.AskStreamingAsync(question, options, cancellationToken).GetAsyncEnumerator(cancellationToken);
        await using var _ = updates.ConfigureAwait(false);

        // Errors before the first update (bad image, store failure) still become an ordinary problem response.
        var hasFirst = await updates.MoveNextAsync().ConfigureAwait(false);
        response.ContentType = "text/event-stream; charset=utf-8";
        response.Headers.CacheControl = "no-cache";
        response.Headers["X-Accel-Buffering"] = "no";
        context.Features.Get<IHttpResponseBodyFeature>()?.DisableBuffering();
        try
        {
            for (var has = hasFirst; has; has = await updates.MoveNextAsync().ConfigureAwait(false))
            {
                var update = updates.Current;
                switch (update.Kind)
                {
                    case AnswerUpdateKind.Sources:
                        await WriteEventAsync(response, "sources", MmragJson.Serialize(new AnswerSourcesEvent(update.NoContext, MmragJson.Sources(update.Sources))),
                            cancellationToken).ConfigureAwait(false);
                        break;
                    case AnswerUpdateKind.Token when !string.IsNullOrEmpty(update.Text):
                        await WriteEventAsync(response, "token", MmragJson.Serialize(new AnswerTokenEvent(update.Text)), cancellationToken).ConfigureAwait(false);
                        break;
                    case AnswerUpdateKind.Completed when update.Answer is { } answer:
                        await WriteEventAsync(response, "citations", MmragJson.Serialize(MmragJson.CitationsEvent(answer)), cancellationToken).ConfigureAwait(false);
                        await WriteEventAsync(response, "done", MmragJson.Serialize(MmragJson.ToResponse(answer)), cancellationToken).ConfigureAwait(false);
                        break;
                }
            }
        }
        catch (Exception exception) when (!cancellationToken.IsCancellationRequested && ServerErrors.Map(exception) is { } problem)
        {
            await WriteEventAsync(response, "error", MmragJson.Serialize(new ProblemResponse("about:blank", problem.Title, problem.Status, problem.Detail)),
                CancellationToken.None).ConfigureAwait(false);
        }
    }

    private static async Task WriteEventAsync(HttpResponse response, string name, string data, CancellationToken cancellationToken)
    {
        // data is one line of JSON: newlines inside strings are escaped, so one data: field is enough.
        await response.WriteAsync($"event: {name}\ndata: {data}\n\n", cancellationToken).ConfigureAwait(false);
        await response.Body.FlushAsync(cancellationToken).ConfigureAwait(false);
    }

    internal static SearchTarget ParseTarget(string? target) => QueryVocabulary.TryParseTarget(target, out var parsed)
        ? parsed
        : throw ApiProblemException.BadRequest($"'target' must be {string.Join(", ", QueryVocabulary.TargetNames)}, not '{target}'.");

    internal static AnswerStrategy ParseStrategy(string? strategy) => QueryVocabulary.TryParseStrategy(strategy, out var parsed)
        ? parsed
        : throw ApiProblemException.BadRequest($"'strategy' must be {string.Join(", ", QueryVocabulary.StrategyNames)}, not '{strategy}'.");

    internal static RerankOptions? ParseRerank(string? rerank) => QueryVocabulary.TryParseRerank(rerank, out var parsed)
        ? parsed
        : throw ApiProblemException.BadRequest($"'rerank' must be {QueryVocabulary.RerankSyntax}, not '{rerank}'.");

    /// <summary>The JSON body of <c>POST /api/search</c>, for the OpenAPI document.</summary>
    internal sealed record SearchBody(string? Text, string? Image, int? K, string? Target, double? Threshold, bool? IncludeSelf, double? Recall, string? Rerank,
        bool? Adapter);

    /// <summary>The JSON body of <c>POST /api/ask</c>, for the OpenAPI document.</summary>
    internal sealed record AskBody(string? Question, string? Image, string? Strategy, int? K, double? Threshold, int? MaxImages, bool? DeclineWithoutContext,
        string? Rerank, bool? Adapter);
}
