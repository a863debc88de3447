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
        $"<html><head><title>{title}</title></head><body><nav><a href=\"/nav\">Nav</a></nav><main><h1>{title}</h1>{body}</main></body></html>";

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

    public void Dispose()
    {
        _site.Dispose();
        _harness.Dispose();
    }
}
