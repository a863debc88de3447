using System.Text;
using Mmrag.Ingestion.Pipeline;
using Mmrag.Ingestion.Tests.Pipeline;
using Mmrag.Ingestion.Tests.Support;
using Mmrag.Ingestion.Web;
using Mmrag.Knowledge;
using Mmrag.Testing;
using SkiaSharp;

namespace Mmrag.Ingestion.Tests.Web;

public sealed class WebIngestionTests : IDisposable
{
    private readonly LoopbackSite _site = new();
    private readonly IngestionHarness _harness = new();

    private IngestionOptions Options(Func<WebIngestionOptions, WebIngestionOptions>? web = null) => new()
    {
        ImageCacheDirectory = _harness.Temp.Combine("images"),
        Web = (web ?? (static w => w))(new WebIngestionOptions
        {
            Fetcher = new WebFetcherOptions { AllowPrivateHosts = true, Timeout = TimeSpan.FromSeconds(10) },
            HostDelay = TimeSpan.Zero,
        }),
    };

    private static string Page(string title, string body) =>
        $"<html><head><title>{title}</title></head><body><nav>Navigation</nav><main><h1>{title}</h1>{body}</main></body></html>";

    [Fact]
    public async Task IngestAsync_PageWithSrcset_StoresTextAndLargestImageThatFitsWithUrlAsSource()
    {
        _site.Html("/harbour", Page("Harbour", """
            <p>The harbour of the city is busy with ferries in summer.</p>
            <figure><img src="/small.png" srcset="/small.png 1x, /large.png 2x, /huge.png 3x" alt="Ferry"><figcaption>A ferry leaving the harbour</figcaption></figure>
            """))
            .Content("/small.png", "image/png", GeneratedPngs.Create(40, 30, SKColors.Blue))
            .Content("/large.png", "image/png", GeneratedPngs.Create(80, 60, SKColors.Red))
            .Content("/huge.png", "image/png", GeneratedPngs.Create(400, 300, SKColors.Green));
        var url = _site.Url("/harbour");

        var summary = await _harness.Pipeline.IngestAsync([url], Options() with { MaxImagePixels = 10_000 });

        Assert.Equal(1, summary.Added);
        Assert.Empty(summary.Failures);
        var document = Assert.Single(_harness.Store.Documents);
        Assert.Equal(url, document.SourcePath);
        Assert.Equal(DocumentIds.ForPath(url), document.Id);
        Assert.Equal("Harbour", document.Title);
        var items = _harness.Store.ItemsOf(document.Id);
        Assert.Contains(items, i => i.Kind == ItemKind.TextChunk && i.Text.Contains("ferries in summer", StringComparison.Ordinal));
        var image = Assert.Single(items, i => i.Kind == ItemKind.Image);
        Assert.Equal(url, image.Provenance.SourcePath);
        Assert.Equal("A ferry leaving the harbour", image.Provenance.Caption);
        // 400×300 is over the 10,000-pixel limit; 80×60 is the largest candidate that fits.
        Assert.Equal(DocumentIds.Sha256Hex(GeneratedPngs.Create(80, 60, SKColors.Red)), image.ContentHash);
        Assert.NotNull(image.ImagePath);
        Assert.True(File.Exists(image.ImagePath));
        Assert.All(_site.Requests.Where(r => r.Path != "/robots.txt"), r => Assert.StartsWith("mmrag/", r.Headers["User-Agent"], StringComparison.Ordinal));
    }

    [Fact]
    public async Task IngestAsync_UnchangedPageAgain_ConditionalRequestAnswered304AndNothingEmbedded()
    {
        _site.Html("/page", Page("Market", "<p>The market square sells fish and berries.</p><img src=\"/a.png\" alt=\"Stall\">"))
            .Content("/a.png", "image/png", GeneratedPngs.Create(32, 32, SKColors.Orange));
        var url = _site.Url("/page");
        var first = await _harness.Pipeline.IngestAsync([url], Options());
        Assert.Equal(1, first.Added);
        var embeddedBefore = _harness.Text.Inputs + _harness.Images.Inputs;
        var requestsBefore = _site.Requests.Count;

        var second = await _harness.Pipeline.IngestAsync([url], Options());

        Assert.Equal(1, second.Unchanged);
        Assert.Equal(0, second.Added + second.Replaced + second.Embedded);
        Assert.Equal(embeddedBefore, _harness.Text.Inputs + _harness.Images.Inputs);
        var requests = _site.Requests.Skip(requestsBefore).Where(r => r.Path != "/robots.txt").ToList();
        var request = Assert.Single(requests);
        Assert.Equal("/page", request.Path);
        Assert.False(string.IsNullOrEmpty(request.Headers["If-None-Match"]));
    }

