using System.Text;
using Mmrag.Ingestion.Loaders;
using Mmrag.Ingestion.Tests.Support;

namespace Mmrag.Ingestion.Tests.Loaders;

public sealed class DescriptionSidecarsTests
{
    [Fact]
    public void ReadFolder_JsonLines_DescriptionsByAbsolutePath()
    {
        using var temp = new TemporaryDirectory();
        var fox = temp.Write("images/fox.jpg", Fixtures.Jpeg);
        var otter = temp.Write("images/otter.png", Fixtures.Png);
        var sidecar = temp.Write("description.json", """
            {"image_path": "images/fox.jpg", "description": "A red fox in the snow."}

            {"image_path": "./images/otter.png", "description": "An otter \u00e9 floating."}
            """);

        var result = DescriptionSidecars.ReadFolder(temp.Path, temp.Path);

        Assert.Empty(result.Failures);
        Assert.Equal("A red fox in the snow.", result.Descriptions[fox]);
        Assert.Equal("An otter é floating.", result.Descriptions[otter]);
        Assert.Equal([sidecar], result.SidecarFiles);
    }

    [Fact]
    public void ReadFolder_JsonArray_Read()
    {
        using var temp = new TemporaryDirectory();
        var fox = temp.Write("fox.jpg", Fixtures.Jpeg);
        var otter = temp.Write("otter.png", Fixtures.Png);
        temp.Write("description.json", """
            [
              {"image_path": "fox.jpg", "description": "Fox."},
              {"description": "Otter.", "image_path": "otter.png", "extra": 1},
            ]
            """);

        var result = DescriptionSidecars.ReadFolder(temp.Path, temp.Path);

        Assert.Empty(result.Failures);
        Assert.Equal("Fox.", result.Descriptions[fox]);
        Assert.Equal("Otter.", result.Descriptions[otter]);
    }

    [Fact]
    public void ReadFolder_Csv_QuotedFieldsAnyColumnOrder()
    {
        using var temp = new TemporaryDirectory();
        var fox = temp.Write("fox.jpg", Fixtures.Jpeg);
        var otter = temp.Write("otter.png", Fixtures.Png);
        var heron = temp.Write("my heron.png", Fixtures.Png);
        temp.Write("descriptions.csv",
            "description,notes,image_path\r\n"
            + "\"A fox, red and \"\"wild\"\"\",x,fox.jpg\r\n"
            + "\"An otter\nover two lines\",,otter.png\r\n"
            + "A heron,,\"my heron.png\"\n");

        var result = DescriptionSidecars.ReadFolder(temp.Path, temp.Path);

        Assert.Empty(result.Failures);
        Assert.Equal("A fox, red and \"wild\"", result.Descriptions[fox]);
        Assert.Equal("An otter\nover two lines", result.Descriptions[otter]);
        Assert.Equal("A heron", result.Descriptions[heron]);
    }

    [Fact]
    public void ReadFolder_CsvWithoutHeader_OneFailureNamingTheFile()
    {
        using var temp = new TemporaryDirectory();
        temp.Write("fox.jpg", Fixtures.Jpeg);
        var sidecar = temp.Write("description.csv", "fox.jpg,A fox\n");

        var result = DescriptionSidecars.ReadFolder(temp.Path, temp.Path);

        Assert.Empty(result.Descriptions);
        var failure = Assert.Single(result.Failures);
        Assert.Equal(sidecar, failure.SourcePath);
        Assert.Contains("header", failure.Reason, StringComparison.Ordinal);
        Assert.Equal("line 1", failure.Detail);
    }

    [Fact]
    public void ReadFolder_CsvMalformedRow_FailureWithLineAndOtherRowsRead()
    {
        using var temp = new TemporaryDirectory();
        var fox = temp.Write("fox.jpg", Fixtures.Jpeg);
        var otter = temp.Write("otter.png", Fixtures.Png);
        var sidecar = temp.Write("description.csv", "image_path,description\nfox.jpg,A \"fox\"\nfox.jpg\notter.png,An otter\n");

        var result = DescriptionSidecars.ReadFolder(temp.Path, temp.Path);

        Assert.False(result.Descriptions.ContainsKey(fox));
        Assert.Equal("An otter", result.Descriptions[otter]);
        Assert.Equal(2, result.Failures.Count);
        Assert.All(result.Failures, f => Assert.Equal(sidecar, f.SourcePath));
        Assert.Equal(["line 2", "line 3"], result.Failures.Select(f => f.Detail));
    }

