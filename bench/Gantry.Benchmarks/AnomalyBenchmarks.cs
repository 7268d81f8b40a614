using BenchmarkDotNet.Attributes;
using Gantry.Core.Anomalies;

namespace Gantry.Benchmarks;

/// <summary>
/// A telemetry-like series for the anomaly benchmarks: a daily cycle sampled every 5 minutes, noise, a
/// spike now and then and a level shift, so that every term of the detector is at work (the histogram
/// evicts, the hour profile is learnt, alarms and rests happen).
/// </summary>
internal static class AnomalySeries
{
    public const int Length = 8192;

    public static readonly DateTimeOffset Start = new(2026, 3, 1, 0, 0, 0, TimeSpan.Zero);

    public static readonly TimeSpan Step = TimeSpan.FromMinutes(5);

    public static double[] Create(int seed)
    {
        var random = new Random(seed);
        var values = new double[Length];
        for (var i = 0; i < values.Length; i++)
        {
            var hours = i * Step.TotalHours;
            var level = i > Length / 2 ? 20 : 0;
            var spike = random.Next(500) == 0 ? 60 : 0;
            values[i] = 50 + level + (25 * Math.Sin(2 * Math.PI * hours / 24)) + (3 * (random.NextDouble() - 0.5)) + spike;
        }

        return values;
    }

    /// <summary>A detector that has seen <paramref name="samples"/> samples of <paramref name="values"/>: warmed up, every term judging.</summary>
    public static AnomalyDetector Warm(double[] values, int samples)
    {
        var detector = new AnomalyDetector();
        for (var i = 0; i < samples; i++)
        {
            detector.Update(Start + (Step * i), values[i % values.Length]);
        }

        return detector;
    }
}

/// <summary>
/// <c>AnomalyDetector.Update</c> on one series: the cost of one sample with the detector's state in cache.
/// One operation is one sample (each invocation feeds <see cref="SamplesPerInvoke"/>).
/// </summary>
[MemoryDiagnoser]
public class AnomalyDetectorBenchmark
{
    public const int SamplesPerInvoke = 1024;

    private double[] _values = null!;
    private AnomalyDetector _detector = null!;
    private int _next;

    [GlobalSetup]
    public void Setup()
    {
        _values = AnomalySeries.Create(seed: 1);
        _detector = AnomalySeries.Warm(_values, 2_000);
        _next = 2_000;
    }

    [Benchmark(OperationsPerInvoke = SamplesPerInvoke)]
    public double Update()
    {
        var sum = 0.0;
        for (var i = 0; i < SamplesPerInvoke; i++)
        {
            sum += _detector.Update(AnomalySeries.Start + (AnomalySeries.Step * _next), _values[_next % AnomalySeries.Length]);
            _next++;
        }

        return sum;
    }
}

/// <summary>
/// <c>AnomalyDetector.Update</c> across <see cref="Series"/> series, one detector each, every series
/// getting its next sample in turn, as a server would feed one detector per telemetry series: the state
/// of each (under 2 KiB) is mostly out of cache. One operation is one sample.
/// </summary>
[MemoryDiagnoser]
public class AnomalyFleetBenchmark
{
    public const int Series = 10_000;

    private double[][] _values = null!;
    private AnomalyDetector[] _detectors = null!;
    private int _next;

    [GlobalSetup]
    public void Setup()
    {
        // Eight distinct series shared round-robin: the detectors' states differ, the input arrays stay small.
        var distinct = Enumerable.Range(0, 8).Select(AnomalySeries.Create).ToArray();
        _values = new double[Series][];
        _detectors = new AnomalyDetector[Series];
        for (var s = 0; s < Series; s++)
        {
            _values[s] = distinct[s % distinct.Length];
            _detectors[s] = AnomalySeries.Warm(_values[s], 2_000);
        }

        _next = 2_000;
    }

    [Benchmark(OperationsPerInvoke = Series)]
    public double UpdateEverySeries()
    {
        var time = AnomalySeries.Start + (AnomalySeries.Step * _next);
        var index = _next % AnomalySeries.Length;
        var sum = 0.0;
        for (var s = 0; s < _detectors.Length; s++)
        {
            sum += _detectors[s].Update(time, _values[s][index]);
        }

        _next++;
        return sum;
    }
}
