using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.AI;
using Mmrag.Clip.Preprocessing;
using Mmrag.Hosting.Feedback;
using Mmrag.Hosting.Wire;

namespace Mmrag.Server.Api;

/// <summary><c>/api/feedback</c>: record (the page's thumbs, API clients), list and remove relevance judgements.</summary>
internal static class FeedbackEndpoints
{
    public static void Map(IEndpointRouteBuilder api)
    {
        api.MapPost("/feedback", RecordAsync)
            .WithName("RecordFeedback").WithSummary("Judges a result relevant or not for a query (text and/or image): one judgement per query vector.")
            .Accepts<FeedbackRequest>("application/json")
            .ProducesProblem(StatusCodes.Status400BadRequest).ProducesProblem(StatusCodes.Status404NotFound)
            .ProducesProblem(StatusCodes.Status413PayloadTooLarge).ProducesProblem(StatusCodes.Status501NotImplemented);
        api.MapGet("/feedback", ListAsync).WithName("ListFeedback").WithSummary("The stored relevance judgements, oldest first.")
            .ProducesProblem(StatusCodes.Status501NotImplemented);
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
            if (bytes.Length == 0)
            {
                throw ApiProblemException.BadRequest("The image is empty.");
            }

            ImageDimensions.Check(bytes, knowledgeBase.MaxImagePixels);
            image = new DataContent(bytes, "application/octet-stream") { Name = request.Query.ImageName ?? "query-image" };
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

        var entries = await recorder.ListAsync(cancellationToken: context.RequestAborted).ConfigureAwait(false);
        return TypedResults.Ok(new FeedbackListResponse([.. entries.Select(MmragJson.ToResponse)]));
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
