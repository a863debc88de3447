using Mmrag.Knowledge;

namespace Mmrag.Storage.ContractTests;

/// <content>
/// The contract of <see cref="IRelevanceFeedbackStore"/>: every store of this suite keeps relevance feedback.
/// </content>
public abstract partial class KnowledgeStoreContractTests
{
    /// <summary>The space of the feedback tests' knowledge bases.</summary>
    protected static readonly EmbeddingSpace FeedbackSpace = new("feedback-model", 16);

    private static IRelevanceFeedbackStore Feedback(IKnowledgeStore store) =>
        store as IRelevanceFeedbackStore ?? throw new InvalidOperationException($"{store.GetType().Name} does not implement IRelevanceFeedbackStore.");

    /// <summary>A judgement of the feedback space's model, with a seeded unit vector.</summary>
    protected static RelevanceJudgement Judgement(string id, int seed, string itemId = "doc#0", bool relevant = true,
        FeedbackQueryModality modality = FeedbackQueryModality.Text, string source = "api", DateTimeOffset? at = null, string? modelId = null,
        float[]? vector = null) =>
        new(id, modality, modality == FeedbackQueryModality.Text ? $"query {seed}" : null, modality == FeedbackQueryModality.Image ? $"query-{seed}.png" : null,
            vector ?? ContractData.UnitVector(new Random(seed), FeedbackSpace.Dimension), itemId, relevant, modelId ?? FeedbackSpace.ModelId, source,
            at ?? ContractData.Time.AddMinutes(seed));

    private static void AssertSameJudgement(RelevanceJudgement expected, RelevanceJudgement actual)
    {
        Assert.Equal(expected.Id, actual.Id);
        Assert.Equal(expected.Modality, actual.Modality);
        Assert.Equal(expected.QueryText, actual.QueryText);
        Assert.Equal(expected.QueryImage, actual.QueryImage);
        ContractData.AssertVectorsClose(expected.QueryVector.Span, actual.QueryVector.Span);
        Assert.Equal(expected.ItemId, actual.ItemId);
        Assert.Equal(expected.Relevant, actual.Relevant);
        Assert.Equal(expected.ModelId, actual.ModelId);
        Assert.Equal(expected.Source, actual.Source);
        Assert.Equal(expected.CreatedAt, actual.CreatedAt);
    }

    [Fact]
    public async Task Feedback_AddJudgement_TextAndImageJudgements_ListedFieldForFieldOldestFirst()
    {
        IRelevanceFeedbackStore feedback = Feedback(await NewStoreAsync(FeedbackSpace));
        RelevanceJudgement later = Judgement("later", 2, relevant: false, modality: FeedbackQueryModality.Image, source: "page");
        RelevanceJudgement earlier = Judgement("earlier", 1, itemId: "other#3", source: "file");
        await feedback.AddJudgementAsync(later);
        await feedback.AddJudgementAsync(earlier);

        IReadOnlyList<RelevanceJudgement> listed = await feedback.ListJudgementsAsync();

        Assert.Equal(2, listed.Count);
        AssertSameJudgement(earlier, listed[0]);
        AssertSameJudgement(later, listed[1]);
    }

    [Fact]
    public async Task Feedback_AddJudgement_SameInstant_ListedInTheOrderAdded()
    {
        IRelevanceFeedbackStore feedback = Feedback(await NewStoreAsync(FeedbackSpace));
        foreach (string id in new[] { "c", "a", "b" })
        {
            await feedback.AddJudgementAsync(Judgement(id, 1, at: ContractData.Time));
        }

        Assert.Equal(["c", "a", "b"], (await feedback.ListJudgementsAsync()).Select(j => j.Id));
    }

    [Fact]
    public async Task Feedback_AddJudgement_SameId_ReplacesTheJudgement()
    {
        IRelevanceFeedbackStore feedback = Feedback(await NewStoreAsync(FeedbackSpace));
        await feedback.AddJudgementAsync(Judgement("j", 1, relevant: true));
        RelevanceJudgement changed = Judgement("j", 7, itemId: "doc#9", relevant: false);
        await feedback.AddJudgementAsync(changed);

        RelevanceJudgement only = Assert.Single(await feedback.ListJudgementsAsync());
        AssertSameJudgement(changed, only);
    }

