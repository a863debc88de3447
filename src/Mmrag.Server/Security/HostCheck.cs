using System.Net;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;

namespace Mmrag.Server.Security;

/// <summary>
/// Refuses requests whose <c>Host</c> is not a name the server is bound to, so that a page on another site cannot read
/// the server through DNS rebinding (its name resolving to 127.0.0.1 gives it the page's origin, but not its Host).
/// Allowed: the loopback names (<c>localhost</c>, loopback IP literals) and the hosts of the configured and bound
/// addresses, on a bound port; and <see cref="MmragServerOptions.AllowedHosts"/> (<c>name</c> on any port, or
/// <c>name:port</c>). A server bound to a wildcard address (which needs an API key) takes any host unless
/// <see cref="MmragServerOptions.AllowedHosts"/> is set: it cannot know the names it is reached by. Thread-safe.
/// </summary>
internal sealed class HostCheck
{
    private readonly Lazy<Allowed> _allowed;

    /// <param name="options">The configured addresses and extra hosts.</param>
    /// <param name="server">The started server, for the addresses (and ports) actually bound; read on the first request.</param>
    public HostCheck(MmragServerOptions options, IServer server) =>
        _allowed = new(() => Build(options, server.Features.Get<IServerAddressesFeature>()?.Addresses ?? []));

    /// <summary>Null when <paramref name="request"/>'s Host is allowed, else why not.</summary>
    public string? Refusal(HttpRequest request)
    {
        var host = request.Host;
        if (!host.HasValue)
        {
            // HTTP/1.0 clients may omit Host; a browser never does, so DNS rebinding cannot come this way.
            return null;
        }

        var allowed = _allowed.Value;
        if (allowed.AnyHost)
        {
            return null;
        }

        var name = host.Host.ToLowerInvariant();
        var port = host.Port ?? (request.IsHttps ? 443 : 80);
        if (allowed.AnyPort.Contains(name) || allowed.Exact.Contains($"{name}:{port}")
            || (allowed.Ports.Contains(port) && (allowed.Names.Contains(name) || IsLoopback(name))))
        {
            return null;
        }

        return $"Host '{host.Value}' is not a name this server is bound to (localhost or a loopback address on port "
            + $"{string.Join(" or ", allowed.Ports.Order())}{(allowed.Names.Count > 0 ? ", " + string.Join(", ", allowed.Names.Order(StringComparer.Ordinal)) : "")}); "
            + "add it to the server's allowed hosts to reach it by that name.";
    }

    private static Allowed Build(MmragServerOptions options, ICollection<string> bound)
    {
        var allowed = new Allowed();
        var wildcard = false;
        foreach (var url in bound.Concat(options.Urls))
        {
            if (!Uri.TryCreate(MmragServerOptions.WildcardToAddress(url), UriKind.Absolute, out var uri))
            {
                continue;
            }

            if (bound.Contains(url) && uri.Port > 0)
            {
                allowed.Ports.Add(uri.Port);
            }

            if (IPAddress.TryParse(uri.Host.Trim('[', ']'), out var address) && (address.Equals(IPAddress.Any) || address.Equals(IPAddress.IPv6Any)))
            {
                wildcard = true;
            }
            else
            {
                allowed.Names.Add(uri.Host.ToLowerInvariant());
            }
        }

        foreach (var entry in options.AllowedHosts)
        {
            var host = HostString.FromUriComponent(entry.Trim());
            if (host.Port is { } port)
            {
                allowed.Exact.Add($"{host.Host.ToLowerInvariant()}:{port}");
            }
            else
            {
                allowed.AnyPort.Add(host.Host.ToLowerInvariant());
            }
        }

        allowed.AnyHost = wildcard && options.AllowedHosts.Count == 0;
        return allowed;
    }

    private static bool IsLoopback(string name) =>
        name == "localhost" || (IPAddress.TryParse(name.Trim('[', ']'), out var address) && IPAddress.IsLoopback(address));

    private sealed class Allowed
    {
        public HashSet<string> Names { get; } = new(StringComparer.Ordinal);

        public HashSet<int> Ports { get; } = [];

        public HashSet<string> AnyPort { get; } = new(StringComparer.Ordinal);

        public HashSet<string> Exact { get; } = new(StringComparer.Ordinal);

        public bool AnyHost { get; set; }
    }
}
