using System.Text.Json;
using Mmrag.Ingestion.Tests.Support;
using Mmrag.Ingestion.Web.Wikipedia;

namespace Mmrag.Ingestion.Tests.Web.Wikipedia;

/// <summary>
/// The MediaWiki requests and the reading of their answers, against the loopback wiki (which checks the requests'
/// format) and hand-written answers in the API's formatversion=2 shape.
/// </summary>
public sealed class MediaWikiApiTests : IAsyncLifetime
{
    private readonly LoopbackMediaWiki _wiki = new();
    private readonly HttpClient _http = new();
    private WikipediaOptions _options = new();

    public Task InitializeAsync()
    {
        _options = new WikipediaOptions { ApiUrl = new Uri(_wiki.ApiUrl), ImageWidth = 200 };
        _http.DefaultRequestHeaders.UserAgent.ParseAdd("mmrag-tests/1.0");
        return Task.CompletedTask;
    }

    public async Task DisposeAsync()
    {
        _http.Dispose();
        await _wiki.DisposeAsync();
    }

    [Fact]
    public void ParseRequest_Title_AsksForTextRevisionTitleAndFilesInFormatVersion2FollowingRedirects()
    {
        var request = MediaWikiApi.ParseRequest(new WikipediaOptions { Language = "fi" }, "Temppeliaukion kirkko");

        Assert.Equal("https://fi.wikipedia.org/w/api.php", request.GetLeftPart(UriPartial.Path));
        var query = System.Web.HttpUtility.ParseQueryString(request.Query);
        Assert.Equal("parse", query["action"]);
        Assert.Equal("json", query["format"]);
        Assert.Equal("2", query["formatversion"]);
        Assert.Equal("1", query["redirects"]);
        Assert.Equal("text|revid|displaytitle|images", query["prop"]);
        Assert.Equal("Temppeliaukion kirkko", query["page"]);
    }

    [Fact]
    public async Task ReadParse_RecordedArticle_GivesTitleRevisionUrlHtmlAndFiles()
    {
        var article = MediaWikiApi.ReadParse(await GetAsync(MediaWikiApi.ParseRequest(_options, "Helsinki")), "Helsinki", _options);

        Assert.Empty(_wiki.Violations);
        Assert.Equal("Helsinki", article.Title);
        Assert.Equal(HelsinkiRecording.RevisionId, article.RevisionId);
        Assert.Equal(HelsinkiRecording.PageId, article.PageId);
        Assert.Equal("en", article.Language);
        Assert.Equal(new Uri(_wiki.ArticleUrl), article.Url);
        Assert.Contains(HelsinkiRecording.TourismSentence, article.Html, StringComparison.Ordinal);
        Assert.Equal(HelsinkiRecording.ImageFiles, article.ImageFiles);
        Assert.Null(article.RedirectedFrom);
    }

    [Fact]
    public async Task ReadParse_Redirect_GivesTheTargetArticleAndWhereItCameFrom()
    {
        var article = MediaWikiApi.ReadParse(await GetAsync(MediaWikiApi.ParseRequest(_options, "Helsingfors")), "Helsingfors", _options);

        Assert.Equal("Helsinki", article.Title);
        Assert.Equal("Helsingfors", article.RequestedTitle);
        Assert.Equal("Helsingfors", article.RedirectedFrom);
        Assert.Equal(new Uri(_wiki.ArticleUrl), article.Url);
    }

