using Gantry.Core.Anomalies;
using Gantry.Core.Protocol;
using Gantry.Server.Anomalies;
using Gantry.Server.Telemetry;
using Xunit.Abstractions;

namespace Gantry.Server.Tests.Anomalies;

/// <summary><see cref="AnomalyRegistry"/> fed summaries directly, stamped by their own times (no clock).</summary>
public sealed class AnomalyRegistryTests(ITestOutputHelper output)
{
    internal static readonly DateTimeOffset Start = new(2026, 3, 1, 0, 0, 0, TimeSpan.Zero);

    private const string Model = "NVIDIA H100 80GB HBM3";

    /// <summary>A summary of a node with one GPU per (utilisation, temperature, power).</summary>
    internal static NodeSummary Summary(DateTimeOffset at, double cpu, double watts, params (double Utilization, double Temperature, double Power)[] gpus) => new()
    {
        SampledAt = at,
        CpuUtilization = cpu,
        PowerWatts = watts,
        Gpus = [.. gpus.Select((g, i) => new GpuSummary { Index = i, Utilization = g.Utilization, TemperatureCelsius = g.Temperature, PowerWatts = g.Power })],
    };

    internal static IReadOnlyList<GpuInventory> Inventory(int gpus, Func<int, string>? model = null) =>
        [.. Enumerable.Range(0, gpus).Select(i => new GpuInventory { Index = i, Uuid = $"GPU-{i}", Model = model?.Invoke(i) ?? Model, MemoryBytes = 80L << 30 })];

    private static AnomalyRegistry Registry(int gpus, Func<int, string>? model = null)
    {
        var inventory = Inventory(gpus, model);
        return new AnomalyRegistry(_ => inventory);
    }

    private static double? ScoreOf(AnomalyRegistry registry, string node, int? gpu, string metric) =>
        registry.Scores(node, 0).FirstOrDefault(s => s.Gpu == gpu && s.Metric == metric)?.Score;

    [Fact]
    public void Observe_SamplesEvery5Seconds_DetectorGetsEachMinutesMeanOnceTheMinuteEnds()
    {
        var registry = Registry(gpus: 0);
        var reference = new AnomalyDetector();
        var random = new Random(7);
        var expected = new List<double>();
        for (var minute = 0; minute < 400; minute++)
        {
            var sum = 0.0;
            for (var s = 0; s < 12; s++)
            {
                var cpu = 0.5 + (0.1 * Math.Sin(minute / 30.0)) + (0.02 * random.NextDouble()) + (minute == 300 ? 0.4 : 0);
                sum += cpu;
                var at = Start.AddMinutes(minute).AddSeconds(5 * s);
                registry.Observe(new TelemetryItem("n1", at, Summary(at, cpu, 500)));

                // Until a sample of the next minute comes, the minute is not scored: no look-ahead.
                var scored = registry.Scores("n1", 0).FirstOrDefault(x => x.Metric == "cpu_utilization");
                Assert.Equal(minute == 0 ? null : Start.AddMinutes(minute - 1), scored?.Minute);
            }

            expected.Add(reference.Update(Start.AddMinutes(minute), sum / 12));
            if (minute > 0)
            {
                Assert.Equal(expected[minute - 1], ScoreOf(registry, "n1", null, "cpu_utilization"));
            }
        }

        Assert.Equal(400, reference.Samples);
        Assert.Contains(expected, e => e >= AnomalyDetector.AlarmScore);
    }

