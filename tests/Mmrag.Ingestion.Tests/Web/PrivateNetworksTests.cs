using System.Net;
using Mmrag.Ingestion.Web;

namespace Mmrag.Ingestion.Tests.Web;

public sealed class PrivateNetworksTests
{
    [Theory]
    // IPv4: every refused range, at its first and last address.
    [InlineData("0.0.0.0", "this network")]
    [InlineData("0.255.255.255", "this network")]
    [InlineData("10.0.0.0", "private")]
    [InlineData("10.255.255.255", "private")]
    [InlineData("100.64.0.0", "carrier-grade NAT")]
    [InlineData("100.127.255.255", "carrier-grade NAT")]
    [InlineData("127.0.0.1", "loopback")]
    [InlineData("127.255.255.254", "loopback")]
    [InlineData("169.254.0.0", "link-local")]
    [InlineData("169.254.169.254", "cloud metadata")]
    [InlineData("169.254.255.255", "link-local")]
    [InlineData("172.16.0.0", "private")]
    [InlineData("172.31.255.255", "private")]
    [InlineData("192.168.0.0", "private")]
    [InlineData("192.168.255.255", "private")]
    [InlineData("192.0.0.8", "IETF")]
    [InlineData("198.18.0.1", "benchmarking")]
    [InlineData("224.0.0.1", "multicast")]
    [InlineData("239.255.255.255", "multicast")]
    [InlineData("240.0.0.1", "reserved")]
    [InlineData("255.255.255.255", "broadcast")]
    // IPv6.
    [InlineData("::1", "loopback")]
    [InlineData("::", "unspecified")]
    [InlineData("fc00::1", "unique local")]
    [InlineData("fdff:ffff::1", "unique local")]
    [InlineData("fe80::1", "link-local")]
    [InlineData("febf:ffff::1", "link-local")]
    [InlineData("fec0::1", "site-local")]
    [InlineData("ff02::1", "multicast")]
    // IPv4 ranges in IPv6 clothing: mapped, compatible, NAT64, 6to4.
    [InlineData("::ffff:127.0.0.1", "loopback")]
    [InlineData("::ffff:10.1.2.3", "private")]
    [InlineData("::ffff:172.16.0.1", "private")]
    [InlineData("::ffff:192.168.1.1", "private")]
    [InlineData("::ffff:100.64.0.1", "carrier-grade NAT")]
    [InlineData("::ffff:169.254.169.254", "cloud metadata")]
    [InlineData("::ffff:0.0.0.0", "this network")]
    [InlineData("::ffff:224.0.0.1", "multicast")]
    [InlineData("::ffff:255.255.255.255", "broadcast")]
    [InlineData("::127.0.0.1", "loopback")]
    [InlineData("64:ff9b::a9fe:a9fe", "cloud metadata")]
    [InlineData("2002:c0a8:0101::1", "private")]
    public void Describe_NonPublicAddress_NamesItsRange(string address, string expected)
    {
        var kind = PrivateNetworks.Describe(IPAddress.Parse(address));

        Assert.NotNull(kind);
        Assert.Contains(expected, kind, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("1.1.1.1")]
    [InlineData("9.255.255.255")]
    [InlineData("11.0.0.0")]
    [InlineData("100.63.255.255")]
    [InlineData("100.128.0.0")]
    [InlineData("126.255.255.255")]
    [InlineData("128.0.0.0")]
    [InlineData("169.253.255.255")]
    [InlineData("172.15.255.255")]
    [InlineData("172.32.0.0")]
    [InlineData("192.167.255.255")]
    [InlineData("192.169.0.0")]
    [InlineData("223.255.255.255")]
    [InlineData("2606:4700:4700::1111")]
    [InlineData("2a00:1450:4001::200e")]
    [InlineData("::ffff:8.8.8.8")]
    [InlineData("64:ff9b::808:808")]
    [InlineData("2002:0808:0808::1")]
    public void Describe_PublicAddress_Null(string address) =>
        Assert.Null(PrivateNetworks.Describe(IPAddress.Parse(address)));
}
