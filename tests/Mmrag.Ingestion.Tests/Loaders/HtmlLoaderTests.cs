using System.Text;
using Mmrag.Ingestion.Loaders;
using Mmrag.Ingestion.Tests.Support;
using Mmrag.Knowledge;

namespace Mmrag.Ingestion.Tests.Loaders;

public sealed class HtmlLoaderTests
{
    /// <summary>The shape of a Wikipedia article saved as "Web page, complete", with its images in a _files folder.</summary>
    private const string Article = """
        <!DOCTYPE html>
        <html><head><meta charset="utf-8"><title>Red fox - Wikipedia</title>
        <script>var leaked = "SCRIPTTEXT";</script><style>.x { color: red } /* STYLETEXT */</style></head>
        <body>
        <header class="vector-header"><div>SITEHEADER</div></header>
        <nav role="navigation">NAVTEXT</nav>
        <div id="mw-panel">PANELTEXT</div>
        <main id="content">
        <h1 id="firstHeading">Red fox</h1>
        <div id="siteSub">From Wikipedia, the free encyclopedia</div>
        <div id="mw-content-text"><div class="mw-parser-output">
        <div role="note" class="hatnote">HATNOTETEXT</div>
        <p>The <b>red fox</b> &amp; its kin are <i>canids</i>&nbsp;of the north.<sup class="reference"><a href="#cite1">[1]</a></sup></p>
        <figure typeof="mw:File/Thumb"><a href="x"><img src="Red_fox_files/fox.jpg" alt="" width="220" height="165"></a><figcaption>A red fox in the snow</figcaption></figure>
        <div class="mw-heading mw-heading2"><h2 id="Taxonomy">Taxonomy</h2><span class="mw-editsection">[<a href="e">edit</a>]</span></div>
        <p>Foxes belong to the genus <i>Vulpes</i>.</p>
        <div class="thumb tright"><div class="thumbinner"><a class="image"><img alt="Skull" src="Red%20fox_files/skull%20side.png" width="200" height="200"></a><div class="thumbcaption"><div class="magnify"><a href="m"></a></div>Skull of a red fox</div></div></div>
        <h3>Subspecies</h3>
        <p>There are many subspecies.</p>
        <table class="wikitable"><tr><th>Name</th><th>Range</th></tr><tr><td>V. v. vulpes</td><td>Europe</td></tr></table>
        <figure><img src="Red_fox_files/missing.png" alt="Missing"><figcaption>Missing image</figcaption></figure>
        <figure><img src="../outside.png" alt="Escaping"><figcaption>Escapes the root</figcaption></figure>
        <img src="https://upload.wikimedia.org/remote.jpg" alt="Remote">
        <img src="Red_fox_files/icon.png" width="16" height="16" alt="icon">
        <p style="display:none">HIDDENTEXT</p>
        <table class="navbox"><tr><td>NAVBOXTEXT</td></tr></table>
        <div class="sidebar">SIDEBARTEXT</div>
        <div class="reflist"><ol class="references"><li>REFERENCETEXT</li></ol></div>
        </div></div>
        <div id="catlinks">CATEGORYTEXT</div>
        </main>
        <footer id="footer">FOOTERTEXT</footer>
        </body></html>
        """;

    private readonly HtmlLoader _loader = new(TestChunkers.Clip);

    [Theory]
    [InlineData("a.html", true)]
    [InlineData("a.HTM", true)]
    [InlineData("a.xhtml", false)]
    public void CanLoad_ByExtension(string path, bool expected) => Assert.Equal(expected, _loader.CanLoad(path));

    private sealed record Loaded(LoadedDocument Document, string Page, string Fox, string Skull);

    private static async Task<Loaded> LoadArticleAsync(TemporaryDirectory temp)
    {
        temp.Write("outside.png", Fixtures.Png);
        var fox = temp.Write("site/Red_fox_files/fox.jpg", Fixtures.Jpeg);
        var skull = temp.Write("site/Red fox_files/skull side.png", Fixtures.OtherPng);
        temp.Write("site/Red_fox_files/icon.png", Fixtures.Png);
        var page = temp.Write("site/Red fox.html", Article);
        var document = await new HtmlLoader(TestChunkers.Clip).LoadAsync(page, TestChunkers.Context(temp.Combine("site")));
        return new Loaded(document, page, fox, skull);
    }

