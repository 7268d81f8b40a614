using Gantry.Agent.Configuration;
using Gantry.Agent.Health;
using Gantry.Core.Protocol;
using Gantry.Telemetry.Health;
using Gantry.Telemetry.Model;

namespace Gantry.Agent.Tests.Health;

public sealed class GpuHealthReporterTests : IDisposable
{
    private static readonly DateTimeOffset T0 = new(2026, 3, 1, 12, 0, 0, TimeSpan.Zero);

    private readonly string _proc = Directory.CreateTempSubdirectory("gantry-proc-").FullName;
    private readonly XidLog _xids = new();
    private long _sequence;

    public GpuHealthReporterTests()
    {
        Directory.CreateDirectory(Path.Combine(_proc, "sys", "kernel", "random"));
        File.WriteAllText(Path.Combine(_proc, "sys", "kernel", "random", "boot_id"), "5f0c1b6e-1d2a-4c3b-9e8f-0a1b2c3d4e5f\n");
    }

    public void Dispose() => Directory.Delete(_proc, recursive: true);

    private GpuHealthReporter Reporter() => new(_xids, new AgentOptions { ProcPath = _proc }, kernelLog: null);

    private static GpuSample Gpu(int index = 0) => new()
    {
        Index = index,
        Uuid = $"GPU-{index}",
        Name = "NVIDIA H100 80GB HBM3",
        PciBusId = $"00000000:{index + 1:X2}:00.0",
        EccCorrectedVolatile = 5,
        EccUncorrectedVolatile = 0,
        RemappedRowsPending = false,
        RemappedRowsFailure = false,
        RecoveryAction = GpuRecoveryAction.None,
        EnergyJoules = 1000,
        PcieReplays = 3,
        NvLinks = [new NvLinkSample(0, true, null, null, 2, null, null) { CrcDataErrors = 1 }, new NvLinkSample(1, true, null, null, 0, null, null)],
    };

    private NodeSnapshot Snapshot(params GpuSample[] gpus)
    {
        var sequence = ++_sequence;
        return new NodeSnapshot
        {
            Sequence = sequence,
            Timestamp = T0.AddSeconds(sequence * 5),
            Host = new HostSnapshot("node", "Linux", "x64", "6.1", null, null, null, null, null, null),
            Gpus = new GpuSnapshot("ok", null, null, null, null, gpus),
            Collectors = [],
            Self = new SelfSample("1", T0, 0, 0, 0, 0),
        };
    }

    [Fact]
    public void Build_Sample_CountersFlagsAndBootId()
    {
        var reporter = Reporter();

        var (report, through) = reporter.Build(Snapshot(Gpu(0) with { ClockEventReasons = 0x4 | 0x40, RetiredPagesPending = true, RecoveryAction = (GpuRecoveryAction)9 }));

        Assert.Equal("5f0c1b6e-1d2a-4c3b-9e8f-0a1b2c3d4e5f", report.BootId);
        Assert.Equal(0, through);
        var gpu = Assert.Single(report.Gpus);
        Assert.Equal(5, gpu.EccCorrectedVolatile);
        Assert.Equal(0, gpu.EccUncorrectedVolatile);
        Assert.True(gpu.RetiredPagesPending);
        Assert.Equal(GpuRecoveryNeed.Other, gpu.RecoveryAction);
        Assert.True(gpu.ThermalSlowdown);
        Assert.False(gpu.PowerSlowdown); // the software power cap is how a busy GPU runs
        Assert.Equal(3, gpu.NvLinkCrcErrors);
        Assert.Equal(3, gpu.PcieReplays);
        Assert.Equal(0, gpu.NvLinksDown);
        Assert.Null(gpu.ResetAt);
        Assert.Empty(gpu.Xids);
    }

