using System.Globalization;
using System.Text;

namespace Mmrag.Ingestion.Web;

/// <summary>
/// A host's robots.txt (RFC 9309) as it applies to mmrag: the group naming <c>mmrag</c>, else the <c>*</c> group;
/// the longest matching <c>Allow</c>/<c>Disallow</c> rule wins (<c>Allow</c> on a tie), with <c>*</c> wildcards and a
/// <c>$</c> end anchor; <c>Crawl-delay</c> is read too. Immutable and thread-safe.
/// </summary>
internal sealed class RobotsTxt
{
    private readonly List<(string Pattern, bool Allow)> _rules;

    private RobotsTxt(List<(string Pattern, bool Allow)> rules, TimeSpan? crawlDelay)
    {
        _rules = rules;
        CrawlDelay = crawlDelay;
    }

    /// <summary>Allows everything (no robots.txt, or one that cannot be had for a reason RFC 9309 treats as "allow").</summary>
    public static RobotsTxt AllowAll { get; } = new([], null);

    /// <summary>Disallows everything (the host could not be asked: RFC 9309 says to assume so).</summary>
    public static RobotsTxt DisallowAll { get; } = new([("/", false)], null);

    public TimeSpan? CrawlDelay { get; }

    public static RobotsTxt Parse(string text, string agent = "mmrag")
    {
        var groups = new List<Group>();
        Group? current = null;
        var lastWasAgent = false;
        // A byte-order mark would otherwise hide the first field name (and with it the first group's rules).
        foreach (var raw in text.TrimStart('\uFEFF').Split('\n'))
        {
            var line = raw.Split('#', 2)[0].Trim();
            var colon = line.IndexOf(':', StringComparison.Ordinal);
            if (colon <= 0)
            {
                continue;
            }

            var field = line[..colon].Trim().ToLowerInvariant();
            var value = line[(colon + 1)..].Trim();
            if (field == "user-agent")
            {
                if (current is null || !lastWasAgent)
                {
                    current = new Group();
                    groups.Add(current);
                }

                current.Agents.Add(value.ToLowerInvariant());
                lastWasAgent = true;
                continue;
            }

            lastWasAgent = false;
            switch (field)
            {
                case "allow" or "disallow" when current is not null && value.Length > 0:
                    current.Rules.Add((value, field == "allow"));
                    break;
                case "crawl-delay" when current is not null
                    && double.TryParse(value, NumberStyles.Float, CultureInfo.InvariantCulture, out var seconds) && seconds >= 0:
                    current.Delay = TimeSpan.FromSeconds(Math.Min(seconds, 30));
                    break;
            }
        }

        var name = agent.ToLowerInvariant();
        var chosen = groups.Where(g => g.Agents.Any(a => a.Length > 0 && a != "*" && name.StartsWith(a, StringComparison.Ordinal))).ToList();
        if (chosen.Count == 0)
        {
            chosen = [.. groups.Where(g => g.Agents.Contains("*"))];
        }

        return new RobotsTxt([.. chosen.SelectMany(g => g.Rules)], chosen.Select(g => g.Delay).FirstOrDefault(d => d is not null));
    }

    private sealed class Group
    {
        public List<string> Agents { get; } = [];

        public List<(string Pattern, bool Allow)> Rules { get; } = [];

        public TimeSpan? Delay { get; set; }
    }

    /// <summary>Whether the path and query of <paramref name="uri"/> may be fetched.</summary>
    public bool Allows(Uri uri)
    {
        var path = uri.PathAndQuery;
        var best = -1;
        var allowed = true;
        foreach (var (pattern, allow) in _rules)
        {
            if (Matches(pattern, path) && (pattern.Length > best || (pattern.Length == best && allow)))
            {
                best = pattern.Length;
                allowed = allow;
            }
        }

        return allowed;
    }

    private static bool Matches(string pattern, string path)
    {
        var anchored = pattern.EndsWith('$');
        var body = anchored ? pattern[..^1] : pattern;
        var pieces = body.Split('*');
        var position = 0;
        for (var i = 0; i < pieces.Length; i++)
        {
            var piece = pieces[i];
            if (i == 0)
            {
                if (!path.StartsWith(piece, StringComparison.Ordinal))
                {
                    return false;
                }

                position = piece.Length;
                continue;
            }

            var found = path.IndexOf(piece, position, StringComparison.Ordinal);
            if (found < 0)
            {
                return false;
            }

            position = found + piece.Length;
        }

        // "$" anchors the end: the path must end where the pattern does; after a "*" the last piece may match anywhere
        // that leaves it at the end (without one, "/$" would match every path ending in "/").
        return !anchored || position == path.Length || (pieces.Length > 1 && path.EndsWith(pieces[^1], StringComparison.Ordinal));
    }

    public override string ToString() => new StringBuilder().AppendJoin('\n', _rules.Select(r => (r.Allow ? "Allow: " : "Disallow: ") + r.Pattern)).ToString();
}