    [Fact]
    public void ReadFolder_TextBesideImage_ReadAndOverridesTable()
    {
        using var temp = new TemporaryDirectory();
        var fox = temp.Write("fox.jpg", Fixtures.Jpeg);
        var otter = temp.Write("otter.png", Fixtures.Png);
        temp.Write("description.json", """{"image_path": "fox.jpg", "description": "From the table."}""");
        var foxText = temp.Write("fox.txt", "  From fox.txt.\n");
        var otterText = temp.Write("otter.png.txt", "From otter.png.txt.");

        var result = DescriptionSidecars.ReadFolder(temp.Path, temp.Path);

        Assert.Equal("From fox.txt.", result.Descriptions[fox]);
        Assert.Equal("From otter.png.txt.", result.Descriptions[otter]);
        Assert.Contains(foxText, result.SidecarFiles);
        Assert.Contains(otterText, result.SidecarFiles);
    }

    [Fact]
    public void ReadFolder_InvalidUtf8AndMalformedLines_FailuresNameFileAndLineOthersStillRead()
    {
        using var temp = new TemporaryDirectory();
        var fox = temp.Write("fox.jpg", Fixtures.Jpeg);
        var otter = temp.Write("otter.png", Fixtures.Png);
        var heron = temp.Write("heron.png", Fixtures.Png);
        byte[] content =
        [
            .. """{"image_path": "fox.jpg", "description": "Fox."}"""u8, (byte)'\n',
            .. """{"image_path": "otter.png", "description": "Bad """u8, 0xC3, 0x28, .. """ byte"}"""u8, (byte)'\n',
            .. """{"image_path": "heron.png", "description": """u8, (byte)'\n',
            .. """["not", "an", "object"]"""u8, (byte)'\n',
            .. """{"image_path": "heron.png", "description": "Heron."}"""u8, (byte)'\n',
        ];
        var sidecar = temp.Write("description.json", content);

        var result = DescriptionSidecars.ReadFolder(temp.Path, temp.Path);

        Assert.Equal("Fox.", result.Descriptions[fox]);
        Assert.Equal("Heron.", result.Descriptions[heron]);
        Assert.False(result.Descriptions.ContainsKey(otter));
        Assert.Equal(["line 2", "line 3", "line 4"], result.Failures.Select(f => f.Detail));
        Assert.All(result.Failures, f => Assert.Equal(sidecar, f.SourcePath));
        Assert.Contains("UTF-8", result.Failures[0].Reason, StringComparison.Ordinal);
        Assert.Contains("malformed JSON", result.Failures[1].Reason, StringComparison.Ordinal);
    }

    [Fact]
    public void ReadFolder_JsonArrayWithInvalidUtf8Element_OnlyThatElementSkipped()
    {
        using var temp = new TemporaryDirectory();
        var fox = temp.Write("fox.jpg", Fixtures.Jpeg);
        var otter = temp.Write("otter.png", Fixtures.Png);
        byte[] content =
        [
            .. "[\n"u8,
            .. """  {"image_path": "otter.png", "description": "Bad """u8, 0xFF, .. "\"},\n"u8,
            .. """  {"image_path": "fox.jpg", "description": "Fox."}"""u8, (byte)'\n',
            .. "]"u8,
        ];
        temp.Write("description.json", content);

        var result = DescriptionSidecars.ReadFolder(temp.Path, temp.Path);

        Assert.Equal("Fox.", result.Descriptions[fox]);
        Assert.False(result.Descriptions.ContainsKey(otter));
        Assert.Equal("line 2", Assert.Single(result.Failures).Detail);
    }