    [Fact]
    public async Task IngestAsync_UnchangedPageWithoutValidators_OneRequestForThePageAndNoImageDownloads()
    {
        // No ETag, no Last-Modified: the server answers 200 with the whole page every time.
        var html = Encoding.UTF8.GetBytes(Page("Quay", "<p>The quay is lined with cafes.</p><img src=\"/a.png\" alt=\"A\"><img src=\"/b.png\" alt=\"B\">"));
        _site.Route("/quay", async context =>
            {
                context.Response.ContentType = "text/html; charset=utf-8";
                context.Response.ContentLength64 = html.Length;
                await context.Response.OutputStream.WriteAsync(html);
                context.Response.Close();
            })
            .Content("/a.png", "image/png", GeneratedPngs.Create(24, 24, SKColors.Coral))
            .Content("/b.png", "image/png", GeneratedPngs.Create(24, 24, SKColors.Navy));
        var url = _site.Url("/quay");
        var first = await _harness.Pipeline.IngestAsync([url], Options());
        Assert.Equal(1, first.Added);
        Assert.Equal(2, _harness.Store.Items.Count(i => i.Kind == ItemKind.Image));
        var requestsBefore = _site.Requests.Count;

        var second = await _harness.Pipeline.IngestAsync([url], Options());

        Assert.Equal(1, second.Unchanged);
        Assert.Equal(0, second.Added + second.Replaced + second.Embedded);
        // The run's robots.txt (read once per host and run) and the page: no image is downloaded again.
        var requests = _site.Requests.Skip(requestsBefore).Select(r => r.Path).Order(StringComparer.Ordinal).ToList();
        Assert.Equal(["/quay", "/robots.txt"], requests);
        Assert.Equal(2, _harness.Store.Items.Count(i => i.Kind == ItemKind.Image));
    }

    [Fact]
    public async Task IngestAsync_PageLinkingBackToItself_VisitedOnce()
    {
        _site.Html("/a", Page("A", "<p>Page A talks about lakes.</p><a href=\"/a\">me</a><a href=\"/a#top\">top</a><a href=\"/b\">B</a>"))
            .Html("/b", Page("B", "<p>Page B talks about islands.</p><a href=\"/a\">back</a>"));

        var summary = await _harness.Pipeline.IngestAsync([_site.Url("/a")], Options(w => w with { Depth = 3 }));

        Assert.Equal(2, summary.Files);
        Assert.Equal(2, summary.Added);
        Assert.Equal(1, _site.RequestsFor("/a"));
        Assert.Equal(1, _site.RequestsFor("/b"));
        Assert.Equal([_site.Url("/a"), _site.Url("/b")], _harness.Store.Documents.Select(d => d.SourcePath));
    }

    [Fact]
    public async Task IngestAsync_CrawlAgainWithEverythingUnchanged_LinkedPagesStillCheckedByConditionalRequests()
    {
        _site.Html("/a", Page("A", "<p>Page A about bridges.</p><a href=\"/b\">B</a>"))
            .Html("/b", Page("B", "<p>Page B about tunnels.</p><img srcset=\"/t.png 2x\" alt=\"Tunnel\">"))
            .Content("/t.png", "image/png", GeneratedPngs.Create(20, 20, SKColors.Teal));
        var options = Options(w => w with { Depth = 1 });
        var first = await _harness.Pipeline.IngestAsync([_site.Url("/a")], options);
        Assert.Equal(2, first.Added);
        Assert.Contains(_harness.Store.Items, i => i.Kind == ItemKind.Image && i.Provenance.SourcePath == _site.Url("/b"));

        var second = await _harness.Pipeline.IngestAsync([_site.Url("/a")], options);

        Assert.Equal(2, second.Unchanged);
        Assert.Equal(0, second.Embedded);
        Assert.Equal(2, _site.RequestsFor("/b"));
        Assert.Equal(1, _site.RequestsFor("/t.png"));
        Assert.False(string.IsNullOrEmpty(_site.Requests.Last(r => r.Path == "/b").Headers["If-None-Match"]));
    }

    [Theory]
    [InlineData("https://example.org/a/../b?q=1")]
    [InlineData("http://127.0.0.1:8080/page")]
    public void DocumentIds_Url_KeptAsItIsNotResolvedAgainstTheCurrentFolder(string url)
    {
        Assert.Equal(url, DocumentIds.NormalizePath(url));
        Assert.Equal(url, Mmrag.Ingestion.Loaders.PathGuard.Normalize(url));
        Assert.False(Mmrag.Ingestion.Loaders.PathGuard.IsLexicallyUnder(url, Directory.GetCurrentDirectory()));
    }

    [Fact]
    public async Task IngestAsync_DefaultDepth_ReadsThePageAlone()
    {
        _site.Html("/a", Page("A", "<p>Only this page.</p><a href=\"/b\">B</a>")).Html("/b", Page("B", "<p>Not this one.</p>"));

        var summary = await _harness.Pipeline.IngestAsync([_site.Url("/a")], Options());

        Assert.Equal(1, summary.Files);
        Assert.Equal(0, _site.RequestsFor("/b"));
    }

    [Fact]
    public async Task IngestAsync_MaxPagesAndSameSite_BoundTheCrawl()
    {
        var links = string.Concat(Enumerable.Range(1, 6).Select(i => $"<a href=\"/p{i}\">{i}</a>"))
            + $"<a href=\"http://localhost:{_site.Port}/elsewhere\">other host</a>";
        _site.Html("/", Page("Home", "<p>Home page.</p>" + links));
        for (var i = 1; i <= 6; i++)
        {
            _site.Html($"/p{i}", Page($"P{i}", $"<p>Page number {i}.</p>"));
        }

        _site.Html("/elsewhere", Page("Elsewhere", "<p>Another site.</p>"));

        var summary = await _harness.Pipeline.IngestAsync([_site.Url("/")], Options(w => w with { Depth = 1, MaxPages = 4, SameSite = true }));

        Assert.Equal(4, summary.Files);
        Assert.Equal(4, _harness.Store.Documents.Count);
        Assert.Equal(0, _site.RequestsFor("/elsewhere"));
        Assert.Equal(0, _site.RequestsFor("/p4"));
    }

