using Microsoft.Extensions.AI;
using Mmrag.Knowledge;
using Mmrag.Retrieval.Search;
using Mmrag.Retrieval.Tests.TestDoubles;
using Mmrag.Storage;
using Mmrag.Storage.ContractTests;

namespace Mmrag.Retrieval.Tests.Search;

/// <summary>
/// The searcher's behaviour over a store backend, with synthetic seeded vectors: 20 text chunks and 20 images with
/// random directions (documents notes-a/notes-b and album-a/album-b, paths under /kb/a and /kb/b, tags even/odd).
/// </summary>
public abstract class KnowledgeSearcherTests : StoreBackedTests
{
    private static readonly string[] ChunkWords =
        ["amber", "basil", "cedar", "dune", "ember", "fjord", "garnet", "harbor", "iris", "juniper",
         "kelp", "lagoon", "maple", "nectar", "opal", "prairie", "quartz", "reef", "sierra", "tundra"];

    private static readonly string[] ImageWords =
        ["alpaca", "bison", "cougar", "dingo", "egret", "ferret", "gecko", "heron", "ibex", "jackal",
         "koala", "lemur", "marmot", "newt", "ocelot", "puffin", "quokka", "raven", "stoat", "tapir"];

    [Fact]
    public async Task SearchAsync_TextQueryWithChunkVector_ReturnsThatChunkFirst()
    {
        var world = await CreateWorldAsync();
        var query = world.Knowledge.TextQuery("what is this", world.Chunks[5]);

        var result = await world.Searcher.SearchAsync(new SearchRequest { Text = query, Target = SearchTarget.Text });

        var first = result.Hits[0];
        Assert.Equal("chunk-05", first.Item.Id);
        Assert.Equal(QueryModality.Text, first.QueryModality);
        Assert.Equal(MatchedBy.Vector, first.MatchedBy);
        Assert.Equal(1.0, first.RawScore!.Value, 4);
        Assert.True(first.Score > 0.99, $"calibrated score {first.Score}");
        Assert.All(result.Hits, h => Assert.Equal(ItemKind.TextChunk, h.Item.Kind));
    }

    [Fact]
    public async Task SearchAsync_TextQueryNearImage_ReturnsThatImageFirst()
    {
        var world = await CreateWorldAsync();
        var query = world.Knowledge.TextQuery("show me", world.Vectors.Near(world.Images[4], 0.3));

        var result = await world.Searcher.SearchAsync(new SearchRequest { Text = query, Target = SearchTarget.Images });

        Assert.Equal("image-04", result.Hits[0].Item.Id);
        Assert.All(result.Hits, h => Assert.Equal(ItemKind.Image, h.Item.Kind));
    }

    [Fact]
    public async Task SearchAsync_ImageQueryNearChunk_ReturnsThatChunkFirst()
    {
        var world = await CreateWorldAsync();
        var query = world.Knowledge.ImageQuery("scan", world.Vectors.Near(world.Chunks[6], 0.3));

        var result = await world.Searcher.SearchAsync(new SearchRequest { Image = query, Target = SearchTarget.Text });

        Assert.Equal("chunk-06", result.Hits[0].Item.Id);
        Assert.Equal(QueryModality.Image, result.Hits[0].QueryModality);
    }

    [Fact]
    public async Task SearchAsync_ImageQueryStoredInKnowledgeBase_SkipsItsOwnCopyByDefault()
    {
        var world = await CreateWorldAsync();
        var request = new SearchRequest { Image = world.ImageContents[3], Target = SearchTarget.Images, Threshold = 0 };

        var result = await world.Searcher.SearchAsync(request);

        Assert.NotEmpty(result.Hits);
        Assert.DoesNotContain(result.Hits, h => h.Item.Id == "image-03");
        Assert.All(world.Knowledge.Store.VectorFilters, f => Assert.Contains(request.ImageContentHash!, f!.ExcludeContentHashes!));
    }

    [Fact]
    public async Task SearchAsync_ImageQueryStoredInKnowledgeBaseWithIncludeSelf_ReturnsItselfFirst()
    {
        var world = await CreateWorldAsync();

        var result = await world.Searcher.SearchAsync(new SearchRequest { Image = world.ImageContents[3], Target = SearchTarget.Images, IncludeSelf = true });

        Assert.Equal("image-03", result.Hits[0].Item.Id);
        Assert.Equal(1.0, result.Hits[0].RawScore!.Value, 4);
    }