    [Fact]
    public void Build_XidsFromBothPaths_EachOnceUntilAcknowledged()
    {
        var reporter = Reporter();
        _xids.SetGpu(0, "00000000:01:00.0");
        _xids.SetGpu(1, "00000000:02:00.0");
        Assert.True(_xids.Observe(XidSource.Nvml, 1, null, 48, T0));
        Assert.False(_xids.Observe(XidSource.KernelLog, null, "0000:02:00", 48, T0.AddSeconds(1), "DBE"));
        Assert.True(_xids.Observe(XidSource.KernelLog, null, "PCI:0000:01:00", 79, T0.AddSeconds(2), "GPU has fallen off the bus."));

        var (report, through) = reporter.Build(Snapshot(Gpu(0), Gpu(1)));

        var xid48 = Assert.Single(report.Gpus[1].Xids);
        Assert.Equal((48L, XidEventSource.Nvml), (xid48.Xid, xid48.Source));
        var xid79 = Assert.Single(report.Gpus[0].Xids);
        Assert.Equal((79L, XidEventSource.KernelLog, "GPU has fallen off the bus."), (xid79.Xid, xid79.Source, xid79.Text));

        // Not answered: sent again. Answered: gone.
        Assert.Single(reporter.Build(Snapshot(Gpu(0), Gpu(1))).Report.Gpus[1].Xids);
        reporter.Acknowledge(through);
        Assert.All(reporter.Build(Snapshot(Gpu(0), Gpu(1))).Report.Gpus, g => Assert.Empty(g.Xids));
    }

    [Fact]
    public void Build_XidOfAGpuNotInTheSample_StillSent()
    {
        var reporter = Reporter();
        _xids.Observe(XidSource.Nvml, 3, null, 79, T0);

        var (report, _) = reporter.Build(Snapshot(Gpu(0)));

        Assert.Equal([0, 3], report.Gpus.Select(g => g.Index));
        Assert.Equal(79, Assert.Single(report.Gpus[1].Xids).Xid);
    }

    [Theory]
    [InlineData("ecc")]
    [InlineData("lost")]
    [InlineData("remap")]
    [InlineData("recovery")]
    [InlineData("energy")]
    public void Build_CounterBackDownOrFlagCleared_IsAReset(string how)
    {
        var reporter = Reporter();
        var faulty = how switch
        {
            "ecc" => Gpu() with { EccUncorrectedVolatile = 2 },
            "lost" => new GpuSample { Index = 0, Uuid = "GPU-0", Name = "NVIDIA H100 80GB HBM3", Lost = true },
            "remap" => Gpu() with { RemappedRowsPending = true },
            "recovery" => Gpu() with { RecoveryAction = GpuRecoveryAction.GpuReset },
            _ => Gpu() with { EnergyJoules = 5000 },
        };
        reporter.Build(Snapshot(Gpu()));
        Assert.Null(reporter.Build(Snapshot(faulty)).Report.Gpus[0].ResetAt);

        var after = Snapshot(Gpu());
        var (report, _) = reporter.Build(after);

        Assert.Equal(after.Timestamp, report.Gpus[0].ResetAt);
        Assert.Equal(how == "lost", reporter.Build(Snapshot(faulty)).Report.Gpus[0].Lost);
    }

    [Fact]
    public void Build_CountersRisingOrSteady_NoReset()
    {
        var reporter = Reporter();
        reporter.Build(Snapshot(Gpu()));
        reporter.Build(Snapshot(Gpu() with { EccCorrectedVolatile = 9, EnergyJoules = 2000 }));

        Assert.Null(reporter.Build(Snapshot(Gpu() with { EccCorrectedVolatile = 9, EnergyJoules = 3000 })).Report.Gpus[0].ResetAt);
    }

    [Fact]
    public void Build_LinkThatWasUpGoesDown_CountedDown()
    {
        var reporter = Reporter();
        var neverUp = new NvLinkSample(2, false, null, null, null, null, null);
        reporter.Build(Snapshot(Gpu() with { NvLinks = [.. Gpu().NvLinks, neverUp] }));

        var down = Gpu() with { NvLinks = [new NvLinkSample(0, false, null, null, null, null, null), Gpu().NvLinks[1], neverUp] };
        var (report, _) = reporter.Build(Snapshot(down));

        // Link 2 was never up (unused in this topology): not a fault.
        Assert.Equal(1, report.Gpus[0].NvLinksDown);
    }
}
