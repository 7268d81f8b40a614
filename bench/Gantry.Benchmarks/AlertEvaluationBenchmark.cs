using System.Globalization;
using BenchmarkDotNet.Attributes;
using Gantry.Core.Protocol;
using Gantry.Server.Alerts;
using Gantry.Server.Alerts.Delivery;
using Gantry.Server.Alerts.Evaluation;
using Gantry.Server.Alerts.Rules;
using Gantry.Server.Alerts.Silences;
using Microsoft.Extensions.Logging.Abstractions;

namespace Gantry.Benchmarks;

/// <summary>
/// One evaluation of the built-in alert rules over a fleet of <see cref="Nodes"/> nodes of 8 GPUs,
/// each with a heartbeat summary (one GPU in 100 hot, so some alerts are pending or firing): what the
/// server does every <c>--alert-interval</c> (15 s). It walks the fleet once per evaluation; this says
/// how long that takes.
/// </summary>
[MemoryDiagnoser]
public class AlertEvaluationBenchmark
{
    [Params(1_000, 10_000)]
    public int Nodes { get; set; }

    private ControlPlaneFixture _fixture = null!;
    private AlertEngine _engine = null!;

    [GlobalSetup]
    public void Setup()
    {
        _fixture = ControlPlaneFixture.Create();
        var inventory = Enumerable.Range(0, 8).Select(i => new GpuInventory { Index = i, Uuid = $"GPU-{i}", Model = "NVIDIA H100 80GB HBM3", MemoryBytes = 80L << 30 }).ToList();
        for (var n = 0; n < Nodes; n++)
        {
            var id = _fixture.Register(string.Create(CultureInfo.InvariantCulture, $"node-{n:D5}"), inventory, "z0");
            var summary = new NodeSummary
            {
                SampledAt = DateTimeOffset.UtcNow,
                CpuUtilization = 0.3,
                PowerWatts = 5_000,
                PowerEnvelopeWatts = 6_000,
                Gpus = [.. inventory.Select(g => new GpuSummary { Index = g.Index, Utilization = 0.9, TemperatureCelsius = ((n * 8) + g.Index) % 100 == 0 ? 90 : 60, PowerWatts = 600, EnergyJoules = 1e9 })],
            };
            _fixture.Nodes.Heartbeat(id, new HeartbeatRequest { Summary = summary });
        }

        var state = _fixture.Store.Load();
        var rules = new AlertRuleBook(_fixture.Store, state, _fixture.Options, TimeProvider.System, NullLogger<AlertRuleBook>.Instance);
        var silences = new SilenceBook(_fixture.Store, state, TimeProvider.System);
        var series = new FleetSeries(_fixture.Nodes, _fixture.Health, _fixture.Jobs.Outcomes, TimeProvider.System);
        _engine = new AlertEngine(rules, silences, series, new NoSink(), _fixture.Options, TimeProvider.System, NullLogger<AlertEngine>.Instance);
        _engine.Evaluate();
    }

    [GlobalCleanup]
    public void Cleanup() => _fixture.Dispose();

    /// <summary>Every built-in rule over the whole fleet, once.</summary>
    [Benchmark]
    public void EvaluateBuiltIns() => _engine.Evaluate();

    private sealed class NoSink : IAlertSink
    {
        public void Publish(IReadOnlyList<AlertNotice> notices, DateTimeOffset now)
        {
        }
    }
}
