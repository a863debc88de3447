using Mmrag.Ingestion.Loaders;
using Mmrag.Ingestion.Pipeline;
using Mmrag.Storage;

namespace Mmrag.Server.Jobs;

/// <summary>
/// What is kept of an upload (<c>KB/uploads/JOB/</c>): a file stays while it is the source of a stored document (it is
/// that document's only copy, which re-embedding reads again), and so do the description sidecars beside it; every other
/// file (failed, skipped, or not reached by a cancelled job) is deleted when the job ends, and the job's folder goes
/// once no stored document comes from it. Deleting a document applies the same rule to its upload folder.
/// </summary>
internal static class UploadRetention
{
    private static readonly EnumerationOptions AllFiles = new() { RecurseSubdirectories = true, AttributesToSkip = 0, IgnoreInaccessible = false };

    /// <summary>Applies the rule to one job's upload folder (which must not be in use by a running job).</summary>
    /// <returns>Whether the folder still exists (some stored document comes from it).</returns>
    public static async Task<bool> PruneAsync(string folder, IKnowledgeStore store, CancellationToken cancellationToken = default)
    {
        if (!Directory.Exists(folder))
        {
            return false;
        }

        var files = Directory.GetFiles(folder, "*", AllFiles);
        var stored = new List<string>();
        foreach (var file in files)
        {
            if (await store.GetDocumentAsync(DocumentIds.ForPath(file), cancellationToken).ConfigureAwait(false) is not null)
            {
                stored.Add(file);
            }
        }

        foreach (var file in files.Except(stored).Where(file => !IsSidecar(file, stored)))
        {
            File.Delete(file);
        }

        if (stored.Count == 0)
        {
            Directory.Delete(folder, recursive: true);
            return false;
        }

        RemoveEmptyFolders(folder);
        return true;
    }

    /// <summary>The job folder (<c>uploads/JOB</c>) holding <paramref name="sourcePath"/>, or null when it is not an upload.</summary>
    public static string? JobFolderOf(string sourcePath, string uploadsFolder)
    {
        var relative = Path.GetRelativePath(uploadsFolder, sourcePath);
        var segments = relative.Split(Path.DirectorySeparatorChar);
        return Path.IsPathRooted(relative) || segments.Length < 2 || segments[0] == ".." ? null : Path.Combine(uploadsFolder, segments[0]);
    }

    /// <summary>A description table, or the <c>NAME.txt</c> / <c>NAME.EXT.txt</c> description of a stored image beside it (see <see cref="DescriptionSidecars"/>).</summary>
    private static bool IsSidecar(string file, List<string> stored)
    {
        var name = Path.GetFileName(file);
        if (DescriptionSidecars.IsDescriptionTableName(name))
        {
            return true;
        }

        if (!name.EndsWith(".txt", StringComparison.OrdinalIgnoreCase))
        {
            return false;
        }

        var described = name[..^4];
        var folder = Path.GetDirectoryName(file);
        return stored.Any(s => string.Equals(Path.GetDirectoryName(s), folder, StringComparison.Ordinal)
            && (string.Equals(Path.GetFileName(s), described, StringComparison.Ordinal) || string.Equals(Path.GetFileNameWithoutExtension(s), described, StringComparison.Ordinal)));
    }

    private static void RemoveEmptyFolders(string folder)
    {
        foreach (var sub in Directory.GetDirectories(folder))
        {
            RemoveEmptyFolders(sub);
            if (Directory.GetFileSystemEntries(sub).Length == 0)
            {
                Directory.Delete(sub);
            }
        }
    }
}
