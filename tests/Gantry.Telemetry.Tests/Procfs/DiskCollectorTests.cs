using Gantry.Telemetry.Procfs;

namespace Gantry.Telemetry.Tests.Procfs;

public sealed class DiskCollectorTests
{
    [Fact]
    public async Task CollectAsync_FixtureDiskStats_SkipsPartitionsAndVirtualDevices()
    {
        using var tree = new FixtureTree().Write("proc/diskstats", """
               1       0 ram0 0 0 0 0 0 0 0 0 0 0 0
               7       0 loop0 96 0 2132 12 0 0 0 0 0 32 12 0 0 0 0
               2       0 fd0 1 0 2 0 0 0 0 0 0 0 0
               8       0 sda 1000 10 20000 1500 500 5 8000 2500 2 3000 4000 0 0 0 0
               8       1 sda1 900 10 18000 1400 500 5 8000 2500 0 2900 3900 0 0 0 0
             202       0 xvda 1 0 8 1 1 0 8 1 0 1 2
             202       1 xvda1 1 0 8 1 1 0 8 1 0 1 2
             259       0 nvme0n1 42 0 84 7 21 0 168 9 0 16 16 0 0 0 0 0 0
             259       1 nvme0n1p1 40 0 80 7 20 0 160 9 0 15 15 0 0 0 0 0 0
             253       0 dm-0 5 0 10 1 6 0 12 2 0 3 3 0 0 0 0
               8      16 sdaa 1 0 1 0 1 0 1 0 0 0 0

            """);

        var disks = await new DiskCollector(tree.Paths).CollectAsync(CancellationToken.None);

        Assert.Equal(["sda", "xvda", "nvme0n1", "dm-0", "sdaa"], disks.Select(d => d.Device));
        var sda = disks[0];
        Assert.Equal(1000UL, sda.ReadsCompleted);
        Assert.Equal(500UL, sda.WritesCompleted);
        Assert.Equal(20000UL * 512, sda.ReadBytes);
        Assert.Equal(8000UL * 512, sda.WrittenBytes);
        Assert.Equal(1.5, sda.ReadTimeSeconds);
        Assert.Equal(2.5, sda.WriteTimeSeconds);
        Assert.Equal(3.0, sda.IoTimeSeconds);
        Assert.Equal(2UL, sda.IoInProgress);
    }

    [Fact]
    public async Task CollectAsync_NegativeInFlightAndShortLine_KeepsDiskWithNullGauge()
    {
        using var tree = new FixtureTree().Write("proc/diskstats", """
               8       0 sda 1 0 2 3 4 0 5 6 -1 7 8
               8      16 sdb 1 0 2

            """);

        var disk = Assert.Single(await new DiskCollector(tree.Paths).CollectAsync(CancellationToken.None));

        Assert.Equal("sda", disk.Device);
        Assert.Null(disk.IoInProgress);
        Assert.Equal(0.007, disk.IoTimeSeconds, 9);
    }

    [Theory]
    [InlineData("ram0", true)]
    [InlineData("ram15", true)]
    [InlineData("loop7", true)]
    [InlineData("fd0", true)]
    [InlineData("sda1", true)]
    [InlineData("hdb12", true)]
    [InlineData("vda3", true)]
    [InlineData("xvdf1", true)]
    [InlineData("nvme0n1p1", true)]
    [InlineData("nvme12n3p45", true)]
    [InlineData("ram", false)]
    [InlineData("loop", false)]
    [InlineData("sda", false)]
    [InlineData("sdaa1", false)]
    [InlineData("vda", false)]
    [InlineData("nvme0n1", false)]
    [InlineData("nvme0n1p", false)]
    [InlineData("nvmen1p1", false)]
    [InlineData("dm-0", false)]
    [InlineData("md0", false)]
    [InlineData("mmcblk0", false)]
    [InlineData("sr0", false)]
    public void IsIgnored_DeviceName_MatchesNodeExporterDefault(string device, bool ignored) =>
        Assert.Equal(ignored, DiskCollector.IsIgnored(device));
}
