using System.Net;
using System.Text;
using Mmrag.Ingestion.Web;
using Mmrag.Testing;

namespace Mmrag.Ingestion.Tests.Web;

public sealed class WebFetcherTests : IDisposable
{
    private readonly LoopbackSite _site = new();

    private static WebFetcher Allowing(Func<WebFetcherOptions, WebFetcherOptions>? configure = null) =>
        new((configure ?? (static o => o))(new WebFetcherOptions { AllowPrivateHosts = true, Timeout = TimeSpan.FromSeconds(10) }));

    [Fact]
    public async Task GetAsync_LoopbackWithoutOptIn_RefusedNamingTheAddress()
    {
        _site.Html("/", "<p>hello</p>");
        using var fetcher = new WebFetcher();

        var error = await Assert.ThrowsAsync<WebFetchException>(() => fetcher.GetAsync(new Uri(_site.Url("/"))));

        Assert.Contains("127.0.0.1", error.Message, StringComparison.Ordinal);
        Assert.Contains("loopback", error.Message, StringComparison.Ordinal);
        Assert.Contains("--allow-private-hosts", error.Message, StringComparison.Ordinal);
        Assert.Empty(_site.Requests);
    }

    [Fact]
    public async Task GetAsync_LocalhostName_ResolvedAndRefused()
    {
        using var fetcher = new WebFetcher();

        var error = await Assert.ThrowsAsync<WebFetchException>(() => fetcher.GetAsync(new Uri($"http://localhost:{_site.Port}/")));

        Assert.Contains("loopback", error.Message, StringComparison.Ordinal);
        Assert.Empty(_site.Requests);
    }

    [Fact]
    public async Task GetAsync_RedirectToPrivateHost_Refused()
    {
        // The site stands for a public host; the address it redirects to (127.0.0.2) is refused as what it is.
        _site.Redirect("/start", $"http://127.0.0.2:{_site.Port}/inside");
        using var fetcher = new WebFetcher(new WebFetcherOptions(),
            address => address.Equals(IPAddress.Loopback) ? null : PrivateNetworks.Describe(address));

        var error = await Assert.ThrowsAsync<WebFetchException>(() => fetcher.GetAsync(new Uri(_site.Url("/start"))));

        Assert.Contains("resolves to 127.0.0.2, a loopback", error.Message, StringComparison.Ordinal);
        Assert.Contains("such hosts are refused", error.Message, StringComparison.Ordinal);
        Assert.Equal(1, _site.RequestsFor("/start"));
        Assert.Equal(0, _site.RequestsFor("/inside"));
    }

    [Fact]
    public async Task GetAsync_TrustedHostOnLoopback_FetchedWhileAnotherPortOfItIsRefused()
    {
        using var other = new LoopbackSite();
        _site.Html("/", "<p>trusted</p>");
        other.Html("/", "<p>other</p>");
        _site.Redirect("/to-other", other.Url("/"));
        using var fetcher = new WebFetcher(new WebFetcherOptions { TrustedHosts = [WebFetcherOptions.TrustedHost(new Uri(_site.Url("/")))] });

        var page = await fetcher.GetAsync(new Uri(_site.Url("/")));
        var refused = await Assert.ThrowsAsync<WebFetchException>(() => fetcher.GetAsync(new Uri(other.Url("/"))));
        var redirected = await Assert.ThrowsAsync<WebFetchException>(() => fetcher.GetAsync(new Uri(_site.Url("/to-other"))));

        Assert.Equal("<p>trusted</p>", Encoding.UTF8.GetString(page.Content));
        Assert.True(refused.IsRefusedHost);
        Assert.True(redirected.IsRefusedHost);
        Assert.Empty(other.Requests);
    }

    [Theory]
    [InlineData("WIKI.Example:443", "https://wiki.example/w/api.php", true)]
    [InlineData("wiki.example.:443", "https://wiki.example/", true)]
    [InlineData("wiki.example:443", "https://Wiki.Example./", true)]
    [InlineData("bücher.example:443", "https://xn--bcher-kva.example/", true)]
    [InlineData("xn--bcher-kva.example:443", "https://Bücher.example/", true)]
    [InlineData("[::1]:8080", "http://[::1]:8080/", true)]
    [InlineData("[0:0:0:0:0:0:0:1]:8080", "http://[::1]:8080/", true)]
    [InlineData(" wiki.example:443 ", "https://wiki.example/", true)]
    [InlineData("https://Wiki.Example/w/api.php", "https://wiki.example/", true)]
    [InlineData("http://wiki.example", "http://wiki.example:80/", true)]
    [InlineData("http://wiki.example", "https://wiki.example/", false)]
    [InlineData("https://wiki.example:8443", "https://wiki.example/", false)]
    [InlineData("wiki.example.:8443", "https://wiki.example/", false)]
    [InlineData("[::1]:8080", "http://[::1]:8081/", false)]
    [InlineData("bücher.example:443", "https://bucher.example/", false)]
    public void WebFetcherOptions_TrustedHostTypedInAnotherForm_MatchesTheSameHostAndPortOnly(string entry, string url, bool trusted)
    {
        var options = new WebFetcherOptions { TrustedHosts = [entry] };
        options.Validate();
        var uri = new Uri(url);

        Assert.Equal(trusted, options.Trusts(uri.IdnHost, uri.Port));
        Assert.Equal(trusted, options.Trusts(uri.Host, uri.Port)); // the connection's host, brackets and all
    }

