using Gantry.Agent.ControlPlane;
using Gantry.Telemetry.Model;
using Gantry.Telemetry.Simulation;

namespace Gantry.Agent.Tests.ControlPlane;

public sealed class NodeReportTests
{
    private static GpuSample Gpu(int index, string bus, params (bool Active, string? Remote)[] links) => new()
    {
        Index = index,
        Uuid = $"GPU-{index}",
        Name = "NVIDIA H100 80GB HBM3",
        PciBusId = bus,
        MemoryTotalBytes = 80UL << 30,
        NvLinks = links.Select((l, i) => new NvLinkSample(i, l.Active, null, null, null, null, null) { RemotePciBusId = l.Remote }).ToList(),
    };

    [Fact]
    public void NvLinkPeers_DirectLinks_MapRemoteBusIdToLocalIndexBothWays()
    {
        var gpus = new[]
        {
            // NVML's two spellings of a bus id, in either case, name the same device.
            Gpu(0, "00000000:18:00.0", (true, "0000:2a:00.0"), (false, "00000000:3A:00.0")),
            Gpu(1, "00000000:2A:00.0", (true, "00000000:18:00.0")),
            Gpu(2, "00000000:3A:00.0"),
            Gpu(3, "00000000:5D:00.0", (true, "00000000:5D:00.0"), (true, null)),
        };

        var peers = NodeReport.NvLinkPeers(gpus);

        Assert.Equal([1], peers[0]);
        Assert.Equal([0], peers[1]);
        Assert.Empty(peers[2]);
        Assert.Empty(peers[3]);
    }

    [Fact]
    public void NvLinkPeers_LinksToAnNvSwitch_MakeGpusOnTheSameSwitchPeers()
    {
        var gpus = new[]
        {
            Gpu(0, "00000000:18:00.0", (true, "00000000:C5:00.0")),
            Gpu(1, "00000000:2A:00.0", (true, "00000000:C5:00.0"), (true, "00000000:C6:00.0")),
            Gpu(2, "00000000:3A:00.0", (true, "00000000:C6:00.0")),
            Gpu(3, "00000000:5D:00.0", (false, "00000000:C5:00.0")),
        };

        var peers = NodeReport.NvLinkPeers(gpus);

        Assert.Equal([1], peers[0]);
        Assert.Equal([0, 2], peers[1]);
        Assert.Equal([1], peers[2]);
        Assert.Empty(peers[3]);
    }

    [Fact]
    public async Task Inventory_SimulatedHgxBoard_EveryGpuIsEveryOthersPeer()
    {
        var collector = new SimulatedGpuCollector(4, TimeProvider.System);
        var inventory = NodeReport.Inventory(await collector.CollectAsync(CancellationToken.None));

        Assert.Equal([0, 1, 2, 3], inventory.Select(g => g.Index));
        Assert.All(inventory, g => Assert.True(g.Simulated));
        Assert.All(inventory, g => Assert.True(g.MemoryBytes > 0));
        Assert.Equal([1, 2, 3], inventory[0].NvLinkPeers);
        Assert.Equal([0, 1, 2], inventory[3].NvLinkPeers);
    }

