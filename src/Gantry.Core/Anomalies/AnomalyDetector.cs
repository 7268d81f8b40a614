namespace Gantry.Core.Anomalies;

/// <summary>The term of <see cref="AnomalyDetector"/> that gave a sample its score.</summary>
public enum AnomalyTerm
{
    /// <summary>No term judged the sample (warming up, or nothing above its usual level).</summary>
    None,

    /// <summary>The value is in a range the series has rarely or never taken (over the last few samples).</summary>
    RareValue,

    /// <summary>The mix of values over the last few dozen samples is unusual (rare values keep coming).</summary>
    RareMix,

    /// <summary>The step from the previous sample is unusually large.</summary>
    Jump,

    /// <summary>The value is unusual for this hour of the day.</summary>
    HourOfDay,
}

/// <summary>
/// A streaming anomaly detector for one telemetry series. Fed one (timestamp, value) at a time, oldest
/// first, it returns an anomaly score in [0, 1] for that sample from that sample and earlier ones only.
/// <para>
/// Four terms each measure a surprise per sample: how rare the value's range is in the series' decaying
/// value histogram (averaged over about the last 6 samples, and over about the last 50), how large the step
/// from the previous sample is against the usual step, and how far the value is from what is usual at this
/// hour of the day. Each term compares its recent average with that average's own long-run mean and
/// standard deviation; the score is −log10 of the normal tail probability of the most surprised term,
/// divided by 12 (0.5 is a one-in-a-million surprise, 1 one in 10^12 or rarer). After a score of
/// <see cref="AlarmScore"/> or more the next <see cref="Parameters.RestSamples"/> scores are scaled by
/// 0.49, below the alarm level, so that one anomaly raises one alarm. The first <see cref="WarmUpSamples"/> samples score 0.
/// </para>
/// <para>
/// One parameter set (<see cref="Parameters"/>) serves every series; it is measured on the Numenta Anomaly
/// Benchmark (docs/anomalies.md). Its time constants are in samples, tuned for a sample every few minutes
/// (NAB's series are mostly 5-minute). State is fixed (one object of under 2 KiB, arrays inline); <see cref="Update"/>
/// allocates nothing. Not thread-safe: one caller per series.
/// </para>
/// </summary>
public sealed class AnomalyDetector
{
    /// <summary>The score at or above which a sample is an alarm, and after which the detector rests.</summary>
    public const double AlarmScore = 0.5;

    /// <summary>Samples that score 0 at the start while the detector learns the series.</summary>
    public const long WarmUpSamples = Parameters.WarmUpSamples;

    private const long TicksPerHour = TimeSpan.TicksPerHour;

    private ValueHistogram _histogram;
    private HourOfDayProfile _hours;
    private SurpriseTerm _rareValue;
    private SurpriseTerm _rareMix;
    private SurpriseTerm _jump;
    private SurpriseTerm _hourOfDay;
    private double _min = double.PositiveInfinity;
    private double _max = double.NegativeInfinity;
    private double _mean;
    private double _deviation;
    private double _step;
    private double _previous;
    private long _restUntil;

    /// <summary>Samples seen (non-finite values are not counted).</summary>
    public long Samples { get; private set; }

    /// <summary>The term that gave the last sample its score.</summary>
    public AnomalyTerm LastTerm { get; private set; }

