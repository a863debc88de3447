using Mmrag.Hosting.Evaluation;
using Mmrag.Retrieval.Search;

namespace Mmrag.Hosting.Tests.Evaluation;

public sealed class EvaluationQuerySetTests : IDisposable
{
    private readonly string _folder = Directory.CreateTempSubdirectory("mmrag-evalset-").FullName;

    [Fact]
    public async Task Load_ShapesFormat_ResolvesImagesAgainstTheFileFolderAndNamesDirections()
    {
        var file = Path.Combine(_folder, "queries.jsonl");
        await File.WriteAllLinesAsync(file,
        [
            """{"id": "q1", "text": "a red circle", "target": "images", "relevant": ["images/a.png"], "kind": "text->image"}""",
            "",
            """{"id": "q2", "image": "queries/q.png", "target": "all", "relevant": []}""",
        ]);

        var queries = await EvaluationQuerySet.LoadAsync(file);

        Assert.Equal(2, queries.Count);
        Assert.Equal("text->image", queries[0].Direction);
        Assert.Equal(["images/a.png"], queries[0].Relevant);
        Assert.Equal(Path.Combine(_folder, "queries", "q.png"), queries[1].ImagePath);
        Assert.Equal(SearchTarget.All, queries[1].Target);
        Assert.Equal("image->all", queries[1].Direction);
    }

    [Fact]
    public async Task Load_LineWithoutQuery_ThrowsNamingTheLine()
    {
        var file = Path.Combine(_folder, "bad.jsonl");
        await File.WriteAllLinesAsync(file, ["""{"text": "ok", "relevant": []}""", """{"target": "images", "relevant": []}"""]);

        var error = await Assert.ThrowsAsync<InvalidDataException>(() => EvaluationQuerySet.LoadAsync(file));

        Assert.Contains("bad.jsonl:2", error.Message, StringComparison.Ordinal);
    }

    public void Dispose() => Directory.Delete(_folder, recursive: true);
}