    [Fact]
    public async Task SearchAsync_RequestFilterExclusions_AreKeptBesideTheQueryImage()
    {
        var world = await CreateWorldAsync();
        var other = (await world.Knowledge.Store.GetItemAsync("image-07"))!.ContentHash;
        var request = new SearchRequest
        {
            Image = world.ImageContents[3],
            Target = SearchTarget.Images,
            Threshold = 0,
            K = 40,
            Filter = new SearchFilter { ExcludeContentHashes = [other] },
        };

        var result = await world.Searcher.SearchAsync(request);

        Assert.DoesNotContain(result.Hits, h => h.Item.Id is "image-03" or "image-07");
        Assert.Equal(18, result.Hits.Count);
    }

    [Fact]
    public async Task SearchAsync_KeywordOnlyMatchFarFromQueryVector_IsFoundAndRaisedByItsWords()
    {
        var world = await CreateWorldAsync();
        // The query vector is chunk 0's; its keyword is the word of the chunk farthest from it, which the 3 × 4
        // candidates of vector search never reach. A heavy evidence weight lets its words carry it into the top 3.
        var far = world.FarthestChunk(world.Chunks[0]);
        var query = world.Knowledge.TextQuery(ChunkWords[far], world.Chunks[0]);
        var searcher = world.Knowledge.Searcher(new KnowledgeSearcherOptions { KeywordEvidenceWeight = 5 });

        var hybrid = await searcher.SearchAsync(new SearchRequest { Text = query, Target = SearchTarget.Text, K = 3, Threshold = 0 });
        var vectorOnly = await searcher.SearchAsync(new SearchRequest { Text = query, Target = SearchTarget.Text, K = 3, Threshold = 0, Hybrid = false });

        var keywordHit = Assert.Single(hybrid.Hits, h => h.Item.Id == $"chunk-{far:00}");
        Assert.Equal(MatchedBy.Keyword, keywordHit.MatchedBy);
        Assert.Equal(QueryModality.Text, keywordHit.QueryModality);
        Assert.Equal(SyntheticVectors.Cosine(world.Chunks[0], world.Chunks[far]), keywordHit.RawScore!.Value, 4);
        // Its words hold the query's one known word: the evidence adds the full weight to its z-score; the other chunks
        // lack the word and lose it.
        Assert.Equal(1.0, keywordHit.KeywordEvidence);
        var calibration = await searcher.Calibrator.GetCalibrationAsync();
        Assert.Equal(calibration.Calibrate(QueryModality.Text, ItemKind.TextChunk, keywordHit.RawScore.Value, 5), keywordHit.CalibratedScore, 9);
        Assert.All(hybrid.Hits.Where(h => h != keywordHit), h => Assert.Equal(0.0, h.KeywordEvidence));
        Assert.Contains(hybrid.Hits, h => h.Item.Id == "chunk-00");
        Assert.DoesNotContain(vectorOnly.Hits, h => h.Item.Id == keywordHit.Item.Id);
        Assert.All(vectorOnly.Hits, h => Assert.Equal(MatchedBy.Vector, h.MatchedBy));
        Assert.All(vectorOnly.Hits, h => Assert.Null(h.KeywordEvidence));
    }

    [Fact]
    public async Task SearchAsync_KeywordEvidence_OrdersAnItemHoldingTheQueryPhraseAboveOneHoldingItsWordsApart()
    {
        var kb = NewKnowledge();
        var vectors = new SyntheticVectors(kb.Dimension, seed: 5);
        // Two images equally close to the query; only one description holds "red circle" as the query does.
        var shared = vectors.Unit();
        kb.AddImage("apart", shared, description: "a red square beside a blue circle");
        kb.AddImage("phrase", shared, description: "a red circle on gray");
        for (var i = 0; i < 30; i++)
        {
            kb.AddImage($"other-{i:00}", vectors.Unit(), description: $"a green star number {i}");
        }

        await kb.CommitAsync();
        var query = kb.TextQuery("a red circle", shared);

        var result = await kb.Searcher().SearchAsync(new SearchRequest { Text = query, Target = SearchTarget.Images, K = 2, Threshold = 0, Dedupe = DedupeOptions.None });

        Assert.Equal(["phrase", "apart"], result.Hits.Select(h => h.Item.Id));
        Assert.Equal(1.0, result.Hits[0].KeywordEvidence);
        Assert.Equal(0.0, result.Hits[1].KeywordEvidence);
        Assert.True(result.Hits[0].CalibratedScore > result.Hits[1].CalibratedScore);
    }

