using System.Text.Json;
using Mmrag.Hosting;
using Mmrag.Hosting.Wire;
using Mmrag.Ingestion.Loaders;

namespace Mmrag.Server.Jobs;

/// <summary>A job as the journal keeps it: enough to run it again.</summary>
internal sealed record JournaledJob(string Id, IReadOnlyList<string> Paths, string? UploadFolder, DateTimeOffset CreatedAt)
{
    /// <summary>The OCR languages the job reads images with (<c>eng+deu</c>); null: no OCR.</summary>
    public string? OcrLanguages { get; init; }

    /// <summary>How the job's URLs are crawled; null: the pages alone.</summary>
    public WebIngestionRequest? Web { get; init; }
}

/// <summary>
/// The server's ingestion jobs on disk (<c>jobs/ID.json</c> in the knowledge base's local folder), so that a job the
/// server was stopped or killed in the middle of runs again when it starts: ingestion is incremental, so running it
/// again finishes it without redoing what was stored. An entry is written (atomically) when a job is queued and
/// removed when it ends on its own or is cancelled by a user; one left behind is a job to resume.
/// </summary>
internal sealed class JobJournal(string folder)
{
    public const string FolderName = "jobs";

    public string Folder { get; } = folder;

    public void Record(JournaledJob job)
    {
        Directory.CreateDirectory(Folder);
        var path = PathOf(job.Id);
        var temporary = path + ".tmp";
        using (var stream = new FileStream(temporary, FileMode.Create, FileAccess.Write, FileShare.None))
        using (var writer = new Utf8JsonWriter(stream))
        {
            writer.WriteStartObject();
            writer.WriteString("id", job.Id);
            writer.WriteStartArray("paths");
            foreach (var jobPath in job.Paths)
            {
                writer.WriteStringValue(jobPath);
            }

            writer.WriteEndArray();
            writer.WriteString("upload_folder", job.UploadFolder);
            writer.WriteString("created_at", job.CreatedAt);
            if (job.OcrLanguages is { } languages)
            {
                writer.WriteString("ocr_languages", languages);
            }

            if (job.Web is { } web)
            {
                writer.WritePropertyName("web");
                JsonSerializer.Serialize(writer, web.ToWire(), MmragJsonContext.Default.CrawlRequest);
            }

            writer.WriteEndObject();
            writer.Flush();
            stream.Flush(flushToDisk: true);
        }

        File.Move(temporary, path, overwrite: true);
    }

    public void Remove(string id) => File.Delete(PathOf(id));

    /// <summary>
    /// The jobs left unfinished, oldest first. An entry that is not a regular file, is larger than
    /// <see cref="MaxEntryBytes"/>, does not parse, or names another job than its file is set aside (<c>.bad</c>) and
    /// reported through <paramref name="unreadable"/>: nothing in this folder is trusted further than the server's own format.
    /// </summary>
    public IReadOnlyList<JournaledJob> Unfinished(Action<string, Exception> unreadable)
    {
        if (!Directory.Exists(Folder))
        {
            return [];
        }

        List<JournaledJob> jobs = [];
        foreach (var path in Directory.EnumerateFiles(Folder, "*.json"))
        {
            try
            {
                jobs.Add(Read(path));
            }
            catch (Exception exception) when (exception is JsonException or KeyNotFoundException or InvalidOperationException or FormatException
                or InvalidDataException or IOException or UnauthorizedAccessException)
            {
                unreadable(path, exception);
                SetAside(path, unreadable);
            }
        }

        return [.. jobs.OrderBy(static j => j.CreatedAt)];
    }

    /// <summary>Moves an entry out of the way (<c>.bad</c>), so that it is neither resumed nor read again.</summary>
    public void SetAside(string path, Action<string, Exception> failed)
    {
        try
        {
            File.Move(path, path + ".bad", overwrite: true);
        }
        catch (Exception exception) when (exception is IOException or UnauthorizedAccessException)
        {
            failed(path, exception);
        }
    }

    /// <summary>The entry file of job <paramref name="id"/>.</summary>
    public string PathOf(string id) =>
        // Job ids are the server's own (hex), never a client's; the check keeps a corrupt entry from naming a path.
        IsJobId(id) ? Path.Combine(Folder, id + ".json") : throw new ArgumentException($"Not a job id: '{id}'.", nameof(id));

    /// <summary>
    /// The largest entry read. It must hold anything a request can make (each list at most 1,000 entries, a path up to
    /// 4,096 characters, a URL up to 2,048, a title 255 bytes; up to 4 UTF-8 bytes a character, JSON escapes aside), or
    /// an accepted job would be set aside at the next start.
    /// </summary>
    public const int MaxEntryBytes = 64 << 20;

    private static JournaledJob Read(string path)
    {
        // A FIFO or device named *.json is refused without blocking; a huge file without being read.
        using var stream = RegularFiles.OpenRead(path);
        if (stream.Length > MaxEntryBytes)
        {
            throw new InvalidDataException($"{path}: {stream.Length:N0} bytes, more than a job entry can be.");
        }

        using var document = JsonDocument.Parse(stream);
        var root = document.RootElement;
        var id = root.GetProperty("id").GetString();
        if (id is null || !IsJobId(id) || id != Path.GetFileNameWithoutExtension(path))
        {
            throw new InvalidDataException($"{path}: names job '{id}', not the job of its file name.");
        }

        return new JournaledJob(
            id,
            [.. root.GetProperty("paths").EnumerateArray().Select(static p => p.GetString() ?? throw new InvalidDataException("A job path is null."))],
            root.GetProperty("upload_folder").GetString(),
            root.GetProperty("created_at").GetDateTimeOffset())
        {
            OcrLanguages = root.TryGetProperty("ocr_languages", out var ocr) ? ocr.GetString() : null,
            Web = root.TryGetProperty("web", out var web) ? ReadWeb(web) : null,
        };
    }

    private static WebIngestionRequest ReadWeb(JsonElement web)
    {
        var request = WebIngestionRequest.FromWire(web.Deserialize(MmragJsonContext.Default.CrawlRequest)
            ?? throw new InvalidDataException("The job's crawl settings are null."));
        try
        {
            request.Validate();
        }
        catch (ArgumentException exception)
        {
            throw new InvalidDataException(exception.Message, exception);
        }

        return request;
    }

    private static bool IsJobId(string id) => id.Length is > 0 and <= 64 && id.All(char.IsAsciiLetterOrDigit);
}
