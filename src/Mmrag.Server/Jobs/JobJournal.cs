using System.Text.Json;

namespace Mmrag.Server.Jobs;

/// <summary>A job as the journal keeps it: enough to run it again.</summary>
internal sealed record JournaledJob(string Id, IReadOnlyList<string> Paths, string? UploadFolder, DateTimeOffset CreatedAt);

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
            writer.WriteEndObject();
            writer.Flush();
            stream.Flush(flushToDisk: true);
        }

        File.Move(temporary, path, overwrite: true);
    }

    public void Remove(string id) => File.Delete(PathOf(id));

    /// <summary>The jobs left unfinished, oldest first; an unreadable entry is set aside (<c>.bad</c>) and reported through <paramref name="unreadable"/>.</summary>
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
                using var document = JsonDocument.Parse(File.ReadAllBytes(path));
                var root = document.RootElement;
                jobs.Add(new JournaledJob(
                    root.GetProperty("id").GetString()!,
                    [.. root.GetProperty("paths").EnumerateArray().Select(static p => p.GetString()!)],
                    root.GetProperty("upload_folder").GetString(),
                    root.GetProperty("created_at").GetDateTimeOffset()));
            }
            catch (Exception exception) when (exception is JsonException or KeyNotFoundException or InvalidOperationException or FormatException or IOException)
            {
                unreadable(path, exception);
                File.Move(path, path + ".bad", overwrite: true);
            }
        }

        return [.. jobs.OrderBy(static j => j.CreatedAt)];
    }

    private string PathOf(string id) =>
        // Job ids are the server's own (hex), never a client's; the check keeps a corrupt entry from naming a path.
        id.All(char.IsAsciiLetterOrDigit) ? Path.Combine(Folder, id + ".json") : throw new ArgumentException($"Not a job id: '{id}'.", nameof(id));
}
