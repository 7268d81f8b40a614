using BenchmarkDotNet.Attributes;
using Gantry.Core.Protocol;
using Gantry.Server.Jobs;
using Gantry.Server.Services;

namespace Gantry.Benchmarks;

/// <summary>
/// <c>ServiceMetricsRegistry.Observe</c>: one heartbeat's service reports (a node with <see cref="PerNode"/>
/// vLLM services, each with its counters and its attempt's energy) taken into a registry of
/// <see cref="Services"/> live services, every heartbeat bringing new reads (the rates, tokens per joule and a
/// history point are figured each time). One operation is one heartbeat.
/// </summary>
[MemoryDiagnoser]
public class ServiceMetricsBenchmark
{
    public const int PerNode = 4;

    private static readonly DateTimeOffset Start = new(2026, 12, 3, 0, 0, 0, TimeSpan.Zero);

    private readonly ManualClock _clock = new();
    private ServiceMetricsRegistry _registry = null!;
    private string[] _nodes = null!;
    private ServiceAttemptView[][] _views = null!;
    private AttemptEnergyReport[][] _energy = null!;
    private long _round;

    [Params(4, 1000)]
    public int Services { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        _registry = new ServiceMetricsRegistry(_clock);
        var nodes = Math.Max(1, Services / PerNode);
        _nodes = [.. Enumerable.Range(0, nodes).Select(i => $"n{i:x12}")];
        _views = new ServiceAttemptView[nodes][];
        _energy = new AttemptEnergyReport[nodes][];
        var spec = new ServiceSpec { Port = 8000, MetricsPath = "/metrics", Preset = "vllm" };
        for (var n = 0; n < nodes; n++)
        {
            _views[n] = new ServiceAttemptView[PerNode];
            _energy[n] = new AttemptEnergyReport[PerNode];
            for (var s = 0; s < PerNode; s++)
            {
                var job = (n * PerNode) + s + 1;
                _views[n][s] = new ServiceAttemptView(new ServiceReport { JobId = job, Attempt = 1, Health = ServiceHealth.Healthy }, "svc", spec, Start);
                _energy[n][s] = new AttemptEnergyReport { JobId = job, Attempt = 1, Epoch = 1, Since = Start, MeasuredAt = Start, GpuEnergyJoules = 0 };
            }
        }

        for (var i = 0; i < 3; i++)
        {
            Heartbeat();
        }
    }

    [Benchmark]
    public void Heartbeat()
    {
        var round = ++_round;
        var node = (int)(round % _nodes.Length);
        var at = Start.AddSeconds(round * 5);
        _clock.Now = at;
        var views = _views[node];
        var energy = _energy[node];
        for (var s = 0; s < views.Length; s++)
        {
            // New totals each heartbeat, as an agent sends them (records: one new report per service).
            views[s] = views[s] with { Report = views[s].Report with { ScrapedAt = at, GeneratedTokensTotal = round * 600, PromptTokensTotal = round * 150, RequestsRunning = 3, RequestsWaiting = 1 } };
            energy[s].MeasuredAt = at;
            energy[s].GpuEnergyJoules = round * 1500;
        }

        _registry.Observe(_nodes[node], views, energy);
    }

    private sealed class ManualClock : TimeProvider
    {
        public DateTimeOffset Now { get; set; } = Start;

        public override DateTimeOffset GetUtcNow() => Now;
    }
}
