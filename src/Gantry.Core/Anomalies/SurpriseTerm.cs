namespace Gantry.Core.Anomalies;

/// <summary>
/// One term of the detector: a surprise measured on every sample, averaged over the last few samples
/// (an exponentially weighted mean), and compared with that average's own long-run mean and standard
/// deviation, so that each series is judged against its own history. Fixed size; no allocation.
/// </summary>
internal struct SurpriseTerm
{
    private double _recent;
    private double _mean;
    private double _variance;
    private long _count;

    /// <summary>
    /// Adds this sample's surprise and returns how many long-run standard deviations the recent average
    /// is above its long-run mean (0 until <paramref name="minimumHistory"/> averages have been seen).
    /// The long-run statistics learn from this average after it is judged.
    /// </summary>
    /// <param name="surprise">This sample's surprise (0 or more).</param>
    /// <param name="recentWeight">Weight of this sample in the recent average (0.3: about the last 6 samples).</param>
    /// <param name="historyWeight">Weight of this average in the long-run statistics once warmed up (0.0005: about the last 2,000).</param>
    /// <param name="minimumHistory">Averages seen before the term may judge.</param>
    public double Observe(double surprise, double recentWeight, double historyWeight, long minimumHistory)
    {
        _recent += recentWeight * (surprise - _recent);
        var z = _count >= minimumHistory ? (_recent - _mean) / (Math.Sqrt(_variance) + 1e-6) : 0;

        // Exponentially weighted mean and variance; plain averages until there are 1/historyWeight samples.
        _count++;
        var weight = Math.Max(historyWeight, 1.0 / _count);
        var delta = _recent - _mean;
        _mean += weight * delta;
        _variance = (1 - weight) * (_variance + (weight * delta * delta));
        return z;
    }
}
