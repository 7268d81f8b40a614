using Gantry.Telemetry.Health;

namespace Gantry.Telemetry.Tests.Health;

public sealed class XidDeduplicatorTests
{
    private static readonly DateTimeOffset T0 = new(2026, 11, 23, 12, 0, 0, TimeSpan.Zero);
    private readonly XidDeduplicator _dedup = new(TimeSpan.FromSeconds(10));

    private static DateTimeOffset At(double seconds) => T0.AddSeconds(seconds);

    [Fact]
    public void Observe_NvmlThenKernelLogWithinWindow_CountedOnce()
    {
        Assert.True(_dedup.Observe(XidSource.Nvml, "00000000:3B:00.0", 79, At(0)));
        // The kernel spells the same GPU its own way.
        Assert.False(_dedup.Observe(XidSource.KernelLog, "0000:3b:00", 79, At(0.4)));
    }

    [Fact]
    public void Observe_KernelLogFirst_NvmlReportIsTheDuplicate()
    {
        Assert.True(_dedup.Observe(XidSource.KernelLog, "0000:3b:00", 48, At(1)));
        Assert.False(_dedup.Observe(XidSource.Nvml, "00000000:3B:00.0", 48, At(0.5)));
    }

    [Fact]
    public void Observe_ReportsFurtherApartThanTheWindow_CountedTwice()
    {
        Assert.True(_dedup.Observe(XidSource.Nvml, "00000000:3B:00.0", 79, At(0)));
        Assert.True(_dedup.Observe(XidSource.KernelLog, "0000:3b:00", 79, At(10.5)));
    }

    [Fact]
    public void Observe_OtherGpuOrOtherXid_NotMerged()
    {
        Assert.True(_dedup.Observe(XidSource.Nvml, "00000000:3B:00.0", 79, At(0)));
        Assert.True(_dedup.Observe(XidSource.KernelLog, "0000:3c:00", 79, At(0)));
        Assert.True(_dedup.Observe(XidSource.KernelLog, "0000:3b:00", 48, At(0)));
    }

    [Fact]
    public void Observe_BurstSeenByBoth_EachPairCountedOnce()
    {
        var counted = 0;
        for (var i = 0; i < 3; i++)
        {
            counted += _dedup.Observe(XidSource.Nvml, "00000000:3B:00.0", 13, At(i * 0.1)) ? 1 : 0;
        }

        for (var i = 0; i < 3; i++)
        {
            counted += _dedup.Observe(XidSource.KernelLog, "0000:3b:00", 13, At(0.5 + (i * 0.1))) ? 1 : 0;
        }

        Assert.Equal(3, counted);
        // A fourth kernel report has nothing left to match.
        Assert.True(_dedup.Observe(XidSource.KernelLog, "0000:3b:00", 13, At(1)));
    }

    [Fact]
    public void Observe_RepeatsFromOneSource_NeverMerged()
    {
        Assert.True(_dedup.Observe(XidSource.KernelLog, "0000:3b:00", 119, At(0)));
        Assert.True(_dedup.Observe(XidSource.KernelLog, "0000:3b:00", 119, At(0)));
        Assert.True(_dedup.Observe(XidSource.KernelLog, "0000:3b:00", 119, At(6)));
    }

    [Fact]
    public void Observe_NoBusId_AlwaysCounted()
    {
        Assert.True(_dedup.Observe(XidSource.Nvml, null, 79, At(0)));
        Assert.True(_dedup.Observe(XidSource.KernelLog, null, 79, At(0)));
        Assert.True(_dedup.Observe(XidSource.KernelLog, "not a bus id", 79, At(0)));
    }

    [Fact]
    public void Observe_LongAfterManyXids_OldReportsNoLongerMatch()
    {
        for (var i = 0; i < 1000; i++)
        {
            _dedup.Observe(XidSource.Nvml, $"0000:{i % 256:x2}:00", (ulong)(i / 256), At(i * 0.01));
        }

        Assert.True(_dedup.Observe(XidSource.KernelLog, "0000:00:00", 0, At(3600)));
        Assert.False(_dedup.Observe(XidSource.Nvml, "0000:00:00", 0, At(3601)));
    }

    [Fact]
    public void Constructor_WindowNotPositive_Throws() =>
        Assert.Throws<ArgumentOutOfRangeException>(() => new XidDeduplicator(TimeSpan.Zero));
}
