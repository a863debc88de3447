using System.Diagnostics;
using System.Text;
using System.Text.Json.Nodes;
using Mmrag.Hosting.Evaluation;
using Mmrag.Testing;

namespace Mmrag.Hosting.Tests.Evaluation;

public sealed class KarpathyDatasetTests : IDisposable
{
    private readonly KarpathyFiles _files = new();

    [Fact]
    public async Task Load_TestSplit_TakesOnlyTheTestEntriesWithTheirCaptions()
    {
        _files.WriteSplit(8);

        var split = await KarpathyDataset.LoadAsync(_files.Annotations, _files.Images, "flickr30k");

        Assert.Equal("test", split.Split);
        Assert.Equal(8, split.Images.Count);
        Assert.Equal(8, split.SplitSize);
        Assert.Equal(8 + 3 + 1, split.Entries);
        Assert.Equal(40, split.CaptionCount);
        Assert.Equal(Enumerable.Range(0, 8).Select(static n => (long)n), split.Images.Select(static i => i.ImageId));
        Assert.All(split.Images, static i => Assert.True(File.Exists(i.ImagePath), i.ImagePath));
        Assert.Equal(KarpathyFiles.Captions(3), split.Images[3].Captions);
    }

    [Fact]
    public async Task Load_CaptionWithLineBreaksAndLimit_FoldsTheCaptionAndTakesTheFirstImages()
    {
        var entries = _files.WriteSplit(4);
        entries[0]!["sentences"]![0]!["raw"] = "A dog\r\n  on\tgrass. ";
        _files.Write(entries);

        var split = await KarpathyDataset.LoadAsync(_files.Annotations, _files.Images, "flickr30k", new KarpathyReadOptions { Limit = 2 });

        Assert.Equal(2, split.Images.Count);
        Assert.Equal(4, split.SplitSize);
        Assert.Equal("A dog on grass.", split.Images[0].Captions[0]);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Load_CocoFilepath_FindsTheImageUnderItOrInTheFolderGiven(bool folderIsTheFilepath)
    {
        _files.WriteSplit(3, "coco", filepath: "val2014");

        var split = await KarpathyDataset.LoadAsync(_files.Annotations, folderIsTheFilepath ? Path.Combine(_files.Images, "val2014") : _files.Images, "coco");

        Assert.Equal(3, split.Images.Count);
        Assert.All(split.Images, i => Assert.Equal(Path.Combine(_files.Images, "val2014"), Path.GetDirectoryName(i.ImagePath)));
    }

    [Fact]
    public async Task Load_LargeFileWithABom_StreamsEveryEntryAcrossBufferBoundaries()
    {
        // About 6 MB: many train entries of varying size around the test ones, so that entries straddle every buffer refill.
        var entries = _files.WriteSplit(5);
        var bulk = new JsonArray();
        for (var i = 0; i < 20_000; i++)
        {
            bulk.Add(KarpathyFiles.Entry(10_000 + i, $"train-{i}.jpg", "train", [new string('x', i % 97) + " a train caption", "another"]));
            if (i % 4_000 == 0 && entries.Count > 0)
            {
                var test = entries[0]!;
                entries.RemoveAt(0);
                bulk.Add(test);
            }
        }

        while (entries.Count > 0)
        {
            var test = entries[0]!;
            entries.RemoveAt(0);
            bulk.Add(test);
        }

        _files.Write(bulk);
        var json = await File.ReadAllBytesAsync(_files.Annotations);
        await File.WriteAllBytesAsync(_files.Annotations, [0xEF, 0xBB, 0xBF, .. json]);

        var split = await KarpathyDataset.LoadAsync(_files.Annotations, _files.Images, "flickr30k");

        Assert.Equal(20_000 + 5 + 2 + 1, split.Entries);
        Assert.Equal(5, split.Images.Count);
        Assert.Equal(25, split.CaptionCount);
    }

    [Theory]
    [InlineData("filename", null, "\"filename\" is missing")]
    [InlineData("sentences", "\"five\"", "\"sentences\" is missing or not an array")]
    [InlineData("sentences", "[{\"tokens\": []}]", "sentence 1 has no \"raw\" caption")]
    [InlineData("split", "3", "\"split\" is missing or not a string")]
    public async Task Load_MalformedEntry_FailsNamingTheFileAndTheEntry(string property, string? json, string reason)
    {
        var entries = _files.WriteSplit(4);
        var entry = entries[2]!.AsObject();
        entry.Remove(property);
        if (json is not null)
        {
            entry[property] = JsonNode.Parse(json);
        }

        _files.Write(entries);

        var error = await LoadFailsAsync<InvalidDataException>();

        Assert.Contains(_files.Annotations, error.Message, StringComparison.Ordinal);
        Assert.Contains("entry 3 of \"images\"", error.Message, StringComparison.Ordinal);
        Assert.Contains($"imgid {entry["imgid"]}", error.Message, StringComparison.Ordinal);
        Assert.Contains(reason, error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("{\"images\": [1, 2]}", "entry 1 of \"images\" is not an object")]
    [InlineData("[]", "not a Karpathy-split caption file (it does not start with a JSON object)")]
    [InlineData("{\"dataset\": \"flickr30k\"}", "it has no \"images\" array")]
    [InlineData("{\"images\": [{\"filename\": \"a.jpg\"", "not valid JSON")]
    [InlineData("{\"images\": [{\"filename\": \"a.jpg\",}]}", "not valid JSON")]
    [InlineData("{\"images\": [], \"dataset\": \"coco\"}", "it is the 'coco' dataset, not 'flickr30k'")]
    [InlineData("{\"images\": []}", "no entry in the 'test' split")]
    public async Task Load_NotTheFormat_FailsNamingTheFile(string json, string reason)
    {
        await File.WriteAllTextAsync(_files.Annotations, json);

        var error = await LoadFailsAsync<InvalidDataException>();

        Assert.StartsWith(_files.Annotations + ": ", error.Message, StringComparison.Ordinal);
        Assert.Contains(reason, error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("../outside.png", null)]
    [InlineData("/etc/hostname", null)]
    [InlineData("sub/../../outside.png", null)]
    [InlineData("outside.png", "..")]
    [InlineData("outside.png", "/tmp")]
    [InlineData("outside.png", "val2014/../..")]
    public async Task Load_PathLeavingTheImagesFolder_IsRefused(string filename, string? filepath)
    {
        File.Copy(KarpathyFiles.FixtureImages[0], Path.Combine(_files.Root, "outside.png"));
        _files.WriteSplitWith(3, KarpathyFiles.Entry(77, filename, "test", ["An escape."], filepath));

        var error = await LoadFailsAsync<InvalidDataException>();

        Assert.Contains("imgid 77", error.Message, StringComparison.Ordinal);
        Assert.Contains("refused", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Load_SymbolicLinkInTheImagesFolderLeadingOut_IsRefused()
    {
        var outside = Path.Combine(_files.Root, "elsewhere");
        Directory.CreateDirectory(outside);
        File.Copy(KarpathyFiles.FixtureImages[0], Path.Combine(outside, "secret.png"));
        Directory.CreateSymbolicLink(Path.Combine(_files.Images, "linked"), outside);
        _files.WriteSplitWith(3, KarpathyFiles.Entry(78, "secret.png", "test", ["Through a link."], "linked"));

        var error = await LoadFailsAsync<InvalidDataException>();

        Assert.Contains("symbolic link", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Load_MissingTestImage_FailsNamingIt()
    {
        _files.WriteSplitWith(3, KarpathyFiles.Entry(79, "gone.jpg", "test", ["Not there."]));

        var error = await LoadFailsAsync<FileNotFoundException>();

        Assert.Contains("'gone.jpg'", error.Message, StringComparison.Ordinal);
        Assert.Contains("imgid 79", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Load_DeeplyNestedEntry_FailsAtTheDepthLimitQuickly()
    {
        var depth = 200_000;
        var json = new StringBuilder("{\"images\": [{\"filename\": \"a.jpg\", \"x\": ");
        json.Append('[', depth).Append(']', depth).Append("}]}");
        await File.WriteAllTextAsync(_files.Annotations, json.ToString());
        var clock = Stopwatch.StartNew();

        var error = await LoadFailsAsync<InvalidDataException>();

        Assert.Contains("depth", error.Message, StringComparison.OrdinalIgnoreCase);
        Assert.Contains("entry 1 of \"images\"", error.Message, StringComparison.Ordinal);
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(20), $"took {clock.Elapsed}");
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task Load_ValueLargerThanTheEntryLimit_FailsInsteadOfBufferingIt(bool inAnEntry)
    {
        var huge = new string('y', 3 * 1024 * 1024);
        var json = inAnEntry
            ? $"{{\"images\": [{{\"filename\": \"a.jpg\", \"split\": \"test\", \"imgid\": 1, \"sentences\": [{{\"raw\": \"{huge}\"}}]}}]}}"
            : $"{{\"notes\": \"{huge}\", \"images\": []}}";
        await File.WriteAllTextAsync(_files.Annotations, json);

        var error = await LoadFailsAsync<InvalidDataException>();

        Assert.Contains("is larger than 1,048,576 bytes", error.Message, StringComparison.Ordinal);
        Assert.Contains(inAnEntry ? "entry 1 of \"images\"" : "a top-level value", error.Message, StringComparison.Ordinal);
    }

    private Task<T> LoadFailsAsync<T>()
        where T : Exception => Assert.ThrowsAsync<T>(() => KarpathyDataset.LoadAsync(_files.Annotations, _files.Images, "flickr30k"));

    public void Dispose() => _files.Dispose();
}
