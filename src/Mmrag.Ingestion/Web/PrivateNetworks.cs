using System.Net;
using System.Net.Sockets;

namespace Mmrag.Ingestion.Web;

/// <summary>
/// Says whether an address is one a fetch started from a URL must not reach unless the user opted in: loopback,
/// private (RFC 1918), carrier-grade NAT, link-local (where cloud metadata services answer, 169.254.169.254), "this
/// network" (0.0.0.0/8), multicast, broadcast and reserved IPv4; IPv6 loopback, unspecified, unique-local (fc00::/7),
/// link-local (fe80::/10), site-local and multicast; and the IPv4-mapped, IPv4-compatible, NAT64 and 6to4 forms of the
/// IPv4 ones. Stateless and thread-safe.
/// </summary>
public static class PrivateNetworks
{
    /// <summary>What kind of non-public address <paramref name="address"/> is (e.g. <c>loopback</c>), or null for a public one.</summary>
    public static string? Describe(IPAddress address)
    {
        ArgumentNullException.ThrowIfNull(address);
        return address.AddressFamily switch
        {
            AddressFamily.InterNetwork => DescribeV4(address.GetAddressBytes()),
            AddressFamily.InterNetworkV6 => DescribeV6(address),
            _ => "not an IP address",
        };
    }

    private static string? DescribeV4(ReadOnlySpan<byte> b) => b[0] switch
    {
        0 => "this network (0.0.0.0/8)",
        10 => "private (10.0.0.0/8)",
        127 => "loopback (127.0.0.0/8)",
        100 when (b[1] & 0xC0) == 64 => "carrier-grade NAT (100.64.0.0/10)",
        169 when b[1] == 254 => "link-local or cloud metadata (169.254.0.0/16)",
        172 when (b[1] & 0xF0) == 16 => "private (172.16.0.0/12)",
        192 when b[1] == 168 => "private (192.168.0.0/16)",
        192 when b[1] == 0 && b[2] == 0 => "IETF protocol assignments (192.0.0.0/24)",
        198 when (b[1] & 0xFE) == 18 => "benchmarking (198.18.0.0/15)",
        >= 224 and <= 239 => "multicast (224.0.0.0/4)",
        >= 240 => b[1] == 255 && b[2] == 255 && b[3] == 255 && b[0] == 255 ? "broadcast (255.255.255.255)" : "reserved (240.0.0.0/4)",
        _ => null,
    };

    private static string? DescribeV6(IPAddress address)
    {
        if (address.IsIPv4MappedToIPv6)
        {
            return DescribeV4(address.MapToIPv4().GetAddressBytes()) is { } mapped ? $"{mapped}, IPv4-mapped" : null;
        }

        Span<byte> b = stackalloc byte[16];
        address.TryWriteBytes(b, out _);
        if (IPAddress.IPv6Loopback.Equals(address))
        {
            return "loopback (::1)";
        }

        if (IPAddress.IPv6Any.Equals(address))
        {
            return "unspecified (::)";
        }

        if ((b[0] & 0xFE) == 0xFC)
        {
            return "unique local (fc00::/7)";
        }

        if (b[0] == 0xFE && (b[1] & 0xC0) == 0x80)
        {
            return "link-local (fe80::/10)";
        }

        if (b[0] == 0xFE && (b[1] & 0xC0) == 0xC0)
        {
            return "site-local (fec0::/10)";
        }

        if (b[0] == 0xFF)
        {
            return "multicast (ff00::/8)";
        }

        // Forms that carry an IPv4 address, which a host may route to it: IPv4-compatible (::a.b.c.d), NAT64 (64:ff9b::/96), 6to4 (2002::/16).
        if (b[..12].IndexOfAnyExcept((byte)0) < 0)
        {
            return DescribeV4(b[12..]) is { } compatible ? $"{compatible}, IPv4-compatible" : "reserved (::/96)";
        }

        if (b[0] == 0x00 && b[1] == 0x64 && b[2] == 0xFF && b[3] == 0x9B && b[4..12].IndexOfAnyExcept((byte)0) < 0)
        {
            return DescribeV4(b[12..]) is { } nat64 ? $"{nat64}, NAT64" : null;
        }

        if (b[0] == 0x20 && b[1] == 0x02)
        {
            return DescribeV4(b[2..6]) is { } sixToFour ? $"{sixToFour}, 6to4" : null;
        }

        return null;
    }
}