    [Fact]
    public async Task IngestAsync_RobotsTxtDisallows_PageSkippedWithReasonAndNotFetched()
    {
        _site.Content("/robots.txt", "text/plain", """
            User-agent: *
            Disallow: /private
            Allow: /private/open
            """u8.ToArray())
            .Html("/", Page("Home", "<p>Home.</p><a href=\"/private/secret\">s</a><a href=\"/private/open\">o</a>"))
            .Html("/private/secret", Page("Secret", "<p>Secret.</p>"))
            .Html("/private/open", Page("Open", "<p>Open.</p>"));

        var summary = await _harness.Pipeline.IngestAsync([_site.Url("/")], Options(w => w with { Depth = 1 }));

        Assert.Equal(0, _site.RequestsFor("/private/secret"));
        Assert.Equal(1, _site.RequestsFor("/private/open"));
        Assert.Equal(1, _site.RequestsFor("/robots.txt"));
        var skipped = Assert.Single(summary.Skipped);
        Assert.StartsWith(_site.Url("/private/secret"), skipped, StringComparison.Ordinal);
        Assert.Contains("robots.txt disallows it", skipped, StringComparison.Ordinal);
        Assert.Equal(0, summary.Failed);
        Assert.Equal(2, summary.Added);
    }

    [Fact]
    public async Task IngestAsync_PageRedirectsToPathRobotsTxtDisallows_SkippedNamingRobotsTxtAndTargetNeverRequested()
    {
        _site.Content("/robots.txt", "text/plain", """
            User-agent: *
            Disallow: /private
            """u8.ToArray())
            .Redirect("/a", "/private/secret")
            .Html("/private/secret", Page("Secret", "<p>Secret.</p>"));

        var summary = await _harness.Pipeline.IngestAsync([_site.Url("/a")], Options());

        Assert.Equal(1, _site.RequestsFor("/a"));
        Assert.Equal(0, _site.RequestsFor("/private/secret"));
        var skipped = Assert.Single(summary.Skipped);
        Assert.StartsWith(_site.Url("/a"), skipped, StringComparison.Ordinal);
        Assert.Contains("robots.txt disallows it", skipped, StringComparison.Ordinal);
        Assert.Contains(_site.Url("/private/secret"), skipped, StringComparison.Ordinal);
        Assert.Equal(0, summary.Added);
        Assert.Empty(_harness.Store.Documents);
    }

    [Fact]
    public async Task IngestAsync_PageShowsImagesRobotsTxtDisallows_ThoseNeverRequestedAndEachWarnedAboutNamingRobotsTxt()
    {
        _site.Content("/robots.txt", "text/plain", """
            User-agent: *
            Disallow: /private
            """u8.ToArray())
            .Html("/p", Page("P", "<p>Three pictures.</p><img src=\"/private/a.png\" alt=\"A\"><img src=\"/b.png\" alt=\"B\"><img src=\"/hop.png\" alt=\"C\">"))
            .Content("/private/a.png", "image/png", GeneratedPngs.Create(24, 24, SKColors.Coral))
            .Content("/b.png", "image/png", GeneratedPngs.Create(24, 24, SKColors.Navy))
            .Redirect("/hop.png", "/private/c.png")
            .Content("/private/c.png", "image/png", GeneratedPngs.Create(24, 24, SKColors.Olive));

        var summary = await _harness.Pipeline.IngestAsync([_site.Url("/p")], Options());

        Assert.Equal(1, summary.Added);
        Assert.Equal(0, _site.RequestsFor("/private/a.png"));
        Assert.Equal(0, _site.RequestsFor("/private/c.png")); // a redirect of a download is held to robots.txt too
        Assert.Equal(1, _site.RequestsFor("/b.png"));
        Assert.Single(_harness.Store.Items, i => i.Kind == ItemKind.Image);
        Assert.Equal(2, summary.Warnings.Count);
        Assert.All(summary.Warnings, w => Assert.Contains("robots.txt disallows it", w.Reason, StringComparison.Ordinal));
        Assert.Contains(summary.Warnings, w => w.Reason.Contains(_site.Url("/private/a.png"), StringComparison.Ordinal));
        Assert.Contains(summary.Warnings, w => w.Reason.Contains(_site.Url("/private/c.png"), StringComparison.Ordinal));
    }

    [Fact]
    public async Task IngestAsync_PageRedirectsToAnotherHost_ThatHostsRobotsTxtAsked()
    {
        using var other = new LoopbackSite();
        other.Content("/robots.txt", "text/plain", "User-agent: mmrag\nDisallow: /\n"u8.ToArray())
            .Html("/page", Page("Elsewhere", "<p>Elsewhere.</p>"));
        _site.Redirect("/a", other.Url("/page"));

        var summary = await _harness.Pipeline.IngestAsync([_site.Url("/a")], Options());

        Assert.Equal(1, other.RequestsFor("/robots.txt"));
        Assert.Equal(0, other.RequestsFor("/page"));
        Assert.Contains("robots.txt disallows it", Assert.Single(summary.Skipped), StringComparison.Ordinal);
    }