    [Theory]
    [InlineData(AnomalyHistory.All, "gpu:peer_power_watts gpu:peer_temperature_celsius gpu:power_watts gpu:temperature_celsius node:cpu_utilization node:power_watts")]
    [InlineData(AnomalyHistory.Nodes, "gpu:peer_power_watts gpu:peer_temperature_celsius node:cpu_utilization node:power_watts")]
    [InlineData(AnomalyHistory.Off, "gpu:peer_power_watts gpu:peer_temperature_celsius")]
    public void History_ChoosesTheSeriesScoredAgainstTheirOwnHistory_PeersAlways(AnomalyHistory history, string expected)
    {
        var inventory = Inventory(3);
        var registry = new AnomalyRegistry(_ => inventory, history);
        for (var minute = 0; minute < 2; minute++)
        {
            var at = Start.AddMinutes(minute);
            registry.Observe(new TelemetryItem("n1", at, Summary(at, 0.3, 2000, (0.9, 60, 600), (0.9, 61, 610), (0.9, 62, 620))));
        }

        var scored = registry.Scores("n1", 0).Select(s => (s.Gpu is null ? "node:" : "gpu:") + s.Metric).Distinct().Order(StringComparer.Ordinal);
        Assert.Equal(expected, string.Join(' ', scored));
    }

    [Fact]
    public void History_Auto_EverySeriesOfTheFirstNodesThenNodeSeriesOnly()
    {
        var inventory = Inventory(3);
        var registry = new AnomalyRegistry(_ => inventory, AnomalyHistory.Auto);
        for (var minute = 0; minute < 2; minute++)
        {
            var at = Start.AddMinutes(minute);
            for (var n = 0; n <= AnomalyRegistry.AutoAllNodes; n++)
            {
                registry.Observe(new TelemetryItem($"n{n}", at, Summary(at, 0.3, 2000, (0.9, 60, 600), (0.9, 61, 610), (0.9, 62, 620))));
            }
        }

        Assert.Contains(registry.Scores("n0", 0), s => s.Gpu == 0 && s.Metric == "temperature_celsius");
        var last = registry.Scores($"n{AnomalyRegistry.AutoAllNodes}", 0);
        Assert.DoesNotContain(last, s => s.Gpu is not null && !s.Metric.StartsWith("peer_", StringComparison.Ordinal));
        Assert.Contains(last, s => s.Gpu is null && s.Metric == "power_watts");
    }

    [Fact]
    public void Scores_WarmingUp_Zero()
    {
        var registry = Registry(gpus: 1);
        var random = new Random(1);
        for (var minute = 0; minute <= AnomalyDetector.WarmUpSamples; minute++)
        {
            var at = Start.AddMinutes(minute);

            // Wild values: still 0 while the detector learns.
            registry.Observe(new TelemetryItem("n1", at, Summary(at, random.NextDouble(), 100 + (900 * random.NextDouble()), (0.5, 30 + (60 * random.NextDouble()), 300))));
            if (minute > 0)
            {
                Assert.All(registry.Scores("n1", 0).Where(s => !s.Metric.StartsWith("peer_", StringComparison.Ordinal)), s => Assert.Equal(0, s.Score));
            }
        }

        Assert.Equal(4, registry.Scores("n1", 0).Count);
        Assert.Empty(registry.Scores("n1", double.Epsilon));
    }

    [Fact]
    public void Scores_StepAfterLongStableSeries_Alarm()
    {
        var registry = Registry(gpus: 1);
        var random = new Random(3);
        var before = 0.0;
        var after = 0.0;
        string? term = null;
        for (var minute = 0; minute < 620; minute++)
        {
            // A GPU steady at 62 °C for 10 hours, then 15 °C hotter (a fan failed).
            var temperature = (minute < 600 ? 62 : 77) + (random.NextDouble() - 0.5);
            for (var s = 0; s < 12; s++)
            {
                var at = Start.AddMinutes(minute).AddSeconds(5 * s);
                registry.Observe(new TelemetryItem("n1", at, Summary(at, 0.3, 800, (0.9, temperature, 650))));
            }

            if (minute == 0)
            {
                continue;
            }

            var score = registry.Scores("n1", 0).Single(x => x.Gpu == 0 && x.Metric == "temperature_celsius");
            if (minute < 601)
            {
                before = Math.Max(before, score.Score);
            }
            else if (score.Score > after)
            {
                after = score.Score;
                term = score.Term;
            }
        }

        output.WriteLine($"highest before the step {before:0.000}, after {after:0.000} ({term})");
        Assert.True(before < AnomalyDetector.AlarmScore, $"no alarm on the steady series, got {before}");
        Assert.True(after >= AnomalyDetector.AlarmScore, $"the step is an alarm, got {after}");
        Assert.NotNull(term);
    }

