using Mmrag.Ingestion.Loaders;
using Mmrag.Knowledge;

namespace Mmrag.Ingestion.Pipeline;

/// <summary>A file to ingest and the root it was found under (sidecar and document references may not leave it).</summary>
/// <param name="Path">The file as found (links not resolved: it names the document).</param>
/// <param name="Root">The folder given to the run, or an explicitly named file's folder.</param>
/// <param name="RealRoot">
/// The real path of the folder given to the run, which the file's real path must stay under; null for a file named
/// explicitly (it may be a link: the user chose it).
/// </param>
internal sealed record DiscoveredFile(string Path, string Root, string? RealRoot);

/// <summary>
/// Finds the files of a run: folders are walked recursively in ordinal name order, skipping hidden entries (listed in
/// <see cref="Hidden"/>), the knowledge base's folder and symbolic-link loops; each folder's description sidecars are
/// read on the way (a parent's first, so a subfolder's override them) and the sidecar files themselves are not ingested.
/// <para>
/// Confinement: inside a folder given to the run, an entry (file or folder, at any depth) is taken only when its real
/// path — every symbolic link along it resolved — stays under the real path of that folder; a link leading out is
/// not followed and is a failure naming it. Anything that is not a regular file once links are followed (FIFO,
/// device, socket) is a failure too, so it is never opened.
/// </para>
/// </summary>
internal sealed class FileDiscovery
{
    private readonly LoaderRegistry _loaders;
    private readonly int _maxDescriptionLength;
    private readonly string? _knowledgeBase;
    private readonly string? _knowledgeBaseReal;
    private readonly HashSet<string> _visitedFolders = new(PathGuard.Comparer);
    private readonly HashSet<string> _sidecarFolders = new(PathGuard.Comparer);
    private readonly HashSet<string> _seenFiles = new(PathGuard.Comparer);
    private readonly HashSet<string> _sidecarSet = new(PathGuard.Comparer);

    public FileDiscovery(LoaderRegistry loaders, string? knowledgeBaseDirectory, int maxDescriptionLength = DescriptionSidecars.DefaultMaxDescriptionLength)
    {
        _loaders = loaders;
        _maxDescriptionLength = maxDescriptionLength;
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

    /// <summary>Files no loader reads.</summary>
    public List<string> Skipped { get; } = [];

    /// <summary>Hidden files and folders inside the given folders, not read (a hidden folder is listed once, not walked).</summary>
    public List<string> Hidden { get; } = [];

    /// <summary>Paths that could not be ingested at all: missing, unlistable folders, links leading out, special files.</summary>
    public List<IngestionFailure> Failures { get; } = [];

    /// <summary>Problems of sidecar files (bad lines, missing images, truncated descriptions); the rest was read.</summary>
    public List<IngestionFailure> Warnings { get; } = [];

    public Dictionary<string, string> Descriptions { get; } = new(PathGuard.Comparer);

    /// <summary>The sidecar files read (failures recorded against them are cleared when they are read again).</summary>
    public List<string> SidecarFiles { get; } = [];

    /// <summary>
    /// Paths this walk looked at which are not documents (folders, given paths, sidecars): failures an earlier run
    /// recorded against them are superseded by this run's.
    /// </summary>
    public HashSet<string> CheckedPaths { get; } = new(PathGuard.Comparer);

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
            CheckedPaths.Add(full);
            if (Directory.Exists(full))
            {
                FolderRoots.Add(full);
                if (Resolve(full) is { } real)
                {
                    Walk(full, real, full, real, cancellationToken);
                }
            }
            else if (File.Exists(full))
            {
                // A file named explicitly is taken even when it is a link: the user chose it. Its references stay in its folder.
                ExplicitFiles.Add(full);
                var folder = Path.GetDirectoryName(full)!;
                ReadSidecars(folder, folder);
                AddFile(full, isLink: false, new DiscoveredFile(full, folder, null));
            }
            else if (IsLink(full))
            {
                Fail(full, "A symbolic link to a file that does not exist; nothing was read.");
            }
            else
            {
                Fail(full, "No such file or folder.");
            }
        }