    [Fact]
    public async Task SearchAsync_KeywordHitsReturnedWithoutVectors_AreScoredFromTheStoredVector()
    {
        var world = await CreateWorldAsync();
        world.Knowledge.Store.StripKeywordVectors = true;
        var far = world.FarthestChunk(world.Chunks[0]);
        var query = world.Knowledge.TextQuery(ChunkWords[far], world.Chunks[0]);

        var result = await world.Knowledge.Searcher(new KnowledgeSearcherOptions { KeywordEvidenceWeight = 5 })
            .SearchAsync(new SearchRequest { Text = query, Target = SearchTarget.Text, K = 3, Threshold = 0 });

        var keywordHit = Assert.Single(result.Hits, h => h.Item.Id == $"chunk-{far:00}");
        Assert.Equal(MatchedBy.Keyword, keywordHit.MatchedBy);
        Assert.Equal(world.Knowledge.Dimension, keywordHit.Item.Vector.Length);
        Assert.Equal(SyntheticVectors.Cosine(world.Chunks[0], world.Chunks[far]), keywordHit.RawScore!.Value, 4);
    }

    [Fact]
    public async Task SearchAsync_KeywordOnlyMatchFarFromQueryVector_StillNeedsTheThreshold()
    {
        var world = await CreateWorldAsync();
        var query = world.Knowledge.TextQuery("juniper", world.Vectors.OrthogonalTo(world.Chunks.Concat(world.Images)));

        var result = await world.Searcher.SearchAsync(new SearchRequest { Text = query });

        Assert.Empty(result.Hits);
        Assert.NotEmpty(world.Knowledge.Store.KeywordFilters);
    }

    [Fact]
    public async Task SearchAsync_HybridTextQueryOverBothKinds_AsksForBothKindsKeywordsInOneCall()
    {
        var world = await CreateWorldAsync();
        var query = world.Knowledge.TextQuery($"{ChunkWords[3]} {ImageWords[4]}", world.Vectors.Unit());

        var result = await world.Searcher.SearchAsync(new SearchRequest { Text = query, K = 40, Threshold = 0 });

        Assert.Equal(1, world.Knowledge.Store.KeywordByKindCalls);
        Assert.Equal([ItemKind.TextChunk, ItemKind.Image], world.Knowledge.Store.KeywordFilters.Select(f => f!.Kind!.Value).Order());
        Assert.Equal(["chunk-03", "image-04"], result.Hits.Where(h => h.MatchedBy == MatchedBy.Both).Select(h => h.Item.Id).Order(StringComparer.Ordinal));
    }

    [Fact]
    public async Task SearchAsync_HitFoundByKeywordAndVector_RanksAboveBetterVectorOnlyHit()
    {
        var world = await CreateWorldAsync();
        // Slightly closer to chunk 2 than to chunk 3, but only chunk 3 contains the keyword.
        var query = world.Knowledge.TextQuery("dune", SyntheticVectors.Combine((world.Chunks[2], 1.0), (world.Chunks[3], 0.9)));

        var result = await world.Searcher.SearchAsync(new SearchRequest { Text = query, Target = SearchTarget.Text, Threshold = 0 });

        Assert.Equal("chunk-03", result.Hits[0].Item.Id);
        Assert.Equal(MatchedBy.Both, result.Hits[0].MatchedBy);
        Assert.Equal("chunk-02", result.Hits[1].Item.Id);
        Assert.True(result.Hits[1].RawScore > result.Hits[0].RawScore);
    }

    [Fact]
    public async Task SearchAsync_NothingNearTheQuery_ReturnsNoHits()
    {
        var world = await CreateWorldAsync();
        var unrelated = world.Vectors.OrthogonalTo(world.Chunks.Concat(world.Images));

        var result = await world.Searcher.SearchAsync(new SearchRequest { Text = world.Knowledge.TextQuery("nothing here", unrelated) });

        Assert.Empty(result.Hits);
    }

    [Fact]
    public async Task SearchAsync_Threshold_DropsHitsBelowItAndCanLeaveNone()
    {
        var world = await CreateWorldAsync();
        var query = world.Knowledge.TextQuery("chunks one and two", SyntheticVectors.Combine((world.Chunks[1], 1.0), (world.Chunks[2], 0.5)));
        var all = await world.Searcher.SearchAsync(new SearchRequest { Text = query, Target = SearchTarget.Text, Threshold = 0, K = 40 });
        var between = (all.Hits[0].CalibratedScore + all.Hits[1].CalibratedScore) / 2;

        var one = await world.Searcher.SearchAsync(new SearchRequest { Text = query, Target = SearchTarget.Text, Threshold = between });
        var none = await world.Searcher.SearchAsync(new SearchRequest { Text = query, Target = SearchTarget.Text, Threshold = Math.Min(1, all.Hits[0].CalibratedScore + 1e-9) });

        Assert.Equal(20, all.Hits.Count);
        Assert.Equal(["chunk-01"], one.Hits.Select(h => h.Item.Id));
        Assert.Empty(none.Hits);
    }

