using System.Text.Json;
using Mmrag.Storage.Embedded;

namespace Mmrag.Hosting.Maintenance;

/// <summary>
/// The last step of a re-embed: the new store's files (built in <see cref="StagingFolderName"/> inside the knowledge
/// base) replace the old ones, in the knowledge base's own folder, under a journal. The journal is written only once
/// the new store is complete, so from then on the swap is rolled forward, by the re-embed itself or, when it was
/// killed, by the next open: first every old store file moves aside, then every new one moves in, then the model is
/// recorded, the journal removed and, last, the old files deleted. No step deletes the only copy of anything, and
/// uploads, cached images and the rest of the folder never move.
/// </summary>
internal static class ReembedSwap
{
    public const string StagingFolderName = ".reembed";
    public const string JournalFileName = "reembed-swap.json";
    private const string RetiredFolderName = ".reembed-old";
    private const string MovingOut = "moving-out";
    private const string MovingIn = "moving-in";

    /// <summary>Called before each step (tests make it throw to stop a swap half-way, as a kill would).</summary>
    internal static Action<string>? BeforeStep { get; set; }

    /// <summary>Whether a file is part of the embedded store (its database, journal files and vector index), rather than the knowledge base's other files.</summary>
    public static bool IsStoreFile(string name) =>
        name.StartsWith(EmbeddedKnowledgeStore.DatabaseFileName, StringComparison.Ordinal)
        || name.StartsWith(EmbeddedKnowledgeStore.IndexFileName, StringComparison.Ordinal);

    /// <summary>Starts the swap of a complete staging store recorded for <paramref name="model"/> and carries it out.</summary>
    public static void Run(string folder, string model)
    {
        WriteJournal(folder, new Journal(MovingOut, model));
        RollForward(folder);
    }

    /// <summary>Finishes a swap that was interrupted (the journal is there); does nothing otherwise.</summary>
    public static void RecoverIfInterrupted(string folder)
    {
        if (File.Exists(Path.Combine(folder, JournalFileName)))
        {
            RollForward(folder);
        }
    }

    private static void RollForward(string folder)
    {
        var journal = ReadJournal(folder);
        var staging = Path.Combine(folder, StagingFolderName);
        var retired = Path.Combine(folder, RetiredFolderName);
        if (journal.Phase == MovingOut)
        {
            // Every store file still in the folder is an old one: nothing new has moved in yet.
            Directory.CreateDirectory(retired);
            foreach (var file in StoreFiles(folder))
            {
                Step("move-out");
                File.Move(file, Path.Combine(retired, Path.GetFileName(file)), overwrite: true);
            }

            Step("phase");
            journal = journal with { Phase = MovingIn };
            WriteJournal(folder, journal);
        }

        foreach (var file in StoreFiles(staging))
        {
            Step("move-in");
            File.Move(file, Path.Combine(folder, Path.GetFileName(file)), overwrite: true);
        }

        Step("record");
        KnowledgeBaseRecord.WriteModel(folder, journal.Model);
        Step("journal");
        File.Delete(Path.Combine(folder, JournalFileName));
        // Only now is the new store the knowledge base: the old files and the empty staging folder can go.
        Step("cleanup");
        if (Directory.Exists(retired))
        {
            Directory.Delete(retired, recursive: true);
        }

        if (Directory.Exists(staging))
        {
            Directory.Delete(staging, recursive: true);
        }
    }

    private static IEnumerable<string> StoreFiles(string folder) => Directory.Exists(folder)
        ? [.. Directory.EnumerateFiles(folder).Where(static f => IsStoreFile(Path.GetFileName(f)))]
        : [];

    private static void Step(string name) => BeforeStep?.Invoke(name);

    private sealed record Journal(string Phase, string Model);

    private static Journal ReadJournal(string folder)
    {
        var path = Path.Combine(folder, JournalFileName);
        try
        {
            using var document = JsonDocument.Parse(File.ReadAllText(path));
            return new Journal(document.RootElement.GetProperty("phase").GetString()!, document.RootElement.GetProperty("model").GetString()!);
        }
        catch (Exception ex) when (ex is JsonException or KeyNotFoundException or InvalidOperationException)
        {
            throw new FormatException($"{path}: the journal of an interrupted re-embed is unreadable ({ex.Message}); the old store files are in "
                + $"{Path.Combine(folder, RetiredFolderName)} and the new ones in {Path.Combine(folder, StagingFolderName)}.", ex);
        }
    }

    private static void WriteJournal(string folder, Journal journal)
    {
        var path = Path.Combine(folder, JournalFileName);
        var temporary = path + ".tmp";
        using (var stream = new FileStream(temporary, FileMode.Create, FileAccess.Write, FileShare.None))
        using (var writer = new Utf8JsonWriter(stream))
        {
            writer.WriteStartObject();
            writer.WriteString("phase", journal.Phase);
            writer.WriteString("model", journal.Model);
            writer.WriteEndObject();
            writer.Flush();
            stream.Flush(flushToDisk: true);
        }

        File.Move(temporary, path, overwrite: true);
    }
}
