using Gantry.Core.Anomalies;

namespace Gantry.Core.Tests.Anomalies;

public sealed class AnomalyDetectorTests
{
    private static readonly DateTimeOffset Start = new(2024, 3, 1, 0, 0, 0, TimeSpan.Zero);
    private static readonly TimeSpan Step = TimeSpan.FromMinutes(5);

    [Fact]
    public void Update_SpikeInANoisyFlatSeries_AlarmsOnTheSpikeOnly()
    {
        var values = Noise(seed: 1, count: 2_000, mean: 50, sd: 1);
        values[1_500] = 80;

        var scores = Run(values);

        Assert.True(scores[1_500] >= AnomalyDetector.AlarmScore, $"spike scored {scores[1_500]}");
        Assert.Equal([1_500], Alarms(scores));
    }

    [Fact]
    public void Update_SteadyNoisySeries_StaysLow()
    {
        var scores = Run(Noise(seed: 2, count: 20_000, mean: 10, sd: 3));

        // A value in a range never seen (a 3.5-sigma draw) is rare by the series' own history and may raise
        // an alarm: about one per 2,000 samples of Gaussian noise (docs/anomalies.md). Everything else stays low.
        var sorted = scores.Order().ToArray();
        Assert.True(Alarms(scores).Length <= 10, $"{Alarms(scores).Length} alarms");
        Assert.True(scores.Average() < 0.1, $"mean score {scores.Average()}");
        Assert.True(sorted[(int)(0.99 * sorted.Length)] < 0.25, $"99th percentile {sorted[(int)(0.99 * sorted.Length)]}");
    }

    [Fact]
    public void Update_LevelShift_OneAlarmThenRest()
    {
        var values = Noise(seed: 3, count: 3_000, mean: 20, sd: 0.5);
        for (var i = 2_000; i < values.Length; i++)
        {
            values[i] += 15;
        }

        var scores = Run(values);

        // One alarm at the step (the new level is rare, then familiar); none before it.
        var alarms = Alarms(scores);
        Assert.Equal(2_000, Assert.Single(alarms));
    }

    [Theory]
    [InlineData(100)]
    [InlineData(101)]
    [InlineData(102)]
    public void Update_DailyCycleGoesFlat_AlarmsOnTheHourOfDayOnly(int seed)
    {
        // A daily cycle, 50 ± 30, with noise; on day 10 it stays at its mean from 11:00 to 17:00. Every value
        // is in the usual range and no step is unusual: only the hour of the day tells.
        var detector = new AnomalyDetector();
        var random = new Random(seed);
        var alarms = new List<(int Day, int Hour, AnomalyTerm Term)>();
        for (var i = 0; i < 14 * 288; i++)
        {
            var time = Start + (Step * i);
            var day = i / 288;
            var hours = time.TimeOfDay.TotalHours;
            var flat = day == 10 && hours is >= 11 and < 17;
            var value = (flat ? 50 : 50 + (30 * Math.Sin(2 * Math.PI * hours / 24))) + Gaussian(random);
            if (detector.Update(time, value) >= AnomalyDetector.AlarmScore)
            {
                alarms.Add((day, time.Hour, detector.LastTerm));
            }
        }

        var alarm = Assert.Single(alarms);
        Assert.Equal(10, alarm.Day);
        Assert.InRange(alarm.Hour, 11, 16);
        Assert.Equal(AnomalyTerm.HourOfDay, alarm.Term);
    }

    [Fact]
    public void Update_AnyInput_ScoresWithinUnitInterval()
    {
        var detector = new AnomalyDetector();
        var random = new Random(5);
        double[] extremes = [0, -1e300, 1e300, double.Epsilon, -double.Epsilon, double.MaxValue, double.MinValue, 1e-300];
        for (var i = 0; i < 50_000; i++)
        {
            var value = i % 997 == 0 ? extremes[(i / 997) % extremes.Length] : (random.NextDouble() - 0.5) * Math.Pow(10, random.Next(-5, 6));
            var score = detector.Update(Start + (Step * i), value);

            Assert.True(double.IsFinite(score) && score is >= 0 and <= 1, $"sample {i} ({value}) scored {score}");
        }

        // The extremes left the detector working: a steady series afterwards settles, a spike on it alarms.
        var scores = new double[3_000];
        for (var i = 0; i < scores.Length; i++)
        {
            scores[i] = detector.Update(Start + (Step * (50_000 + i)), i == 2_900 ? 1e6 : 5 + (0.001 * (i % 7)));
        }

        Assert.True(scores[2_900] >= AnomalyDetector.AlarmScore, $"spike scored {scores[2_900]}");
    }

