using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.AspNetCore.StaticFiles;
using Microsoft.Net.Http.Headers;
using Mmrag.Ingestion.Pipeline;
using Mmrag.Knowledge;
using Mmrag.Server.Jobs;
using Mmrag.Server.Security;

namespace Mmrag.Server.Api;

/// <summary>Items, their images, documents, knowledge-base stats, ingestion and its jobs.</summary>
internal static class KnowledgeEndpoints
{
    private static readonly FileExtensionContentTypeProvider ContentTypes = new();

    public static void Map(IEndpointRouteBuilder api)
    {
        api.MapGet("/items/{id}", GetItemAsync).WithName("GetItem").WithSummary("An item: text chunk or image, with provenance.");
        api.MapGet("/items/{id}/image", GetImageAsync).WithName("GetItemImage").WithSummary("The stored image file of an image item (ETag, Cache-Control); 404 when none.");
        api.MapGet("/documents", ListDocumentsAsync).WithName("ListDocuments").WithSummary("The stored documents.");
        api.MapDelete("/documents/{id}", DeleteDocumentAsync).WithName("DeleteDocument").WithSummary("Deletes a document and its items.");
        api.MapGet("/kb", GetKnowledgeBaseAsync).WithName("GetKnowledgeBase").WithSummary("Knowledge-base stats, model and counts.");
        api.MapPost("/ingest", IngestAsync).WithName("Ingest")
            .WithSummary("Starts an ingestion job for uploaded files (multipart) or a server-side path under an allowed root ({\"path\": …}).")
            .Accepts<IngestBody>("application/json", "multipart/form-data").Produces(StatusCodes.Status202Accepted);
        api.MapGet("/jobs/{id}", (string id, IngestionJobs jobs) => jobs.Find(id) is { } job
                ? Results.Json(JobJson.ToDto(job))
                : Results.Problem(statusCode: 404, title: "Not found", detail: $"No job '{id}'."))
            .WithName("GetJob").WithSummary("An ingestion job: state, progress, per-item failures.");
    }

    private static async Task<IResult> GetItemAsync(string id, KnowledgeBase knowledgeBase, HttpContext context) =>
        await knowledgeBase.Store.GetItemAsync(id, context.RequestAborted).ConfigureAwait(false) is { } item
            ? Results.Text(ApiJson.Item(item), "application/json")
            : NotFound($"No item '{id}'.");

    private static async Task<IResult> GetImageAsync(string id, KnowledgeBase knowledgeBase, HttpContext context)
    {
        var item = await knowledgeBase.Store.GetItemAsync(id, context.RequestAborted).ConfigureAwait(false);
        if (item is null)
        {
            return NotFound($"No item '{id}'.");
        }

        if (item.Kind != ItemKind.Image || item.ImagePath is null || !File.Exists(item.ImagePath))
        {
            return NotFound($"Item '{id}' has no stored image.");
        }

        if (!ContentTypes.TryGetContentType(item.ImagePath, out var contentType) || !contentType.StartsWith("image/", StringComparison.Ordinal))
        {
            contentType = "application/octet-stream";
        }

        context.Response.Headers.CacheControl = "private, max-age=3600";
        var info = new FileInfo(item.ImagePath);
        return Results.File(info.FullName, contentType, lastModified: info.LastWriteTimeUtc,
            entityTag: new EntityTagHeaderValue($"\"{item.ContentHash}\""), enableRangeProcessing: false);
    }

    private static async Task<IResult> ListDocumentsAsync(KnowledgeBase knowledgeBase, HttpContext context)
    {
        var documents = new List<object>();
        await foreach (var document in knowledgeBase.Store.ListDocumentsAsync(context.RequestAborted).ConfigureAwait(false))
        {
            documents.Add(new
            {
                id = document.Id,
                source = document.SourcePath,
                media_type = document.MediaType,
                title = document.Title,
                items = document.ItemCount,
                ingested_at = document.IngestedAt,
                tags = document.Tags,
            });
        }

        return Results.Json(new { documents });
    }

    private static async Task<IResult> DeleteDocumentAsync(string id, KnowledgeBase knowledgeBase, HttpContext context) =>
        await knowledgeBase.Store.DeleteDocumentAndFailuresAsync(id, context.RequestAborted).ConfigureAwait(false)
            ? Results.NoContent()
            : NotFound($"No document '{id}'.");

    private static async Task<IResult> GetKnowledgeBaseAsync(KnowledgeBase knowledgeBase, IngestionJobs jobs, HttpContext context)
    {
        var stats = await knowledgeBase.Store.GetStatsAsync(context.RequestAborted).ConfigureAwait(false);
        return Results.Json(new
        {
            folder = knowledgeBase.Folder,
            model = new { id = stats.Space.ModelId, dimension = stats.Space.Dimension },
            documents = stats.Documents,
            text_chunks = stats.TextChunks,
            images = stats.Images,
            failures = stats.Failures,
            storage_bytes = stats.StorageBytes,
            llm_configured = knowledgeBase.Answerer.HasLlm,
            jobs = jobs.Count,
            limits = new { max_upload_bytes = knowledgeBase.Options.MaxUploadBytes, max_image_pixels = knowledgeBase.Options.MaxImagePixels },
        });
    }

