using Gantry.Telemetry.Collection;
using Gantry.Telemetry.Portable;
using Gantry.Telemetry.Tests.Procfs;

namespace Gantry.Telemetry.Tests.Portable;

public sealed class PortableCollectorTests
{
    [Fact]
    public async Task PortableCpu_CollectAsync_ReportsProcessorCountWithoutCores()
    {
        var collector = new PortableCpuCollector();

        var sample = await collector.CollectAsync(CancellationToken.None);

        Assert.Equal("cpu", collector.Name);
        Assert.Equal(Environment.ProcessorCount, sample.LogicalCores);
        Assert.Empty(sample.Cores);
        Assert.Null(sample.Load1);
    }

    [Fact]
    public async Task PortableMemory_CollectAsync_ReportsTotalOnly()
    {
        var collector = new PortableMemoryCollector();

        var sample = await collector.CollectAsync(CancellationToken.None);

        Assert.Equal("memory", collector.Name);
        Assert.True(sample.TotalBytes > 0);
        Assert.Null(sample.AvailableBytes);
    }

    [Fact]
    public async Task PortableFilesystem_CollectAsync_IncludesRoot()
    {
        var collector = new PortableFilesystemCollector();

        var samples = await collector.CollectAsync(CancellationToken.None);

        Assert.Equal("filesystem", collector.Name);
        var root = Assert.Single(samples, s => s.MountPoint == Path.GetPathRoot(Environment.SystemDirectory.Length > 0 ? Environment.SystemDirectory : "/"));
        Assert.True(root.SizeBytes > 0);
        Assert.Null(root.Files);
    }

    [Fact]
    public async Task PortableNetwork_CollectAsync_HasLoopback()
    {
        var collector = new PortableNetworkCollector();

        var samples = await collector.CollectAsync(CancellationToken.None);

        Assert.Equal("network", collector.Name);
        Assert.NotEmpty(samples);
        if (OperatingSystem.IsLinux())
        {
            var lo = Assert.Single(samples, s => s.Interface == "lo");
            Assert.NotNull(lo.ReceivePackets);
        }
    }

    [Fact]
    public void HasProcfs_LiveLinux_True() =>
        Assert.Equal(OperatingSystem.IsLinux(), HostCollectorSupport.HasProcfs(HostPaths.Live));

    [Fact]
    public void HasProcfs_EmptyProc_False()
    {
        using var tree = new FixtureTree();

        Assert.False(HostCollectorSupport.HasProcfs(tree.Paths));
    }
}
