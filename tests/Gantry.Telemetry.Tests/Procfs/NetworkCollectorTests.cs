using Gantry.Telemetry.Collection;
using Gantry.Telemetry.Procfs;

namespace Gantry.Telemetry.Tests.Procfs;

public sealed class NetworkCollectorTests
{
    private const string NetDev = """
        Inter-|   Receive                                                |  Transmit
         face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed
            lo:    3293      31    0    0    0     0          0         0     3293      31    0    0    0     0       0          0
          eth0: 85487005    2099    3    4    5     6          7         8    96207    1100    9   10   11    12      13         14
        wlan0:18446744073709551615 1 0 0 0 0 0 0 2 1 0 0 0 0 0 0
          bad0: 1 2 3

        """;

    [Fact]
    public void Parse_FixtureNetDev_ReadsAllSixteenColumns()
    {
        var interfaces = NetworkCollector.Parse(NetDev);

        Assert.Equal(3, interfaces.Count);
        var eth0 = interfaces[1];
        Assert.Equal(
            new NetworkCollector.InterfaceCounters("eth0", 85487005, 2099, 3, 4, 5, 6, 7, 8, 96207, 1100, 9, 10, 11, 12, 13, 14),
            eth0);
        Assert.Equal("wlan0", interfaces[2].Interface);
        Assert.Equal(ulong.MaxValue, interfaces[2].ReceiveBytes);
    }

    [Fact]
    public async Task CollectAsync_OperState_UpTrueOtherFalseMissingNull()
    {
        using var tree = new FixtureTree()
            .Write("proc/net/dev", NetDev)
            .Write("sys/class/net/lo/operstate", "unknown\n")
            .Write("sys/class/net/eth0/operstate", "up\n");

        var samples = await new NetworkCollector(tree.Paths).CollectAsync(CancellationToken.None);

        Assert.Equal(["lo", "eth0", "wlan0"], samples.Select(s => s.Interface));
        Assert.False(samples[0].Up);
        Assert.True(samples[1].Up);
        Assert.Null(samples[2].Up);
        var eth0 = samples[1];
        Assert.Equal(85487005UL, eth0.ReceiveBytes);
        Assert.Equal(96207UL, eth0.TransmitBytes);
        Assert.Equal(2099UL, eth0.ReceivePackets);
        Assert.Equal(1100UL, eth0.TransmitPackets);
        Assert.Equal(3UL, eth0.ReceiveErrors);
        Assert.Equal(9UL, eth0.TransmitErrors);
        Assert.Equal(4UL, eth0.ReceiveDrops);
        Assert.Equal(10UL, eth0.TransmitDrops);
    }

    [Fact]
    public async Task CollectAsync_LiveMachine_HasLoopback()
    {
        var samples = await new NetworkCollector(HostPaths.Live).CollectAsync(CancellationToken.None);

        var lo = Assert.Single(samples, s => s.Interface == "lo");
        Assert.NotNull(lo.Up);
    }
}
