namespace Mmrag.Storage.Providers.Tests;

public sealed class KeywordCandidatePlanTests
{
    [Fact]
    public void Create_AllWordsFitTheBudget_EveryWordIsWholeAndNothingIsPruned()
    {
        var plan = KeywordCandidatePlan.Create(["red", "lighthouse", "cliff"], [40, 3, 12], budget: 100);

        Assert.False(plan.IsPruned);
        Assert.Equal(["lighthouse", "cliff", "red"], plan.Whole);
        Assert.Empty(plan.Capped);
        Assert.Equal(0, plan.CappedRows);
        Assert.Empty(plan.Dropped);
        Assert.Empty(plan.PairedWords);
    }

    [Fact]
    public void Create_FrequentWords_RarestAreWholeAndTheNextRarestFillsTheRestOfTheBudget()
    {
        var plan = KeywordCandidatePlan.Create(["the", "zebra", "crossing", "of"], [900, 4, 60, 950], budget: 100);

        Assert.True(plan.IsPruned);
        Assert.Equal(["zebra", "crossing"], plan.Whole);
        Assert.Equal(["the", "of"], plan.Capped); // both past the budget: which is rarer is unknown, so they share it
        Assert.Equal(36, plan.CappedRows);
        Assert.Empty(plan.Dropped);
        Assert.Equal(["the", "of"], plan.PairedWords);
    }

    [Fact]
    public void Create_NextRarestWordCountedExactly_IsCappedAloneAndMoreFrequentOnesAreDropped()
    {
        var plan = KeywordCandidatePlan.Create(["common", "rare", "middle"], [500, 10, 45], budget: 50);

        Assert.Equal(["rare"], plan.Whole);
        Assert.Equal(["middle"], plan.Capped);
        Assert.Equal(40, plan.CappedRows);
        Assert.Equal(["common"], plan.Dropped);
        Assert.Equal(["middle", "common"], plan.PairedWords);
    }

    [Fact]
    public void Create_OnlyFrequentWords_TheyShareTheWholeBudgetSoMatchesAreStillFound()
    {
        var plan = KeywordCandidatePlan.Create(["a", "b", "c"], [101, 101, 101], budget: 100);

        Assert.Empty(plan.Whole);
        Assert.Equal(["a", "b", "c"], plan.Capped);
        Assert.Equal(100, plan.CappedRows);
        Assert.Empty(plan.Dropped);
    }

    [Fact]
    public void Create_WordMatchingNothing_IsNeitherSearchedNorDropped()
    {
        var plan = KeywordCandidatePlan.Create(["gone", "here"], [0, 5], budget: 10);

        Assert.False(plan.IsPruned);
        Assert.Equal(["here"], plan.Whole);
        Assert.Empty(plan.Dropped);
        Assert.Empty(KeywordCandidatePlan.Create(["gone"], [0], budget: 10).Whole);
    }

    [Fact]
    public void Create_WholeWordsUseTheBudgetExactly_TheRestAreDroppedWithNoCappedRows()
    {
        var plan = KeywordCandidatePlan.Create(["x", "y", "z"], [60, 40, 300], budget: 100);

        Assert.Equal(["y", "x"], plan.Whole);
        Assert.Empty(plan.Capped);
        Assert.Equal(0, plan.CappedRows);
        Assert.Equal(["z"], plan.Dropped);
        Assert.Empty(plan.PairedWords);
        Assert.True(plan.IsPruned);
    }

    [Fact]
    public void Create_ManyFrequentWords_PairedWordsAreTheRarestFiveAndWordsPastTheBudgetKeepQueryOrder()
    {
        string[] words = ["w0", "w1", "w2", "w3", "w4", "w5", "w6"];
        var plan = KeywordCandidatePlan.Create(words, [90, 80, 700, 600, 500, 400, 300], budget: 100);

        Assert.Equal(["w1"], plan.Whole);
        Assert.Equal(["w0"], plan.Capped);
        Assert.Equal(20, plan.CappedRows);
        Assert.Equal(["w2", "w3", "w4", "w5", "w6"], plan.Dropped); // counted only up to the budget, so not ordered by count
        Assert.Equal(["w0", "w2", "w3", "w4", "w5"], plan.PairedWords);
        Assert.Equal(KeywordCandidatePlan.MaxPairedWords, plan.PairedWords.Count);
    }

    [Fact]
    public void Create_CountsAtTheLargestBudget_DoNotOverflow()
    {
        var plan = KeywordCandidatePlan.Create(["a", "b"], [int.MaxValue, 3], budget: int.MaxValue);

        Assert.Equal(["b"], plan.Whole);
        Assert.Equal(["a"], plan.Capped);
        Assert.Equal(int.MaxValue - 3, plan.CappedRows);
    }

    [Fact]
    public void Create_InvalidArguments_Throw()
    {
        Assert.Throws<ArgumentException>(() => KeywordCandidatePlan.Create(["a", "b"], [1], 10));
        Assert.Throws<ArgumentException>(() => KeywordCandidatePlan.Create(["a"], [-1], 10));
        Assert.Throws<ArgumentOutOfRangeException>(() => KeywordCandidatePlan.Create(["a"], [1], 0));
        Assert.Throws<ArgumentNullException>(() => KeywordCandidatePlan.Create(null!, [1], 10));
    }
}