    [Fact]
    public async Task IngestAsync_RedirectWithinOneHost_HopWaitsForTheHostDelay()
    {
        _site.Redirect("/a", "/b").Html("/b", Page("B", "<p>B.</p>"));
        var started = DateTime.UtcNow;

        var summary = await _harness.Pipeline.IngestAsync([_site.Url("/a")], Options(w => w with { HostDelay = TimeSpan.FromMilliseconds(700) }));

        // robots.txt, /a and the hop to /b: two waits of at least 0.7 s.
        Assert.Equal(1, summary.Added);
        Assert.True(DateTime.UtcNow - started >= TimeSpan.FromSeconds(1.3));
    }

    [Fact]
    public async Task IngestAsync_HostDelay_SpacesRequestsToOneHost()
    {
        _site.Html("/a", Page("A", "<p>A.</p><a href=\"/b\">B</a>")).Html("/b", Page("B", "<p>B.</p>"));
        var started = DateTime.UtcNow;

        await _harness.Pipeline.IngestAsync([_site.Url("/a")], Options(w => w with { Depth = 1, HostDelay = TimeSpan.FromMilliseconds(700) }));

        // robots.txt, /a and /b: two waits of at least 0.7 s.
        Assert.True(DateTime.UtcNow - started >= TimeSpan.FromSeconds(1.3));
    }

    [Fact]
    public async Task IngestAsync_FollowPdf_LinkedPdfStoredWithItsUrl()
    {
        _site.Html("/", Page("Reports", "<p>Annual reports.</p><a href=\"/report.pdf\">Report</a>"))
            .Content("/report.pdf", "application/pdf", TestPdfs.TextOnly("The annual report counts seventeen lighthouses."));

        var without = await _harness.Pipeline.IngestAsync([_site.Url("/")], Options());
        Assert.Equal(0, _site.RequestsFor("/report.pdf"));
        Assert.Equal(1, without.Files);

        var summary = await _harness.Pipeline.IngestAsync([_site.Url("/")], Options(w => w with { FollowPdf = true }));

        Assert.Equal(1, summary.Added);
        var pdf = Assert.Single(_harness.Store.Documents, d => d.MediaType == "application/pdf");
        Assert.Equal(_site.Url("/report.pdf"), pdf.SourcePath);
        var chunk = Assert.Single(_harness.Store.ItemsOf(pdf.Id), i => i.Text.Contains("seventeen lighthouses", StringComparison.Ordinal));
        Assert.Equal(_site.Url("/report.pdf"), chunk.Provenance.SourcePath);
        Assert.Equal(1, chunk.Provenance.Page);
    }

    [Fact]
    public async Task IngestAsync_PageNowAnswers404_FailureWithoutPruneAndRemovedWithPrune()
    {
        _site.Html("/old", Page("Old", "<p>An old page about trams.</p>"));
        var url = _site.Url("/old");
        await _harness.Pipeline.IngestAsync([url], Options());
        Assert.Single(_harness.Store.Documents);
        _site.Status("/old", 404);

        var kept = await _harness.Pipeline.IngestAsync([url], Options());

        Assert.Equal(1, kept.Failed);
        Assert.Contains("404", kept.Failures[0].Reason, StringComparison.Ordinal);
        Assert.Single(_harness.Store.Documents);
        Assert.Contains(await _harness.Store.ListFailuresAsync(), f => f.SourcePath == url);

        var pruned = await _harness.Pipeline.IngestAsync([url], Options() with { Prune = true });

        Assert.Equal(1, pruned.Pruned);
        Assert.Equal(0, pruned.Failed);
        Assert.Empty(_harness.Store.Documents);
        Assert.Empty(await _harness.Store.ListFailuresAsync());
        Assert.Null(await RemoteDocumentState.ReadAsync(_harness.Store, DocumentIds.ForPath(url)));
    }

    [Fact]
    public async Task IngestAsync_OversizedPage_FailsAndNothingIsStored()
    {
        _site.Html("/ok", Page("Ok", "<p>Small page.</p>"))
            .Route("/huge", async context =>
            {
                context.Response.ContentType = "text/html";
                context.Response.SendChunked = true;
                var block = Encoding.UTF8.GetBytes("<p>" + new string('x', 60_000) + "</p>");
                for (var i = 0; i < 40; i++)
                {
                    await context.Response.OutputStream.WriteAsync(block);
                }

                context.Response.Close();
            });

        var summary = await _harness.Pipeline.IngestAsync([_site.Url("/huge"), _site.Url("/ok")],
            Options(w => w with { Fetcher = w.Fetcher with { MaxResponseBytes = 1024 * 1024 } }));

        Assert.Equal(1, summary.Failed);
        Assert.Equal(1, summary.Added);
        var failure = Assert.Single(summary.Failures);
        Assert.Equal(_site.Url("/huge"), failure.SourcePath);
        Assert.Contains("1,048,576-byte limit", failure.Reason, StringComparison.Ordinal);
        Assert.Equal([_site.Url("/ok")], _harness.Store.Documents.Select(d => d.SourcePath));
        Assert.Null(await RemoteDocumentState.ReadAsync(_harness.Store, DocumentIds.ForPath(_site.Url("/huge"))));
    }