    [Fact]
    public async Task ReadParse_MissingTitle_ThrowsNamingTheTitleAndTheApiCode()
    {
        var answer = await GetAsync(MediaWikiApi.ParseRequest(_options, "Atlantis (city)"));

        var error = Assert.Throws<MediaWikiException>(() => MediaWikiApi.ReadParse(answer, "Atlantis (city)", _options));

        Assert.Equal("missingtitle", error.Code);
        Assert.Equal("Atlantis (city)", error.Title);
        Assert.Contains("'Atlantis (city)'", error.Message, StringComparison.Ordinal);
        Assert.Contains("does not exist", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void ReadParse_AnswerWithoutRevision_ThrowsSayingWhatIsMissing()
    {
        using var json = JsonDocument.Parse("""{"parse": {"title": "Helsinki", "pageid": 1, "text": "<p>x</p>"}}""");

        var error = Assert.Throws<MediaWikiException>(() => MediaWikiApi.ReadParse(json.RootElement, "Helsinki", _options));

        Assert.Contains("revid", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void ImageInfoRequests_120Files_AreThreeQueriesOfAtMost50TitlesEach()
    {
        var files = Enumerable.Range(0, 120).Select(i => $"Photo_{i}.jpg").ToList();

        var requests = MediaWikiApi.ImageInfoRequests(_options, files).ToList();

        Assert.Equal([50, 50, 20], requests.Select(r => r.Files.Count));
        Assert.Equal(files, requests.SelectMany(r => r.Files));
        var query = System.Web.HttpUtility.ParseQueryString(requests[2].Request.Query);
        Assert.Equal("imageinfo", query["prop"]);
        Assert.Equal("url|size|mime|extmetadata", query["iiprop"]);
        Assert.Equal("200", query["iiurlwidth"]);
        Assert.Equal(string.Join('|', files.Skip(100).Select(f => "File:" + f)), query["titles"]);
    }

    [Fact]
    public async Task ReadImageInfo_RecordedFiles_MatchesNormalizedTitlesAndReadsRenditionAndLicence()
    {
        string[] files = [HelsinkiRecording.Suomenlinna.Name, HelsinkiRecording.Temppeliaukio.Name, "No_such_picture.jpg"];
        var (request, batch) = Assert.Single(MediaWikiApi.ImageInfoRequests(_options, files));

        var results = MediaWikiApi.ReadImageInfo(await GetAsync(request), batch, _options);

        Assert.Empty(_wiki.Violations);
        Assert.Equal(files, results.Select(r => r.File));
        var fortress = results[0].Image!;
        Assert.Equal("File:Suomenlinna fortress.jpg", fortress.FileTitle);
        Assert.Equal($"{_wiki.BaseUrl}/images/thumb/Suomenlinna_fortress.jpg/200px-Suomenlinna_fortress.jpg", fortress.Url.AbsoluteUri);
        Assert.Equal(200, fortress.Width);
        Assert.Equal("image/jpeg", fortress.MediaType);
        Assert.Equal("CC BY 2.0", fortress.Attribution.License);
        Assert.Equal("https://creativecommons.org/licenses/by/2.0", fortress.Attribution.LicenseUrl);
        Assert.Equal("Kari & Co", fortress.Attribution.Artist);
        Assert.Equal("Suomenlinna from the sea", fortress.Attribution.Credit);
        Assert.True(fortress.Attribution.AttributionRequired);
        Assert.Equal("https://commons.wikimedia.org/wiki/File:Suomenlinna_fortress.jpg", fortress.Attribution.FilePage);
        Assert.False(results[1].Image!.Attribution.AttributionRequired);
        Assert.Null(results[2].Image);
        Assert.Contains("does not exist", results[2].Problem, StringComparison.Ordinal);
    }

    [Fact]
    public void ReadImageInfo_ContinuedAnswer_LeavesOutFilesItDoesNotCoverYet()
    {
        using var json = JsonDocument.Parse("""
            {"continue": {"iistart": "2024-01-01T00:00:00Z", "continue": "||"},
             "query": {"pages": [{"ns": 6, "title": "File:A.jpg", "imageinfo": [{"url": "https://upload.example/A.jpg", "mime": "image/jpeg"}]},
                                 {"ns": 6, "title": "File:B.jpg", "missing": true, "known": true}]}}
            """);

        var results = MediaWikiApi.ReadImageInfo(json.RootElement, ["A.jpg", "B.jpg"], _options);

        Assert.Equal(["A.jpg"], results.Select(r => r.File));
        Assert.Equal([("iistart", "2024-01-01T00:00:00Z"), ("continue", "||")], MediaWikiApi.Continuation(json.RootElement));
        var next = System.Web.HttpUtility.ParseQueryString(MediaWikiApi.ImageInfoRequest(_options, ["B.jpg"], MediaWikiApi.Continuation(json.RootElement)).Query);
        Assert.Equal("2024-01-01T00:00:00Z", next["iistart"]);
        Assert.Equal("File:B.jpg", next["titles"]);
    }

    [Fact]
    public void ImageAttribution_HtmlFields_ArePlainTextAndTheLineNamesAuthorLicenceAndFilePage()
    {
        using var json = JsonDocument.Parse("""
            {"descriptionurl": "https://commons.wikimedia.org/wiki/File:X.jpg",
             "extmetadata": {
               "Artist": {"value": "<a href=\"//commons.wikimedia.org/wiki/User:A\" title=\"User:A\">Anna &amp; Ben</a>\n<br>(photographers)", "source": "commons-desc-page"},
               "LicenseShortName": {"value": "CC BY-SA 4.0", "source": "commons-desc-page", "hidden": ""},
               "LicenseUrl": {"value": "//creativecommons.org/licenses/by-sa/4.0", "source": "commons-desc-page"},
               "ImageDescription": {"value": "<script>alert(1)</script><p>Helsinki <b>Cathedral</b>.</p>", "source": "commons-desc-page"}
             }}
            """);

        var attribution = ImageAttribution.FromImageInfo(json.RootElement);

        Assert.Equal("Anna & Ben (photographers)", attribution.Artist);
        Assert.Equal("https://creativecommons.org/licenses/by-sa/4.0", attribution.LicenseUrl);
        Assert.Equal("Helsinki Cathedral.", attribution.Description);
        Assert.Null(attribution.Credit);
        Assert.True(attribution.AttributionRequired);
        Assert.Equal("Anna & Ben (photographers), CC BY-SA 4.0 (https://creativecommons.org/licenses/by-sa/4.0), via https://commons.wikimedia.org/wiki/File:X.jpg",
            attribution.Text);
    }

    [Theory]
    [InlineData("Senate Square, Helsinki", "https://en.wikipedia.org/wiki/Senate_Square,_Helsinki")]
    [InlineData("Temppeliaukio Church", "https://en.wikipedia.org/wiki/Temppeliaukio_Church")]
    [InlineData("Töölö Bay", "https://en.wikipedia.org/wiki/T%C3%B6%C3%B6l%C3%B6_Bay")]
    [InlineData("AC/DC", "https://en.wikipedia.org/wiki/AC/DC")]
    [InlineData("Question?", "https://en.wikipedia.org/wiki/Question%3F")]
    public void ArticleUrl_Title_IsTheWikiPathWithUnderscores(string title, string url) =>
        Assert.Equal(url, MediaWikiApi.ArticleUrl(new WikipediaOptions(), title).AbsoluteUri);

    [Fact]
    public void SelectImages_RecordedArticle_TakesThePhotosInArticleOrderAndSkipsTheFlagIcon()
    {
        var selected = WikipediaHtml.SelectImages(HelsinkiRecording.Html(HelsinkiRecording.RevisionId), HelsinkiRecording.ImageFiles, _options);

        Assert.Equal(HelsinkiRecording.Photos.Select(p => p.Name), selected);
        Assert.Equal(HelsinkiRecording.Photos.Take(2).Select(p => p.Name),
            WikipediaHtml.SelectImages(HelsinkiRecording.Html(HelsinkiRecording.RevisionId), HelsinkiRecording.ImageFiles, _options with { MaxImages = 2 }));
    }

    [Fact]
    public void Prepare_RecordedArticle_PointsTakenImagesAtTheirRenditionsAndDropsTheRest()
    {
        var article = new WikipediaArticle("Helsinki", "Helsinki", 1, 2, "en", new Uri(_wiki.ArticleUrl),
            HelsinkiRecording.Html(HelsinkiRecording.RevisionId), HelsinkiRecording.ImageFiles);
        var rendition = new Uri("http://127.0.0.1:1/images/fortress-200.jpg");

        var html = WikipediaHtml.Prepare(article, new Dictionary<string, Uri> { [HelsinkiRecording.Suomenlinna.Name] = rendition });

        var document = new HtmlAgilityPack.HtmlDocument();
        document.LoadHtml(html);
        var image = Assert.Single(document.DocumentNode.Descendants("img"));
        Assert.Equal(rendition.AbsoluteUri, image.GetAttributeValue("src", null));
        Assert.Null(image.GetAttributeValue("srcset", null));
        Assert.Equal("Helsinki", document.DocumentNode.SelectSingleNode("//title")!.InnerText);
        Assert.NotNull(document.GetElementbyId("mw-content-text"));
        Assert.DoesNotContain("upload.wikimedia.org", html, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("wikipedia:Helsinki", "Helsinki", "en")]
    [InlineData("Wikipedia:Senate Square, Helsinki", "Senate Square, Helsinki", "en")]
    [InlineData("wikipedia:fi:Temppeliaukion kirkko", "Temppeliaukion kirkko", "fi")]
    [InlineData("wikipedia:Star Wars: Episode IV", "Star Wars: Episode IV", "en")]
    public void Resolve_WikipediaPath_IsTheArticleInItsLanguage(string path, string title, string language)
    {
        var article = Assert.IsType<WikipediaSource>(Assert.Single(new WikipediaSourceResolver(new WikipediaOptions()).Resolve(path)!));

        Assert.Equal(title, article.Title);
        Assert.Equal(language, article.Options.Language);
        Assert.Equal(MediaWikiApi.ArticleUrl(article.Options, title), article.Uri);
    }

    [Theory]
    [InlineData("photos")]
    [InlineData("/home/me/wikipedia:notes.txt")]
    [InlineData("https://en.wikipedia.org/wiki/Helsinki")]
    public void Resolve_OtherPath_IsNotAnArticle(string path) =>
        Assert.Null(new WikipediaSourceResolver(new WikipediaOptions()).Resolve(path));

    [Theory]
    [InlineData("wikipedia:")]
    [InlineData("wikipedia:A|B")]
    [InlineData("wikipedia:en:")]
    public void Resolve_WikipediaPathWithoutValidTitle_ThrowsSayingSo(string path) =>
        Assert.Throws<ArgumentException>(() => new WikipediaSourceResolver(new WikipediaOptions()).Resolve(path));

    [Theory]
    [InlineData("EN")]
    [InlineData("en.evil.example/")]
    [InlineData("")]
    public void Validate_LanguageThatIsNoCode_ThrowsNamingTheSetting(string language)
    {
        var error = Assert.Throws<ArgumentException>(() => new WikipediaOptions { Language = language }.Validate());
        Assert.Contains("WikipediaOptions.Language", error.Message, StringComparison.Ordinal);
    }

    private async Task<JsonElement> GetAsync(Uri request)
    {
        var body = await _http.GetStringAsync(request);
        using var json = JsonDocument.Parse(body);
        return json.RootElement.Clone();
    }
}