    [Fact]
    public async Task SearchAsync_FiveExactCopiesOfAnImage_ReturnOneHit()
    {
        var kb = NewKnowledge();
        var vectors = new SyntheticVectors(kb.Dimension, seed: 5);
        var bytes = "the same photo"u8.ToArray();
        var photo = vectors.Unit();
        DataContent query = null!;
        for (var i = 0; i < 5; i++)
        {
            query = kb.AddImage($"copy-{i}", photo, document: $"folder-{i}", bytes: bytes);
        }

        for (var i = 0; i < 15; i++)
        {
            kb.AddImage($"other-{i:00}", vectors.Unit());
        }

        await kb.CommitAsync();
        var searcher = kb.Searcher();

        var deduped = await searcher.SearchAsync(new SearchRequest { Image = query, IncludeSelf = true, Threshold = 0 });
        var everything = await searcher.SearchAsync(new SearchRequest { Image = query, IncludeSelf = true, Threshold = 0, Dedupe = DedupeOptions.None });

        Assert.Single(deduped.Hits, h => h.Item.Id.StartsWith("copy-", StringComparison.Ordinal));
        Assert.StartsWith("copy-", deduped.Hits[0].Item.Id, StringComparison.Ordinal);
        Assert.Equal(10, deduped.Hits.Count);
        Assert.Equal(5, everything.Hits.Count(h => h.Item.Id.StartsWith("copy-", StringComparison.Ordinal)));
    }

    [Fact]
    public async Task SearchAsync_RelatedButDistinctItems_AreNotDroppedAsDuplicates()
    {
        var kb = NewKnowledge();
        var vectors = new SyntheticVectors(kb.Dimension, seed: 6);
        var photo = vectors.Unit();
        var similar = vectors.Near(photo, 0.35); // cosine ≈ 0.94
        kb.AddImage("photo", photo);
        kb.AddImage("similar", similar);
        for (var i = 0; i < 10; i++)
        {
            kb.AddImage($"other-{i:00}", vectors.Unit());
        }

        await kb.CommitAsync();
        Assert.InRange(SyntheticVectors.Cosine(photo, similar), 0.85, 0.97);

        var result = await kb.Searcher().SearchAsync(new SearchRequest { Image = kb.ImageQuery("q", photo), K = 2 });

        Assert.Equal(["photo", "similar"], result.Hits.Select(h => h.Item.Id));
    }

    [Fact]
    public async Task SearchAsync_MmrLambda_PrefersADiverseHitOverARedundantOne()
    {
        var kb = NewKnowledge();
        var vectors = new SyntheticVectors(kb.Dimension, seed: 8);
        var topic = vectors.Unit();
        var a = vectors.Near(topic, 0.1);
        var aAgain = vectors.Near(a, 0.2); // cosine ≈ 0.98 to a: redundant, yet under the 0.995 cut used here
        var b = SyntheticVectors.Combine((topic, 1.0), (vectors.Unit(), 0.6));
        kb.AddImage("a", a);
        kb.AddImage("a-again", aAgain);
        kb.AddImage("b", b);
        for (var i = 0; i < 10; i++)
        {
            kb.AddImage($"other-{i:00}", vectors.Unit());
        }

        await kb.CommitAsync();
        var query = kb.ImageQuery("topic", topic);
        var cut = new DedupeOptions { SimilarityCut = 0.995 };
        Assert.InRange(SyntheticVectors.Cosine(a, aAgain), 0.9, 0.995);
        Assert.True(SyntheticVectors.Cosine(topic, aAgain) > SyntheticVectors.Cosine(topic, b));

        var plain = await kb.Searcher().SearchAsync(new SearchRequest { Image = query, K = 2, Threshold = 0, Dedupe = cut });
        var mmr = await kb.Searcher().SearchAsync(new SearchRequest { Image = query, K = 2, Threshold = 0, Dedupe = cut with { MmrLambda = 0.5 } });

        Assert.Equal(["a", "a-again"], plain.Hits.Select(h => h.Item.Id));
        Assert.Equal(["a", "b"], mmr.Hits.Select(h => h.Item.Id));
    }

