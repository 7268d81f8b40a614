using Gantry.Telemetry.Collection;
using Gantry.Telemetry.Procfs;

namespace Gantry.Telemetry.Tests.Procfs;

public sealed class MemoryCollectorTests
{
    [Fact]
    public async Task CollectAsync_FixtureMemInfo_ConvertsKilobytesToBytes()
    {
        using var tree = new FixtureTree().Write("proc/meminfo", """
            MemTotal:       16333708 kB
            MemFree:         1033256 kB
            MemAvailable:    9120060 kB
            Buffers:          402204 kB
            Cached:          7480436 kB
            SwapCached:            0 kB
            SwapTotal:       2097148 kB
            SwapFree:        2097000 kB
            HugePages_Total:       0

            """);

        var sample = await new MemoryCollector(tree.Paths).CollectAsync(CancellationToken.None);

        Assert.Equal(16333708UL * 1024, sample.TotalBytes);
        Assert.Equal(9120060UL * 1024, sample.AvailableBytes);
        Assert.Equal(1033256UL * 1024, sample.FreeBytes);
        Assert.Equal(7480436UL * 1024, sample.CachedBytes);
        Assert.Equal(402204UL * 1024, sample.BuffersBytes);
        Assert.Equal(2097148UL * 1024, sample.SwapTotalBytes);
        Assert.Equal(2097000UL * 1024, sample.SwapFreeBytes);
    }

    [Fact]
    public async Task CollectAsync_MissingFields_LeavesThemNull()
    {
        // A pre-3.14 kernel has no MemAvailable; this one also has no swap lines.
        using var tree = new FixtureTree().Write("proc/meminfo", "MemTotal: 1000 kB\nMemFree: 10 kB\n");

        var sample = await new MemoryCollector(tree.Paths).CollectAsync(CancellationToken.None);

        Assert.Equal(1024000UL, sample.TotalBytes);
        Assert.Equal(10240UL, sample.FreeBytes);
        Assert.Null(sample.AvailableBytes);
        Assert.Null(sample.CachedBytes);
        Assert.Null(sample.BuffersBytes);
        Assert.Null(sample.SwapTotalBytes);
        Assert.Null(sample.SwapFreeBytes);
    }

    [Fact]
    public async Task CollectAsync_NoMemTotal_Throws()
    {
        using var tree = new FixtureTree().Write("proc/meminfo", "MemFree: 10 kB\n");

        await Assert.ThrowsAsync<InvalidDataException>(async () => await new MemoryCollector(tree.Paths).CollectAsync(CancellationToken.None));
    }

    [Fact]
    public async Task CollectAsync_LiveMachine_AvailableWithinTotal()
    {
        var sample = await new MemoryCollector(HostPaths.Live).CollectAsync(CancellationToken.None);

        Assert.True(sample.TotalBytes > 0);
        Assert.NotNull(sample.AvailableBytes);
        Assert.True(sample.AvailableBytes <= sample.TotalBytes);
    }
}
