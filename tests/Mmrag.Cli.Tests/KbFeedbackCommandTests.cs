using System.Text.Json;
using Microsoft.Extensions.AI;
using Mmrag.Hosting;
using Mmrag.Hosting.Feedback;

namespace Mmrag.Cli.Tests;

/// <summary><c>mmrag kb feedback</c>: list (table and JSON), remove, clear, over feedback recorded through the composition root.</summary>
public class KbFeedbackCommandTests
{
    [Fact]
    public async Task KbFeedback_RecordedJudgements_ListedThenRemovedThenCleared()
    {
        using var temp = new TemporaryDirectory();
        var kb = Path.Combine(temp.Path, "kb");
        var samples = SampleKnowledgeBase.CopyTo(Path.Combine(temp.Path, "samples"));
        var ingest = await CliRunner.RunAsync("ingest", Path.Combine(samples, "docs"), "--kb", kb, "--model", Fixtures.TinyModel);
        Assert.True(ingest.ExitCode == 0, ingest.Error);

        var empty = await CliRunner.RunAsync("kb", "feedback", "--kb", kb);
        Assert.True(empty.ExitCode == 0, empty.Error);
        Assert.Contains("no feedback", empty.Output, StringComparison.Ordinal);

        string itemId, itemSource;
        string[] ids;
        await using (var session = await MmragKnowledgeBase.OpenAsync(new MmragOptions { Folder = kb, Offline = true }))
        {
            var hit = (await session.Searcher.SearchAsync(new() { Text = "Ladybirds eat aphids", Threshold = 0, K = 1 })).Hits[0];
            (itemId, itemSource) = (hit.Item.Id, hit.Item.Provenance.SourcePath);
            var recorder = FeedbackRecorder.For(session);
            var photo = new DataContent(await File.ReadAllBytesAsync(Path.Combine(samples, "photos", "lady-bird.jpg")), "image/jpeg") { Name = "lady-bird.jpg" };
            var both = await recorder.RecordAsync("ladybirds\nin the garden", photo, itemId, relevant: true, FeedbackSources.Page);
            var down = await recorder.RecordAsync("storm clouds", null, itemId, relevant: false, FeedbackSources.Api);
            ids = [.. both.Concat(down).Select(static j => j.Id)];
        }

        var table = await CliRunner.RunAsync("kb", "feedback", "--kb", kb);
        Assert.True(table.ExitCode == 0, table.Error);
        foreach (var id in ids)
        {
            Assert.Contains(id, table.Output, StringComparison.Ordinal);
        }

        Assert.Contains("text \"ladybirds in the garden\"", table.Output, StringComparison.Ordinal); // one line per judgement
        Assert.Contains("image lady-bird.jpg", table.Output, StringComparison.Ordinal);
        Assert.Contains($"-> {itemId} ({itemSource})", table.Output, StringComparison.Ordinal);
        Assert.Contains("3 judgement(s)", table.Output, StringComparison.Ordinal);

        var json = await CliRunner.RunAsync("kb", "feedback", "--kb", kb, "--format", "json");
        Assert.True(json.ExitCode == 0, json.Error);
        using (var document = JsonDocument.Parse(json.Output))
        {
            var listed = document.RootElement.GetProperty("feedback").EnumerateArray().ToList();
            Assert.Equal(ids, listed.Select(static f => f.GetProperty("id").GetString()));
            Assert.Equal(["page", "page", "api"], listed.Select(static f => f.GetProperty("source").GetString()));
            Assert.Equal(["text", "image", "text"], listed.Select(static f => f.GetProperty("modality").GetString()));
            Assert.Equal([true, true, false], listed.Select(static f => f.GetProperty("relevant").GetBoolean()));
            Assert.All(listed, f => Assert.Equal(itemSource, f.GetProperty("item_source").GetString()));
        }

        var removed = await CliRunner.RunAsync("kb", "feedback", "remove", ids[2], "--kb", kb);
        Assert.True(removed.ExitCode == 0, removed.Error);
        Assert.Contains($"removed feedback {ids[2]}", removed.Output, StringComparison.Ordinal);
        var again = await CliRunner.RunAsync("kb", "feedback", "remove", ids[2], "--kb", kb);
        Assert.Equal(1, again.ExitCode);
        Assert.Contains($"no feedback '{ids[2]}'", again.Error, StringComparison.Ordinal);

        var cleared = await CliRunner.RunAsync("kb", "feedback", "clear", "--kb", kb);
        Assert.True(cleared.ExitCode == 0, cleared.Error);
        Assert.Contains("removed 2 judgement(s)", cleared.Output, StringComparison.Ordinal);
        Assert.Contains("no feedback", (await CliRunner.RunAsync("kb", "feedback", "--kb", kb)).Output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task KbFeedback_NoKnowledgeBase_SaysSoWithoutAStackTrace()
    {
        using var temp = new TemporaryDirectory();

        var result = await CliRunner.RunAsync("kb", "feedback", "--kb", Path.Combine(temp.Path, "missing"));

        Assert.Equal(1, result.ExitCode);
        Assert.StartsWith("error: ", result.Error, StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", result.Error, StringComparison.Ordinal);
    }
}
