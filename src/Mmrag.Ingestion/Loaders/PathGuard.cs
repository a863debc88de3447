namespace Mmrag.Ingestion.Loaders;

/// <summary>
/// Decides whether a path stays inside a root folder, lexically (<c>..</c>, absolute paths) and physically (symbolic
/// links anywhere along the path are resolved). Paths referenced by sidecars and documents must pass it before they
/// are read, so a crafted <c>description.json</c> or web page cannot pull in files from elsewhere.
/// </summary>
internal static class PathGuard
{
    private const int MaxLinkHops = 40;

    public static StringComparison Comparison { get; } =
        OperatingSystem.IsWindows() || OperatingSystem.IsMacOS() ? StringComparison.OrdinalIgnoreCase : StringComparison.Ordinal;

    public static StringComparer Comparer { get; } =
        OperatingSystem.IsWindows() || OperatingSystem.IsMacOS() ? StringComparer.OrdinalIgnoreCase : StringComparer.Ordinal;

    /// <summary>Absolute, normalized, without a trailing separator (except for a file system root); an http(s) URL (a remote document's source) as it is.</summary>
    public static string Normalize(string path) =>
        Web.RemoteSources.IsUrl(path) ? path : Path.TrimEndingDirectorySeparator(Path.GetFullPath(path));

    /// <summary>Whether <paramref name="path"/> is <paramref name="root"/> or below it, comparing normalized paths only.</summary>
    public static bool IsLexicallyUnder(string path, string root)
    {
        var p = Normalize(path);
        var r = Normalize(root);
        if (p.Equals(r, Comparison))
        {
            return true;
        }

        var prefix = Path.EndsInDirectorySeparator(r) ? r : r + Path.DirectorySeparatorChar;
        return p.StartsWith(prefix, Comparison);
    }

    /// <summary>
    /// Whether <paramref name="path"/> stays inside <paramref name="root"/> both as written and once every symbolic
    /// link on the way is followed. A path that cannot be resolved (link loop, I/O error) is not contained.
    /// </summary>
    public static bool IsContained(string path, string root)
    {
        if (!IsLexicallyUnder(path, root))
        {
            return false;
        }

        try
        {
            return IsLexicallyUnder(RealPath(path), RealPath(root));
        }
        catch (IOException)
        {
            return false;
        }
        catch (UnauthorizedAccessException)
        {
            return false;
        }
    }

    /// <summary>Whether <paramref name="path"/> is contained in any of <paramref name="roots"/>.</summary>
    public static bool IsContainedInAny(string path, IReadOnlyList<string> roots)
    {
        foreach (var root in roots)
        {
            if (IsContained(path, root))
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>
    /// The physical path: symbolic links resolved component by component (so <c>link/..</c> means the parent of the
    /// link's target, as the kernel reads it); components that do not exist are appended as written.
    /// </summary>
    /// <exception cref="IOException">Too many links (a loop).</exception>
    public static string RealPath(string path)
    {
        var absolute = Path.IsPathRooted(path) ? path : Path.Combine(Directory.GetCurrentDirectory(), path);
        var root = Path.GetPathRoot(absolute) ?? Path.DirectorySeparatorChar.ToString();
        var pending = new Stack<string>(SplitComponents(absolute[root.Length..]).Reverse());
        var current = root;
        var hops = 0;
        while (pending.Count > 0)
        {
            var component = pending.Pop();
            if (component is "" or ".")
            {
                continue;
            }

            if (component == "..")
            {
                current = Path.GetDirectoryName(Path.TrimEndingDirectorySeparator(current)) ?? root;
                continue;
            }

            var next = Path.Join(current, component);
            string? target;
            try
            {
                target = new FileInfo(next).LinkTarget;
            }
            catch (IOException)
            {
                target = null;
            }

            if (target is null)
            {
                current = next;
                continue;
            }

            if (++hops > MaxLinkHops)
            {
                throw new IOException($"Too many levels of symbolic links resolving '{path}'.");
            }

            // Continue with the target's components in place of the link (relative targets start at the link's folder).
            foreach (var part in SplitComponents(target).Reverse())
            {
                pending.Push(part);
            }

            if (Path.IsPathRooted(target))
            {
                current = Path.GetPathRoot(target) ?? root;
            }
        }

        return Path.TrimEndingDirectorySeparator(current);
    }

    private static IEnumerable<string> SplitComponents(string path)
    {
        var rooted = Path.GetPathRoot(path);
        var rest = string.IsNullOrEmpty(rooted) ? path : path[rooted.Length..];
        return rest.Split([Path.DirectorySeparatorChar, Path.AltDirectorySeparatorChar], StringSplitOptions.None);
    }
}