    [Fact]
    public void Update_NonFiniteValue_ScoresZeroAndIsNotLearnt()
    {
        var detector = new AnomalyDetector();
        detector.Update(Start, 1);

        Assert.Equal(0, detector.Update(Start + Step, double.NaN));
        Assert.Equal(0, detector.Update(Start + Step, double.PositiveInfinity));
        Assert.Equal(1, detector.Samples);
    }

    [Fact]
    public void Update_WarmUp_ScoresZero()
    {
        var values = Noise(seed: 6, count: (int)AnomalyDetector.WarmUpSamples, mean: 0, sd: 1);
        values[^1] = 1e6;

        Assert.All(Run(values), s => Assert.Equal(0, s));
    }

    [Fact]
    public void Update_SameSeries_SameScores()
    {
        var values = Noise(seed: 7, count: 5_000, mean: 3, sd: 2);
        values[4_000] = 40;

        Assert.Equal(Run(values), Run(values));
    }

    [Fact]
    public void Constructor_OneSmallObject()
    {
        _ = new AnomalyDetector();
        var before = GC.GetAllocatedBytesForCurrentThread();
        var detector = new AnomalyDetector();
        var size = GC.GetAllocatedBytesForCurrentThread() - before;

        GC.KeepAlive(detector);
        Assert.InRange(size, 1, 2048);
    }

    [Fact]
    public void Update_LongStream_AllocatesNothing()
    {
        var detector = new AnomalyDetector();
        var random = new Random(8);

        // Through the warm-up first, then every sample a new level: the histogram must evict, not grow.
        for (var i = 0; i < 1_000; i++)
        {
            detector.Update(Start + (Step * i), random.NextDouble());
        }

        var before = GC.GetAllocatedBytesForCurrentThread();
        for (var i = 1_000; i < 201_000; i++)
        {
            detector.Update(Start + (Step * i), i % 3 == 0 ? i : random.NextDouble());
        }

        Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - before);
    }

    [Theory]
    [InlineData(0.0, 0.5)]
    [InlineData(1.0, 0.15865525393145707)]
    [InlineData(2.0, 0.022750131948179195)]
    [InlineData(3.0, 0.0013498980316301035)]
    [InlineData(4.753424308822899, 1e-6)]
    [InlineData(7.034484316910156, 1e-12)]
    [InlineData(20.0, 2.7536241186062337e-89)]
    public void Log10Q_KnownTails_AreAccurate(double z, double tail) =>
        Assert.Equal(Math.Log10(tail), NormalTail.Log10Q(z), 1e-6 * Math.Max(1, Math.Abs(Math.Log10(tail))));

    private static double[] Run(double[] values)
    {
        var detector = new AnomalyDetector();
        var scores = new double[values.Length];
        for (var i = 0; i < values.Length; i++)
        {
            scores[i] = detector.Update(Start + (Step * i), values[i]);
        }

        return scores;
    }

    private static int[] Alarms(double[] scores) =>
        [.. Enumerable.Range(0, scores.Length).Where(i => scores[i] >= AnomalyDetector.AlarmScore)];

    /// <summary>Gaussian noise from a seeded generator.</summary>
    private static double[] Noise(int seed, int count, double mean, double sd)
    {
        var random = new Random(seed);
        var values = new double[count];
        for (var i = 0; i < count; i++)
        {
            values[i] = mean + (sd * Gaussian(random));
        }

        return values;
    }

    /// <summary>A standard normal draw (Box-Muller).</summary>
    private static double Gaussian(Random random) =>
        Math.Sqrt(-2 * Math.Log(1 - random.NextDouble())) * Math.Cos(2 * Math.PI * random.NextDouble());
}