    [Theory]
    [InlineData("../outside.jpg")]
    [InlineData("images/../../outside.jpg")]
    [InlineData("OUTSIDE_ABSOLUTE")]
    public void ReadFolder_PathEscapingTheRoot_RejectedAndReported(string imagePath)
    {
        using var temp = new TemporaryDirectory();
        var outside = temp.Write("outside.jpg", Fixtures.Jpeg);
        var root = Directory.CreateDirectory(temp.Combine("root")).FullName;
        var inside = temp.Write("root/inside.jpg", Fixtures.Jpeg);
        var entry = imagePath == "OUTSIDE_ABSOLUTE" ? outside : imagePath;
        var sidecar = temp.Write("root/description.json",
            $$"""
            {"image_path": {{System.Text.Json.JsonSerializer.Serialize(entry)}}, "description": "Escaping."}
            {"image_path": "inside.jpg", "description": "Inside."}
            """);

        var result = DescriptionSidecars.ReadFolder(root, root);

        Assert.Equal("Inside.", result.Descriptions[inside]);
        Assert.False(result.Descriptions.ContainsKey(outside));
        var failure = Assert.Single(result.Failures);
        Assert.Equal(sidecar, failure.SourcePath);
        Assert.Equal("line 1", failure.Detail);
        Assert.Contains("outside the ingested folder", failure.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public void ReadFolder_AbsolutePathInsideTheRoot_Accepted()
    {
        using var temp = new TemporaryDirectory();
        var fox = temp.Write("fox.jpg", Fixtures.Jpeg);
        temp.Write("description.json", $$"""{"image_path": {{System.Text.Json.JsonSerializer.Serialize(fox)}}, "description": "Fox."}""");

        var result = DescriptionSidecars.ReadFolder(temp.Path, temp.Path);

        Assert.Equal("Fox.", result.Descriptions[fox]);
    }

    [Fact]
    public void ReadFolder_SymlinkLeadingOutsideTheRoot_RejectedAndReported()
    {
        using var temp = new TemporaryDirectory();
        temp.Write("secret/outside.jpg", Fixtures.Jpeg);
        var root = Directory.CreateDirectory(temp.Combine("root")).FullName;
        var link = temp.Combine("root/linked");
        Directory.CreateSymbolicLink(link, temp.Combine("secret"));
        var sidecar = temp.Write("root/description.json", """{"image_path": "linked/outside.jpg", "description": "Through a link."}""");

        var result = DescriptionSidecars.ReadFolder(root, root);

        Assert.Empty(result.Descriptions);
        var failure = Assert.Single(result.Failures);
        Assert.Equal(sidecar, failure.SourcePath);
        Assert.Contains("outside the ingested folder", failure.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public void ReadFolder_TextSidecarIsLinkToOutside_NotRead()
    {
        using var temp = new TemporaryDirectory();
        var secret = temp.Write("secret.txt", "private words");
        var root = Directory.CreateDirectory(temp.Combine("root")).FullName;
        var fox = temp.Write("root/fox.jpg", Fixtures.Jpeg);
        File.CreateSymbolicLink(temp.Combine("root/fox.txt"), secret);

        var result = DescriptionSidecars.ReadFolder(root, root);

        Assert.False(result.Descriptions.ContainsKey(fox));
        Assert.Contains("outside the ingested folder", Assert.Single(result.Failures).Reason, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("captions.csv", "image_path,description\nfox.jpg,From CSV.\n")]
    [InlineData("captions.jsonl", """{"image_path": "fox.jpg", "description": "From CSV."}""")]
    [InlineData("captions.dat", """[{"image_path": "fox.jpg", "description": "From CSV."}]""")]
    [InlineData("captions.list", "description,image_path\nFrom CSV.,fox.jpg\n")]
    public void ReadFile_AnyFormat_PathsRelativeToTheFile(string name, string content)
    {
        using var temp = new TemporaryDirectory();
        var fox = temp.Write("photos/fox.jpg", Fixtures.Jpeg);
        var file = temp.Write("photos/" + name, content);

        var result = DescriptionSidecars.ReadFile(file, [temp.Combine("photos")]);

        Assert.Empty(result.Failures);
        Assert.Equal("From CSV.", result.Descriptions[fox]);
    }

    [Fact]
    public void ReadFile_OutsideEveryRoot_Rejected()
    {
        using var temp = new TemporaryDirectory();
        temp.Write("a/fox.jpg", Fixtures.Jpeg);
        var file = temp.Write("a/captions.csv", "image_path,description\nfox.jpg,Fox.\n");

        var result = DescriptionSidecars.ReadFile(file, [temp.Combine("b")]);

        Assert.Empty(result.Descriptions);
        Assert.Single(result.Failures);
    }

    [Fact]
    public void ReadFolder_NoSidecars_Empty()
    {
        using var temp = new TemporaryDirectory();
        temp.Write("fox.jpg", Fixtures.Jpeg);
        temp.Write("notes.txt", Encoding.UTF8.GetBytes("not a sidecar: no image named notes"));

        var result = DescriptionSidecars.ReadFolder(temp.Path, temp.Path);

        Assert.Empty(result.Descriptions);
        Assert.Empty(result.Failures);
        Assert.Empty(result.SidecarFiles);
    }
}