    [Fact]
    public void WebFetcherOptions_TrustedHostOfIpv6Url_SpelledAsAValidEntry()
    {
        var entry = WebFetcherOptions.TrustedHost(new Uri("http://[fd00::1]:8080/w/api.php"));

        Assert.Equal("[fd00::1]:8080", entry);
        Assert.True(new WebFetcherOptions { TrustedHosts = [entry] }.Trusts("fd00::1", 8080));
    }

    [Fact]
    public async Task GetAsync_TrustedHostGivenAsUrlWithoutPath_FetchedOnLoopback()
    {
        _site.Html("/", "<p>trusted</p>");
        using var fetcher = new WebFetcher(new WebFetcherOptions { TrustedHosts = [_site.BaseUrl.ToUpperInvariant()] });

        var page = await fetcher.GetAsync(new Uri(_site.Url("/")));

        Assert.Equal("<p>trusted</p>", Encoding.UTF8.GetString(page.Content));
    }

    [Theory]
    [InlineData("wiki.example")]
    [InlineData(":443")]
    [InlineData("wiki.example:http")]
    [InlineData("wiki.example:70000")]
    [InlineData("::1:8080")]
    [InlineData("ftp://wiki.example")]
    [InlineData("user@wiki.example:443")]
    public void WebFetcherOptions_TrustedHostWithoutPort_RefusedNamingIt(string entry)
    {
        var error = Assert.Throws<ArgumentException>(() => new WebFetcherOptions { TrustedHosts = [entry] }.Validate());

        Assert.Contains($"TrustedHosts: '{entry}' is not host:port", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task GetAsync_FiveRedirects_Followed()
    {
        Chain(5);
        using var fetcher = Allowing();

        var page = await fetcher.GetAsync(new Uri(_site.Url("/r0")));

        Assert.Equal(_site.Url("/end"), page.Uri.AbsoluteUri);
        Assert.Equal("end", Encoding.UTF8.GetString(page.Content));
    }

    [Fact]
    public async Task GetAsync_SixRedirects_RefusedBeforeTheSixth()
    {
        Chain(6);
        using var fetcher = Allowing();

        var error = await Assert.ThrowsAsync<WebFetchException>(() => fetcher.GetAsync(new Uri(_site.Url("/r0"))));

        Assert.Contains("more than 5 redirects", error.Message, StringComparison.Ordinal);
        Assert.Equal(0, _site.RequestsFor("/end"));
    }

    [Fact]
    public async Task GetAsync_CheckRedirectRefusesAHop_RefusedRedirectAndTargetNeverRequested()
    {
        Chain(3);
        using var fetcher = Allowing();
        var asked = new List<string>();

        var error = await Assert.ThrowsAsync<WebFetchException>(() => fetcher.GetAsync(new Uri(_site.Url("/r0")), new WebFetchRequest
        {
            CheckRedirect = (next, _) =>
            {
                asked.Add(next.AbsolutePath);
                return Task.FromResult(next.AbsolutePath == "/r2" ? "not this one" : null);
            },
        }));

        Assert.True(error.IsRefusedRedirect);
        Assert.Contains($"a redirect to {_site.Url("/r2")} was refused (not this one)", error.Message, StringComparison.Ordinal);
        Assert.Equal(["/r1", "/r2"], asked);
        Assert.Equal(0, _site.RequestsFor("/r2"));
    }

    [Fact]
    public async Task GetAsync_CheckRedirectWaitsLongerThanTheTimeout_WaitNotCountedAgainstIt()
    {
        Chain(1);
        using var fetcher = Allowing(o => o with { Timeout = TimeSpan.FromSeconds(1) });

        var page = await fetcher.GetAsync(new Uri(_site.Url("/r0")), new WebFetchRequest
        {
            CheckRedirect = async (_, cancellationToken) =>
            {
                await Task.Delay(TimeSpan.FromSeconds(1.5), cancellationToken);
                return null;
            },
        });

        Assert.Equal("end", Encoding.UTF8.GetString(page.Content));
    }

    [Fact]
    public async Task GetAsync_RedirectToFileScheme_Refused()
    {
        _site.Redirect("/start", "file:///etc/passwd");
        using var fetcher = Allowing();

        var error = await Assert.ThrowsAsync<WebFetchException>(() => fetcher.GetAsync(new Uri(_site.Url("/start"))));

        Assert.Contains("only http and https", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task GetAsync_SlowResponse_GivenUpAtTheTimeLimit()
    {
        _site.Route("/slow", async context =>
        {
            context.Response.ContentType = "text/html";
            context.Response.SendChunked = true;
            await context.Response.OutputStream.WriteAsync("<p>"u8.ToArray());
            await context.Response.OutputStream.FlushAsync();
            await Task.Delay(TimeSpan.FromSeconds(30));
            context.Response.Close();
        });
        using var fetcher = Allowing(o => o with { Timeout = TimeSpan.FromSeconds(1) });
        var started = DateTime.UtcNow;

        var error = await Assert.ThrowsAsync<WebFetchException>(() => fetcher.GetAsync(new Uri(_site.Url("/slow"))));

        Assert.Contains("took longer than 1 s (Timeout)", error.Message, StringComparison.Ordinal);
        Assert.True(DateTime.UtcNow - started < TimeSpan.FromSeconds(20));
    }

    [Fact]
    public async Task GetAsync_BodyLargerThanLimitWithoutContentLength_RefusedWhileReading()
    {
        _site.Route("/big", async context =>
        {
            context.Response.ContentType = "text/html";
            context.Response.SendChunked = true;
            var block = new byte[64 * 1024];
            for (var i = 0; i < 64; i++)
            {
                await context.Response.OutputStream.WriteAsync(block);
            }

            context.Response.Close();
        });
        using var fetcher = Allowing(o => o with { MaxResponseBytes = 1024 * 1024 });

        var error = await Assert.ThrowsAsync<WebFetchException>(() => fetcher.GetAsync(new Uri(_site.Url("/big"))));

        Assert.Contains("larger than the 1,048,576-byte limit", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task GetAsync_DeclaredLengthOverLimit_RefusedBeforeReading()
    {
        _site.Content("/big", "text/html", new byte[2 * 1024 * 1024]);
        using var fetcher = Allowing(o => o with { MaxResponseBytes = 1024 * 1024 });

        var error = await Assert.ThrowsAsync<WebFetchException>(() => fetcher.GetAsync(new Uri(_site.Url("/big"))));

        Assert.Contains("declares 2,097,152 bytes", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task GetAsync_ContentTypeNotAccepted_Refused()
    {
        _site.Content("/file", "application/zip", [1, 2, 3]);
        using var fetcher = Allowing();

        var error = await Assert.ThrowsAsync<WebFetchException>(() =>
            fetcher.GetAsync(new Uri(_site.Url("/file")), new WebFetchRequest { AcceptedMediaTypes = ["text/html"] }));

        Assert.Contains("content type is application/zip", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task GetAsync_NotFound_IsGoneWithStatus()
    {
        _site.Status("/gone", 410);
        using var fetcher = Allowing();

        var error = await Assert.ThrowsAsync<WebFetchException>(() => fetcher.GetAsync(new Uri(_site.Url("/gone"))));

        Assert.Equal(HttpStatusCode.Gone, error.StatusCode);
        Assert.True(error.IsGone);
    }

    [Fact]
    public async Task GetAsync_MatchingETag_NotModified()
    {
        _site.Content("/page", "text/html", "<p>same</p>"u8.ToArray(), etag: "\"v1\"");
        using var fetcher = Allowing();

        var page = await fetcher.GetAsync(new Uri(_site.Url("/page")), new WebFetchRequest { IfNoneMatch = "\"v1\"" });

        Assert.True(page.NotModified);
        Assert.Empty(page.Content);
        Assert.Equal("\"v1\"", page.ETag);
    }

    [Fact]
    public void DefaultUserAgent_NamesMmragAndItsVersion() =>
        Assert.Matches(@"^mmrag/\d+\.\d+\.\d+[^ ]* \(\+https://", WebFetcherOptions.DefaultUserAgent);

    private void Chain(int redirects)
    {
        for (var i = 0; i < redirects; i++)
        {
            _site.Redirect($"/r{i}", i + 1 == redirects ? "/end" : $"/r{i + 1}");
        }

        _site.Content("/end", "text/plain", "end"u8.ToArray());
    }

    public void Dispose() => _site.Dispose();
}