        if (descriptionsFile is not null)
        {
            var roots = FolderRoots.Concat(ExplicitFiles.Select(f => Path.GetDirectoryName(f)!)).ToList();
            Merge(DescriptionSidecars.ReadFile(descriptionsFile, roots, _maxDescriptionLength));
        }
    }

    private void Walk(string folder, string realFolder, string root, string realRoot, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        if (!_visitedFolders.Add(realFolder) || IsKnowledgeBase(folder) || IsKnowledgeBase(realFolder))
        {
            return;
        }

        CheckedPaths.Add(folder);
        FileSystemInfo[] entries;
        try
        {
            entries = new DirectoryInfo(folder).GetFileSystemInfos();
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            Fail(folder, $"The folder cannot be listed ({ex.Message}); nothing in it was read.");
            return;
        }

        ReadSidecars(folder, root);

        Array.Sort(entries, (a, b) => string.CompareOrdinal(a.Name, b.Name));
        var subfolders = new List<(string Path, string Real)>();
        foreach (var entry in entries)
        {
            var path = entry.FullName;
            if (IsHidden(entry))
            {
                Hidden.Add(path);
                continue;
            }

            if (entry is not DirectoryInfo && (_sidecarSet.Contains(path) || DescriptionSidecars.IsDescriptionTableName(entry.Name)))
            {
                // Descriptions, not documents (read with the folder's sidecars, which apply the same confinement).
                continue;
            }

            var isLink = IsLink(path);
            string real;
            bool isFolder;
            if (isLink)
            {
                if (Resolve(path) is not { } resolved)
                {
                    continue;
                }

                if (!PathGuard.IsLexicallyUnder(resolved, realRoot))
                {
                    Fail(path, $"A symbolic link leading outside the ingested folder '{root}'; it was not followed.");
                    continue;
                }

                real = resolved;
                isFolder = Directory.Exists(resolved);
            }
            else
            {
                real = Path.Join(realFolder, entry.Name);
                isFolder = entry is DirectoryInfo;
            }

            if (isFolder)
            {
                subfolders.Add((path, real));
            }
            else
            {
                AddFile(path, isLink, new DiscoveredFile(path, root, realRoot));
            }
        }

        foreach (var (subfolder, real) in subfolders)
        {
            Walk(subfolder, real, root, realRoot, cancellationToken);
        }
    }

    /// <summary>Takes a file a loader reads when it is a regular file; fails it (FIFO, device, broken link) otherwise.</summary>
    private void AddFile(string path, bool isLink, DiscoveredFile file)
    {
        if (_loaders.Find(path) is null)
        {
            Skipped.Add(path);
            return;
        }

        string? kind;
        try
        {
            kind = RegularFiles.NonRegularKind(path);
        }
        catch (IOException ex)
        {
            Fail(path, isLink ? "A symbolic link to a file that does not exist; nothing was read." : $"The file cannot be examined ({ex.Message}).");
            return;
        }

        if (kind is not null)
        {
            Fail(path, $"Not a regular file but {kind}; it was not read.");
        }
        else if (_seenFiles.Add(path))
        {
            Files.Add(file);
        }
    }

    /// <summary>The real path, or null (and a failure) when it cannot be resolved (a link loop).</summary>
    private string? Resolve(string path)
    {
        try
        {
            return PathGuard.RealPath(path);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            Fail(path, $"The path cannot be resolved ({ex.Message}); it was not read.");
            return null;
        }
    }

    private void Fail(string path, string reason)
    {
        CheckedPaths.Add(path);
        Failures.Add(new IngestionFailure(path, reason, null, DateTimeOffset.UtcNow));
    }

    private void ReadSidecars(string folder, string root)
    {
        if (_sidecarFolders.Add(folder))
        {
            Merge(DescriptionSidecars.ReadFolder(folder, root, _maxDescriptionLength));
        }
    }

    private void Merge(DescriptionSidecarResult result)
    {
        foreach (var (image, description) in result.Descriptions)
        {
            Descriptions[image] = description;
        }

        Warnings.AddRange(result.Failures);
        SidecarFiles.AddRange(result.SidecarFiles);
        CheckedPaths.UnionWith(result.SidecarFiles);
        _sidecarSet.UnionWith(result.SidecarFiles);
    }

    private bool IsKnowledgeBase(string folder) =>
        _knowledgeBase is not null
        && (string.Equals(folder, _knowledgeBase, PathGuard.Comparison) || string.Equals(folder, _knowledgeBaseReal, PathGuard.Comparison));

    private static bool IsLink(string path)
    {
        try
        {
            return new FileInfo(path).LinkTarget is not null;
        }
        catch (IOException)
        {
            return false;
        }
    }

    private static bool IsHidden(FileSystemInfo entry) =>
        entry.Name.StartsWith('.') || (OperatingSystem.IsWindows() && entry.Attributes.HasFlag(FileAttributes.Hidden));
}
