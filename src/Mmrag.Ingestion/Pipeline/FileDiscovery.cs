using Mmrag.Ingestion.Loaders;
using Mmrag.Knowledge;

namespace Mmrag.Ingestion.Pipeline;

/// <summary>A file to ingest and the root it was found under (sidecar and document references may not leave it).</summary>
internal sealed record DiscoveredFile(string Path, string Root);

/// <summary>
/// Finds the files of a run: folders are walked recursively in ordinal name order, skipping hidden entries, the
/// knowledge base's folder and symbolic-link loops; each folder's description sidecars are read on the way (a
/// parent's first, so a subfolder's override them) and the sidecar files themselves are not ingested.
/// </summary>
internal sealed class FileDiscovery
{
    private readonly LoaderRegistry _loaders;
    private readonly string? _knowledgeBase;
    private readonly string? _knowledgeBaseReal;
    private readonly HashSet<string> _visitedFolders = new(PathGuard.Comparer);
    private readonly HashSet<string> _sidecarFolders = new(PathGuard.Comparer);
    private readonly HashSet<string> _seenFiles = new(PathGuard.Comparer);
    private readonly HashSet<string> _sidecarSet = new(PathGuard.Comparer);

    public FileDiscovery(LoaderRegistry loaders, string? knowledgeBaseDirectory)
    {
        _loaders = loaders;
        _knowledgeBase = knowledgeBaseDirectory is null ? null : PathGuard.Normalize(knowledgeBaseDirectory);
        try
        {
            _knowledgeBaseReal = _knowledgeBase is null ? null : PathGuard.RealPath(_knowledgeBase);
        }
        catch (IOException)
        {
            _knowledgeBaseReal = _knowledgeBase;
        }
    }

    public List<DiscoveredFile> Files { get; } = [];

    public List<string> Skipped { get; } = [];

    public List<IngestionFailure> Failures { get; } = [];

    public Dictionary<string, string> Descriptions { get; } = new(PathGuard.Comparer);

    /// <summary>The sidecar files read (failures recorded against them are cleared when they are read again).</summary>
    public List<string> SidecarFiles { get; } = [];

    /// <summary>Folders given to the run (their whole subtree is pruned).</summary>
    public List<string> FolderRoots { get; } = [];

    /// <summary>Single files given to the run.</summary>
    public List<string> ExplicitFiles { get; } = [];

    public void Discover(IReadOnlyList<string> paths, string? descriptionsFile, CancellationToken cancellationToken)
    {
        if (descriptionsFile is not null)
        {
            // Read last (it overrides the folders' sidecars), but never taken for a document on the way.
            _sidecarSet.Add(PathGuard.Normalize(descriptionsFile));
        }

        foreach (var path in paths)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var full = PathGuard.Normalize(path);
            if (Directory.Exists(full))
            {
                FolderRoots.Add(full);
                Walk(full, full, cancellationToken);
            }
            else if (File.Exists(full))
            {
                ExplicitFiles.Add(full);
                var folder = Path.GetDirectoryName(full)!;
                ReadSidecars(folder, folder);
                if (_loaders.Find(full) is null)
                {
                    Skipped.Add(full);
                }
                else if (_seenFiles.Add(full))
                {
                    Files.Add(new DiscoveredFile(full, folder));
                }
            }
            else
            {
                Failures.Add(new IngestionFailure(full, "No such file or folder.", null, DateTimeOffset.UtcNow));
            }
        }

        if (descriptionsFile is not null)
        {
            var roots = FolderRoots.Concat(ExplicitFiles.Select(f => Path.GetDirectoryName(f)!)).ToList();
            Merge(DescriptionSidecars.ReadFile(descriptionsFile, roots));
        }
    }

    private void Walk(string folder, string root, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        string real;
        try
        {
            real = PathGuard.RealPath(folder);
        }
        catch (IOException ex)
        {
            Failures.Add(new IngestionFailure(folder, $"The folder cannot be resolved ({ex.Message}).", null, DateTimeOffset.UtcNow));
            return;
        }

        if (!_visitedFolders.Add(real) || IsKnowledgeBase(folder) || IsKnowledgeBase(real))
        {
            return;
        }

        ReadSidecars(folder, root);
        FileSystemInfo[] entries;
        try
        {
            entries = new DirectoryInfo(folder).GetFileSystemInfos();
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            Failures.Add(new IngestionFailure(folder, $"The folder cannot be listed ({ex.Message}).", null, DateTimeOffset.UtcNow));
            return;
        }

        Array.Sort(entries, (a, b) => string.CompareOrdinal(a.Name, b.Name));
        var subfolders = new List<string>();
        foreach (var entry in entries)
        {
            if (IsHidden(entry))
            {
                continue;
            }

            var path = entry.FullName;
            if (IsDirectory(entry))
            {
                subfolders.Add(path);
            }
            else if (_sidecarSet.Contains(path) || DescriptionSidecars.IsDescriptionTableName(entry.Name))
            {
                // Descriptions, not documents.
            }
            else if (_loaders.Find(path) is null)
            {
                Skipped.Add(path);
            }
            else if (_seenFiles.Add(path))
            {
                Files.Add(new DiscoveredFile(path, root));
            }
        }

        foreach (var subfolder in subfolders)
        {
            Walk(subfolder, root, cancellationToken);
        }
    }

    private void ReadSidecars(string folder, string root)
    {
        if (_sidecarFolders.Add(folder))
        {
            Merge(DescriptionSidecars.ReadFolder(folder, root));
        }
    }

    private void Merge(DescriptionSidecarResult result)
    {
        foreach (var (image, description) in result.Descriptions)
        {
            Descriptions[image] = description;
        }

        Failures.AddRange(result.Failures);
        SidecarFiles.AddRange(result.SidecarFiles);
        _sidecarSet.UnionWith(result.SidecarFiles);
    }

    private bool IsKnowledgeBase(string folder) =>
        _knowledgeBase is not null
        && (string.Equals(folder, _knowledgeBase, PathGuard.Comparison) || string.Equals(folder, _knowledgeBaseReal, PathGuard.Comparison));

    private static bool IsHidden(FileSystemInfo entry) =>
        entry.Name.StartsWith('.') || (OperatingSystem.IsWindows() && entry.Attributes.HasFlag(FileAttributes.Hidden));

    private static bool IsDirectory(FileSystemInfo entry)
    {
        if (entry is DirectoryInfo)
        {
            return true;
        }

        // A symbolic link to a folder is listed as a file entry on some platforms; follow it like a folder (loops are caught by real path).
        return entry.LinkTarget is not null && Directory.Exists(entry.FullName);
    }
}
