using Mmrag.Ingestion.Pipeline;
using Mmrag.Ingestion.Tests.Pipeline;
using Mmrag.Ingestion.Tests.Support;
using Mmrag.Ingestion.Web;
using Mmrag.Ingestion.Web.Wikipedia;
using Mmrag.Knowledge;

namespace Mmrag.Ingestion.Tests.Web.Wikipedia;

/// <summary>
/// Wikipedia articles through the ingestion run: the loopback MediaWiki's recorded "Helsinki" article with its photos,
/// over the run's guarded fetcher (private hosts allowed for the loopback), into the in-memory store with the tiny CLIP model.
/// </summary>
public sealed class WikipediaIngestionTests : IAsyncLifetime
{
    private readonly LoopbackMediaWiki _wiki = new();
    private readonly IngestionHarness _harness = new();

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync()
    {
        _harness.Dispose();
        await _wiki.DisposeAsync();
    }

    private IngestionOptions Options() => new()
    {
        ImageCacheDirectory = _harness.Temp.Combine("images"),
        Web = new WebIngestionOptions { Fetcher = new WebFetcherOptions { AllowPrivateHosts = true, Timeout = TimeSpan.FromSeconds(20) } },
        SourceResolvers = [new WikipediaSourceResolver(new WikipediaOptions { ApiUrl = new Uri(_wiki.ApiUrl), ImageWidth = 200 })],
    };

    private Task<IngestionSummary> IngestAsync(params string[] paths) => _harness.Pipeline.IngestAsync(paths, Options());

    private IReadOnlyList<KnowledgeItem> ItemsOfArticle() => _harness.Store.ItemsOf(Assert.Single(_harness.Store.Documents).Id);

    [Fact]
    public async Task IngestAsync_Article_StoresItsTextAndPhotosWithTheArticleUrlAndEachPhotosCredit()
    {
        var summary = await IngestAsync("wikipedia:Helsinki");

        Assert.Empty(_wiki.Violations);
        Assert.Equal(1, summary.Added);
        Assert.Empty(summary.Failures);
        var document = Assert.Single(_harness.Store.Documents);
        Assert.Equal(_wiki.ArticleUrl, document.SourcePath);
        Assert.Equal("Helsinki", document.Title);
        var items = ItemsOfArticle();
        Assert.All(items, i => Assert.Equal(_wiki.ArticleUrl, i.Provenance.SourcePath));
        var text = string.Join(" ", items.Where(i => i.Kind == ItemKind.TextChunk).Select(i => i.Text));
        Assert.Contains("Suomenlinna, a sea fortress built on six islands", text, StringComparison.Ordinal);
        Assert.Contains("Temppeliaukio Church", text, StringComparison.Ordinal);
        Assert.DoesNotContain("World Heritage List.", text, StringComparison.Ordinal);

        // The four photos, not the 23-pixel flag; each at the width asked for, with its licence and author.
        var images = items.Where(i => i.Kind == ItemKind.Image).ToList();
        Assert.Equal(4, images.Count);
        Assert.All(_wiki.ImageRequests, r => Assert.Contains("/200px-", r.Path, StringComparison.Ordinal));
        Assert.DoesNotContain(_wiki.ApiRequests, r => (r["titles"] ?? "").Contains("Flag", StringComparison.Ordinal));
        var fortress = Assert.Single(images, i => i.Provenance.Caption == "The sea fortress of Suomenlinna");
        Assert.Equal("Tourism", fortress.Provenance.Section);
        Assert.Equal("Kari & Co, CC BY 2.0 (https://creativecommons.org/licenses/by/2.0), via https://commons.wikimedia.org/wiki/File:Suomenlinna_fortress.jpg",
            fortress.Credit());
        Assert.StartsWith("The walls of the Suomenlinna sea fortress\n" + ImageTexts.CreditMarker, fortress.Description, StringComparison.Ordinal);
        Assert.All(images, i => Assert.NotNull(i.Credit()));
        Assert.All(images, i => Assert.True(File.Exists(i.ImagePath)));

        var state = await RemoteDocumentState.ReadAsync(_harness.Store, document.Id);
        Assert.NotNull(state);
        Assert.Equal("Helsinki", state.Metadata[WikipediaSource.MetadataKeys.Title]);
        Assert.Equal(HelsinkiRecording.RevisionId.ToString(System.Globalization.CultureInfo.InvariantCulture), state.Metadata[WikipediaSource.MetadataKeys.Revision]);
        Assert.Equal("en", state.Metadata[WikipediaSource.MetadataKeys.Language]);
        Assert.Equal(_wiki.ArticleUrl, state.Metadata[WikipediaSource.MetadataKeys.Url]);
        Assert.Contains(state.Metadata, p => p.Key.EndsWith(".license", StringComparison.Ordinal) && p.Value == "CC BY-SA 4.0");
        Assert.Contains(state.Metadata, p => p.Key.EndsWith(".artist", StringComparison.Ordinal) && p.Value == "Example Photographer");
    }

    [Fact]
    public async Task IngestAsync_UnknownTitle_FailsNamingItAndTheOtherArticleIsStored()
    {
        var summary = await IngestAsync("wikipedia:Atlantis (city)", "wikipedia:Helsinki");

        Assert.Equal(1, summary.Added);
        Assert.Equal(1, summary.Failed);
        var failure = Assert.Single(summary.Failures);
        Assert.Contains("'Atlantis (city)'", failure.Reason, StringComparison.Ordinal);
        Assert.Contains("does not exist", failure.Reason, StringComparison.Ordinal);
        var stored = await _harness.Store.ListFailuresAsync();
        Assert.Contains(stored, f => f.Reason.Contains("'Atlantis (city)'", StringComparison.Ordinal));
        Assert.Equal(_wiki.ArticleUrl, Assert.Single(_harness.Store.Documents).SourcePath);
    }

