using Mmrag.Knowledge;

namespace Mmrag.Storage.Providers.Tests;

public sealed class StoreInputTests
{
    private static readonly EmbeddingSpace Space = new("test", 4);

    [Fact]
    public void UnitVector_WithinToleranceOfUnitLength_IsCopiedBitForBit()
    {
        float[] vector = [0.5f * 1.00003f, -0.5f * 1.00003f, 0.5f * 1.00003f, 0.5f * 1.00003f];

        float[] unit = StoreInput.UnitVector(vector, Space, "The item", "items");

        Assert.Equal(vector, unit);
        Assert.NotSame(vector, unit);
    }

    [Fact]
    public void UnitVector_FarFromUnitLength_IsRescaled()
    {
        float[] unit = StoreInput.UnitVector([2f, 0f, 0f, 2f], Space, "The item", "items");

        Assert.Equal(1f, unit[0] * unit[0] + unit[3] * unit[3], 1e-6f);
        Assert.Equal(unit[0], unit[3]);
    }

    [Fact]
    public void UnitVector_WrongDimensionOrZero_ThrowsNamingTheVector()
    {
        var wrong = Assert.Throws<ArgumentException>(() => StoreInput.UnitVector([1f, 0f], Space, "The query", "query"));
        Assert.Contains("The query", wrong.Message, StringComparison.Ordinal);
        Assert.Throws<ArgumentException>(() => StoreInput.UnitVector(new float[4], Space, "The query", "query"));
    }
}