    [Fact]
    public void PeerScore_GpuHotterThanSevenSiblings_AlarmWithinMinutesSiblingsStayLow()
    {
        var registry = Registry(gpus: 8);
        var random = new Random(5);
        var hot = new List<double>();
        var siblings = 0.0;
        for (var minute = 0; minute < 10; minute++)
        {
            for (var s = 0; s < 12; s++)
            {
                var at = Start.AddMinutes(minute).AddSeconds(5 * s);
                var gpus = Enumerable.Range(0, 8)
                    .Select(i => (0.9 + (0.02 * random.NextDouble()), 60 + (i == 3 ? 12 : 0) + random.NextDouble() - 0.5, 650 + (10 * random.NextDouble())))
                    .ToArray();
                registry.Observe(new TelemetryItem("n1", at, Summary(at, 0.3, 6000, gpus)));
            }

            if (minute == 0)
            {
                continue;
            }

            hot.Add(ScoreOf(registry, "n1", 3, "peer_temperature_celsius")!.Value);
            for (var i = 0; i < 8; i++)
            {
                siblings = Math.Max(siblings, ScoreOf(registry, "n1", i, "peer_power_watts")!.Value);
                if (i != 3)
                {
                    siblings = Math.Max(siblings, ScoreOf(registry, "n1", i, "peer_temperature_celsius")!.Value);
                }
            }
        }

        output.WriteLine("GPU 3 by minute: " + string.Join(", ", hot.Select(h => h.ToString("0.000", System.Globalization.CultureInfo.InvariantCulture))));
        output.WriteLine($"highest of the siblings and of power: {siblings:0.000}");

        // One hot minute is not an alarm; a few are.
        Assert.True(hot[0] < AnomalyDetector.AlarmScore, $"one minute scores {hot[0]}");
        Assert.True(hot[3] >= 0.9, $"GPU 3 after 4 minutes: {hot[3]}");
        Assert.True(siblings < 0.1, $"the siblings and every power series stay low: {siblings}");
        var top = registry.Scores("n1", AnomalyDetector.AlarmScore);
        Assert.Equal((3, "peer_temperature_celsius", (string?)null), (top.Single().Gpu!.Value, top.Single().Metric, top.Single().Term));
    }

    [Fact]
    public void PeerScore_SiblingsAtOtherUtilizationOrModel_NotCompared()
    {
        // GPUs 0 and 1 idle (5 % and 10 %), 2-5 busy, 6-7 busy but of another model.
        var registry = Registry(gpus: 8, model: i => i >= 6 ? "NVIDIA A100-SXM4-80GB" : Model);
        for (var minute = 0; minute < 10; minute++)
        {
            var at = Start.AddMinutes(minute);
            var gpus = new[] { (0.05, 35.0, 70.0), (0.10, 36.0, 72.0), (0.9, 70, 650), (0.9, 71, 660), (0.92, 70, 655), (0.88, 71, 652), (0.9, 50, 300), (0.9, 51, 310) };
            registry.Observe(new TelemetryItem("n1", at, Summary(at, 0.3, 6000, gpus)));
        }

        var peers = registry.Scores("n1", 0).Where(s => s.Metric.StartsWith("peer_", StringComparison.Ordinal)).ToList();

        // The idle pair has one peer each (fewer than 2), the A100 pair one each: no peer score; the busy H100s are
        // not pulled down by the idle or the A100 GPUs (all four at the same level: 0).
        Assert.Equal(new[] { 2, 3, 4, 5 }, peers.Select(p => p.Gpu!.Value).Distinct().Order());
        Assert.All(peers, p => Assert.True(p.Score < 0.1, $"{p}"));
    }