    private static async Task<IResult> IngestAsync(HttpContext context, KnowledgeBase knowledgeBase, IngestionJobs jobs, PathConfinement confinement)
    {
        var request = context.Request;
        var cancellationToken = context.RequestAborted;
        if (request.ContentLength > knowledgeBase.Options.MaxUploadBytes)
        {
            throw new ApiProblemException(StatusCodes.Status413PayloadTooLarge, "Upload too large",
                $"The request has {request.ContentLength} bytes; the limit is {knowledgeBase.Options.MaxUploadBytes}.");
        }

        string[] paths;
        var jobId = IngestionJobs.NewId();
        if (request.HasFormContentType)
        {
            var form = await request.ReadFormAsync(cancellationToken).ConfigureAwait(false);
            if (form.Files.Count == 0)
            {
                throw ApiProblemException.BadRequest("The form has no files.");
            }

            var folder = Path.Combine(knowledgeBase.UploadsFolder, jobId);
            Directory.CreateDirectory(folder);
            foreach (var file in form.Files)
            {
                var target = UniquePath(Path.Combine(folder, SafeRelativeName(file.FileName)));
                Directory.CreateDirectory(Path.GetDirectoryName(target)!);
                var output = new FileStream(target, FileMode.CreateNew, FileAccess.Write, FileShare.None, 81920, useAsync: true);
                await using (output.ConfigureAwait(false))
                {
                    await file.CopyToAsync(output, cancellationToken).ConfigureAwait(false);
                }
            }

            paths = [folder];
        }
        else
        {
            paths = await ReadServerPathsAsync(request, confinement, cancellationToken).ConfigureAwait(false);
        }

        var job = jobs.Start(paths, jobId);
        var location = $"/api/jobs/{job.Id}";
        return Results.Accepted(location, new { job_id = job.Id, state = job.State.ToString().ToLowerInvariant(), status_url = location });
    }

    private static async Task<string[]> ReadServerPathsAsync(HttpRequest request, PathConfinement confinement, CancellationToken cancellationToken)
    {
        IngestBody? body;
        try
        {
            body = await JsonSerializer.DeserializeAsync<IngestBody>(request.Body, JsonSerializerOptions.Web, cancellationToken).ConfigureAwait(false);
        }
        catch (JsonException exception)
        {
            throw ApiProblemException.BadRequest($"Send multipart files, or JSON {{\"path\": \"/allowed/root/folder\"}} ({exception.Message}).");
        }

        var requested = (body?.Paths ?? []).Concat(body?.Path is { } single ? [single] : []).ToArray();
        if (requested.Length == 0)
        {
            throw ApiProblemException.BadRequest("Give 'path' (or 'paths').");
        }

        var resolved = new string[requested.Length];
        for (var i = 0; i < requested.Length; i++)
        {
            var (path, error) = confinement.Resolve(requested[i]);
            resolved[i] = path ?? throw new ApiProblemException(StatusCodes.Status403Forbidden, "Path not allowed", $"'{requested[i]}': {error}");
        }

        return resolved;
    }

    /// <summary>The uploaded name as a relative path (a folder upload keeps its sub-folders), without '..', roots or odd characters.</summary>
    internal static string SafeRelativeName(string fileName)
    {
        var invalid = Path.GetInvalidFileNameChars();
        var segments = fileName.Split('/', '\\')
            .Where(static s => s is not ("" or "." or ".."))
            .Select(s => new string([.. s.Select(c => invalid.Contains(c) || char.IsControl(c) ? '_' : c)]))
            .ToArray();
        return segments.Length == 0 ? "upload" : Path.Combine(segments);
    }

    /// <summary>The path, or NAME-2.EXT, NAME-3.EXT … when a file of the same upload already took it.</summary>
    private static string UniquePath(string path)
    {
        var candidate = path;
        for (var n = 2; File.Exists(candidate); n++)
        {
            candidate = Path.Combine(Path.GetDirectoryName(path)!, $"{Path.GetFileNameWithoutExtension(path)}-{n}{Path.GetExtension(path)}");
        }

        return candidate;
    }

    private static IResult NotFound(string detail) => Results.Problem(statusCode: 404, title: "Not found", detail: detail);

    /// <summary>The JSON body of <c>POST /api/ingest</c> for server-side paths.</summary>
    internal sealed record IngestBody(string? Path, string[]? Paths);
}