    [Fact]
    public void Summary_Snapshot_MapsHostAndGpuFigures()
    {
        var before = Snapshot(1, new CpuCoreTimes(0, 100, 0, 50, 800, 50, 0, 0, 0));
        var now = Snapshot(2, new CpuCoreTimes(0, 130, 0, 70, 840, 60, 0, 0, 0)) with
        {
            NodePower = new NodePowerSample(850.5, "rapl+gpu", null, null, 430),
            Gpus = new GpuSnapshot("ok", null, "550.54", "12.4", "12.550", [new GpuSample
            {
                Index = 0,
                Uuid = "GPU-0",
                Name = "H100",
                UtilizationGpuPercent = 75,
                MemoryUsedBytes = 10,
                MemoryTotalBytes = 100,
                TemperatureCelsius = 61,
                PowerWatts = 420.5,
                EnergyJoules = 1e6,
                SmClockHz = 1.98e9,
                MemoryClockHz = 2.6e9,
                ClockEventReasons = 0x4 | 0x20,
            }]),
        };

        var summary = NodeReport.Summary(now, before);

        Assert.Equal(now.Timestamp, summary.SampledAt);
        Assert.Equal(0.5, summary.CpuUtilization!.Value, 6);
        Assert.Equal(6L << 30, summary.MemoryUsedBytes);
        Assert.Equal(16L << 30, summary.MemoryTotalBytes);
        Assert.Equal(850.5, summary.PowerWatts);
        Assert.Equal(430, summary.CpuPowerWatts);
        Assert.False(summary.Simulated);
        var gpu = Assert.Single(summary.Gpus);
        Assert.Equal(0.75, gpu.Utilization);
        Assert.Equal(10, gpu.MemoryUsedBytes);
        Assert.Equal(100, gpu.MemoryTotalBytes);
        Assert.Equal(61, gpu.TemperatureCelsius);
        Assert.Equal(420.5, gpu.PowerWatts);
        Assert.Equal(1e6, gpu.EnergyJoules);
        Assert.Equal(1.98e9, gpu.SmClockHertz);
        Assert.Equal(2.6e9, gpu.MemoryClockHertz);
        Assert.Equal(["sw_power_cap", "sw_thermal_slowdown"], gpu.ThrottleReasons);
    }

    [Fact]
    public void Summary_FirstSampleAndMissingReadings_LeavesThemNull()
    {
        var only = Snapshot(1, new CpuCoreTimes(0, 1, 0, 1, 1, 0, 0, 0, 0)) with
        {
            Host = Snapshot(1, new CpuCoreTimes(0, 1, 0, 1, 1, 0, 0, 0, 0)).Host with { Memory = null },
            Gpus = new GpuSnapshot("simulated", null, null, null, null, [new GpuSample { Index = 0, Uuid = "GPU-sim", Name = "sim", Simulated = true, Lost = true }]),
        };

        var summary = NodeReport.Summary(only, previous: null);

        Assert.Null(summary.CpuUtilization);
        Assert.Null(summary.MemoryUsedBytes);
        Assert.Null(summary.PowerWatts);
        Assert.True(summary.Simulated);
        var gpu = Assert.Single(summary.Gpus);
        Assert.True(gpu.Lost);
        Assert.Null(gpu.Utilization);
        Assert.Empty(gpu.ThrottleReasons);
        Assert.Null(summary.GeneratedTokensPerSecond);
        Assert.Null(summary.PromptTokensPerSecond);
    }

    [Fact]
    public void Summary_InferenceServers_SumTheirTokenRatesAndSkipThoseWithout()
    {
        var now = Snapshot(2, new CpuCoreTimes(0, 1, 0, 1, 1, 0, 0, 0, 0)) with
        {
            Apps =
            [
                new AppSample("http://127.0.0.1:8000/metrics", "vllm", true, null, 1000, 5000, 20, 150, 0.1, 0.75),
                new AppSample("http://127.0.0.1:8001/metrics", "tgi", true, null, null, 900, null, 50, null, 0.25),
                new AppSample("http://127.0.0.1:8002/metrics", null, false, "connection refused", null, null, null, null, null, null),
            ],
        };

        var summary = NodeReport.Summary(now, previous: null);

        Assert.Equal(200, summary.GeneratedTokensPerSecond);
        Assert.Equal(20, summary.PromptTokensPerSecond);
    }

    private static NodeSnapshot Snapshot(long sequence, CpuCoreTimes core) => new()
    {
        Sequence = sequence,
        Timestamp = DateTimeOffset.UnixEpoch.AddSeconds(sequence * 5),
        Host = new HostSnapshot(
            "node",
            "Linux",
            "x64",
            "6.1",
            new CpuSample([core], null, null, null, null, null, null, null, null, null, 1),
            new MemorySample(16UL << 30, 10UL << 30, null, null, null, null, null),
            null,
            null,
            null,
            null),
        Gpus = new GpuSnapshot("unavailable", null, null, null, null, []),
        Collectors = [],
        Self = new SelfSample("1", DateTimeOffset.UnixEpoch, 0, 0, 0, 0),
    };
}