    [Fact]
    public void PeerScore_UnknownNode_NoPeersButOwnScores()
    {
        var registry = new AnomalyRegistry(_ => null);
        for (var minute = 0; minute < 3; minute++)
        {
            var at = Start.AddMinutes(minute);
            registry.Observe(new TelemetryItem("n1", at, Summary(at, 0.3, 3000, (0.9, 60, 600), (0.9, 60, 600), (0.9, 90, 600))));
        }

        var metrics = registry.Scores("n1", 0).Select(s => s.Metric).Distinct().Order();
        Assert.Equal(new[] { "cpu_utilization", "power_watts", "temperature_celsius" }, metrics);
    }

    [Fact]
    public void Observe_SampleOfAMinuteAlreadyScored_Ignored()
    {
        var registry = Registry(gpus: 0);
        registry.Observe(new TelemetryItem("n1", Start, Summary(Start, 0.3, 500)));
        registry.Observe(new TelemetryItem("n1", Start.AddMinutes(1), Summary(Start.AddMinutes(1), 0.3, 500)));
        registry.Observe(new TelemetryItem("n1", Start.AddSeconds(30), Summary(Start.AddSeconds(30), 0.9, 900)));
        registry.Observe(new TelemetryItem("n1", Start.AddMinutes(2), Summary(Start.AddMinutes(2), 0.3, 500)));

        Assert.Equal(Start.AddMinutes(1), registry.Scores("n1", 0)[0].Minute);
    }

    [Fact]
    public void Forget_NodeSilentForAnHour_SeriesDroppedAndScoresNoLongerCurrent()
    {
        var registry = Registry(gpus: 8);
        var gpus = Enumerable.Repeat((0.5, 50.0, 300.0), 8).ToArray();
        var current = (int)AnomalyRegistry.CurrentFor.TotalMinutes;
        for (var minute = 0; minute <= 70; minute++)
        {
            var at = Start.AddMinutes(minute);
            if (minute < 5)
            {
                registry.Observe(new TelemetryItem("gone", at, Summary(at, 0.3, 3000, gpus)));
            }

            registry.Observe(new TelemetryItem("stays", at, Summary(at, 0.3, 3000, gpus)));

            // The last minute of "gone" that was scored is minute 3 (its sample of minute 4 ended it): its
            // scores are current while the newest sample is at most 5 minutes later, then the node has none.
            if (minute == 3 + current)
            {
                Assert.NotEmpty(registry.Scores("gone", 0));
            }

            if (minute == 4 + current)
            {
                Assert.Empty(registry.Scores("gone", 0));
                Assert.Equal(2, registry.NodeCount);
            }
        }

        // Last seen at minute 4: forgotten when a minute past 64 ended.
        Assert.Equal(1, registry.NodeCount);
        Assert.Equal(2 + (4 * 8), registry.SeriesCount);
        Assert.Null(registry.ScoresOf("gone"));
        Assert.NotNull(registry.ScoresOf("stays"));
    }

