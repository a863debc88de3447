using Mmrag.Clip.Inference;

namespace Mmrag.Clip.Tests.Inference;

/// <summary>The bound on the pixels a batch decodes at once across threads.</summary>
public sealed class PixelBudgetTests
{
    [Fact]
    public async Task Take_TwoDecodesOverTheBudgetTogether_TheSecondWaitsForTheFirst()
    {
        var budget = new ClipModel.PixelBudget(100);
        budget.Take(60);

        var second = Task.Run(() => budget.Take(60));
        await Task.Delay(200);
        Assert.False(second.IsCompleted);

        budget.Give(60);
        await second.WaitAsync(TimeSpan.FromSeconds(10));
    }

    [Fact]
    public async Task Take_DecodesThatFitTogether_DoNotWait()
    {
        var budget = new ClipModel.PixelBudget(100);

        budget.Take(40);
        await Task.Run(() => budget.Take(60)).WaitAsync(TimeSpan.FromSeconds(10));
    }

    [Fact]
    public async Task Take_OneImageOverTheWholeBudget_GoesAloneWithoutWaitingForever()
    {
        var budget = new ClipModel.PixelBudget(100);

        await Task.Run(() => budget.Take(500)).WaitAsync(TimeSpan.FromSeconds(10));
    }
}
