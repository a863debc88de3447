using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.AI;
using Mmrag.Hosting.Feedback;
using Mmrag.Hosting.Wire;

namespace Mmrag.Server.Api;

/// <summary><c>/api/feedback</c>: record (the page's thumbs, API clients), list and remove relevance judgements.</summary>
internal static class FeedbackEndpoints
{
    private const int DefaultPageSize = 100;
    private const int MaxPageSize = 1000;

    public static void Map(IEndpointRouteBuilder api)
    {
        api.MapPost("/feedback", RecordAsync)
            .WithName("RecordFeedback").WithSummary("Judges a result relevant or not for a query (text and/or image): one judgement per query vector.")
            .Accepts<FeedbackRequest>("application/json")
            .ProducesProblem(StatusCodes.Status400BadRequest).ProducesProblem(StatusCodes.Status404NotFound)
            .ProducesProblem(StatusCodes.Status413PayloadTooLarge).ProducesProblem(StatusCodes.Status501NotImplemented);
        api.MapGet("/feedback", ListAsync).WithName("ListFeedback")
            .WithSummary($"The stored relevance judgements, oldest first: ?offset= (default 0) and ?limit= (default {DefaultPageSize}, at most {MaxPageSize}); 'total' counts them all.")
            .ProducesProblem(StatusCodes.Status400BadRequest).ProducesProblem(StatusCodes.Status501NotImplemented);
        api.MapDelete("/feedback/{id}", RemoveAsync).WithName("DeleteFeedback").WithSummary("Removes a relevance judgement.")
            .ProducesProblem(StatusCodes.Status404NotFound).ProducesProblem(StatusCodes.Status501NotImplemented);
    }

    private static async Task<Results<Ok<FeedbackRecordedResponse>, ProblemHttpResult>> RecordAsync(HttpContext context, KnowledgeBase knowledgeBase)
    {
        var cancellationToken = context.RequestAborted;
        var recorder = FeedbackRecorder.For(knowledgeBase.Opened);
        if (!recorder.IsSupported)
        {
            return NotSupported();
        }

        var request = await ReadAsync(context.Request, cancellationToken).ConfigureAwait(false);
        if (request.Relevant is not { } relevant)
        {
            throw ApiProblemException.BadRequest("Give 'relevant': true or false.");
        }

        if (string.IsNullOrWhiteSpace(request.ItemId))
        {
            throw ApiProblemException.BadRequest("Give 'item_id': the judged result's id.");
        }

        var source = request.Source ?? FeedbackSources.Api;
        if (source is not (FeedbackSources.Api or FeedbackSources.Page))
        {
            throw ApiProblemException.BadRequest($"'source' must be {FeedbackSources.Api} or {FeedbackSources.Page}, not '{source}'.");
        }

        DataContent? image = null;
        if (request.Query?.Image is { } encoded)
        {
            var bytes = QueryInput.DecodeImage(encoded);
            QueryInput.CheckImage(bytes, knowledgeBase.MaxImagePixels);
            image = new QueryInput { Image = bytes, ImageName = request.Query.ImageName }.ImageContent;
        }

        try
        {
            var stored = await recorder.RecordAsync(request.Query?.Text, image, request.ItemId, relevant, source, cancellationToken).ConfigureAwait(false);
            return TypedResults.Ok(new FeedbackRecordedResponse([.. stored.Select(static j => j.Id)],
                [.. stored.Select(j => MmragJson.ToResponse(new FeedbackEntry(j, null)))]));
        }
        catch (KeyNotFoundException exception)
        {
            return NotFound(exception.Message);
        }
    }

    private static async Task<Results<Ok<FeedbackListResponse>, ProblemHttpResult>> ListAsync(HttpContext context, KnowledgeBase knowledgeBase)
    {
        var recorder = FeedbackRecorder.For(knowledgeBase.Opened);
        if (!recorder.IsSupported)
        {
            return NotSupported();
        }

        var offset = Paging(context.Request, "offset", 0, 0, int.MaxValue);
        var limit = Paging(context.Request, "limit", DefaultPageSize, 1, MaxPageSize);
        var page = await recorder.ListPageAsync(offset, limit, cancellationToken: context.RequestAborted).ConfigureAwait(false);
        return TypedResults.Ok(new FeedbackListResponse([.. page.Entries.Select(MmragJson.ToResponse)], page.Total, offset));
    }

    private static int Paging(HttpRequest request, string name, int fallback, int min, int max)
    {
        var text = request.Query[name].FirstOrDefault();
        if (string.IsNullOrEmpty(text))
        {
            return fallback;
        }

        return int.TryParse(text, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var value) && value >= min && value <= max
            ? value
            : throw ApiProblemException.BadRequest($"'{name}' must be a whole number from {min} to {max}.");
    }

    private static async Task<Results<NoContent, ProblemHttpResult>> RemoveAsync(string id, HttpContext context, KnowledgeBase knowledgeBase)
    {
        var recorder = FeedbackRecorder.For(knowledgeBase.Opened);
        if (!recorder.IsSupported)
        {
            return NotSupported();
        }

        return await recorder.RemoveAsync(id, context.RequestAborted).ConfigureAwait(false)
            ? TypedResults.NoContent()
            : NotFound($"No feedback '{id}'.");
    }

    private static async Task<FeedbackRequest> ReadAsync(HttpRequest request, CancellationToken cancellationToken)
    {
        FeedbackRequest? body;
        try
        {
            body = await JsonSerializer.DeserializeAsync(request.Body, MmragJsonContext.Default.FeedbackRequest, cancellationToken).ConfigureAwait(false);
        }
        catch (JsonException exception)
        {
            // Also text with invalid UTF-8 or an unpaired surrogate: the serializer validates strings as it reads them.
            throw ApiProblemException.BadRequest($"The body is not a feedback JSON object ({exception.Message}).");
        }

        return body ?? throw ApiProblemException.BadRequest("The body must be a JSON object: {\"query\": {\"text\"?, \"image\"?}, \"item_id\", \"relevant\"}.");
    }

    private static ProblemHttpResult NotFound(string detail) => TypedResults.Problem(statusCode: 404, title: "Not found", detail: detail);

    private static ProblemHttpResult NotSupported() => TypedResults.Problem(statusCode: StatusCodes.Status501NotImplemented, title: "Feedback not supported",
        detail: "This knowledge base's store does not keep relevance feedback.");
}
