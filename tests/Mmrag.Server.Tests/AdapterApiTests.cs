using Mmrag.Retrieval.Adapters;

namespace Mmrag.Server.Tests;

/// <summary>The query adapter through <c>/api/search</c>: applied by default, <c>"adapter": false</c> turns it off.</summary>
[Collection("server")]
public sealed class AdapterApiTests(ServerFixture fixture) : ApiTestBase(fixture)
{
    [Fact]
    public async Task Search_AdapterFalse_SearchesWithThePlainVectors()
    {
        var d = Fixture.Store.Space.Dimension;
        var random = new Random(11);
        var map = new float[d * d];
        for (var i = 0; i < map.Length; i++)
        {
            map[i] = (i % (d + 1) == 0 ? 1f : 0f) + (float)((random.NextDouble() - 0.5) * 0.5);
        }

        var info = new QueryAdapterInfo(0, DateTimeOffset.UnixEpoch, 1, 0, "", []);
        await QueryAdapterSettings.SaveAsync(Fixture.Store, new QueryAdapter(Fixture.Store.Space.ModelId, d, map, null, [], info));
        Fixture.KnowledgeBase.Searcher.Adapters.Invalidate();
        try
        {
            var adapted = await SearchAsync(new { text = "tomato plants and marigolds", k = 5, threshold = 0 });
            var plain = await SearchAsync(new { text = "tomato plants and marigolds", k = 5, threshold = 0, adapter = false });
            using var invalid = await Client.PostAsync("api/search", Json(new { text = "tomato", adapter = "no" }));

            Assert.True(adapted.GetProperty("adapter_applied").GetBoolean());
            Assert.False(plain.GetProperty("adapter_applied").GetBoolean());
            Assert.NotEqual(RawScores(adapted), RawScores(plain));
            var problem = await AssertProblemAsync(invalid, 400);
            Assert.Contains("'adapter'", problem.GetProperty("detail").GetString(), StringComparison.Ordinal);
        }
        finally
        {
            await QueryAdapterSettings.RemoveAsync(Fixture.Store);
            Fixture.KnowledgeBase.Searcher.Adapters.Invalidate();
        }
    }

    private static List<double> RawScores(System.Text.Json.JsonElement result) =>
        [.. result.GetProperty("hits").EnumerateArray().Select(static h => h.GetProperty("raw_score").GetDouble())];
}
