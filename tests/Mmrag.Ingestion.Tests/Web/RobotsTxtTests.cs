using Mmrag.Ingestion.Web;

namespace Mmrag.Ingestion.Tests.Web;

public sealed class RobotsTxtTests
{
    [Theory]
    [InlineData("/", true)]
    [InlineData("/foo/", false)]
    [InlineData("/foo", false)]
    public void Allows_AllowRootOnlyThenDisallowAll_OnlyTheRootIsAllowed(string path, bool allowed)
    {
        var robots = RobotsTxt.Parse("User-agent: *\nAllow: /$\nDisallow: /\n");

        Assert.Equal(allowed, robots.Allows(new Uri("https://example.org" + path)));
    }

    [Theory]
    [InlineData("/docs/a.pdf", false)]
    [InlineData("/docs/a.pdf?x=1", true)]
    [InlineData("/docs/a.html", true)]
    public void Allows_WildcardAnchoredAtTheEnd_MatchesOnlyPathsEndingThere(string path, bool allowed)
    {
        var robots = RobotsTxt.Parse("User-agent: *\nDisallow: /*.pdf$\n");

        Assert.Equal(allowed, robots.Allows(new Uri("https://example.org" + path)));
    }

    [Fact]
    public void Parse_ByteOrderMarkBeforeTheFirstGroup_KeepsItsRules()
    {
        var robots = RobotsTxt.Parse("\uFEFFUser-agent: *\nDisallow: /private\n");

        Assert.False(robots.Allows(new Uri("https://example.org/private/a")));
    }

    [Fact]
    public void Parse_EmptyUserAgentLine_DoesNotNameMmrag()
    {
        var robots = RobotsTxt.Parse("User-agent:\nDisallow: /\n\nUser-agent: *\nDisallow: /private\n");

        Assert.True(robots.Allows(new Uri("https://example.org/public")));
        Assert.False(robots.Allows(new Uri("https://example.org/private")));
    }
}