    [Fact]
    public async Task IngestAsync_ImageInfoGivesSeveralFilesOneRenditionUrl_TheArticleIsStillStored()
    {
        _wiki.SharedThumbnail = HelsinkiRecording.SenateSquare;

        var summary = await IngestAsync("wikipedia:Helsinki");

        Assert.Equal(1, summary.Added);
        Assert.Equal(_wiki.ArticleUrl, Assert.Single(_harness.Store.Documents).SourcePath);
        Assert.Contains(ItemsOfArticle(), i => i.Kind == ItemKind.TextChunk && i.Text.Contains("Suomenlinna", StringComparison.Ordinal));
    }

    [Fact]
    public async Task IngestAsync_PhotoDownloadFails_ItIsRecordedAndTheArticleStoredWithTheOthers()
    {
        _wiki.FailingImages[HelsinkiRecording.MarketSquare.Name] = true;

        var summary = await IngestAsync("wikipedia:Helsinki");

        Assert.Equal(1, summary.Added);
        Assert.Equal(0, summary.Failed);
        var warning = Assert.Single(summary.Warnings);
        Assert.Contains(HelsinkiRecording.MarketSquare.Name, warning.Reason + warning.Detail, StringComparison.Ordinal);
        Assert.Equal(3, ItemsOfArticle().Count(i => i.Kind == ItemKind.Image));
        Assert.Contains(await _harness.Store.ListFailuresAsync(), f => f.SourcePath == _wiki.ArticleUrl);
    }

    [Fact]
    public async Task IngestAsync_SameRevisionAgain_OneParseRequestAndNothingEmbedded()
    {
        Assert.Equal(1, (await IngestAsync("wikipedia:Helsinki")).Added);
        var embedded = _harness.Text.Inputs + _harness.Images.Inputs;
        _wiki.ClearRequests();

        var again = await IngestAsync("wikipedia:Helsinki");

        Assert.Equal(1, again.Unchanged);
        Assert.Equal(0, again.Added + again.Replaced + again.Embedded);
        Assert.Equal(embedded, _harness.Text.Inputs + _harness.Images.Inputs);
        var request = Assert.Single(_wiki.Requests);
        Assert.Equal("parse", request["action"]);
    }

    [Fact]
    public async Task IngestAsync_ChangedRevision_ReplacesTheArticleAndItsRecordedRevision()
    {
        Assert.Equal(1, (await IngestAsync("wikipedia:Helsinki")).Added);
        var documentId = Assert.Single(_harness.Store.Documents).Id;
        _wiki.RevisionId = HelsinkiRecording.RevisionId + 7;

        var summary = await IngestAsync("wikipedia:Helsinki");

        Assert.Equal(1, summary.Replaced);
        Assert.Equal(documentId, Assert.Single(_harness.Store.Documents).Id);
        Assert.Contains(ItemsOfArticle(), i => i.Text.Contains("Oodi central library", StringComparison.Ordinal));
        var state = await RemoteDocumentState.ReadAsync(_harness.Store, documentId);
        Assert.Equal((HelsinkiRecording.RevisionId + 7).ToString(System.Globalization.CultureInfo.InvariantCulture), state!.Metadata[WikipediaSource.MetadataKeys.Revision]);
    }

    [Fact]
    public void WikipediaSource_TitleOver255Bytes_RefusedNamingTheTitleAndTheLimit()
    {
        // 128 two-byte letters: 256 UTF-8 bytes in fewer than 255 characters.
        var title = new string('ö', 128);
        var options = new WikipediaOptions { ApiUrl = new Uri(_wiki.ApiUrl) };

        var error = Assert.Throws<ArgumentException>(() => new WikipediaSource(title, options));

        Assert.Contains("256 UTF-8 bytes long, more than 255 UTF-8 bytes", error.Message, StringComparison.Ordinal);
        Assert.Contains(title[..40], error.Message, StringComparison.Ordinal);
        Assert.Equal(new string('ö', 127) + "a", new WikipediaSource(" " + new string('ö', 127) + "a ", options).Title);
        Assert.Equal(new string('ö', 127) + "a", WikipediaSource.CheckedTitle(new string('ö', 127) + "a"));
    }

    [Fact]
    public async Task IngestAsync_TitleOver255Bytes_FailsNamingItWithoutAnyRequestAndOthersAreStored()
    {
        var summary = await IngestAsync("wikipedia:" + new string('x', 256), "wikipedia:Helsinki");

        Assert.Equal(1, summary.Added);
        Assert.Equal(1, summary.Failed);
        Assert.Contains("more than 255 UTF-8 bytes", Assert.Single(summary.Failures).Reason, StringComparison.Ordinal);
        Assert.DoesNotContain(_wiki.ApiRequests, r => r["page"]?.StartsWith("xxx", StringComparison.Ordinal) == true);
    }

    [Fact]
    public async Task IngestAsync_WithoutPrivateHostsAllowed_RefusesTheLoopbackWiki()
    {
        var summary = await _harness.Pipeline.IngestAsync(["wikipedia:Helsinki"], Options() with { Web = new WebIngestionOptions() });

        Assert.Equal(1, summary.Failed);
        Assert.Empty(_wiki.Requests);
        Assert.Empty(_harness.Store.Documents);
    }
}