    [Fact]
    public async Task IngestAsync_WrongContentType_RecordedAsFailure()
    {
        _site.Content("/data", "application/zip", [0x50, 0x4B, 3, 4]);

        var summary = await _harness.Pipeline.IngestAsync([_site.Url("/data")], Options());

        Assert.Equal(1, summary.Failed);
        Assert.Contains("content type is application/zip", summary.Failures[0].Reason, StringComparison.Ordinal);
        Assert.Empty(_harness.Store.Documents);
    }

    [Fact]
    public async Task IngestAsync_LoopbackUrlWithoutOptIn_RefusedAndRecorded()
    {
        _site.Html("/page", Page("P", "<p>Private.</p>"));
        var url = _site.Url("/page");

        var summary = await _harness.Pipeline.IngestAsync([url], new IngestionOptions());

        Assert.Equal(1, summary.Failed);
        Assert.Contains("127.0.0.1, a loopback", summary.Failures[0].Reason, StringComparison.Ordinal);
        Assert.Empty(_site.Requests);
        Assert.Contains(await _harness.Store.ListFailuresAsync(), f => f.SourcePath == url);
    }

    [Fact]
    public async Task IngestAsync_ImageOverEveryLimit_PageStoredWithWarning()
    {
        _site.Html("/p", Page("P", "<p>A page with a huge picture.</p><img src=\"/big.png\" alt=\"Big\">"))
            .Content("/big.png", "image/png", GeneratedPngs.Create(300, 300, SKColors.Gray));

        var summary = await _harness.Pipeline.IngestAsync([_site.Url("/p")], Options() with { MaxImagePixels = 10_000 });

        Assert.Equal(1, summary.Added);
        var warning = Assert.Single(summary.Warnings);
        Assert.Contains("300×300 pixels", warning.Reason, StringComparison.Ordinal);
        Assert.DoesNotContain(_harness.Store.Items, i => i.Kind == ItemKind.Image);
    }

    [Fact]
    public async Task IngestAsync_GifFrameLargerThanItsLogicalScreen_ImageRefusedWithWarning()
    {
        _site.Html("/p", Page("P", "<p>A page with a forged picture.</p><img src=\"/forged.gif\" alt=\"Forged\">"))
            .Content("/forged.gif", "image/gif", ForgedGifs.FrameLargerThanScreen(60_000, 60_000));

        var summary = await _harness.Pipeline.IngestAsync([_site.Url("/p")], Options());

        Assert.Equal(1, summary.Added);
        var warning = Assert.Single(summary.Warnings);
        Assert.Contains("60000×60000 pixels", warning.Reason, StringComparison.Ordinal);
        Assert.Contains(_site.Url("/forged.gif"), warning.Reason, StringComparison.Ordinal);
        Assert.DoesNotContain(_harness.Store.Items, i => i.Kind == ItemKind.Image);
    }

