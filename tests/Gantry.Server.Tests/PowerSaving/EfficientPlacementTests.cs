using Gantry.Core.Jobs;
using Gantry.Core.Scheduling;

namespace Gantry.Server.Tests.PowerSaving;

/// <summary>The scheduler's efficiency preference as a pure function: only ties change, and the note says when it decided.</summary>
public sealed class EfficientPlacementTests
{
    private static readonly DateTimeOffset Now = new(2026, 12, 1, 0, 0, 0, TimeSpan.Zero);

    private static SchedulingNode Node(string id, double? watts, int freeGpus = 2) => new()
    {
        Id = id,
        Schedulable = true,
        CpuCores = 16,
        FreeCpus = 16,
        MemoryBytes = 64L << 30,
        FreeMemoryBytes = 64L << 30,
        Gpus = [.. Enumerable.Range(0, 2).Select(i => new SchedulingGpu(i, "NVIDIA H100", 80L << 30, i < freeGpus, []))],
        WattsPerBusyGpu = watts,
    };

    private static SchedulingResult Schedule(bool prefer, params SchedulingNode[] nodes) => Scheduler.Schedule(new SchedulingInput(
        nodes,
        [new PendingJob(1, 0, 1, new ResourceRequest { Gpus = 1, Cpus = 1 }, new Dictionary<string, string>(), Now)],
        Now,
        new SchedulerPolicy { PreferEfficient = prefer }));

    [Fact]
    public void Schedule_PreferEfficient_EqualFit_LowerWattsWinsWithNote()
    {
        var placement = Assert.Single(Schedule(true, Node("n1", 265), Node("n2", 212)).Placements);
        Assert.Equal("n2", placement.NodeId);
        Assert.Equal("212 W per busy GPU vs 265 W on n1", placement.Efficiency?.ToString());
    }

    [Fact]
    public void Schedule_PreferenceOff_NodeOrderAndNoNote()
    {
        var placement = Assert.Single(Schedule(false, Node("n1", 265), Node("n2", 212)).Placements);
        Assert.Equal("n1", placement.NodeId);
        Assert.Null(placement.Efficiency);
    }

    [Fact]
    public void Schedule_PreferEfficient_BetterFitStillWins()
    {
        // n1 has one GPU free (a tighter fit), n2 two: best fit comes first, efficiency only breaks ties.
        var placement = Assert.Single(Schedule(true, Node("n1", 265, freeGpus: 1), Node("n2", 212)).Placements);
        Assert.Equal("n1", placement.NodeId);
        Assert.Null(placement.Efficiency);
    }

    [Fact]
    public void Schedule_PreferEfficient_UnmeasuredNodeLast()
    {
        var placement = Assert.Single(Schedule(true, Node("n1", null), Node("n2", 300)).Placements);
        Assert.Equal("n2", placement.NodeId);
        Assert.Equal("300 W per busy GPU; n1 not measured yet", placement.Efficiency?.ToString());
    }
}