    [Fact]
    public async Task LoadAsync_WikipediaPage_MainTextWithoutBoilerplate()
    {
        using var temp = new TemporaryDirectory();
        var loaded = await LoadArticleAsync(temp);

        var text = string.Join("\n", loaded.Document.Items.Select(i => i.Text));
        Assert.Contains("The red fox & its kin are canids of the north.", text, StringComparison.Ordinal);
        foreach (var boilerplate in new[]
                 {
                     "SCRIPTTEXT", "STYLETEXT", "SITEHEADER", "NAVTEXT", "PANELTEXT", "HATNOTETEXT", "[1]", "edit", "HIDDENTEXT",
                     "NAVBOXTEXT", "SIDEBARTEXT", "REFERENCETEXT", "CATEGORYTEXT", "FOOTERTEXT", "From Wikipedia",
                 })
        {
            Assert.DoesNotContain(boilerplate, text, StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task LoadAsync_WikipediaPage_TitleAndHeadingSections()
    {
        using var temp = new TemporaryDirectory();
        var loaded = await LoadArticleAsync(temp);

        Assert.Equal("text/html", loaded.Document.MediaType);
        Assert.Equal("Red fox - Wikipedia", loaded.Document.Title);
        var texts = loaded.Document.Items.Where(i => i.Kind == ItemKind.TextChunk).ToList();
        Assert.Equal([null, "Taxonomy", "Taxonomy › Subspecies"], texts.Select(t => t.Provenance.Section).Distinct());
        var subspecies = Assert.Single(texts, t => t.Provenance.Section == "Taxonomy › Subspecies").Text;
        Assert.Contains("There are many subspecies.", subspecies, StringComparison.Ordinal);
        Assert.Contains("Name | Range\nV. v. vulpes | Europe", subspecies, StringComparison.Ordinal);
        Assert.All(loaded.Document.Items, i => Assert.Equal("Red fox - Wikipedia", i.Provenance.DocumentTitle));
        Assert.Equal(Enumerable.Range(0, loaded.Document.Items.Count), loaded.Document.Items.Select(i => i.Provenance.Position));
    }

    [Fact]
    public async Task LoadAsync_LocalImages_ItemsWithCaptionsAltTextAndSection()
    {
        using var temp = new TemporaryDirectory();
        var loaded = await LoadArticleAsync(temp);

        var images = loaded.Document.Items.Where(i => i.Kind == ItemKind.Image).ToList();
        Assert.Equal([loaded.Fox, loaded.Skull], images.Select(i => i.ImagePath));

        Assert.Equal(Fixtures.Jpeg, images[0].ImageBytes.ToArray());
        Assert.Equal("image/jpeg", images[0].ImageMediaType);
        Assert.Equal("A red fox in the snow", images[0].Provenance.Caption);
        Assert.Equal("A red fox in the snow", images[0].Text);
        Assert.Null(images[0].Provenance.Section);

        Assert.Equal("image/png", images[1].ImageMediaType);
        Assert.Equal("Skull of a red fox", images[1].Provenance.Caption);
        Assert.Equal("Skull. Skull of a red fox. Taxonomy", images[1].Text);
        Assert.Equal("Taxonomy", images[1].Provenance.Section);
    }

    [Fact]
    public async Task LoadAsync_MissingAndEscapingImages_ReportedRemoteAndIconsIgnored()
    {
        using var temp = new TemporaryDirectory();
        var loaded = await LoadArticleAsync(temp);

        Assert.Equal(2, loaded.Document.Failures.Count);
        Assert.All(loaded.Document.Failures, f => Assert.Equal(loaded.Page, f.SourcePath));
        Assert.Contains(loaded.Document.Failures,
            f => f.Detail == "image 'Red_fox_files/missing.png'" && f.Reason.Contains("does not exist", StringComparison.Ordinal));
        Assert.Contains(loaded.Document.Failures,
            f => f.Detail == "image '../outside.png'" && f.Reason.Contains("outside the ingested folder", StringComparison.Ordinal));
    }

    [Fact]
    public async Task LoadAsync_ImageThroughSymlinkOutsideRoot_NotRead()
    {
        using var temp = new TemporaryDirectory();
        var outside = temp.Write("private/photo.png", Fixtures.Png);
        Directory.CreateDirectory(temp.Combine("site"));
        File.CreateSymbolicLink(temp.Combine("site/photo.png"), outside);
        var page = temp.Write("site/page.html", "<html><body><p>Hello.</p><img src='photo.png' alt='linked'></body></html>");

        var document = await _loader.LoadAsync(page, TestChunkers.Context(temp.Combine("site")));

        Assert.DoesNotContain(document.Items, i => i.Kind == ItemKind.Image);
        Assert.Contains("outside the ingested folder", Assert.Single(document.Failures).Reason, StringComparison.Ordinal);
    }

    [Fact]
    public async Task LoadAsync_DataUriImage_ImageItemWithoutPath()
    {
        using var temp = new TemporaryDirectory();
        var page = temp.Write("inline.html",
            $"<html><head><title>Inline</title></head><body><h2>Pics</h2><img alt='dot' src='data:image/png;base64,{Convert.ToBase64String(Fixtures.Png)}'></body></html>");

        var document = await _loader.LoadAsync(page, TestChunkers.Context(temp.Path));

        var image = Assert.Single(document.Items);
        Assert.Null(image.ImagePath);
        Assert.Equal(Fixtures.Png, image.ImageBytes.ToArray());
        Assert.Equal("dot. Pics", image.Text);
    }

    [Fact]
    public async Task LoadAsync_NoTitleElement_TitleFromFirstH1AndDeclaredCharset()
    {
        using var temp = new TemporaryDirectory();
        var html = "<html><head><meta http-equiv='Content-Type' content='text/html; charset=iso-8859-1'></head>"
            + "<body><h1>Caf\u00e9 &eacute;l&eacute;gant</h1><p>Cr\u00e8me br\u00fbl\u00e9e &#x1F98A;.</p></body></html>";
        var page = temp.Write("latin.htm", Encoding.Latin1.GetBytes(html.Replace("\U0001F98A", string.Empty, StringComparison.Ordinal)));

        var document = await _loader.LoadAsync(page, TestChunkers.Context(temp.Path));

        Assert.Equal("Café élégant", document.Title);
        Assert.Equal("Crème brûlée 🦊.", Assert.Single(document.Items).Text);
        Assert.Null(document.Items[0].Provenance.Section);
        Assert.Empty(document.Failures);
    }

    [Fact]
    public async Task LoadAsync_GarbageBytes_ReadsWhateverTextThereIsWithoutThrowing()
    {
        using var temp = new TemporaryDirectory();
        var random = new Random(7);
        var bytes = new byte[20_000];
        random.NextBytes(bytes);
        var page = temp.Write("garbage.html", bytes);

        var document = await _loader.LoadAsync(page, TestChunkers.Context(temp.Path));

        Assert.Equal("text/html", document.MediaType);
        Assert.Contains(document.Failures, f => f.Reason.Contains("Invalid UTF-8", StringComparison.Ordinal));
    }

    [Fact]
    public async Task LoadAsync_TwoHundredThousandNestedDivs_RefusedQuicklyNamingTheFile()
    {
        using var temp = new TemporaryDirectory();
        const int depth = 200_000;
        var page = temp.Write("deep.html", "<html><body>" + string.Concat(Enumerable.Repeat("<div>", depth)) + "deep text"
            + string.Concat(Enumerable.Repeat("</div>", depth)) + "</body></html>");

        var error = await Assert.ThrowsAsync<DocumentLoadException>(() => Task.Run(() => _loader.LoadAsync(page, TestChunkers.Context(temp.Path))))
            .WaitAsync(TimeSpan.FromSeconds(20));

        Assert.StartsWith(page, error.Message, StringComparison.Ordinal);
        Assert.Contains("HtmlLoader.MaxNestingDepth", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task LoadAsync_NestingJustUnderTheLimit_ReadsTheText()
    {
        using var temp = new TemporaryDirectory();
        const int depth = HtmlLoader.MaxNestingDepth - 10;
        var page = temp.Write("nested.html", "<html><body>" + string.Concat(Enumerable.Repeat("<div>", depth)) + "deep text"
            + string.Concat(Enumerable.Repeat("</div>", depth)) + "</body></html>");

        var document = await Task.Run(() => _loader.LoadAsync(page, TestChunkers.Context(temp.Path))).WaitAsync(TimeSpan.FromSeconds(20));

        Assert.Equal("deep text", Assert.Single(document.Items).Text);
    }

    [Fact]
    public async Task LoadAsync_MoreParagraphsThanMaxItems_KeepsTheFirstAndReports()
    {
        using var temp = new TemporaryDirectory();
        var page = temp.Write("long.html", "<html><body>" + string.Concat(Enumerable.Range(0, 200).Select(i =>
            $"<h2>Part {i}</h2><p>Paragraph {i} of the page.</p>")) + "</body></html>");

        var document = await _loader.LoadAsync(page, TestChunkers.Context(temp.Path) with { MaxItems = 10 });

        Assert.Equal(10, document.Items.Count);
        Assert.Contains("MaxItemsPerFile", Assert.Single(document.Failures).Reason, StringComparison.Ordinal);
    }
}
