using Gantry.Telemetry.Health;

namespace Gantry.Telemetry.Tests.Health;

public sealed class XidLogTests
{
    private static readonly DateTimeOffset T0 = new(2026, 3, 1, 12, 0, 0, TimeSpan.Zero);

    private static XidLog TwoGpus()
    {
        var log = new XidLog(TimeSpan.FromSeconds(10));
        log.SetGpu(0, "00000000:3B:00.0");
        log.SetGpu(1, "00000000:61:00.0");
        return log;
    }

    [Fact]
    public void Observe_BothPathsReportOneXid_CountedAndKeptOnce()
    {
        var log = TwoGpus();

        Assert.True(log.Observe(XidSource.Nvml, 0, null, 48, T0));
        Assert.False(log.Observe(XidSource.KernelLog, null, "0000:3b:00", 48, T0.AddMilliseconds(300), "DBE"));

        Assert.Equal(1UL, log.CountsFor(0)[48]);
        Assert.Equal(48UL, log.LastFor(0));
        var kept = Assert.Single(log.Unacknowledged());
        Assert.Equal((0, 48UL, XidSource.Nvml), (kept.Gpu, kept.Xid, kept.Source));
    }

    [Fact]
    public void Observe_KernelLogOnly_MappedToTheGpuByBusId()
    {
        var log = TwoGpus();

        Assert.True(log.Observe(XidSource.KernelLog, null, "PCI:0000:61:00", 79, T0, "GPU has fallen off the bus."));

        var kept = Assert.Single(log.Unacknowledged());
        Assert.Equal((1, 79UL, "GPU has fallen off the bus."), (kept.Gpu, kept.Xid, kept.Text));
        Assert.Empty(log.CountsFor(0));
    }

    [Fact]
    public void Observe_BusIdOfNoSampledGpu_CountedAsUnattributedOnly()
    {
        var log = TwoGpus();

        Assert.False(log.Observe(XidSource.KernelLog, null, "0000:99:00", 79, T0));

        Assert.Equal(1, log.Unattributed);
        Assert.Empty(log.Unacknowledged());
    }

    [Fact]
    public void Acknowledge_UpToASequence_LaterOnesStay()
    {
        var log = TwoGpus();
        log.Observe(XidSource.Nvml, 0, null, 13, T0);
        log.Observe(XidSource.Nvml, 1, null, 31, T0.AddSeconds(20));
        var first = log.Unacknowledged()[0].Sequence;
        log.Observe(XidSource.Nvml, 0, null, 13, T0.AddSeconds(40));

        log.Acknowledge(first);

        Assert.Equal([31UL, 13UL], log.Unacknowledged().Select(x => x.Xid));
        Assert.Equal(2UL, log.CountsFor(0)[13]);
    }

    [Fact]
    public void Observe_StormOnOneGpu_OldestDroppedOthersKept()
    {
        var log = TwoGpus();
        log.Observe(XidSource.Nvml, 1, null, 31, T0);
        for (var i = 0; i < XidLog.MaxPendingPerGpu + 5; i++)
        {
            log.Observe(XidSource.Nvml, 0, null, 13, T0.AddSeconds(i));
        }

        var pending = log.Unacknowledged();
        Assert.Equal(XidLog.MaxPendingPerGpu, pending.Count(x => x.Gpu == 0));
        Assert.Single(pending, x => x.Gpu == 1);
        Assert.Equal(5, log.Dropped);
        Assert.Equal((ulong)XidLog.MaxPendingPerGpu + 5, log.CountsFor(0)[13]);
    }
}
