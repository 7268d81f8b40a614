using Gantry.Core.Anomalies;

namespace Gantry.Core.Tests.Anomalies;

public sealed class ValueHistogramTests
{
    private static readonly double Growth = Math.Pow(2, 1 / 6000.0);

    [Fact]
    public void Observe_NeverSeenBin_IsRarerThanACommonOne()
    {
        var histogram = Started();
        for (var i = 0; i < 500; i++)
        {
            histogram.Observe(5.2, 0.5, Growth);
            histogram.Observe(i % 10 == 0 ? 7.5 : 5.4, 0.5, Growth);
        }

        var common = histogram.Observe(5.3, 0.5, Growth);
        var uncommon = histogram.Observe(7.7, 0.5, Growth);
        var unseen = histogram.Observe(1_000, 0.5, Growth);

        Assert.True(common < 0.1, $"common {common}");
        Assert.True(uncommon > common, $"uncommon {uncommon}");
        Assert.True(unseen > uncommon && unseen > Math.Log(1_000), $"unseen {unseen}");
    }

    [Fact]
    public void Observe_MoreBinsThanSlots_EvictsTheLeastUsedAndKeepsTheCommonOnes()
    {
        var histogram = Started();
        for (var i = 0; i < 1_000; i++)
        {
            histogram.Observe(5, 0.5, Growth);
        }

        // Ten thousand distinct levels, far more than the table's slots.
        for (var i = 0; i < 10_000; i++)
        {
            histogram.Observe(100 + i, 0.5, Growth);
            histogram.Observe(5, 0.5, Growth);
        }

        Assert.True(histogram.Observe(5, 0.5, Growth) < 1, "the common bin was evicted");
        Assert.True(histogram.Observe(99_999, 0.5, Growth) > 5);
    }

    [Fact]
    public void Observe_ManySamples_RescalesWithoutOverflow()
    {
        var histogram = Started();

        // The sample weight grows by 2^(1/6000) per sample; 10^100 is passed after about 2 million.
        for (var i = 0; i < 3_000_000; i++)
        {
            var surprise = histogram.Observe(i % 2, 0.5, Growth);
            Assert.True(double.IsFinite(surprise) && surprise >= 0);
        }
    }

    private static ValueHistogram Started()
    {
        var histogram = default(ValueHistogram);
        histogram.Start(0, 10, 20);
        return histogram;
    }
}
