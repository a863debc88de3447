namespace Mmrag.Server.Security;

/// <summary>
/// Confines server-side paths to configured roots: absolute paths only, no <c>..</c> segment, and the physical path
/// (every symbolic link on the way followed, like realpath(3)) must stay under a root's physical path.
/// </summary>
internal sealed class PathConfinement(IReadOnlyList<string> roots)
{
    private const int MaxLinkHops = 40;
    private static readonly StringComparison Comparison = OperatingSystem.IsLinux() ? StringComparison.Ordinal : StringComparison.OrdinalIgnoreCase;
    private readonly string[] _roots = [.. roots.Select(static r => RealPath(Path.GetFullPath(r)))];

    /// <summary>The confined physical path, or an error message saying why the path is refused.</summary>
    public (string? Path, string? Error) Resolve(string path)
    {
        if (_roots.Length == 0)
        {
            return (null, "Server-side paths are disabled: no ingest roots are configured (MMRAG_INGEST_ROOTS / --ingest-root).");
        }

        if (string.IsNullOrWhiteSpace(path) || path.Contains('\0', StringComparison.Ordinal))
        {
            return (null, "The path is empty or invalid.");
        }

        if (path.Split('/', '\\').Any(static segment => segment == ".."))
        {
            return (null, "The path must not contain '..'.");
        }

        if (!Path.IsPathFullyQualified(path))
        {
            return (null, "The path must be absolute.");
        }

        string real;
        try
        {
            real = RealPath(Path.GetFullPath(path));
        }
        catch (IOException exception)
        {
            return (null, $"The path cannot be resolved: {exception.Message}");
        }

        if (!_roots.Any(root => IsUnder(real, root)))
        {
            return (null, "The path is outside the allowed ingest roots.");
        }

        return File.Exists(real) || Directory.Exists(real) ? (real, null) : (null, "The path does not exist.");
    }

    private static bool IsUnder(string path, string root)
    {
        var r = Path.TrimEndingDirectorySeparator(root);
        var p = Path.TrimEndingDirectorySeparator(path);
        return p.Equals(r, Comparison) || p.StartsWith(r + Path.DirectorySeparatorChar, Comparison);
    }

    /// <summary>Follows symbolic links component by component; components that do not exist are kept as written.</summary>
    internal static string RealPath(string fullPath)
    {
        var hops = 0;
        return Resolve(fullPath, ref hops);

        static string Resolve(string fullPath, ref int hops)
        {
            var root = Path.GetPathRoot(fullPath) ?? "/";
            var current = root;
            foreach (var component in fullPath[root.Length..].Split(Path.DirectorySeparatorChar, StringSplitOptions.RemoveEmptyEntries))
            {
                if (component == ".")
                {
                    continue;
                }

                if (component == "..")
                {
                    current = Path.GetDirectoryName(Path.TrimEndingDirectorySeparator(current)) ?? root;
                    continue;
                }

                var next = Path.Join(current, component);
                var target = new FileInfo(next).LinkTarget;
                if (target is null)
                {
                    current = next;
                    continue;
                }

                if (++hops > MaxLinkHops)
                {
                    throw new IOException($"Too many levels of symbolic links at '{next}'.");
                }

                current = Resolve(Path.GetFullPath(target, current), ref hops);
            }

            return current;
        }
    }
}
