using Gantry.Core.Protocol;
using Gantry.Core.Scheduling;
using static Gantry.Core.Tests.Scheduling.TestCluster;

namespace Gantry.Core.Tests.Scheduling;

/// <summary>A container job goes only to nodes whose agent found its runtime (docs/containers-jobs.md).</summary>
public sealed class ContainerRuntimePlacementTests
{
    private static SchedulingNode With(SchedulingNode node, params ContainerRuntime[] runtimes) => new()
    {
        Id = node.Id,
        Schedulable = node.Schedulable,
        Labels = node.Labels,
        CpuCores = node.CpuCores,
        FreeCpus = node.FreeCpus,
        MemoryBytes = node.MemoryBytes,
        FreeMemoryBytes = node.FreeMemoryBytes,
        Gpus = node.Gpus,
        ContainerRuntimes = runtimes,
    };

    [Fact]
    public void Schedule_ContainerJobs_OnlyOnNodesWithTheirRuntime_ProcessJobsAnywhere()
    {
        var result = Run(
            [With(Node("n-a", busy: [0, 1, 2, 3, 4, 5, 6])), With(Node("n-b"), ContainerRuntime.Podman), With(Node("n-c"), ContainerRuntime.Podman, ContainerRuntime.Docker)],
            [Job(1, gpus: 1) with { Runtime = ContainerRuntime.Docker }, Job(2, gpus: 1) with { Runtime = ContainerRuntime.Podman }, Job(3, gpus: 1)]);

        Assert.Equal("n-c", result.PlacementOf(1).NodeId);

        // Best fit among the podman nodes: n-c now has one GPU fewer free than n-b.
        Assert.Equal("n-c", result.PlacementOf(2).NodeId);

        // A process job goes where it fits best, runtime or not.
        Assert.Equal("n-a", result.PlacementOf(3).NodeId);
    }

    [Fact]
    public void Schedule_NoNodeHasTheRuntime_WaitsNamingItAndHowManyLackIt()
    {
        var result = Run(
            [With(Node("n-a"), ContainerRuntime.Podman), With(Node("n-b")), With(Node("n-c", labels: new() { ["zone"] = "a" }), ContainerRuntime.Podman)],
            [
                Job(1) with { Runtime = ContainerRuntime.Docker },
                Job(2) with { Runtime = ContainerRuntime.Docker },
                Job(3, selector: new() { ["zone"] = "a" }) with { Runtime = ContainerRuntime.Docker },
                Job(4, selector: new() { ["zone"] = "a" }) with { Runtime = ContainerRuntime.Podman },
            ]);

        Assert.Equal("no ready node has container runtime docker (3 nodes lack it)", result.ReasonOf(1));
        Assert.Equal("no ready node has container runtime docker (3 nodes lack it)", result.ReasonOf(2));
        Assert.Equal("no ready node matching selector zone=a has container runtime docker (1 node lacks it)", result.ReasonOf(3));
        Assert.Equal("n-c", result.PlacementOf(4).NodeId);
    }

    [Fact]
    public void Schedule_RuntimeNodesFull_WaitsForResourcesThere()
    {
        var result = Run(
            [With(Node("n-a", gpus: 2, busy: [0, 1]), ContainerRuntime.Podman), With(Node("n-b", gpus: 8))],
            [Job(1, gpus: 1) with { Runtime = ContainerRuntime.Podman }]);

        Assert.Equal("waiting for 1 free GPU", result.ReasonOf(1));
    }

    [Fact]
    public void Schedule_NoReadyNodeAtAll_TheUsualReason()
    {
        var result = Run([], [Job(1) with { Runtime = ContainerRuntime.Docker }]);

        Assert.Equal("no ready node", result.ReasonOf(1));
    }
}
