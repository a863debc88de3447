using Mmrag.Ingestion.Loaders;
using Mmrag.Ingestion.Tests.Support;

namespace Mmrag.Ingestion.Tests.Loaders;

public sealed class LoaderRegistryTests
{
    [Theory]
    [InlineData("/x/photo.JPG", typeof(ImageFileLoader))]
    [InlineData("/x/photo.webp", typeof(ImageFileLoader))]
    [InlineData("/x/notes.txt", typeof(TextFileLoader))]
    [InlineData("/x/readme.md", typeof(MarkdownLoader))]
    [InlineData("/x/page.htm", typeof(HtmlLoader))]
    [InlineData("/x/paper.PDF", typeof(PdfLoader))]
    public void Find_KnownExtension_PicksTheLoader(string path, Type expected) =>
        Assert.IsType(expected, TestChunkers.Loaders.Find(path));

    [Theory]
    [InlineData("/x/data.xyz")]
    [InlineData("/x/description.json")]
    [InlineData("/x/Makefile")]
    public void Find_UnknownExtension_Null(string path) => Assert.Null(TestChunkers.Loaders.Find(path));

    [Fact]
    public void Constructor_NullLoader_Throws() => Assert.Throws<ArgumentException>(() => new LoaderRegistry([null!]));
}