    [Fact]
    public async Task SearchAsync_SoftmaxScoring_ScoresOverAllCandidatesSumToOne()
    {
        var world = await CreateWorldAsync();
        var queryVector = world.Vectors.Near(world.Chunks[7], 0.8);
        var query = world.Knowledge.TextQuery("soft", queryVector);
        const double temperature = 0.05;

        var result = await world.Searcher.SearchAsync(new SearchRequest
        {
            Text = query,
            Target = SearchTarget.Text,
            K = 40,
            Threshold = 0,
            Hybrid = false,
            Dedupe = DedupeOptions.None,
            Scoring = ScoringMode.SoftmaxTemperature,
            Temperature = temperature,
        });

        Assert.Equal(20, result.Hits.Count);
        Assert.Equal(1.0, result.Hits.Sum(h => h.Score), 9);
        var logits = world.Chunks.Select(c => SyntheticVectors.Cosine(c, queryVector) / temperature).ToArray();
        var max = logits.Max();
        var denominator = logits.Sum(l => Math.Exp(l - max));
        Assert.Equal(Math.Exp(logits[7] - max) / denominator, result.Hits.Single(h => h.Item.Id == "chunk-07").Score, 6);
        Assert.Equal(result.Hits.OrderByDescending(h => h.RawScore).Select(h => h.Item.Id), result.Hits.Select(h => h.Item.Id));
        Assert.All(result.Hits, h => Assert.InRange(h.CalibratedScore, 0, 1));
    }

    [Fact]
    public async Task SearchAsync_PerModalityK_LimitsEachKind()
    {
        var world = await CreateWorldAsync();
        var query = world.Knowledge.TextQuery("anything", world.Vectors.Unit());

        var result = await world.Searcher.SearchAsync(new SearchRequest { Text = query, KImages = 2, KText = 3, Threshold = 0 });

        Assert.Equal(2, result.Hits.Count(h => h.Item.Kind == ItemKind.Image));
        Assert.Equal(3, result.Hits.Count(h => h.Item.Kind == ItemKind.TextChunk));
    }

    [Fact]
    public async Task SearchAsync_OverallK_LimitsTheMergedList()
    {
        var world = await CreateWorldAsync();
        var query = world.Knowledge.TextQuery("anything", world.Vectors.Unit());

        var result = await world.Searcher.SearchAsync(new SearchRequest { Text = query, K = 4, Threshold = 0 });

        Assert.Equal(4, result.Hits.Count);
        Assert.Equal([1, 2, 3, 4], result.Hits.Select(h => h.Rank));
    }

    [Fact]
    public async Task SearchAsync_ExactCopiesStoredInEitherOrder_TheSameCopyComesFirst()
    {
        // One photo stored twice (a folder's copy and a document's copy): equal cosines share a fusion rank, so the order
        // the store returns ties in does not decide which copy comes first, or which one deduplication keeps.
        foreach (var firstStored in new[] { "b-copy", "a-copy" })
        {
            var kb = NewKnowledge();
            var vectors = new SyntheticVectors(kb.Dimension, seed: 5);
            var photo = vectors.Unit();
            var bytes = System.Text.Encoding.UTF8.GetBytes("the same photo");
            kb.AddImage(firstStored, photo, bytes: bytes, document: "first");
            kb.AddImage(firstStored == "b-copy" ? "a-copy" : "b-copy", photo, bytes: bytes, document: "second");
            for (var i = 0; i < 20; i++)
            {
                kb.AddImage($"other-{i:00}", vectors.Unit());
            }

            await kb.CommitAsync();
            var query = kb.ImageQuery("near the photo", vectors.Near(photo, 0.2));

            var result = await kb.Searcher().SearchAsync(new SearchRequest { Image = query, Target = SearchTarget.Images, Threshold = 0, K = 5 });

            // Copies collapse into one hit (dedupe by content hash): the same one whichever was stored first.
            Assert.Equal("a-copy", result.Hits[0].Item.Id);
            Assert.DoesNotContain(result.Hits, static h => h.Item.Id == "b-copy");
        }
    }

    [Fact]
    public async Task SearchAsync_TargetAll_MergesKindsByCalibratedScore()
    {
        var world = await CreateWorldAsync();
        var query = world.Knowledge.TextQuery("mixed", SyntheticVectors.Combine((world.Chunks[1], 1), (world.Images[2], 0.8), (world.Chunks[3], 0.6)));

        var result = await world.Searcher.SearchAsync(new SearchRequest { Text = query, Threshold = 0, Hybrid = false });

        Assert.Equal(["chunk-01", "image-02", "chunk-03"], result.Hits.Take(3).Select(h => h.Item.Id));
        Assert.Equal(result.Hits.OrderByDescending(h => h.CalibratedScore).Select(h => h.Item.Id), result.Hits.Select(h => h.Item.Id));
        Assert.Equal(Enumerable.Range(1, result.Hits.Count), result.Hits.Select(h => h.Rank));
    }

