using Mmrag.Ingestion.Loaders;
using Mmrag.Ingestion.Tests.Support;
using Mmrag.Knowledge;

namespace Mmrag.Ingestion.Tests.Loaders;

public sealed class MarkdownLoaderTests
{
    private const string Guide = """
        ---
        author: someone
        ---
        # Field Guide

        Intro paragraph about *foxes* and `code`.

        ## Habitat

        Foxes live in forests &amp; fields.

        ![A red fox](images/fox%20one.png "Fox in winter")

        ### Dens

        - dig burrows
        - share dens
          1. nested first

        | Name | Weight |
        |------|--------|
        | Red  | 5 kg   |

        ```python
        print("fox")
        ```

        ![gone](images/missing.png)
        ![escape](../secret.png)
        ![remote](https://example.org/fox.png)

        ## Diet

        > Mostly rodents.
        """;

    private readonly MarkdownLoader _loader = new(TestChunkers.Clip);

    [Theory]
    [InlineData("a.md", true)]
    [InlineData("a.MARKDOWN", true)]
    [InlineData("a.mdx", false)]
    public void CanLoad_ByExtension(string path, bool expected) => Assert.Equal(expected, _loader.CanLoad(path));

    private static async Task<(LoadedDocument Document, string Path, string Image)> LoadGuideAsync(TemporaryDirectory temp)
    {
        temp.Write("secret.png", Fixtures.Png);
        var image = temp.Write("root/images/fox one.png", Fixtures.Png);
        var path = temp.Write("root/guide.md", Guide);
        var document = await new MarkdownLoader(TestChunkers.Clip).LoadAsync(path, TestChunkers.Context(temp.Combine("root")));
        return (document, path, image);
    }

    [Fact]
    public async Task LoadAsync_Headings_SectionsWithHeadingPathAndTitleFromFirstH1()
    {
        using var temp = new TemporaryDirectory();
        var (document, _, _) = await LoadGuideAsync(temp);

        Assert.Equal("text/markdown", document.MediaType);
        Assert.Equal("Field Guide", document.Title);
        var texts = document.Items.Where(i => i.Kind == ItemKind.TextChunk).ToList();
        Assert.Equal([null, "Habitat", "Habitat › Dens", "Diet"], texts.Select(t => t.Provenance.Section));
        Assert.Equal("Intro paragraph about foxes and code.", texts[0].Text);
        Assert.Equal("Foxes live in forests & fields.", texts[1].Text);
        Assert.All(document.Items, i => Assert.Equal("Field Guide", i.Provenance.DocumentTitle));
        Assert.Equal(Enumerable.Range(0, document.Items.Count), document.Items.Select(i => i.Provenance.Position));
    }

    [Fact]
    public async Task LoadAsync_ListsTablesAndCode_KeptAsText()
    {
        using var temp = new TemporaryDirectory();
        var (document, _, _) = await LoadGuideAsync(temp);

        var dens = Assert.Single(document.Items, i => i.Provenance.Section == "Habitat › Dens").Text;
        Assert.Contains("- dig burrows\n- share dens", dens, StringComparison.Ordinal);
        Assert.Contains("1. nested first", dens, StringComparison.Ordinal);
        Assert.Contains("Name | Weight\nRed | 5 kg", dens, StringComparison.Ordinal);
        Assert.Contains("print(\"fox\")", dens, StringComparison.Ordinal);
        Assert.DoesNotContain("author", string.Concat(document.Items.Select(i => i.Text)), StringComparison.Ordinal);
        Assert.Equal("Mostly rodents.", Assert.Single(document.Items, i => i.Provenance.Section == "Diet").Text);
    }

    [Fact]
    public async Task LoadAsync_LocalImage_ImageItemWithAltTextAndSection()
    {
        using var temp = new TemporaryDirectory();
        var (document, path, image) = await LoadGuideAsync(temp);

        var item = Assert.Single(document.Items, i => i.Kind == ItemKind.Image);
        Assert.Equal(image, item.ImagePath);
        Assert.Equal(Fixtures.Png, item.ImageBytes.ToArray());
        Assert.Equal("image/png", item.ImageMediaType);
        Assert.Equal("A red fox", item.Provenance.Caption);
        Assert.Equal("Habitat", item.Provenance.Section);
        Assert.Equal(path, item.Provenance.SourcePath);
        Assert.Equal("A red fox. Fox in winter. Habitat", item.Text);
    }

    [Fact]
    public async Task LoadAsync_MissingAndEscapingImages_ReportedAndNotRead()
    {
        using var temp = new TemporaryDirectory();
        var (document, path, _) = await LoadGuideAsync(temp);

        Assert.Equal(2, document.Failures.Count);
        Assert.All(document.Failures, f => Assert.Equal(path, f.SourcePath));
        Assert.Contains(document.Failures, f => f.Detail == "image 'images/missing.png'" && f.Reason.Contains("does not exist", StringComparison.Ordinal));
        Assert.Contains(document.Failures, f => f.Detail == "image '../secret.png'" && f.Reason.Contains("outside", StringComparison.Ordinal));
        Assert.DoesNotContain(document.Items, i => i.ImagePath is not null && i.ImagePath.EndsWith("secret.png", StringComparison.Ordinal));
    }

    [Fact]
    public async Task LoadAsync_InvalidUtf8_ReadWithFailure()
    {
        using var temp = new TemporaryDirectory();
        var path = temp.Write("bad.md", [.. "# T\n\nab"u8, 0xFF, .. "cd"u8]);

        var document = await _loader.LoadAsync(path, TestChunkers.Context(temp.Path));

        Assert.Equal("ab\uFFFDcd", Assert.Single(document.Items).Text);
        Assert.Equal("byte 7", Assert.Single(document.Failures).Detail);
    }

    [Fact]
    public async Task LoadAsync_ThreeThousandNestedListLevels_FinishesQuickly()
    {
        using var temp = new TemporaryDirectory();
        var path = temp.Write("lists.md", string.Concat(Enumerable.Range(0, 3_000).Select(i => new string(' ', i * 2) + $"- item {i}\n")));

        var document = await Task.Run(() => _loader.LoadAsync(path, TestChunkers.Context(temp.Path))).WaitAsync(TimeSpan.FromSeconds(20));

        Assert.Contains(document.Items, i => i.Text.Contains("item 2999", StringComparison.Ordinal));
    }

    [Fact]
    public async Task LoadAsync_FiftyThousandNestedBrackets_FailsNamingTheFile()
    {
        using var temp = new TemporaryDirectory();
        var path = temp.Write("brackets.md", new string('[', 50_000) + "x" + new string(']', 50_000));

        var error = await Assert.ThrowsAsync<DocumentLoadException>(() => Task.Run(() => _loader.LoadAsync(path, TestChunkers.Context(temp.Path))))
            .WaitAsync(TimeSpan.FromSeconds(20));

        Assert.StartsWith(path, error.Message, StringComparison.Ordinal);
        Assert.Contains("nested too deeply", error.Message, StringComparison.Ordinal);
    }
}
