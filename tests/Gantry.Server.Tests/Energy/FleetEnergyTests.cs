using Gantry.Core.Carbon;
using Gantry.Core.Protocol;
using Gantry.Server.Carbon;
using Gantry.Server.Energy;

namespace Gantry.Server.Tests.Energy;

public sealed class FleetEnergyTests
{
    private static readonly DateTimeOffset T0 = new(2026, 12, 2, 12, 0, 0, TimeSpan.Zero);
    private static readonly Dictionary<string, string> NoLabels = [];

    private static NodeSummary Summary(double seconds, double? nodeWatts, double? cpuWatts, params (double? Watts, double? Counter)[] gpus) => new()
    {
        SampledAt = T0.AddSeconds(seconds),
        PowerWatts = nodeWatts,
        CpuPowerWatts = cpuWatts,
        Gpus = [.. gpus.Select((g, i) => new GpuSummary { Index = i, PowerWatts = g.Watts, EnergyJoules = g.Counter })],
    };

    [Fact]
    public void GpuEnergy_FromCounterDeltas_NotFromPower()
    {
        var energy = new FleetEnergy(new NoCarbonIntensity());
        energy.Observe("n1", NoLabels, Summary(0, 1000, 100, (300, 5_000), (300, 9_000)), T0);

        // Power says 300 W for 10 s (3,000 J per GPU); the counters say 2,500 and 3,500 J.
        energy.Observe("n1", NoLabels, Summary(10, 1000, 100, (300, 7_500), (300, 12_500)), T0.AddSeconds(10));

        var fleet = energy.Snapshot(T0.AddSeconds(10));
        Assert.Equal(6_000, fleet.GpuJoules, 6);
        Assert.Equal(10_000, fleet.NodeJoules, 6);
        Assert.Equal(1_000, fleet.CpuJoules, 6);
        Assert.Equal(1, fleet.NodesReporting);
        Assert.Equal(600, fleet.GpuPowerWatts);
        Assert.Equal(1000, fleet.PowerWatts);
        Assert.Equal(100, fleet.CpuPowerWatts);
    }

    [Fact]
    public void GpuEnergy_NoCounterOrCounterReset_IntegratesPower()
    {
        var energy = new FleetEnergy(new NoCarbonIntensity());
        energy.Observe("n1", NoLabels, Summary(0, null, null, (200, null), (100, 50_000)), T0);

        // GPU 0 has no counter: (200 + 400) / 2 × 10 s = 3,000 J. GPU 1's counter went back (a driver
        // reload): (100 + 100) / 2 × 10 s = 1,000 J.
        energy.Observe("n1", NoLabels, Summary(10, null, null, (400, null), (100, 10)), T0.AddSeconds(10));
        var fleet = energy.Snapshot(T0.AddSeconds(10));
        Assert.Equal(4_000, fleet.GpuJoules, 6);

        // A node without node power: its GPUs (and CPU) are its power.
        Assert.Equal(4_000, fleet.NodeJoules, 6);
        Assert.Equal(500, fleet.PowerWatts);
    }

    [Fact]
    public void Gap_LongerThanAMinute_NotCounted_AndRepeatedSummaryIgnored()
    {
        var energy = new FleetEnergy(new NoCarbonIntensity());
        energy.Observe("n1", NoLabels, Summary(0, 100, null), T0);
        energy.Observe("n1", NoLabels, Summary(120, 100, null), T0.AddSeconds(120));
        energy.Observe("n1", NoLabels, Summary(130, 100, null), T0.AddSeconds(130));
        energy.Observe("n1", NoLabels, Summary(130, 100, null), T0.AddSeconds(131));
        energy.Observe("n1", NoLabels, Summary(125, 100, null), T0.AddSeconds(132));
        Assert.Equal(1_000, energy.Snapshot(T0.AddSeconds(132)).NodeJoules, 6);
    }

    [Fact]
    public void Snapshot_NodeSilentForMoreThanAMinute_NotReporting_PowerLeftOut_EnergyKept()
    {
        var energy = new FleetEnergy(new NoCarbonIntensity());
        energy.Observe("n1", NoLabels, Summary(0, 100, null), T0);
        energy.Observe("n1", NoLabels, Summary(10, 100, null), T0.AddSeconds(10));
        var fleet = energy.Snapshot(T0.AddMinutes(5));
        Assert.Equal(0, fleet.NodesReporting);
        Assert.Null(fleet.PowerWatts);
        var node = Assert.Single(fleet.Nodes);
        Assert.False(node.Fresh);
        Assert.Null(node.PowerWatts);
        Assert.Equal(1_000, node.NodeJoules, 6);
    }

