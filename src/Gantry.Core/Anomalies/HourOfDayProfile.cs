using System.Runtime.CompilerServices;

namespace Gantry.Core.Anomalies;

/// <summary>
/// What a series usually does at each hour of the day (UTC): per hour, an exponentially weighted mean of
/// the values seen in that hour and of their absolute deviation from it. Fixed size; no allocation.
/// </summary>
internal struct HourOfDayProfile
{
    private const int Hours = 24;

    private HourValues _means;
    private HourValues _deviations;
    private HourCounts _counts;

    /// <summary>
    /// How far <paramref name="value"/> is from what is usual at <paramref name="hour"/>, in that hour's
    /// deviations (at least <paramref name="floor"/>); null until the hour has <paramref name="minimumSamples"/>
    /// samples. Then learns the value.
    /// </summary>
    public double? Observe(int hour, double value, double floor, int minimumSamples, double weight)
    {
        Span<double> means = _means;
        Span<double> deviations = _deviations;
        Span<int> counts = _counts;
        double? distance = counts[hour] >= minimumSamples
            ? Math.Abs(value - means[hour]) / Math.Max(deviations[hour], floor)
            : null;

        // Plain averages for an hour's first samples, then exponential weights.
        var w = Math.Max(weight, 1.0 / (counts[hour] + 1));
        if (counts[hour] == 0)
        {
            means[hour] = value;
        }

        deviations[hour] += w * (Math.Abs(value - means[hour]) - deviations[hour]);
        means[hour] += w * (value - means[hour]);
        if (counts[hour] < int.MaxValue)
        {
            counts[hour]++;
        }

        return distance;
    }

    [InlineArray(Hours)]
    private struct HourValues
    {
        private double _element;
    }

    [InlineArray(Hours)]
    private struct HourCounts
    {
        private int _element;
    }
}