    [Fact]
    public async Task IngestAsync_ImagesPastThePageImageBudget_SkippedWithWarningNamingPageAndImage()
    {
        byte[] first = GeneratedPngs.Create(40, 40, SKColors.Olive), big = GeneratedPngs.Create(160, 160, SKColors.Maroon),
            small = GeneratedPngs.Create(20, 20, SKColors.Maroon), last = GeneratedPngs.Create(40, 40, SKColors.Silver);
        _site.Html("/gallery", Page("Gallery", """
                <p>Three pictures of the old town.</p>
                <img src="/first.png" alt="First">
                <img srcset="/big.png 2x, /small.png 1x" alt="Second">
                <img src="/last.png" alt="Last">
                """))
            .Content("/first.png", "image/png", first)
            .Content("/big.png", "image/png", big)
            .Content("/small.png", "image/png", small)
            .Content("/last.png", "image/png", last);
        // Room for the first image and the second's small candidate, not for its large one nor for the last image.
        var budget = first.Length + small.Length + 5;
        Assert.True(big.Length > small.Length + 5 && last.Length > 5);
        var url = _site.Url("/gallery");

        var summary = await _harness.Pipeline.IngestAsync([url], Options(w => w with { MaxImageBytesPerPage = budget }));

        Assert.Equal(1, summary.Added);
        var kept = _harness.Store.Items.Where(i => i.Kind == ItemKind.Image).Select(i => i.ContentHash).Order(StringComparer.Ordinal);
        Assert.Equal(new[] { DocumentIds.Sha256Hex(first), DocumentIds.Sha256Hex(small) }.Order(StringComparer.Ordinal), kept);
        var warning = Assert.Single(summary.Warnings);
        Assert.Equal(url, warning.SourcePath);
        Assert.Contains(_site.Url("/last.png"), warning.Reason, StringComparison.Ordinal);
        Assert.Contains("MaxImageBytesPerPage", warning.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public void WebIngestionOptions_MaxImageBytesPerPageNotPositive_RefusedNamingIt()
    {
        var error = Assert.Throws<ArgumentOutOfRangeException>(() => new WebIngestionOptions { MaxImageBytesPerPage = 0 }.Validate());

        Assert.Contains("MaxImageBytesPerPage", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task IngestAsync_PageWithThousandsOfBrokenImages_AtMostMaxImageRequestsPerPageAskedAndOneWarningNamesThePage()
    {
        var images = string.Concat(Enumerable.Range(1, 2_000).Select(i => $"<img src=\"/broken-{i}.png\" alt=\"{i}\">"));
        _site.Html("/hostile", Page("Hostile", "<p>A page of broken pictures.</p>" + images));
        var url = _site.Url("/hostile");

        var summary = await _harness.Pipeline.IngestAsync([url], Options());

        Assert.Equal(1, summary.Added);
        var asked = _site.Requests.Count(r => r.Path.StartsWith("/broken-", StringComparison.Ordinal));
        Assert.Equal(WebIngestionOptions.DefaultMaxImageRequestsPerPage, asked);
        var capped = Assert.Single(summary.Warnings, w => w.Reason.Contains("MaxImageRequestsPerPage", StringComparison.Ordinal));
        Assert.Equal(url, capped.SourcePath);
        Assert.Contains(url, capped.Reason, StringComparison.Ordinal);
        Assert.Equal(WebIngestionOptions.DefaultMaxImageRequestsPerPage + 1, summary.Warnings.Count);
    }

    [Fact]
    public async Task IngestAsync_MaxImageRequestsPerPage_CountsEachSrcsetCandidateAndKeepsWhatCameBeforeIt()
    {
        _site.Html("/p", Page("P", """
                <p>Pictures.</p>
                <img srcset="/gone-1.png 2x, /first.png 1x" alt="First">
                <img src="/second.png" alt="Second">
                <img src="/third.png" alt="Third">
                """))
            .Content("/first.png", "image/png", GeneratedPngs.Create(12, 12, SKColors.Lime))
            .Content("/second.png", "image/png", GeneratedPngs.Create(14, 14, SKColors.Navy))
            .Content("/third.png", "image/png", GeneratedPngs.Create(16, 16, SKColors.Coral));

        var summary = await _harness.Pipeline.IngestAsync([_site.Url("/p")], Options(w => w with { MaxImageRequestsPerPage = 3 }));

        Assert.Equal(1, _site.RequestsFor("/gone-1.png"));
        Assert.Equal(0, _site.RequestsFor("/third.png"));
        Assert.Equal(2, _harness.Store.Items.Count(i => i.Kind == ItemKind.Image));
        Assert.Single(summary.Warnings, w => w.Reason.Contains("MaxImageRequestsPerPage", StringComparison.Ordinal));
    }

    [Fact]
    public async Task IngestAsync_OneBrokenIconRepeatedPastTheRequestLimit_CountsOnceAndLaterImagesAreKept()
    {
        var icons = string.Concat(Enumerable.Range(1, 10).Select(_ => "<img src=\"/icon.svg\" alt=\"icon\">"));
        _site.Html("/list", Page("List", "<p>A list with the same icon on every line.</p>" + icons + "<img src=\"/photo.png\" alt=\"Photo\">"))
            .Content("/photo.png", "image/png", GeneratedPngs.Create(12, 12, SKColors.Lime));

        var summary = await _harness.Pipeline.IngestAsync([_site.Url("/list")], Options(w => w with { MaxImageRequestsPerPage = 3 }));

        Assert.Equal(1, _site.RequestsFor("/icon.svg"));
        Assert.Equal(1, _site.RequestsFor("/photo.png"));
        Assert.Single(_harness.Store.Items, i => i.Kind == ItemKind.Image);
        Assert.DoesNotContain(summary.Warnings, w => w.Reason.Contains("MaxImageRequestsPerPage", StringComparison.Ordinal));
    }

    [Fact]
    public void WebIngestionOptions_MaxImageRequestsPerPageNegative_RefusedNamingIt()
    {
        var error = Assert.Throws<ArgumentOutOfRangeException>(() => new WebIngestionOptions { MaxImageRequestsPerPage = -1 }.Validate());

        Assert.Contains("MaxImageRequestsPerPage", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task IngestAsync_ImageShownByTwoPagesAndTwiceOnOne_DownloadedOnce()
    {
        var shared = GeneratedPngs.Create(30, 30, SKColors.Gold);
        _site.Html("/one", Page("One", "<p>Page one.</p><img src=\"/shared.png\" alt=\"S\"><img src=\"/missing.png\" alt=\"M\"><img src=\"shared.png\" alt=\"Again\">"))
            .Html("/two", Page("Two", "<p>Page two.</p><img src=\"/shared.png\" alt=\"S\"><img src=\"/missing.png\" alt=\"M\">"))
            .Content("/shared.png", "image/png", shared);

        var summary = await _harness.Pipeline.IngestAsync([_site.Url("/one"), _site.Url("/two")], Options());

        Assert.Equal(2, summary.Added);
        Assert.Equal(1, _site.RequestsFor("/shared.png"));
        Assert.Equal(1, _site.RequestsFor("/missing.png"));
        foreach (var page in new[] { "/one", "/two" })
        {
            var document = Assert.Single(_harness.Store.Documents, d => d.SourcePath == _site.Url(page));
            Assert.Contains(_harness.Store.ItemsOf(document.Id), i => i.Kind == ItemKind.Image && i.ContentHash == DocumentIds.Sha256Hex(shared));
            Assert.Contains(summary.Warnings, w => w.SourcePath == _site.Url(page) && w.Reason.Contains("404", StringComparison.Ordinal));
        }
    }

    [Fact]
    public async Task IngestAsync_RobotsTxtAnswersAServerError_HostTreatedAsDisallowedAndNothingElseFetched()
    {
        // RFC 9309: robots.txt unreachable (5xx, 429, time-out) means "assume complete disallow".
        _site.Route("/robots.txt", context =>
            {
                context.Response.StatusCode = 503;
                context.Response.Close();
                return Task.CompletedTask;
            })
            .Html("/p", Page("P", "<p>Text.</p>"));

        var summary = await _harness.Pipeline.IngestAsync([_site.Url("/p")], Options());

        Assert.Equal(0, _site.RequestsFor("/p"));
        Assert.Equal(0, summary.Added);
        Assert.Contains("robots.txt disallows it", Assert.Single(summary.Skipped), StringComparison.Ordinal);
    }

    [Fact]
    public async Task IngestAsync_RobotsTxtAnswers503OnceThenAllows_LaterPageOfTheHostFetched()
    {
        // RFC 9309's "assume complete disallow" holds while robots.txt is unreachable, not for the rest of the run.
        var asked = 0;
        _site.Route("/robots.txt", async context =>
            {
                if (Interlocked.Increment(ref asked) == 1)
                {
                    context.Response.StatusCode = 503;
                    context.Response.Close();
                    return;
                }

                var body = "User-agent: *\nAllow: /\n"u8.ToArray();
                context.Response.ContentType = "text/plain";
                await context.Response.OutputStream.WriteAsync(body);
                context.Response.Close();
            })
            .Html("/a", Page("A", "<p>Page A.</p>"))
            .Html("/b", Page("B", "<p>Page B.</p>"));

        var summary = await _harness.Pipeline.IngestAsync([_site.Url("/a"), _site.Url("/b")], Options());

        Assert.Equal(0, _site.RequestsFor("/a"));
        Assert.Equal(1, _site.RequestsFor("/b"));
        Assert.Equal(2, _site.RequestsFor("/robots.txt"));
        Assert.StartsWith(_site.Url("/a"), Assert.Single(summary.Skipped), StringComparison.Ordinal);
        Assert.Equal(1, summary.Added);
        Assert.Equal([_site.Url("/b")], _harness.Store.Documents.Select(d => d.SourcePath));
    }

    [Fact]
    public async Task IngestAsync_RobotsTxtAlwaysAnswers503_AskedAtMostMaxRobotsAttemptsTimes()
    {
        _site.Status("/robots.txt", 503);
        var pages = Enumerable.Range(1, WebCrawl.MaxRobotsAttempts + 3).Select(i => $"/p{i}").ToList();
        foreach (var page in pages)
        {
            _site.Html(page, Page(page, "<p>Text.</p>"));
        }

        var summary = await _harness.Pipeline.IngestAsync([.. pages.Select(_site.Url)], Options());

        Assert.Equal(WebCrawl.MaxRobotsAttempts, _site.RequestsFor("/robots.txt"));
        Assert.Equal(pages.Count, summary.Skipped.Count);
        Assert.All(pages, page => Assert.Equal(0, _site.RequestsFor(page)));
    }

    [Fact]
    public async Task IngestAsync_CancelledWhileRobotsTxtIsFetched_EndsAsCancelledNotAsDisallowed()
    {
        using var cancel = new CancellationTokenSource();
        _site.Route("/robots.txt", async context =>
            {
                await cancel.CancelAsync();
                await Task.Delay(TimeSpan.FromSeconds(30));
                context.Response.Close();
            })
            .Html("/p", Page("P", "<p>Text.</p>"));
        var started = DateTime.UtcNow;

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() =>
            _harness.Pipeline.IngestAsync([_site.Url("/p")], Options(w => w with { Fetcher = w.Fetcher with { Timeout = TimeSpan.FromSeconds(60) } }),
                cancellationToken: cancel.Token));

        Assert.True(DateTime.UtcNow - started < TimeSpan.FromSeconds(20));
        Assert.Equal(0, _site.RequestsFor("/p"));
        Assert.Empty(await _harness.Store.ListFailuresAsync());
    }

    [Fact]
    public async Task WebCrawl_PageCancelledWhileRobotsTxtIsFetched_RobotsRequestAbandonedWithThePage()
    {
        // The fetch of robots.txt is the page's: cancelling the page tears down its request, not after the fetcher's 60 s.
        var requested = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var abandoned = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        _site.Route("/robots.txt", async context =>
        {
            context.Response.ContentType = "text/plain";
            context.Response.SendChunked = true;
            requested.TrySetResult();
            try
            {
                for (var i = 0; i < 600; i++)
                {
                    await context.Response.OutputStream.WriteAsync("# slow\n"u8.ToArray());
                    await context.Response.OutputStream.FlushAsync();
                    await Task.Delay(50);
                }
            }
            catch (Exception)
            {
                abandoned.TrySetResult();
                throw;
            }
        });
        using var fetcher = new WebFetcher(new WebFetcherOptions { AllowPrivateHosts = true, Timeout = TimeSpan.FromSeconds(60) });
        var crawl = new WebCrawl(fetcher, new WebIngestionOptions { HostDelay = TimeSpan.Zero });
        using var cancel = new CancellationTokenSource();

        var allowed = crawl.AllowedAsync(new Uri(_site.Url("/p")), cancel.Token);
        await requested.Task.WaitAsync(TimeSpan.FromSeconds(10));
        await cancel.CancelAsync();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => allowed);
        await abandoned.Task.WaitAsync(TimeSpan.FromSeconds(15));
    }

    [Fact]
    public async Task IngestAsync_SrcsetOfManyMissingCandidates_OnlyTheLargestFewAndTheSrcAreRequested()
    {
        // A forged srcset must not turn one image into a request per candidate.
        var candidates = string.Join(", ", Enumerable.Range(1, 50).Select(i => $"/missing-{i}.png {i * 100}w"));
        _site.Html("/p", Page("P", $"<p>Text.</p><img srcset=\"{candidates}\" src=\"/plain.png\" alt=\"Plain\">"))
            .Content("/plain.png", "image/png", GeneratedPngs.Create(14, 14, SKColors.Teal));

        var summary = await _harness.Pipeline.IngestAsync([_site.Url("/p")], Options());

        Assert.Equal(1, summary.Added);
        var asked = _site.Requests.Count(r => r.Path.StartsWith("/missing-", StringComparison.Ordinal));
        Assert.Equal(SrcSet.MaxCandidates - 1, asked);
        Assert.Equal(1, _site.RequestsFor("/missing-50.png"));
        var image = Assert.Single(_harness.Store.Items, i => i.Kind == ItemKind.Image);
        Assert.Equal(DocumentIds.Sha256Hex(GeneratedPngs.Create(14, 14, SKColors.Teal)), image.ContentHash);
    }

    [Fact]
    public async Task IngestAsync_SrcsetCandidateTimesOut_NoSmallerCandidateOfThatImageTried()
    {
        _site.Html("/p", Page("P", """
                <p>A page on a slow image server.</p>
                <img srcset="/slow.png 2x, /slow-small.png 1x" alt="Slow">
                <img srcset="/gone.png 2x, /fallback.png 1x" alt="Gone">
                """))
            .Route("/slow.png", async context =>
            {
                await Task.Delay(TimeSpan.FromSeconds(10));
                context.Response.Close();
            })
            .Content("/slow-small.png", "image/png", GeneratedPngs.Create(10, 10, SKColors.Pink))
            .Content("/fallback.png", "image/png", GeneratedPngs.Create(12, 12, SKColors.Lime));

        var summary = await _harness.Pipeline.IngestAsync([_site.Url("/p")],
            Options(w => w with { Fetcher = w.Fetcher with { Timeout = TimeSpan.FromSeconds(1) } }));

        Assert.Equal(1, summary.Added);
        Assert.Equal(0, _site.RequestsFor("/slow-small.png"));
        var warning = Assert.Single(summary.Warnings);
        Assert.Contains(_site.Url("/slow.png"), warning.Reason, StringComparison.Ordinal);
        Assert.Contains("(Timeout)", warning.Reason, StringComparison.Ordinal);
        // A 404 still falls back to the next candidate.
        var image = Assert.Single(_harness.Store.Items, i => i.Kind == ItemKind.Image);
        Assert.Equal(DocumentIds.Sha256Hex(GeneratedPngs.Create(12, 12, SKColors.Lime)), image.ContentHash);
    }

    [Fact]
    public async Task IngestAsync_SourceFromCode_StoredWithItsMetadataAndImageDescription()
    {
        _site.Html("/article", Page("Article", "<p>Text of the article.</p><img src=\"/photo.png\" alt=\"Photo\">"))
            .Content("/photo.png", "image/png", GeneratedPngs.Create(30, 30, SKColors.Purple));
        var source = new ArticleSource(new Uri(_site.Url("/article")));

        var summary = await _harness.Pipeline.IngestAsync([], Options() with { Sources = [source] });

        Assert.Equal(1, summary.Added);
        var document = Assert.Single(_harness.Store.Documents);
        Assert.Equal(_site.Url("/article"), document.SourcePath);
        var image = Assert.Single(_harness.Store.ItemsOf(document.Id), i => i.Kind == ItemKind.Image);
        Assert.Equal("Photo by someone, CC BY-SA 4.0", image.Description);
        var state = await RemoteDocumentState.ReadAsync(_harness.Store, document.Id);
        Assert.Equal("42", state!.Version);
        Assert.Equal("42", state.Metadata["revision"]);

        var again = await _harness.Pipeline.IngestAsync([], Options() with { Sources = [new ArticleSource(new Uri(_site.Url("/article")))] });

        Assert.Equal(1, again.Unchanged);
        Assert.Equal(0, again.Embedded);
        Assert.Equal(1, _site.RequestsFor("/article"));
    }

    /// <summary>A source written the way the Wikipedia one is: its own version (a revision), HTML through the context, image attributions.</summary>
    private sealed class ArticleSource(Uri uri) : RemoteSource(uri)
    {
        public override async Task<RemoteLoadResult> LoadAsync(RemoteLoadContext context, CancellationToken cancellationToken = default)
        {
            if (context.Stored?.Version == "42")
            {
                return RemoteLoadResult.Unchanged();
            }

            var page = await context.Fetcher.GetAsync(Uri, cancellationToken: cancellationToken);
            var document = await context.LoadHtmlAsync(page.Content, page.Uri,
                new RemoteHtmlOptions { DescribeImage = image => $"Photo by someone, CC BY-SA 4.0" }, cancellationToken);
            return RemoteLoadResult.Loaded(document, new RemoteDocumentState("42") { Metadata = new Dictionary<string, string> { ["revision"] = "42" } });
        }
    }

    public void Dispose()
    {
        _site.Dispose();
        _harness.Dispose();
    }
}