    [Fact]
    public async Task SearchAsync_TextAndImageQuery_FusesBothAndMarksWhichPartFoundEachHit()
    {
        var kb = NewKnowledge();
        var vectors = new SyntheticVectors(kb.Dimension, seed: 9);
        var (both, textOnly, imageOnly) = (vectors.Unit(), vectors.Unit(), vectors.Unit());
        kb.AddImage("both", both);
        kb.AddImage("text-only", textOnly);
        kb.AddImage("image-only", imageOnly);
        for (var i = 0; i < 40; i++)
        {
            kb.AddImage($"other-{i:00}", vectors.Unit());
        }

        await kb.CommitAsync();
        // Each part of the query is near "both" and its own item, and points away from the other part's item.
        var text = kb.TextQuery("both parts", SyntheticVectors.Combine((both, 1), (textOnly, 1.2), (imageOnly, -0.5)));
        var image = kb.ImageQuery("both parts", SyntheticVectors.Combine((both, 1), (imageOnly, 1.2), (textOnly, -0.5)));

        var result = await kb.Searcher().SearchAsync(new SearchRequest { Text = text, Image = image, Threshold = 0.9, Hybrid = false });

        Assert.Equal("both", result.Hits[0].Item.Id);
        Assert.Equal(QueryModality.Fused, result.Hits[0].QueryModality);
        Assert.Equal(QueryModality.Text, result.Hits.Single(h => h.Item.Id == "text-only").QueryModality);
        Assert.Equal(QueryModality.Image, result.Hits.Single(h => h.Item.Id == "image-only").QueryModality);
        Assert.Equal(3, result.Hits.Count);
    }

    [Fact]
    public async Task SearchAsync_DocumentFilter_ReturnsOnlyThoseDocuments()
    {
        var world = await CreateWorldAsync();
        var query = world.Knowledge.TextQuery("anything", world.Vectors.Unit());

        var result = await world.Searcher.SearchAsync(new SearchRequest
        {
            Text = query,
            K = 40,
            Threshold = 0,
            Filter = new SearchFilter { DocumentIds = ["notes-b", "album-a"] },
        });

        Assert.Equal(20, result.Hits.Count);
        Assert.All(result.Hits, h => Assert.Contains(h.Item.DocumentId, new[] { "notes-b", "album-a" }));
    }

    [Fact]
    public async Task SearchAsync_PathPrefixFilter_ReturnsOnlyItemsUnderIt()
    {
        var world = await CreateWorldAsync();
        var query = world.Knowledge.TextQuery("anything", world.Vectors.Unit());

        var result = await world.Searcher.SearchAsync(new SearchRequest { Text = query, K = 40, Threshold = 0, Filter = new SearchFilter { PathPrefix = "/kb/b/" } });

        Assert.Equal(20, result.Hits.Count);
        Assert.All(result.Hits, h => Assert.StartsWith("/kb/b/", h.Item.Provenance.SourcePath, StringComparison.Ordinal));
    }

    [Fact]
    public async Task SearchAsync_TagFilter_ReturnsOnlyItemsWithEveryTag()
    {
        var world = await CreateWorldAsync();
        var query = world.Knowledge.TextQuery("anything", world.Vectors.Unit());

        var result = await world.Searcher.SearchAsync(new SearchRequest { Text = query, K = 40, Threshold = 0, Filter = new SearchFilter { Tags = ["even", "low"] } });

        Assert.Equal(10, result.Hits.Count); // even positions below 10, of both kinds
        Assert.All(result.Hits, h => Assert.Subset(h.Item.Tags.ToHashSet(), new HashSet<string> { "even", "low" }));
    }

    [Fact]
    public async Task SearchAsync_KindFilter_NarrowsTheTarget()
    {
        var world = await CreateWorldAsync();
        var query = world.Knowledge.TextQuery("anything", world.Vectors.Unit());

        var images = await world.Searcher.SearchAsync(new SearchRequest { Text = query, K = 40, Threshold = 0, Filter = new SearchFilter { Kind = ItemKind.Image } });
        var conflicting = await world.Searcher.SearchAsync(new SearchRequest
        {
            Text = query,
            Target = SearchTarget.Text,
            Threshold = 0,
            Filter = new SearchFilter { Kind = ItemKind.Image },
        });

        Assert.Equal(20, images.Hits.Count);
        Assert.All(images.Hits, h => Assert.Equal(ItemKind.Image, h.Item.Kind));
        Assert.Empty(conflicting.Hits);
    }