    [Fact]
    public async Task Feedback_ListJudgementsPage_ReturnsThatSliceOfTheFullListWithoutVectorsAndTheTotal()
    {
        IRelevanceFeedbackStore feedback = Feedback(await NewStoreAsync(FeedbackSpace));
        for (int i = 0; i < 7; i++)
        {
            await feedback.AddJudgementAsync(Judgement($"j{i}", 7 - i, modelId: i == 3 ? "other-model" : null));
        }

        IReadOnlyList<RelevanceJudgement> all = await feedback.ListJudgementsAsync();
        JudgementPage middle = await feedback.ListJudgementsPageAsync(2, 3);
        JudgementPage past = await feedback.ListJudgementsPageAsync(6, 5);
        JudgementPage beyond = await feedback.ListJudgementsPageAsync(50, 5);
        JudgementPage ofModel = await feedback.ListJudgementsPageAsync(0, 10, FeedbackSpace.ModelId);

        Assert.Equal(all.Skip(2).Take(3).Select(j => j.Id), middle.Judgements.Select(j => j.Id));
        Assert.Equal(7, middle.Total);
        Assert.All(middle.Judgements, j => Assert.True(j.QueryVector.IsEmpty));
        Assert.Equal(all[2].QueryText, middle.Judgements[0].QueryText);
        Assert.Equal(all[2].CreatedAt, middle.Judgements[0].CreatedAt);
        Assert.Equal([all[6].Id], past.Judgements.Select(j => j.Id));
        Assert.Empty(beyond.Judgements);
        Assert.Equal(7, beyond.Total);
        Assert.Equal(6, ofModel.Total);
        Assert.DoesNotContain(ofModel.Judgements, j => j.Id == "j3");
        await Assert.ThrowsAsync<ArgumentOutOfRangeException>(() => feedback.ListJudgementsPageAsync(-1, 5));
        await Assert.ThrowsAsync<ArgumentOutOfRangeException>(() => feedback.ListJudgementsPageAsync(0, 0));
    }

    [Fact]
    public async Task Feedback_ListJudgements_ByModelId_OnlyThatModelsJudgements()
    {
        IRelevanceFeedbackStore feedback = Feedback(await NewStoreAsync(FeedbackSpace));
        await feedback.AddJudgementAsync(Judgement("mine", 1));
        // A judgement kept from another model (before a re-embed) has that model's dimension.
        await feedback.AddJudgementAsync(Judgement("old", 2, modelId: "older-model", vector: ContractData.UnitVector(new Random(2), 8)));

        Assert.Equal(["mine"], (await feedback.ListJudgementsAsync(FeedbackSpace.ModelId)).Select(j => j.Id));
        RelevanceJudgement old = Assert.Single(await feedback.ListJudgementsAsync("older-model"));
        Assert.Equal(8, old.QueryVector.Length);
        Assert.Equal(2, (await feedback.ListJudgementsAsync()).Count);
        Assert.Empty(await feedback.ListJudgementsAsync("no-such-model"));
    }

    [Fact]
    public async Task Feedback_RemoveJudgement_KnownAndUnknownIds_RemovesOnlyThatOneAndSaysWhetherItWasThere()
    {
        IRelevanceFeedbackStore feedback = Feedback(await NewStoreAsync(FeedbackSpace));
        await feedback.AddJudgementAsync(Judgement("keep", 1));
        await feedback.AddJudgementAsync(Judgement("drop", 2));

        Assert.True(await feedback.RemoveJudgementAsync("drop"));
        Assert.False(await feedback.RemoveJudgementAsync("drop"));
        Assert.False(await feedback.RemoveJudgementAsync("never-there"));
        Assert.Equal(["keep"], (await feedback.ListJudgementsAsync()).Select(j => j.Id));
    }

    [Fact]
    public async Task Feedback_ClearJudgements_SomeStored_RemovesAllAndCountsThem()
    {
        IRelevanceFeedbackStore feedback = Feedback(await NewStoreAsync(FeedbackSpace));
        for (int i = 0; i < 3; i++)
        {
            await feedback.AddJudgementAsync(Judgement($"j{i}", i));
        }

        Assert.Equal(3, await feedback.ClearJudgementsAsync());
        Assert.Empty(await feedback.ListJudgementsAsync());
        Assert.Equal(0, await feedback.ClearJudgementsAsync());
    }

    [Fact]
    public async Task Feedback_Judgements_AfterReopen_AreStillThere()
    {
        IKnowledgeStore store = await NewStoreAsync(FeedbackSpace);
        RelevanceJudgement judgement = Judgement("kept", 4, modality: FeedbackQueryModality.Image);
        await Feedback(store).AddJudgementAsync(judgement);
        IKnowledgeStore reopened = await ReopenAsync(store);

        AssertSameJudgement(judgement, Assert.Single(await Feedback(reopened).ListJudgementsAsync()));
    }

