using System.Text;
using Mmrag.Ingestion.Loaders;
using Mmrag.Ingestion.Tests.Support;
using Mmrag.Knowledge;

namespace Mmrag.Ingestion.Tests.Loaders;

public sealed class TextFileLoaderTests
{
    private readonly TextFileLoader _loader = new(TestChunkers.Clip);

    [Fact]
    public async Task LoadAsync_Utf8WithBom_ChunksWithTitleFromFirstLine()
    {
        using var temp = new TemporaryDirectory();
        var body = string.Join(' ', Enumerable.Range(0, 60).Select(i => $"Line {i} says the café is open."));
        var path = temp.Write("notes.txt", [0xEF, 0xBB, 0xBF, .. Encoding.UTF8.GetBytes("Café opening hours\n\n" + body)]);

        var document = await _loader.LoadAsync(path, TestChunkers.Context(temp.Path));

        Assert.Equal("text/plain", document.MediaType);
        Assert.Equal("Café opening hours", document.Title);
        Assert.Empty(document.Failures);
        Assert.True(document.Items.Count > 3);
        Assert.StartsWith("Café opening hours", document.Items[0].Text, StringComparison.Ordinal);
        Assert.DoesNotContain('\uFEFF', document.Items[0].Text);
        Assert.All(document.Items, item =>
        {
            Assert.Equal(ItemKind.TextChunk, item.Kind);
            Assert.Equal("Café opening hours", item.Provenance.DocumentTitle);
            Assert.Equal(path, item.Provenance.SourcePath);
        });
        Assert.Equal(Enumerable.Range(0, document.Items.Count), document.Items.Select(i => i.Provenance.Position));
    }

    [Fact]
    public async Task LoadAsync_Utf16WithBom_Decoded()
    {
        using var temp = new TemporaryDirectory();
        var path = temp.Write("wide.txt", [.. Encoding.Unicode.GetPreamble(), .. Encoding.Unicode.GetBytes("Grüße aus Köln")]);

        var document = await _loader.LoadAsync(path, TestChunkers.Context(temp.Path));

        Assert.Equal("Grüße aus Köln", Assert.Single(document.Items).Text);
    }

    [Fact]
    public async Task LoadAsync_InvalidUtf8_ReplacesAndReportsByteOffset()
    {
        using var temp = new TemporaryDirectory();
        byte[] bytes = [.. "Caf"u8, 0xE9, .. " au lait\nsecond line "u8, 0xFF, 0xFE, .. "end"u8];
        var path = temp.Write("latin1.txt", bytes);

        var document = await _loader.LoadAsync(path, TestChunkers.Context(temp.Path));

        var text = Assert.Single(document.Items).Text;
        Assert.Equal("Caf\uFFFD au lait\nsecond line \uFFFD\uFFFDend", text);
        var failure = Assert.Single(document.Failures);
        Assert.Equal(path, failure.SourcePath);
        Assert.Contains("byte offset 3", failure.Reason, StringComparison.Ordinal);
        Assert.Equal("byte 3", failure.Detail);
    }

    [Fact]
    public async Task LoadAsync_LongFirstLine_NoTitle()
    {
        using var temp = new TemporaryDirectory();
        var path = temp.Write("long.txt", new string('x', 50) + " " + new string('y', 80));

        var document = await _loader.LoadAsync(path, TestChunkers.Context(temp.Path));

        Assert.Null(document.Title);
    }

    [Fact]
    public async Task LoadAsync_EmptyFile_NoItems()
    {
        using var temp = new TemporaryDirectory();
        var path = temp.Write("empty.txt", []);

        var document = await _loader.LoadAsync(path, TestChunkers.Context(temp.Path));

        Assert.Empty(document.Items);
        Assert.Null(document.Title);
    }

    [Fact]
    public async Task LoadAsync_FileFarLongerThanMaxItems_StopsReadingAndReports()
    {
        using var temp = new TemporaryDirectory();
        var paragraph = Encoding.UTF8.GetBytes("The otter floats on its back and cracks a shell on its chest.\n\n");
        var path = temp.Combine("huge.txt");
        using (var file = File.Create(path))
        {
            // ~40 MB: read whole and chunked whole, this took minutes and gigabytes.
            for (var i = 0; i < 40_000_000 / paragraph.Length; i++)
            {
                file.Write(paragraph);
            }
        }

        var document = await Task.Run(() => _loader.LoadAsync(path, TestChunkers.Context(temp.Path) with { MaxItems = 50 })).WaitAsync(TimeSpan.FromSeconds(20));

        Assert.Equal(50, document.Items.Count);
        Assert.Equal(Enumerable.Range(0, 50), document.Items.Select(i => i.Provenance.Position));
        Assert.Contains("MaxItemsPerFile", Assert.Single(document.Failures).Reason, StringComparison.Ordinal);
    }

    [Fact]
    public async Task LoadAsync_OneLineOfEightMegabytes_ChunkedWithinWindows()
    {
        using var temp = new TemporaryDirectory();
        var path = temp.Write("line.txt", string.Concat(Enumerable.Repeat("word ", 8 * 1024 * 1024 / 5)));

        var document = await Task.Run(() => _loader.LoadAsync(path, TestChunkers.Context(temp.Path) with { MaxItems = 100 })).WaitAsync(TimeSpan.FromSeconds(20));

        Assert.Equal(100, document.Items.Count);
        Assert.All(document.Items, i => Assert.InRange(Fixtures.CountTokens(i.Text), 1, TestChunkers.Clip.Options.MaxTokens));
    }

    [Fact]
    public async Task LoadAsync_InvalidUtf8AcrossBlockBoundaries_SameTextAsDecodingWhole()
    {
        using var temp = new TemporaryDirectory();
        var random = new Random(3);
        var bytes = new List<byte>();
        while (bytes.Count < 300_000)
        {
            bytes.AddRange(Encoding.UTF8.GetBytes(random.Next(4) == 0 ? "\n\n" : "Grüße 🦊 aus Köln "));
            if (random.Next(50) == 0)
            {
                bytes.Add((byte)random.Next(0x80, 0x100));
            }
        }

        var path = temp.Write("mixed.txt", [.. bytes]);
        var expected = TestChunkers.Clip.Split(Encoding.UTF8.GetString([.. bytes]));

        var document = await _loader.LoadAsync(path, TestChunkers.Context(temp.Path) with { MaxItems = 1_000_000 });

        Assert.Equal(expected, document.Items.Select(i => i.Text));
        var decoded = TextDecoding.Decode([.. bytes]);
        var failure = Assert.Single(document.Failures);
        Assert.Contains($"byte offset {decoded.FirstInvalidOffset} (line {decoded.FirstInvalidLine}); {decoded.InvalidSequences} invalid sequence(s)",
            failure.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public async Task LoadAsync_Fifo_FailsAtOnceInsteadOfBlocking()
    {
        using var temp = new TemporaryDirectory();
        var fifo = UnixFiles.MakeFifo(temp.Combine("pipe.txt"));

        var error = await Assert.ThrowsAsync<DocumentLoadException>(() => Task.Run(() => _loader.LoadAsync(fifo, TestChunkers.Context(temp.Path))))
            .WaitAsync(TimeSpan.FromSeconds(10));

        Assert.Contains("FIFO", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task LoadAsync_CancelledToken_Stops()
    {
        using var temp = new TemporaryDirectory();
        var path = temp.Write("notes.txt", "Some text.");

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => _loader.LoadAsync(path, TestChunkers.Context(temp.Path), new CancellationToken(true)));
    }
}