    [Fact]
    public void Tokens_RatesSummed_CountedOverTime_PerJouleOfGpuEnergy()
    {
        var energy = new FleetEnergy(new NoCarbonIntensity());
        NodeSummary WithTokens(double seconds, double generated, double prompt) => Summary(seconds, 700, 100, (250, null), (250, null)) with
        {
            GeneratedTokensPerSecond = generated,
            PromptTokensPerSecond = prompt,
        };

        energy.Observe("n1", NoLabels, WithTokens(0, 1000, 4000), T0);
        energy.Observe("n1", NoLabels, WithTokens(10, 1000, 4000), T0.AddSeconds(10));
        energy.Observe("n2", NoLabels, Summary(10, 300, null, (100, null)), T0.AddSeconds(10));
        var fleet = energy.Snapshot(T0.AddSeconds(10));
        Assert.Equal(10_000, fleet.GeneratedTokens, 6);
        Assert.Equal(40_000, fleet.PromptTokens, 6);
        Assert.Equal(1000, fleet.GeneratedTokensPerSecond);

        // 1,000 tokens/s over the 500 W of the GPUs that serve them; n2 serves none and does not dilute it.
        Assert.Equal(2.0, fleet.GeneratedTokensPerJoule!.Value, 9);
        Assert.Equal(2.0, fleet.Nodes.Single(n => n.NodeId == "n1").GeneratedTokensPerJoule!.Value, 9);
        Assert.Null(fleet.Nodes.Single(n => n.NodeId == "n2").GeneratedTokensPerJoule);
        Assert.Equal(2, fleet.NodesReporting);
        Assert.Equal(1000, fleet.PowerWatts);
    }

    [Fact]
    public void Co2_EachIntervalAtItsOwnIntensity_PerLocation()
    {
        var carbon = new StepCarbon();
        var energy = new FleetEnergy(carbon);
        var gb = new Dictionary<string, string> { ["zone"] = "GB" };
        energy.Observe("n1", gb, Summary(0, 3600, null), T0);

        // 3,600 W for 10 s = 36 kJ = 0.01 kWh at 100 g/kWh (first half hour), then at 400 g/kWh.
        energy.Observe("n1", gb, Summary(10, 3600, null), T0.AddSeconds(10));
        energy.Observe("n1", gb, Summary(1810, 3600, null), T0.AddSeconds(1810));
        energy.Observe("n1", gb, Summary(1820, 3600, null), T0.AddSeconds(1820));
        var fleet = energy.Snapshot(T0.AddSeconds(1820));
        var location = Assert.Single(fleet.Locations);
        Assert.Equal("GB", location.Location);
        Assert.Equal(0.01 * 100 + 0.01 * 400, location.Co2Grams, 9);
        Assert.Equal(72_000, location.Joules, 6);
        Assert.Equal(5.0, Assert.Single(fleet.Nodes).Co2Grams, 9);

        // A node in no location counts energy but no CO2e.
        energy.Observe("n2", NoLabels, Summary(0, 3600, null), T0);
        energy.Observe("n2", NoLabels, Summary(10, 3600, null), T0.AddSeconds(10));
        Assert.Equal(0, energy.Snapshot(T0.AddSeconds(1820)).Nodes.Single(n => n.NodeId == "n2").Co2Grams);
    }

    /// <summary>100 g/kWh for the first half hour after <see cref="T0"/>, 400 after; location from the zone label.</summary>
    private sealed class StepCarbon : ICarbonIntensity
    {
        public bool Configured => true;

        public IReadOnlyList<string> Warnings => [];

        public string? LocationOf(IReadOnlyDictionary<string, string> nodeLabels) => nodeLabels.GetValueOrDefault("zone");

        public CarbonForecast? Forecast(string location) => null;

        public double? IntensityAt(string location, DateTimeOffset time) => time < T0.AddMinutes(30) ? 100 : 400;
    }
}