    /// <summary>
    /// Scores <paramref name="value"/> at <paramref name="timestamp"/> and learns it. Samples should come
    /// in time order; a NaN or infinite value scores 0 and is not learnt, and values are clamped to ±1e150.
    /// </summary>
    public double Update(DateTimeOffset timestamp, double value)
    {
        LastTerm = AnomalyTerm.None;
        if (!double.IsFinite(value))
        {
            return 0;
        }

        // Beyond this the differences of values could overflow; such a value is still far out of range.
        value = Math.Clamp(value, -Parameters.LargestValue, Parameters.LargestValue);
        Samples++;
        if (Samples == 1)
        {
            _mean = value;
            _previous = value;
        }

        // The usual level, spread and step (the floor keeps a flat series from dividing by zero).
        var floor = Math.Max(Math.Abs(_mean) * 1e-4, 1e-9);
        var jump = Math.Abs(value - _previous) / Math.Max(_step, floor);
        var weight = Math.Max(Parameters.LevelWeight, 1.0 / Samples);
        _mean += weight * (value - _mean);
        _deviation += weight * (Math.Abs(value - _mean) - _deviation);
        _step += weight * (Math.Abs(value - _previous) - _step);
        _previous = value;

        var hour = (int)((timestamp.UtcTicks / TicksPerHour) % 24);
        var hourDistance = _hours.Observe(hour, value, Math.Max(_deviation * Parameters.HourDeviationFloor, floor), Parameters.HourMinimumSamples, Parameters.HourWeight);

        if (Samples <= Parameters.WarmUpSamples)
        {
            // Warming up: the bins are fixed from this stretch's range; the step and hour terms learn already.
            _min = Math.Min(_min, value);
            _max = Math.Max(_max, value);
            if (Samples == Parameters.WarmUpSamples)
            {
                _histogram.Start(_min, _max, Parameters.Bins);
            }

            _jump.Observe(jump, Parameters.RecentWeight, Parameters.HistoryWeight, long.MaxValue);
            if (hourDistance is { } learning)
            {
                _hourOfDay.Observe(Math.Log(1 + learning), Parameters.RecentWeight, Parameters.HistoryWeight, long.MaxValue);
            }

            return 0;
        }

        var rarity = _histogram.Observe(value, Parameters.Prior, Parameters.HistogramGrowth);
        var best = 0.0;
        Consider(ref best, _rareValue.Observe(rarity, Parameters.RecentWeight, Parameters.HistoryWeight, Parameters.MinimumHistory) * Parameters.RareValueSensitivity, AnomalyTerm.RareValue);
        Consider(ref best, _rareMix.Observe(rarity, Parameters.MixWeight, Parameters.HistoryWeight, Parameters.MinimumHistory) * Parameters.RareMixSensitivity, AnomalyTerm.RareMix);
        Consider(ref best, _jump.Observe(jump, Parameters.RecentWeight, Parameters.HistoryWeight, Parameters.MinimumHistory), AnomalyTerm.Jump);
        if (hourDistance is { } distance)
        {
            // ln(1 + distance): an hour's values have heavy tails (a spike is many deviations away).
            Consider(ref best, _hourOfDay.Observe(Math.Log(1 + distance), Parameters.RecentWeight, Parameters.HistoryWeight, Parameters.MinimumHistory) * Parameters.HourOfDaySensitivity, AnomalyTerm.HourOfDay);
        }

        var score = best > 0 ? Math.Clamp(-NormalTail.Log10Q(best) / 12, 0, 1) : 0;
        if (Samples <= _restUntil)
        {
            score *= Parameters.RestFactor;
        }
        else if (score >= AlarmScore)
        {
            _restUntil = Samples + Parameters.RestSamples;
        }

        return score;
    }

    private void Consider(ref double best, double z, AnomalyTerm term)
    {
        if (z > best)
        {
            best = z;
            LastTerm = term;
        }
    }

    /// <summary>
    /// The one parameter set, for every series. Chosen on the Numenta Anomaly Benchmark's files
    /// (bench/nab.sh; docs/anomalies.md); time constants are in samples.
    /// </summary>
    internal static class Parameters
    {
        /// <summary>Values are clamped to ± this, so that differences of values stay finite.</summary>
        public const double LargestValue = 1e150;

        /// <summary>Samples that score 0 while the detector learns; the histogram's bins span their range.</summary>
        public const long WarmUpSamples = 150;

        /// <summary>Bins across the warm-up range (values beyond it get bins of the same width).</summary>
        public const int Bins = 20;

        /// <summary>Samples after which a histogram count has halved: 6,000 (about 3 weeks at 5 minutes).</summary>
        public const double HistogramHalfLife = 6000;

        /// <summary>Per-sample growth of the histogram's sample weight: 2^(1/half-life).</summary>
        public static readonly double HistogramGrowth = Math.Pow(2, 1 / HistogramHalfLife);

        /// <summary>Samples' worth of doubt in a rarity (a bin never seen is rare, not impossible).</summary>
        public const double Prior = 0.5;

        /// <summary>Weight of a sample in the short recent averages (about the last 6 samples).</summary>
        public const double RecentWeight = 0.3;

        /// <summary>Weight of a sample in the rare-mix average (about the last 50 samples).</summary>
        public const double MixWeight = 0.02;

        /// <summary>Weight of an average in a term's long-run mean and variance (about the last 2,000).</summary>
        public const double HistoryWeight = 0.0005;

        /// <summary>Averages a term sees before it judges.</summary>
        public const long MinimumHistory = 100;

        /// <summary>Weight of a sample in the usual level, spread and step (about the last 500).</summary>
        public const double LevelWeight = 0.002;

        /// <summary>Weight of a sample in its hour's mean and deviation (about the last 10 samples of that hour).</summary>
        public const double HourWeight = 0.1;

        /// <summary>Samples an hour needs before the hour term judges it.</summary>
        public const int HourMinimumSamples = 20;

        /// <summary>An hour's deviation counts as at least this share of the series' overall deviation.</summary>
        public const double HourDeviationFloor = 0.1;

        /// <summary>Multipliers of the terms' standard scores (the step term's is 1): how readily each alarms.</summary>
        public const double RareValueSensitivity = 0.9;

        /// <inheritdoc cref="RareValueSensitivity"/>
        public const double RareMixSensitivity = 1.25;

        /// <inheritdoc cref="RareValueSensitivity"/>
        public const double HourOfDaySensitivity = 0.9;

        /// <summary>Samples after an alarm whose scores are scaled by <see cref="RestFactor"/> (NAB counts only a window's first detection and charges for the others).</summary>
        public const long RestSamples = 200;

        /// <summary>Scale of scores while resting: below half, so that no score reaches the alarm level then.</summary>
        public const double RestFactor = 0.49;
    }
}