    [Fact]
    public async Task Feedback_Judgement_ItsItemDeleted_StaysListed()
    {
        IKnowledgeStore store = await NewStoreAsync(FeedbackSpace);
        DocumentRecord document = ContractData.Document("doc");
        await store.UpsertDocumentAsync(document, [ContractData.Item(document, 0, ContractData.UnitVector(new Random(1), FeedbackSpace.Dimension), "text")]);
        await Feedback(store).AddJudgementAsync(Judgement("j", 1, itemId: "doc#0"));

        Assert.True(await store.DeleteDocumentAsync(document.Id));

        Assert.Equal("doc#0", Assert.Single(await Feedback(store).ListJudgementsAsync()).ItemId);
    }

    [Fact]
    public async Task Feedback_AddJudgement_VectorNotUnitLength_StoredAtUnitLength()
    {
        IRelevanceFeedbackStore feedback = Feedback(await NewStoreAsync(FeedbackSpace));
        float[] vector = ContractData.UnitVector(new Random(3), FeedbackSpace.Dimension);
        float[] scaled = [.. vector.Select(v => v * 3)];
        await feedback.AddJudgementAsync(Judgement("scaled", 3, vector: scaled));

        RelevanceJudgement stored = Assert.Single(await feedback.ListJudgementsAsync());
        ContractData.AssertVectorsClose(vector, stored.QueryVector.Span);
    }

    public static TheoryData<string> InvalidJudgements => ["wrong-dimension", "nan", "zero", "empty", "no-id", "no-item", "no-model", "bad-source", "bad-modality"];

    [Theory]
    [MemberData(nameof(InvalidJudgements))]
    public async Task Feedback_AddJudgement_Invalid_ThrowsArgumentExceptionAndStoresNothing(string what)
    {
        IRelevanceFeedbackStore feedback = Feedback(await NewStoreAsync(FeedbackSpace));
        float[] nan = ContractData.UnitVector(new Random(1), FeedbackSpace.Dimension);
        nan[3] = float.NaN;
        RelevanceJudgement valid = Judgement("j", 1);
        RelevanceJudgement invalid = what switch
        {
            "wrong-dimension" => valid with { QueryVector = ContractData.UnitVector(new Random(1), FeedbackSpace.Dimension + 1) },
            "nan" => valid with { QueryVector = nan },
            "zero" => valid with { QueryVector = new float[FeedbackSpace.Dimension] },
            "empty" => valid with { QueryVector = ReadOnlyMemory<float>.Empty },
            "no-id" => valid with { Id = "" },
            "no-item" => valid with { ItemId = "" },
            "no-model" => valid with { ModelId = "" },
            "bad-source" => valid with { Source = "elsewhere" },
            "bad-modality" => valid with { Modality = (FeedbackQueryModality)7 },
            _ => throw new ArgumentOutOfRangeException(nameof(what)),
        };

        await Assert.ThrowsAnyAsync<ArgumentException>(() => feedback.AddJudgementAsync(invalid));
        Assert.Empty(await feedback.ListJudgementsAsync());
    }

    [Fact]
    public async Task Feedback_ListJudgementsPage_WhileJudgementsAreAdded_TotalCountsTheSameJudgementsAsThePage()
    {
        IRelevanceFeedbackStore feedback = Feedback(await NewStoreAsync(FeedbackSpace));
        const int adds = 300;
        int done = 0;
        Task writer = Task.Run(async () =>
        {
            try
            {
                for (int i = 0; i < adds; i++)
                {
                    await feedback.AddJudgementAsync(Judgement($"j{i:000}", i));
                }
            }
            finally
            {
                Volatile.Write(ref done, 1);
            }
        });

        // A page that holds every judgement: its total must be its length, as of one moment.
        var disagreements = new List<string>();
        while (Volatile.Read(ref done) == 0)
        {
            JudgementPage page = await feedback.ListJudgementsPageAsync(0, 10 * adds);
            if (page.Total != page.Judgements.Count)
            {
                disagreements.Add($"{page.Judgements.Count} listed, total {page.Total}");
            }
        }

        await writer;
        Assert.Empty(disagreements);
        JudgementPage last = await feedback.ListJudgementsPageAsync(adds - 1, 10);
        Assert.Equal(adds, last.Total);
        Assert.Equal($"j{adds - 1:000}", Assert.Single(last.Judgements).Id);
    }
}
