using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Routing;
using Microsoft.AspNetCore.StaticFiles;
using Microsoft.Net.Http.Headers;
using Mmrag.Hosting;
using Mmrag.Hosting.Wire;
using Mmrag.Ingestion.Ocr;
using Mmrag.Ingestion.Pipeline;
using Mmrag.Ingestion.Web;
using Mmrag.Ingestion.Web.Wikipedia;
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
        api.MapGet("/items/{id}", GetItemAsync).WithName("GetItem").WithSummary("An item: text chunk or image, with provenance.")
            .ProducesProblem(StatusCodes.Status404NotFound);
        api.MapGet("/items/{id}/image", GetImageAsync).WithName("GetItemImage").WithSummary("The stored image file of an image item (ETag, Cache-Control); 404 when none.")
            .Produces<Stream>(StatusCodes.Status200OK, "image/jpeg", "image/png", "image/gif", "image/webp", "image/bmp").ProducesProblem(StatusCodes.Status404NotFound);
        api.MapGet("/documents", ListDocumentsAsync).WithName("ListDocuments").WithSummary("The stored documents.");
        api.MapDelete("/documents/{id}", DeleteDocumentAsync).WithName("DeleteDocument").WithSummary("Deletes a document and its items.")
            .ProducesProblem(StatusCodes.Status404NotFound);
        api.MapGet("/kb", GetKnowledgeBaseAsync).WithName("GetKnowledgeBase").WithSummary("Knowledge-base stats, model and counts.");
        api.MapPost("/ingest", IngestAsync).WithName("Ingest")
            .WithSummary("Starts an ingestion job for uploaded files (multipart), server-side paths under an allowed root ({\"path\": …}) and web pages ({\"urls\": […], \"depth\", \"max_pages\", \"same_site\", \"follow\": [\"pdf\"]}).")
            .Accepts<IngestBody>("application/json", "multipart/form-data")
            .ProducesProblem(StatusCodes.Status400BadRequest).ProducesProblem(StatusCodes.Status403Forbidden).ProducesProblem(StatusCodes.Status413PayloadTooLarge);
        api.MapGet("/jobs/{id}", Results<Ok<JobResponse>, ProblemHttpResult> (string id, IngestionJobs jobs) => jobs.Find(id) is { } job
                ? TypedResults.Ok(JobJson.ToDto(job))
                : NotFound($"No job '{id}'."))
            .WithName("GetJob").WithSummary("An ingestion job: state, progress, per-item failures.").ProducesProblem(StatusCodes.Status404NotFound);
        api.MapDelete("/jobs/{id}", Results<Accepted<JobResponse>, ProblemHttpResult> (string id, IngestionJobs jobs) => jobs.Cancel(id) switch
            {
                CancelOutcome.Requested => TypedResults.Accepted($"/api/jobs/{id}", JobJson.ToDto(jobs.Find(id)!)),
                CancelOutcome.AlreadyFinished => TypedResults.Problem(statusCode: 409, title: "Job finished", detail: $"Job '{id}' has already ended ({jobs.Find(id)!.State.ToString().ToLowerInvariant()})."),
                _ => NotFound($"No job '{id}'."),
            })
            .WithName("CancelJob").WithSummary("Cancels a queued or running ingestion job (202; it ends as cancelled, keeping the documents stored so far); 409 when it has ended.")
            .ProducesProblem(StatusCodes.Status404NotFound).ProducesProblem(StatusCodes.Status409Conflict);
    }

    private static async Task<Results<Ok<ItemResponse>, ProblemHttpResult>> GetItemAsync(string id, KnowledgeBase knowledgeBase, HttpContext context) =>
        await knowledgeBase.Store.GetItemAsync(id, context.RequestAborted).ConfigureAwait(false) is { } item
            ? TypedResults.Ok(MmragJson.ToResponse(item))
            : NotFound($"No item '{id}'.");

    private static async Task<Results<PhysicalFileHttpResult, ProblemHttpResult>> GetImageAsync(string id, KnowledgeBase knowledgeBase, HttpContext context)
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
        return TypedResults.PhysicalFile(info.FullName, contentType, lastModified: info.LastWriteTimeUtc,
            entityTag: new EntityTagHeaderValue($"\"{item.ContentHash}\""), enableRangeProcessing: false);
    }

    private static async Task<Ok<DocumentListResponse>> ListDocumentsAsync(KnowledgeBase knowledgeBase, HttpContext context)
    {
        var documents = new List<DocumentResponse>();
        await foreach (var document in knowledgeBase.Store.ListDocumentsAsync(context.RequestAborted).ConfigureAwait(false))
        {
            documents.Add(MmragJson.ToResponse(document));
        }

        return TypedResults.Ok(new DocumentListResponse(documents));
    }

    private static async Task<Results<NoContent, ProblemHttpResult>> DeleteDocumentAsync(string id, KnowledgeBase knowledgeBase, IngestionJobs jobs, HttpContext context)
    {
        var document = await knowledgeBase.Store.GetDocumentAsync(id, context.RequestAborted).ConfigureAwait(false);
        if (!await knowledgeBase.Store.DeleteDocumentAndFailuresAsync(id, context.RequestAborted).ConfigureAwait(false))
        {
            return NotFound($"No document '{id}'.");
        }

        // An uploaded document's file goes with it (a running job's folder is pruned when that job ends).
        if (document is not null && UploadRetention.JobFolderOf(document.SourcePath, UploadsFolder(knowledgeBase)) is { } folder && !jobs.IsInUse(folder))
        {
            try
            {
                await UploadRetention.PruneAsync(folder, knowledgeBase.Store, CancellationToken.None).ConfigureAwait(false);
            }
            catch (Exception exception) when (exception is IOException or UnauthorizedAccessException)
            {
                // The document is gone, which is what was asked; a file that cannot be removed now stays behind.
            }
        }

        return TypedResults.NoContent();
    }

    /// <summary>The uploads folder with symbolic links resolved, so that the paths ingestion stores for uploads are the ones saved.</summary>
    private static string UploadsFolder(KnowledgeBase knowledgeBase) => PathConfinement.RealPath(knowledgeBase.UploadsFolder);

    private static async Task<Ok<KnowledgeBaseResponse>> GetKnowledgeBaseAsync(KnowledgeBase knowledgeBase, IngestionJobs jobs, HttpContext context)
    {
        var stats = await knowledgeBase.Store.GetStatsAsync(context.RequestAborted).ConfigureAwait(false);
        return TypedResults.Ok(new KnowledgeBaseResponse(knowledgeBase.Folder, new ModelResponse(stats.Space.ModelId, stats.Space.Dimension), stats.Documents,
            stats.TextChunks, stats.Images, stats.Failures, stats.StorageBytes, knowledgeBase.Answerer.HasLlm, jobs.Count,
            new LimitsResponse(knowledgeBase.Options.MaxUploadBytes, knowledgeBase.MaxImagePixels), knowledgeBase.Searcher.Options.DefaultThreshold));
    }

    private static async Task<Accepted<IngestAcceptedResponse>> IngestAsync(HttpContext context, KnowledgeBase knowledgeBase, IngestionJobs jobs, PathConfinement confinement)
    {
        var request = context.Request;
        var cancellationToken = context.RequestAborted;
        if (request.ContentLength > knowledgeBase.Options.MaxUploadBytes)
        {
            throw new ApiProblemException(StatusCodes.Status413PayloadTooLarge, "Upload too large",
                $"The request has {request.ContentLength} bytes; the limit is {knowledgeBase.Options.MaxUploadBytes}.");
        }

        var jobId = IngestionJobs.NewId();
        if (!request.HasFormContentType)
        {
            var (resolved, ocr, web) = await ReadServerPathsAsync(request, knowledgeBase, confinement, cancellationToken).ConfigureAwait(false);
            var started = jobs.Start(resolved, jobId, ocrLanguages: ocr, web: web);
            return Accepted(started, []);
        }

        var form = await request.ReadFormAsync(cancellationToken).ConfigureAwait(false);
        if (form.Files.Count == 0)
        {
            throw ApiProblemException.BadRequest("The form has no files.");
        }

        var ocrLanguages = await OcrLanguagesAsync(form["ocr"].ToString() is "true" or "on" or "1", form.TryGetValue("ocr_lang", out var lang) ? lang.ToString() : null,
            cancellationToken).ConfigureAwait(false);

        // Every name is checked before anything is written, so a refused upload leaves nothing behind.
        var names = form.Files.Select(static file => (File: file, Name: SafeRelativeName(file.FileName))).ToList();
        var hidden = names.Where(static n => IsHidden(n.Name)).Select(static n => n.File.FileName).ToList();
        names.RemoveAll(static n => IsHidden(n.Name));
        if (names.Count == 0)
        {
            throw ApiProblemException.BadRequest(
                $"Nothing to ingest: {string.Join(", ", hidden.Take(5).Select(static n => $"'{n}'"))} {(hidden.Count == 1 ? "is" : "are")} hidden (names starting with '.' are never ingested); rename {(hidden.Count == 1 ? "it" : "them")}.");
        }

        var folder = Path.Combine(UploadsFolder(knowledgeBase), jobId);
        try
        {
            foreach (var (file, name) in names)
            {
                var target = UniquePath(Path.Combine(folder, name));
                Directory.CreateDirectory(Path.GetDirectoryName(target)!);
                var output = new FileStream(target, FileMode.CreateNew, FileAccess.Write, FileShare.None, 81920, useAsync: true);
                await using (output.ConfigureAwait(false))
                {
                    await file.CopyToAsync(output, cancellationToken).ConfigureAwait(false);
                }
            }
        }
        catch
        {
            DeleteQuietly(folder);
            throw;
        }

        var job = jobs.Start([folder], jobId, uploadFolder: folder, ocrLanguages: ocrLanguages);
        return Accepted(job, hidden);
    }

    private static Accepted<IngestAcceptedResponse> Accepted(IngestionJob job, IReadOnlyList<string> skippedHidden)
    {
        var location = $"/api/jobs/{job.Id}";
        return TypedResults.Accepted(location,
            new IngestAcceptedResponse(job.Id, job.State.ToString().ToLowerInvariant(), location, skippedHidden.Count == 0 ? null : skippedHidden));
    }

    private static bool IsHidden(string relativeName) => relativeName.Split(Path.DirectorySeparatorChar).Any(static segment => segment.StartsWith('.'));

    private static void DeleteQuietly(string folder)
    {
        try
        {
            if (Directory.Exists(folder))
            {
                Directory.Delete(folder, recursive: true);
            }
        }
        catch (Exception exception) when (exception is IOException or UnauthorizedAccessException)
        {
            // Best effort: the request's own error is the one to report.
        }
    }

    /// <summary>
    /// The OCR languages a request asks for (<c>"ocr": true</c>, <c>"ocr_lang": "eng+deu"</c>; a language alone implies
    /// OCR), checked against the server's Tesseract before the job is queued; null when OCR is not asked for.
    /// </summary>
    private static async Task<string?> OcrLanguagesAsync(bool ocr, string? languages, CancellationToken cancellationToken)
    {
        if (new IngestionRequest { OcrLanguages = IngestionRequest.OcrLanguagesFor(ocr, languages) }.Ocr is not { } settings)
        {
            return null;
        }

        try
        {
            var reader = new TesseractOcr(settings);
            await reader.VerifyAsync(cancellationToken).ConfigureAwait(false);
            return reader.Options.Languages;
        }
        catch (ArgumentException exception)
        {
            throw ApiProblemException.BadRequest($"'ocr_lang': {exception.Message}");
        }
        catch (OcrException exception)
        {
            throw new ApiProblemException(StatusCodes.Status503ServiceUnavailable, "OCR unavailable", exception.Message);
        }
    }

    private static async Task<(string[] Paths, string? OcrLanguages, WebIngestionRequest? Web)> ReadServerPathsAsync(HttpRequest request,
        KnowledgeBase knowledgeBase, PathConfinement confinement, CancellationToken cancellationToken)
    {
        JsonDocument document;
        try
        {
            document = await JsonDocument.ParseAsync(request.Body, cancellationToken: cancellationToken).ConfigureAwait(false);
        }
        catch (JsonException exception)
        {
            throw ApiProblemException.BadRequest($"Send multipart files, or JSON {{\"path\": \"/allowed/root/folder\"}} or {{\"urls\": [\"https://…\"]}} ({exception.Message}).");
        }

        var requested = new List<string>();
        var urls = new List<string>();
        bool ocr;
        string? ocrLanguages;
        List<string> articles;
        WebIngestionRequest? web = null;
        using (document)
        {
            var root = document.RootElement;
            if (root.ValueKind != JsonValueKind.Object)
            {
                throw ApiProblemException.BadRequest("The body must be a JSON object: {\"path\": …}, {\"paths\": […]} or {\"urls\": […]}.");
            }

            requested.AddRange(Strings(root, "paths"));
            urls.AddRange(Strings(root, "urls"));
            var crawl = Crawl(root);
            if (urls.Count == 0 && !crawl.IsEmpty)
            {
                // Paths and Wikipedia articles are read alone: settings that would be dropped silently are the client's mistake.
                throw ApiProblemException.BadRequest($"{CrawlRequest.FieldNames} say how 'urls' are crawled, and this request gives no 'urls'.");
            }

            if (urls.Count > 0)
            {
                web = WebIngestionRequest.FromWire(crawl);
                try
                {
                    web.Validate();
                }
                catch (ArgumentException exception)
                {
                    throw ApiProblemException.BadRequest(exception.Message);
                }

                if (knowledgeBase.Options.CrawlRefusal(web) is { } refusal)
                {
                    throw ApiProblemException.BadRequest(refusal);
                }
            }

            if (QueryInput.String(root, "path") is { } single)
            {
                requested.Add(single);
            }

            ocr = QueryInput.Bool(root, "ocr");
            ocrLanguages = QueryInput.String(root, "ocr_lang");
            articles = WikipediaPaths(root, knowledgeBase.Wikipedia);
        }

        if (requested.Count + urls.Count + articles.Count == 0)
        {
            throw ApiProblemException.BadRequest("Give 'path' (or 'paths'), 'urls', or 'wikipedia' article titles.");
        }

        if (knowledgeBase.Options.PageCountRefusal(urls.Count + articles.Count) is { } tooMany)
        {
            throw ApiProblemException.BadRequest(tooMany);
        }

        var resolved = new List<string>(requested.Count + urls.Count);
        foreach (var requestedPath in requested)
        {
            var (path, error) = confinement.Resolve(requestedPath);
            resolved.Add(path ?? throw new ApiProblemException(StatusCodes.Status403Forbidden, "Path not allowed", $"'{requestedPath}': {error}"));
        }

        foreach (var url in urls)
        {
            // Only the form is checked here; whether the host may be reached is the fetcher's guard's decision, per connection.
            var absolute = url.Length > MmragServerOptions.MaxUrlLength ? null : RemoteSources.TryParse(url)?.AbsoluteUri;
            if (MmragServerOptions.UrlLengthRefusal(url, absolute) is { } tooLong)
            {
                throw ApiProblemException.BadRequest(tooLong);
            }

            resolved.Add(absolute
                ?? throw ApiProblemException.BadRequest($"'urls': '{(url.Length <= 200 ? url : url[..200] + "…")}' is not an absolute http or https URL."));
        }

        return ([.. resolved, .. articles], await OcrLanguagesAsync(ocr, ocrLanguages, cancellationToken).ConfigureAwait(false), web);
    }

    /// <summary>The crawl settings of the request's body (the wire's <see cref="CrawlRequest"/>; its other fields are read elsewhere).</summary>
    private static CrawlRequest Crawl(JsonElement root)
    {
        // Counted before the list is built: a 64 MiB body holds millions of entries.
        if (root.TryGetProperty("follow", out var follow) && follow.ValueKind == JsonValueKind.Array && follow.GetArrayLength() > MaxListEntries)
        {
            throw ApiProblemException.BadRequest($"'follow' holds {follow.GetArrayLength():N0} entries; at most {MaxListEntries:N0} per request.");
        }

        try
        {
            return root.Deserialize(MmragJsonContext.Default.CrawlRequest) ?? new CrawlRequest();
        }
        catch (JsonException exception)
        {
            throw ApiProblemException.BadRequest(
                $"'{exception.Path?.TrimStart('$', '.')}' is not of its type: 'depth' and 'max_pages' are integers, 'same_site' true or false, 'follow' an array of strings.");
        }
    }

    /// <summary>A JSON array of strings (absent or null: none).</summary>
    private static List<string> Strings(JsonElement root, string name)
    {
        if (!root.TryGetProperty(name, out var values) || values.ValueKind == JsonValueKind.Null)
        {
            return [];
        }

        if (values.ValueKind != JsonValueKind.Array)
        {
            throw ApiProblemException.BadRequest($"'{name}' must be an array of strings.");
        }

        // Each entry becomes journaled work (a path, a page to fetch, an article with its images): one request may not
        // queue a million of them.
        if (values.GetArrayLength() > MaxListEntries)
        {
            throw ApiProblemException.BadRequest($"'{name}' holds {values.GetArrayLength():N0} entries; at most {MaxListEntries:N0} per request.");
        }

        return [.. values.EnumerateArray().Select(v => QueryInput.StringValue(v, name) ?? throw ApiProblemException.BadRequest($"'{name}' must not hold null."))];
    }

    /// <summary>
    /// <c>"wikipedia": ["Helsinki", …]</c> with an optional <c>"lang": "fi"</c>, as the job paths <c>wikipedia:LANG:Title</c>
    /// the run resolves (the job journal keeps them like any path); a title or language that cannot be one in the server's
    /// <paramref name="wiki"/> is a 400.
    /// </summary>
    private static List<string> WikipediaPaths(JsonElement root, WikipediaOptions wiki)
    {
        var titles = Strings(root, "wikipedia");
        var language = QueryInput.String(root, "lang");
        var paths = new List<string>(titles.Count);
        foreach (var title in titles)
        {
            try
            {
                var path = WikipediaSourceResolver.PathOf(title, language);
                // Checked now (WikipediaSource.CheckedTitle: form and MediaWiki's length limit), so that a malformed
                // title or language is the request's error, not the job's.
                _ = new WikipediaSourceResolver(wiki).Resolve(path);
                paths.Add(path);
            }
            catch (ArgumentException exception)
            {
                throw ApiProblemException.BadRequest($"'wikipedia': {exception.Message}");
            }
        }

        return language is not null && titles.Count == 0 ? throw ApiProblemException.BadRequest("'lang' is the language of 'wikipedia' titles; give some.") : paths;
    }

    /// <summary>Most entries in one of the request's lists (paths, urls, wikipedia titles, follow).</summary>
    internal const int MaxListEntries = 1_000;

    /// <summary>The longest uploaded name segment, in UTF-8 bytes: file systems allow 255, less room for a "-N" suffix.</summary>
    internal const int MaxNameBytes = 240;

    /// <summary>The longest uploaded relative path (folder uploads), in UTF-8 bytes.</summary>
    internal const int MaxPathBytes = 1024;

    /// <summary>The uploaded name as a relative path (a folder upload keeps its sub-folders), without '..', roots or odd characters.</summary>
    /// <exception cref="ApiProblemException">A segment or the whole name is too long for the file system.</exception>
    internal static string SafeRelativeName(string fileName)
    {
        var invalid = Path.GetInvalidFileNameChars();
        var segments = fileName.Split('/', '\\')
            .Where(static s => s is not ("" or "." or ".."))
            .Select(s => new string([.. s.Select(c => invalid.Contains(c) || char.IsControl(c) ? '_' : c)]))
            .ToArray();
        if (segments.FirstOrDefault(static s => Encoding.UTF8.GetByteCount(s) > MaxNameBytes) is { } tooLong)
        {
            throw ApiProblemException.BadRequest($"The file name '{Preview(tooLong)}' is {Encoding.UTF8.GetByteCount(tooLong)} bytes long; the limit is {MaxNameBytes}.");
        }

        var name = segments.Length == 0 ? "upload" : Path.Combine(segments);
        return Encoding.UTF8.GetByteCount(name) <= MaxPathBytes ? name
            : throw ApiProblemException.BadRequest($"The uploaded path '{Preview(name)}' is {Encoding.UTF8.GetByteCount(name)} bytes long; the limit is {MaxPathBytes}.");
    }

    /// <summary>The first 40 characters of a long name, for messages (never cutting a surrogate pair).</summary>
    private static string Preview(string name)
    {
        var length = char.IsHighSurrogate(name[39]) ? 39 : 40;
        return name[..length] + "…";
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

    private static ProblemHttpResult NotFound(string detail) => TypedResults.Problem(statusCode: 404, title: "Not found", detail: detail);

    /// <summary>The JSON body of <c>POST /api/ingest</c> for server-side paths, web pages and Wikipedia articles.</summary>
    internal sealed record IngestBody(string? Path, string[]? Paths, bool? Ocr, string? OcrLang, string[]? Urls, int? Depth, int? MaxPages, bool? SameSite,
        string[]? Follow, string[]? Wikipedia, string? Lang);
}
