using Gantry.Telemetry.Collection;
using Gantry.Telemetry.Procfs;

namespace Gantry.Telemetry.Tests.Procfs;

public sealed class CpuCollectorTests
{
    private const string Stat = """
        cpu  10132153 290696 3084719 46828483 16683 0 25195 0 175628 0
        cpu0 1393280 32966 572056 13343292 6130 0 17875 12 0 0
        cpu1 1335000 28000 500000 13000000 5000 100 2000 7 0 0
        intr 199292 30 0 0 0 0 0 0 0 1 0
        ctxt 1990473
        btime 1062191376
        processes 2915
        procs_running 3
        procs_blocked 1
        softirq 1234 0 1 2

        """;

    [Fact]
    public async Task CollectAsync_FixtureStat_ParsesCoresAndCounters()
    {
        using var tree = new FixtureTree()
            .Write("proc/stat", Stat)
            .Write("proc/loadavg", "0.20 0.18 0.12 1/80 11206\n");

        var sample = await new CpuCollector(tree.Paths).CollectAsync(CancellationToken.None);

        Assert.Equal(2, sample.LogicalCores);
        Assert.Equal(2, sample.Cores.Count);
        var cpu0 = sample.Cores[0];
        Assert.Equal(0, cpu0.Cpu);
        Assert.Equal(13932.80, cpu0.User, 6);
        Assert.Equal(329.66, cpu0.Nice, 6);
        Assert.Equal(5720.56, cpu0.System, 6);
        Assert.Equal(133432.92, cpu0.Idle, 6);
        Assert.Equal(61.30, cpu0.IoWait, 6);
        Assert.Equal(0, cpu0.Irq);
        Assert.Equal(178.75, cpu0.SoftIrq, 6);
        Assert.Equal(0.12, cpu0.Steal, 6);
        Assert.Equal(1, sample.Cores[1].Cpu);
        Assert.Equal(1.0, sample.Cores[1].Irq, 6);
        Assert.Equal(1990473UL, sample.ContextSwitches);
        Assert.Equal(199292UL, sample.Interrupts);
        Assert.Equal(2915UL, sample.ProcessesForked);
        Assert.Equal(3, sample.ProcessesRunning);
        Assert.Equal(1, sample.ProcessesBlocked);
        Assert.Equal(1062191376d, sample.BootTimeSeconds);
        Assert.Equal(0.20, sample.Load1);
        Assert.Equal(0.18, sample.Load5);
        Assert.Equal(0.12, sample.Load15);
    }

    [Fact]
    public async Task CollectAsync_MissingLoadAvgAndCounters_LeavesThemNull()
    {
        // An old kernel: four columns per CPU, no ctxt/btime lines, no loadavg file.
        using var tree = new FixtureTree().Write("proc/stat", "cpu 4 3 2 1\ncpu3 4 3 2 1\n");

        var sample = await new CpuCollector(tree.Paths).CollectAsync(CancellationToken.None);

        var core = Assert.Single(sample.Cores);
        Assert.Equal(3, core.Cpu);
        Assert.Equal(0.01, core.Idle, 6);
        Assert.Equal(0, core.Steal);
        Assert.Equal(1, sample.LogicalCores);
        Assert.Null(sample.Load1);
        Assert.Null(sample.Load15);
        Assert.Null(sample.ContextSwitches);
        Assert.Null(sample.Interrupts);
        Assert.Null(sample.ProcessesForked);
        Assert.Null(sample.ProcessesRunning);
        Assert.Null(sample.ProcessesBlocked);
        Assert.Null(sample.BootTimeSeconds);
    }

    [Fact]
    public async Task CollectAsync_MissingStat_Throws()
    {
        using var tree = new FixtureTree();

        await Assert.ThrowsAsync<FileNotFoundException>(async () => await new CpuCollector(tree.Paths).CollectAsync(CancellationToken.None));
    }

    [Fact]
    public async Task CollectAsync_LiveMachine_ReportsGrowingCoreTimes()
    {
        var collector = new CpuCollector(HostPaths.Live);

        var first = await collector.CollectAsync(CancellationToken.None);
        // Burn a little CPU so that some counter moves (the tick is 10 ms).
        var until = Environment.TickCount64 + 100;
        var spin = 0L;
        while (Environment.TickCount64 < until)
        {
            spin++;
        }

        var second = await collector.CollectAsync(CancellationToken.None);

        Assert.True(spin > 0);
        Assert.NotEmpty(first.Cores);
        Assert.Equal(first.Cores.Count, first.LogicalCores);
        Assert.NotNull(second.Load1);
        Assert.NotNull(second.ContextSwitches);
        Assert.True(Total(second) > Total(first), "CPU times did not grow between two readings");
        for (var i = 0; i < first.Cores.Count; i++)
        {
            Assert.True(Total(second.Cores[i]) >= Total(first.Cores[i]));
        }
    }

    private static double Total(Model.CpuSample sample)
    {
        var total = 0.0;
        foreach (var core in sample.Cores)
        {
            total += Total(core);
        }

        return total;
    }

    private static double Total(Model.CpuCoreTimes c) => c.User + c.Nice + c.System + c.Idle + c.IoWait + c.Irq + c.SoftIrq + c.Steal;
}