    [Fact]
    public void Memory_PerNodeAndGpu_Bounded()
    {
        const int Nodes = 1000;
        var registry = Registry(gpus: 8);
        var eight = Enumerable.Repeat((0.5, 50.0, 300.0), 8).ToArray();

        // Warm the code paths and the writer's scratch space: one node through a minute.
        registry.Observe(new TelemetryItem("warm", Start, Summary(Start, 0.1, 100, eight)));
        registry.Observe(new TelemetryItem("warm", Start.AddMinutes(1), Summary(Start.AddMinutes(1), 0.1, 100, eight)));

        // New nodes of 0 and of 8 GPUs (averaged over many, so the dictionary's growth is shared out).
        var empty = Summary(Start, 0.1, 100);
        var ids = Enumerable.Range(0, Nodes).Select(i => $"empty{i}").ToArray();
        var before = GC.GetAllocatedBytesForCurrentThread();
        foreach (var id in ids)
        {
            registry.Observe(new TelemetryItem(id, Start, empty));
        }

        var perNode = (GC.GetAllocatedBytesForCurrentThread() - before) / (double)Nodes;
        var full = Summary(Start, 0.1, 100, eight);
        ids = [.. Enumerable.Range(0, Nodes).Select(i => $"eight{i}")];
        before = GC.GetAllocatedBytesForCurrentThread();
        foreach (var id in ids)
        {
            registry.Observe(new TelemetryItem(id, Start, full));
        }

        var perGpu = ((GC.GetAllocatedBytesForCurrentThread() - before) / (double)Nodes - perNode) / 8;

        // A minute later: the snapshot of each 8-GPU node's scores (replaced every minute), nothing else.
        var next = Summary(Start.AddMinutes(1), 0.1, 100, eight);
        before = GC.GetAllocatedBytesForCurrentThread();
        foreach (var id in ids)
        {
            registry.Observe(new TelemetryItem(id, Start.AddMinutes(1), next));
        }

        var perMinute = (GC.GetAllocatedBytesForCurrentThread() - before) / (double)Nodes;

        // The rest of the minute, a pass over the nodes at a time: the least any pass allocated (with other tests
        // running, the runtime now and then charges this thread for something of its own, as it tiers code up).
        var withinMinute = long.MaxValue;
        for (var s = 1; s < 12; s++)
        {
            before = GC.GetAllocatedBytesForCurrentThread();
            foreach (var id in ids)
            {
                registry.Observe(new TelemetryItem(id, Start.AddMinutes(1).AddSeconds(5 * s), next));
            }

            withinMinute = Math.Min(withinMinute, GC.GetAllocatedBytesForCurrentThread() - before);
        }

        output.WriteLine($"per node {perNode:0} B, per GPU {perGpu:0} B; per 8-GPU node and minute {perMinute:0} B; a pass of samples within a minute {withinMinute} B");
        Assert.InRange(perNode, 1, 4096);
        Assert.InRange(perGpu, 1, 4096);
        Assert.InRange(perMinute, 1, 1024);
        Assert.Equal(0, withinMinute);
    }

    [Fact]
    public void CollectForAlerts_OnlyScoresAboveZero_NodeSeriesWithoutGpu()
    {
        var registry = Registry(gpus: 8);
        var random = new Random(9);
        for (var minute = 0; minute < 8; minute++)
        {
            var at = Start.AddMinutes(minute);
            var gpus = Enumerable.Range(0, 8).Select(i => (0.9, 60 + (i == 5 ? 15 : 0) + random.NextDouble(), 650.0)).ToArray();
            registry.Observe(new TelemetryItem("n1", at, Summary(at, 0.3, 6000, gpus)));
        }

        var into = new List<(string NodeId, int? Gpu, string Metric, double Score)>();
        registry.CollectForAlerts(into);

        Assert.All(into, s => Assert.True(s.Score > 0));
        Assert.Contains(into, s => s is { NodeId: "n1", Gpu: 5, Metric: "peer_temperature_celsius", Score: >= 0.9 });
        Assert.Equal(into.Count, registry.Scores(null, double.Epsilon).Count);
    }

    [Fact]
    public void PeerComparison_ToScore_SameMappingAsTheDetector()
    {
        Assert.Equal(0, PeerComparison.ToScore(0));
        Assert.Equal(0, PeerComparison.ToScore(-3));
        Assert.Equal(0.5, PeerComparison.ToScore(4.753), 2);
        Assert.Equal(1, PeerComparison.ToScore(PeerComparison.MaxZ));
    }
}
