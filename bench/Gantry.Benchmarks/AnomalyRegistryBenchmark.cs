using BenchmarkDotNet.Attributes;
using Gantry.Core.Protocol;
using Gantry.Server.Anomalies;
using Gantry.Server.Telemetry;

namespace Gantry.Benchmarks;

/// <summary>
/// <c>AnomalyRegistry.Observe</c>: the server's anomaly scoring as the telemetry writer feeds it, 8-GPU node
/// summaries every 5 s (12 a minute per node, so each minute roll, detector update, peer comparison and score
/// snapshot is in the figure, shared over the minute's samples). One operation is one series sample: a summary
/// carries <see cref="SeriesPerSummary"/> (node power and CPU, each GPU's temperature and power; the GPUs'
/// utilisation, summed for the peers, is in the cost too). <see cref="Nodes"/> 1: one node's state in cache;
/// 1,000: a fleet's, mostly out of cache. The detectors are past their warm-up.
/// </summary>
[MemoryDiagnoser]
public class AnomalyRegistryBenchmark
{
    public const int Gpus = 8;

    public const int SeriesPerSummary = 2 + (2 * Gpus);

    public const int SummariesPerInvoke = 12_000;

    private static readonly DateTimeOffset Start = new(2026, 3, 1, 0, 0, 0, TimeSpan.Zero);

    private AnomalyRegistry _registry = null!;
    private string[] _ids = null!;
    private NodeSummary[] _summaries = null!;
    private long _round;

    [Params(1, 1000)]
    public int Nodes { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        IReadOnlyList<GpuInventory> inventory = [.. Enumerable.Range(0, Gpus).Select(i => new GpuInventory { Index = i, Uuid = $"GPU-{i}", Model = "NVIDIA H100 80GB HBM3", MemoryBytes = 80L << 30 })];
        _registry = new AnomalyRegistry(_ => inventory);
        _ids = [.. Enumerable.Range(0, Nodes).Select(i => $"n{i:x12}")];

        // 64 distinct summaries, busy GPUs with noisy readings, cycled through.
        var random = new Random(11);
        _summaries = new NodeSummary[64];
        for (var s = 0; s < _summaries.Length; s++)
        {
            _summaries[s] = new NodeSummary
            {
                SampledAt = Start,
                CpuUtilization = 0.2 + (0.1 * random.NextDouble()),
                PowerWatts = 6000 + (200 * random.NextDouble()),
                Gpus = [.. Enumerable.Range(0, Gpus).Select(i => new GpuSummary
                {
                    Index = i,
                    Utilization = 0.85 + (0.1 * random.NextDouble()),
                    TemperatureCelsius = 60 + (4 * random.NextDouble()),
                    PowerWatts = 620 + (60 * random.NextDouble()),
                })],
            };
        }

        // Past the detectors' warm-up: one summary a minute per node for 200 minutes.
        for (var minute = 0; minute < 200; minute++)
        {
            for (var n = 0; n < _ids.Length; n++)
            {
                _registry.Observe(new TelemetryItem(_ids[n], Start.AddMinutes(minute), _summaries[(minute + n) % _summaries.Length]));
            }
        }

        _round = 200 * 12;
    }

    [Benchmark(OperationsPerInvoke = SummariesPerInvoke * SeriesPerSummary)]
    public void Observe()
    {
        var rounds = SummariesPerInvoke / _ids.Length;
        for (var r = 0; r < rounds; r++)
        {
            var at = Start.AddTicks(_round * 5 * TimeSpan.TicksPerSecond);
            for (var n = 0; n < _ids.Length; n++)
            {
                _registry.Observe(new TelemetryItem(_ids[n], at, _summaries[(int)((_round + n) % _summaries.Length)]));
            }

            _round++;
        }
    }
}
