using Mmrag.Knowledge;
using Mmrag.Retrieval.Scoring;
using Mmrag.Retrieval.Search;

namespace Mmrag.Retrieval.Tests.Scoring;

public sealed class ScoreCalibrationTests
{
    [Theory]
    [InlineData(2.0, 0.5)]
    [InlineData(4.0, 0.952574)]
    [InlineData(0.0, 0.047426)]
    public void Logistic_DefaultConstants_MapZScoresAsDocumented(double z, double expected) =>
        Assert.Equal(expected, ScoreCalibration.Logistic(z, 1.5, 2.0), 6);

    [Fact]
    public void Calibrate_CosineTwoDeviationsAboveThePairsMean_ScoresOneHalf()
    {
        var calibration = Create(textToImage: new CosineDistribution(0.2, 0.03, 1000, false), imageToImage: new CosineDistribution(0.6, 0.1, 1000, false));

        Assert.Equal(0.5, calibration.Calibrate(QueryModality.Text, ItemKind.Image, 0.26), 9);
        Assert.Equal(0.5, calibration.Calibrate(QueryModality.Image, ItemKind.Image, 0.8), 9);
        Assert.True(calibration.Calibrate(QueryModality.Text, ItemKind.Image, 0.32) > calibration.Calibrate(QueryModality.Image, ItemKind.Image, 0.9));
    }

    [Fact]
    public void Calibrate_FusedQueryModality_Throws()
    {
        var calibration = Create();

        Assert.Throws<ArgumentOutOfRangeException>(() => calibration.Calibrate(QueryModality.Fused, ItemKind.Image, 0.5));
    }

    private static ScoreCalibration Create(CosineDistribution? textToImage = null, CosineDistribution? imageToImage = null)
    {
        var prior = new CosineDistribution(0, 0.1, 0, true);
        return new ScoreCalibration("model", 10, 10, DateTimeOffset.UnixEpoch, prior, textToImage ?? prior, imageToImage ?? prior, textToImage ?? prior, 1.5, 2.0);
    }
}
