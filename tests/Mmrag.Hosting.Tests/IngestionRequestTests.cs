using Mmrag.Hosting.Wire;
using Mmrag.Ingestion.Pipeline;
using Mmrag.Ingestion.Web.Wikipedia;

namespace Mmrag.Hosting.Tests;

/// <summary>The one builder of a run's web, OCR and Wikipedia settings, which the CLI and the server both use.</summary>
public sealed class IngestionRequestTests
{
    private static readonly Uri LoopbackApi = new("http://127.0.0.1:8080/w/api.php");

    [Fact]
    public void ApplyTo_RequestWithWebOcrAndWiki_SetsEachOnTheRunsOptionsOverTheConfiguredWiki()
    {
        var configured = new WikipediaOptions { ImageWidth = 320, MaxImages = 3 };
        var request = new IngestionRequest
        {
            Web = new WebIngestionRequest { Depth = 1, MaxPages = 5, SameSite = true, Follow = ["pdf"], AllowPrivateHosts = true },
            OcrLanguages = "eng+deu",
            WikipediaLanguage = "fi",
            WikipediaApi = LoopbackApi,
        };
        var before = new IngestionOptions { SourceResolvers = [new WikipediaSourceResolver(configured)] };

        var options = request.ApplyTo(before, configured);

        Assert.Equal((1, 5, true, true, true), (options.Web.Depth, options.Web.MaxPages, options.Web.SameSite, options.Web.FollowPdf, options.Web.Fetcher.AllowPrivateHosts));
        Assert.Equal("eng+deu", options.Ocr?.Languages);
        var wiki = Assert.IsType<WikipediaSourceResolver>(Assert.Single(options.SourceResolvers)).Options;
        Assert.Equal<(string, Uri?, int, int)>(("fi", LoopbackApi, 320, 3), (wiki.Language, wiki.ApiUrl, wiki.ImageWidth, wiki.MaxImages));
    }

    [Fact]
    public void ApplyTo_TrustWikipediaApi_TrustsTheConfiguredApisHostAndPortOnly()
    {
        var configured = new WikipediaOptions { ApiUrl = LoopbackApi };

        var trusted = new IngestionRequest { TrustWikipediaApi = true }.ApplyTo(new IngestionOptions(), configured).Web.Fetcher;
        var untrusted = new IngestionRequest().ApplyTo(new IngestionOptions(), configured).Web.Fetcher;
        var publicWiki = new IngestionRequest { TrustWikipediaApi = true }.ApplyTo(new IngestionOptions(), new WikipediaOptions()).Web.Fetcher;

        Assert.Equal(["127.0.0.1:8080"], trusted.TrustedHosts);
        Assert.False(trusted.AllowPrivateHosts);
        Assert.Empty(untrusted.TrustedHosts);
        Assert.Empty(publicWiki.TrustedHosts);
    }

    [Fact]
    public void FromWire_CrawlSettings_DefaultsForAbsentFieldsAndEachFollowKindOnce()
    {
        var request = WebIngestionRequest.FromWire(new CrawlRequest(MaxPages: 9, Follow: ["pdf", "PDF", "pdf"]));

        Assert.Equal((0, (int?)9, false), (request.Depth, request.MaxPages, request.SameSite));
        Assert.Equal(["pdf"], request.Follow);
        Assert.True(new CrawlRequest().IsEmpty);
        Assert.False(new CrawlRequest(SameSite: false).IsEmpty);
        Assert.Equal(new CrawlRequest(2, 9, true, request.Follow), (request with { Depth = 2, SameSite = true }).ToWire());
    }

    [Fact]
    public void ApplyTo_EmptyRequest_KeepsTheConfiguredWikiAndReadsNoText()
    {
        var configured = new WikipediaOptions { Language = "sv", ApiUrl = LoopbackApi };

        var options = new IngestionRequest().ApplyTo(new IngestionOptions(), configured);

        Assert.Null(options.Ocr);
        Assert.False(options.Web.Fetcher.AllowPrivateHosts);
        Assert.Equal(configured, Assert.IsType<WikipediaSourceResolver>(Assert.Single(options.SourceResolvers)).Options);
    }

    [Theory]
    [InlineData(false, null, null)]
    [InlineData(false, "  ", null)]
    [InlineData(true, null, "eng")]
    [InlineData(false, " eng+deu ", "eng+deu")]
    [InlineData(true, "fin", "fin")]
    public void OcrLanguagesFor_SwitchAndLanguageList_AListImpliesOcrAndTheSwitchAloneReadsEnglish(bool ocr, string? languages, string? expected) =>
        Assert.Equal(expected, IngestionRequest.OcrLanguagesFor(ocr, languages));

    [Theory]
    [InlineData("not a url")]
    [InlineData("/w/api.php")]
    [InlineData("ftp://example.org/w/api.php")]
    [InlineData("file:///etc/passwd")]
    public void ParseWikipediaApi_NotAnAbsoluteHttpUrl_ThrowsNamingTheSetting(string value)
    {
        var error = Assert.Throws<ArgumentException>(() => IngestionRequest.ParseWikipediaApi(value, "--wikipedia-api"));

        Assert.Contains("--wikipedia-api", error.Message, StringComparison.Ordinal);
        Assert.Contains("absolute http(s) URL", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Validate_BadOcrLanguageOrWikiLanguage_ThrowsBeforeAnythingIsOpened()
    {
        Assert.Throws<ArgumentException>(() => new IngestionRequest { OcrLanguages = "eng;rm -rf" }.Validate());
        Assert.Throws<ArgumentException>(() => new IngestionRequest { WikipediaLanguage = "EN!" }.Validate());
        Assert.Throws<ArgumentException>(() => new IngestionRequest { Web = new WebIngestionRequest { Depth = WebIngestionRequest.DepthLimit + 1 } }.Validate());
    }

    [Fact]
    public async Task CreateIngestionOptions_Request_ResolvesWikipediaPathsFromTheRequestsApiWithTheKnowledgeBasesSettings()
    {
        using var kbs = new TestKnowledgeBases();
        var options = kbs.Options(TestKnowledgeBases.TinyClip);
        options.Wikipedia = new WikipediaOptions { ImageWidth = 640 };
        await using var knowledgeBase = await MmragKnowledgeBase.OpenAsync(options);

        var run = knowledgeBase.CreateIngestionOptions(new IngestionRequest { WikipediaApi = LoopbackApi, OcrLanguages = "eng" }, static o => o with { Prune = true });

        var article = Assert.IsType<WikipediaSource>(Assert.Single(run.SourceResolvers).Resolve("wikipedia:fi:Helsinki")?.Single());
        Assert.Equal<(string, Uri?, int)>(("fi", LoopbackApi, 640), (article.Options.Language, article.Options.ApiUrl, article.Options.ImageWidth));
        Assert.Equal<(string?, bool, string?)>(("eng", true, knowledgeBase.Folder), (run.Ocr?.Languages, run.Prune, run.KnowledgeBaseDirectory));
    }
}