    [Fact]
    public async Task SearchAsync_Recall_ReachesEveryVectorSearchAndIsValidated()
    {
        var world = await CreateWorldAsync();

        await world.Searcher.SearchAsync(new SearchRequest { Text = "a red fox", Recall = SearchRecall.Exact, Threshold = 0 });
        Assert.NotEmpty(world.Knowledge.Store.VectorRecalls);
        Assert.All(world.Knowledge.Store.VectorRecalls, r => Assert.Equal(1.0, r));

        await Assert.ThrowsAsync<ArgumentOutOfRangeException>(() => world.Searcher.SearchAsync(new SearchRequest { Text = "x", Recall = 0 }));
    }

    [Fact]
    public async Task SearchAsync_AlreadyCancelled_ThrowsWithoutTouchingTheStore()
    {
        var world = await CreateWorldAsync();
        using var cancellation = new CancellationTokenSource();
        await cancellation.CancelAsync();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() =>
            world.Searcher.SearchAsync(new SearchRequest { Text = "anything" }, cancellation.Token));
        Assert.Empty(world.Knowledge.Store.VectorFilters);
    }

    [Fact]
    public async Task SearchAsync_CancelledWhileEmbedding_Throws()
    {
        var world = await CreateWorldAsync();
        using var cancellation = new CancellationTokenSource();
        world.Knowledge.TextGenerator.BeforeEmbed = async token =>
        {
            await cancellation.CancelAsync();
            await Task.Delay(Timeout.Infinite, token);
        };

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() =>
            world.Searcher.SearchAsync(new SearchRequest { Text = "anything" }, cancellation.Token));
        Assert.Empty(world.Knowledge.Store.VectorFilters);
    }

    [Fact]
    public async Task SearchAsync_ImageQueryThatCannotBeEmbedded_ThrowsItsErrorBeforeAnyVectorSearch()
    {
        var world = await CreateWorldAsync();
        world.Knowledge.ImageGenerator.BeforeEmbed = _ => throw new InvalidDataException("not an image");

        var error = await Assert.ThrowsAsync<InvalidDataException>(() => world.Searcher.SearchAsync(
            new SearchRequest { Text = "basil", Image = world.Knowledge.ImageQuery("q", world.Vectors.Near(world.Chunks[1], 0.3)) }));

        Assert.Equal("not an image", error.Message);
        Assert.Empty(world.Knowledge.Store.VectorFilters);
    }

    [Fact]
    public async Task SearchAsync_CancelledWhileSearchingTheStore_Throws()
    {
        var world = await CreateWorldAsync();
        using var cancellation = new CancellationTokenSource();
        world.Knowledge.Store.BeforeSearch = async token =>
        {
            await cancellation.CancelAsync();
            await Task.Delay(Timeout.Infinite, token);
        };

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() =>
            world.Searcher.SearchAsync(new SearchRequest { Text = "anything" }, cancellation.Token));
    }

    [Fact]
    public async Task SearchAsync_EmptyKnowledgeBase_ReturnsNoHits()
    {
        var kb = NewKnowledge();

        var result = await kb.Searcher().SearchAsync(new SearchRequest { Text = "anything", Image = kb.ImageQuery("q", new SyntheticVectors(kb.Dimension, 1).Unit()) });

        Assert.Empty(result.Hits);
    }

    [Fact]
    public async Task SearchAsync_GeneratorOfAnotherDimension_ThrowsEmbeddingSpaceMismatch()
    {
        var kb = NewKnowledge();
        var searcher = new KnowledgeSearcher(kb.Store, new FakeTextEmbeddingGenerator(16), kb.ImageGenerator);

        var error = await Assert.ThrowsAsync<EmbeddingSpaceMismatchException>(() => searcher.SearchAsync(new SearchRequest { Text = "anything" }));
        Assert.Contains("16", error.Message, StringComparison.Ordinal);
        Assert.Contains("synthetic-64", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task SearchAsync_RequestWithoutQuery_ThrowsArgumentException()
    {
        var kb = NewKnowledge();

        var error = await Assert.ThrowsAsync<ArgumentException>(() => kb.Searcher().SearchAsync(new SearchRequest { Text = "  " }));
        Assert.Contains("SearchRequest.Text", error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(0, null, "request.K")]
    [InlineData(1, -1.0, "request.Threshold")]
    [InlineData(1, 1.5, "request.Threshold")]
    public async Task SearchAsync_SettingOutOfRange_ThrowsNamingIt(int k, double? threshold, string name)
    {
        var kb = NewKnowledge();

        var error = await Assert.ThrowsAsync<ArgumentOutOfRangeException>(() =>
            kb.Searcher().SearchAsync(new SearchRequest { Text = "anything", K = k, Threshold = threshold }));
        Assert.Equal(name, error.ParamName);
    }

    [Fact]
    public void Constructor_InvalidOptions_ThrowsNamingTheSetting()
    {
        var kb = NewKnowledge();

        var error = Assert.Throws<ArgumentOutOfRangeException>(() => kb.Searcher(new KnowledgeSearcherOptions { OverFetchFactor = 0 }));
        Assert.Contains("OverFetchFactor", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task SearchAsync_Result_ReportsTimings()
    {
        var world = await CreateWorldAsync();

        var result = await world.Searcher.SearchAsync(new SearchRequest { Text = "anything", Threshold = 0 });

        Assert.True(result.EmbedTime >= TimeSpan.Zero && result.SearchTime > TimeSpan.Zero && result.CalibrationTime > TimeSpan.Zero);
        Assert.Equal(result.EmbedTime + result.CalibrationTime + result.SearchTime, result.TotalTime);
    }

    [Fact]
    public async Task SearchAsync_ConcurrentSearches_AllSucceedWithTheSameAnswer()
    {
        var world = await CreateWorldAsync();
        var query = world.Knowledge.TextQuery("parallel", world.Vectors.Near(world.Images[12], 0.5));
        var request = new SearchRequest { Text = query, Threshold = 0 };

        var results = await Task.WhenAll(Enumerable.Range(0, 16).Select(_ => Task.Run(() => world.Searcher.SearchAsync(request))));

        var expected = results[0].Hits.Select(h => h.Item.Id).ToArray();
        Assert.All(results, r => Assert.Equal(expected, r.Hits.Select(h => h.Item.Id)));
        Assert.Equal(2, world.Knowledge.Store.SampleCalls); // one calibration, shared
    }

    private async Task<World> CreateWorldAsync()
    {
        var kb = NewKnowledge();
        var vectors = new SyntheticVectors(kb.Dimension, seed: 11);
        var descriptionNoise = new SyntheticVectors(kb.Dimension, seed: 12);
        var chunks = new float[20][];
        var images = new float[20][];
        var contents = new DataContent[20];
        for (var i = 0; i < 20; i++)
        {
            var half = i < 10 ? "a" : "b";
            string[] tags = i < 10 ? [i % 2 == 0 ? "even" : "odd", "low"] : [i % 2 == 0 ? "even" : "odd"];
            chunks[i] = vectors.Unit();
            kb.AddText($"chunk-{i:00}", $"note {i} {ChunkWords[i]}", chunks[i], document: $"notes-{half}", path: $"/kb/{half}/notes.md", tags: tags);
            images[i] = vectors.Unit();
            contents[i] = kb.AddImage($"image-{i:00}", images[i], description: $"picture {i} {ImageWords[i]}", document: $"album-{half}",
                path: $"/kb/{half}/image-{i:00}.png", tags: tags);
            // A model that knows its images embeds each description near its own image (the calibrator measures this).
            kb.TextGenerator.Set($"picture {i} {ImageWords[i]}", descriptionNoise.Near(images[i], 0.3));
        }

        await kb.CommitAsync();
        return new World(kb, kb.Searcher(), vectors, chunks, images, contents);
    }

    private sealed record World(TestKnowledge Knowledge, KnowledgeSearcher Searcher, SyntheticVectors Vectors, float[][] Chunks, float[][] Images,
        DataContent[] ImageContents)
    {
        /// <summary>Index of the chunk least similar to <paramref name="vector"/>.</summary>
        public int FarthestChunk(float[] vector) =>
            Enumerable.Range(0, Chunks.Length).MinBy(i => SyntheticVectors.Cosine(Chunks[i], vector));
    }
}

/// <summary>The searcher suite over the in-memory test store.</summary>
public sealed class InMemoryKnowledgeSearcherTests : KnowledgeSearcherTests
{
    protected override IKnowledgeStore CreateStore(EmbeddingSpace space) => new InMemoryKnowledgeStore(space);
}
