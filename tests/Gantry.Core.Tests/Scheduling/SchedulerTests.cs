using Gantry.Core.Scheduling;
using static Gantry.Core.Tests.Scheduling.TestCluster;

namespace Gantry.Core.Tests.Scheduling;

public class SchedulerTests
{
    private static readonly TimeSpan Starved = TimeSpan.FromMinutes(10);

    [Fact]
    public void Schedule_SeveralNodesFit_PicksNodeLeavingFewestFreeGpus()
    {
        var result = Run(
            [Node("n-a", busy: []), Node("n-b", busy: [0, 1, 2, 3, 4, 5]), Node("n-c", busy: [0, 1, 2, 3])],
            [Job(1, gpus: 2)]);

        Assert.Equal("n-b", result.PlacementOf(1).NodeId);
        Assert.Equal([6, 7], result.PlacementOf(1).Gpus);
    }

    [Fact]
    public void Schedule_EqualFreeGpus_PicksFewestFreeCpusThenLowestId()
    {
        var result = Run(
            [Node("n-c", freeCpus: 8), Node("n-b", freeCpus: 8), Node("n-a", freeCpus: 32), Node("n-d", freeCpus: 2)],
            [Job(1, gpus: 1, cpus: 4)]);

        // n-d has too few CPUs; n-b and n-c tie on CPUs and n-b sorts first.
        Assert.Equal("n-b", result.PlacementOf(1).NodeId);
    }

    [Fact]
    public void Schedule_CpuOnlyJob_PrefersNodeWithoutFreeGpus()
    {
        var result = Run(
            [Node("n-gpu", freeCpus: 16), Node("n-full", busy: [0, 1, 2, 3, 4, 5, 6, 7], freeCpus: 64), Node("n-cpu", gpus: 0, freeCpus: 32)],
            [Job(1, gpus: 0, cpus: 8), Job(2, gpus: 0, cpus: 40)]);

        // Both nodes without free GPUs come before the GPU node; among them, best fit on CPUs.
        Assert.Equal("n-cpu", result.PlacementOf(1).NodeId);
        Assert.Empty(result.PlacementOf(1).Gpus);
        Assert.Equal("n-full", result.PlacementOf(2).NodeId);
    }

    [Fact]
    public void Schedule_MultiGpuJob_PrefersFullyLinkedSet()
    {
        // Links: 0-1, 2-3, 3-4, 2-4 (a triangle), 1-2. GPU 5 has none.
        (int, int)[] links = [(0, 1), (1, 2), (2, 3), (3, 4), (2, 4)];
        var result = Run([Node("n-a", gpus: 6, links: links)], [Job(1, gpus: 3)]);

        Assert.Equal([2, 3, 4], result.PlacementOf(1).Gpus);
    }

    [Fact]
    public void Schedule_NoFullyLinkedSet_UsesConnectedSet()
    {
        // A chain 1-2-3 and a lone GPU 0: no triangle exists, the chain is connected.
        (int, int)[] links = [(1, 2), (2, 3)];
        var result = Run([Node("n-a", gpus: 4, links: links)], [Job(1, gpus: 3)]);

        Assert.Equal([1, 2, 3], result.PlacementOf(1).Gpus);
    }

    [Fact]
    public void Schedule_NoNvLink_UsesLowestFreeIndexes()
    {
        var result = Run([Node("n-a", gpus: 8, busy: [1, 4], links: [])], [Job(1, gpus: 3)]);

        Assert.Equal([0, 2, 3], result.PlacementOf(1).Gpus);
    }

    [Fact]
    public void Schedule_HigherPriorityQueuedLater_PlacedFirst()
    {
        var result = Run([Node("n-a", gpus: 1)], [Job(1, priority: 0), Job(2, priority: 50)]);

        Assert.Equal("n-a", result.PlacementOf(2).NodeId);
        Assert.Equal("waiting for 1 free GPU", result.ReasonOf(1));
    }

    [Fact]
    public void Schedule_EqualPriority_FirstComeFirstServed()
    {
        var result = Run([Node("n-a", gpus: 2)], [Job(7, sequence: 30), Job(8, sequence: 10), Job(9, sequence: 20)]);

        Assert.Equal([8, 9], result.Placements.Select(p => p.JobId));
        Assert.Equal(7, Assert.Single(result.Waiting).JobId);
    }

    [Fact]
    public void Schedule_SequencesOutside32Bits_SameOrderRules()
    {
        var result = Run(
            [Node("n-a", gpus: 2)],
            [Job(1, sequence: long.MaxValue, priority: 5), Job(2, sequence: -3), Job(3, sequence: 1L << 40), Job(4, sequence: -9)]);

        Assert.Equal([1, 4], result.Placements.Select(p => p.JobId));
    }

    [Fact]
    public void Schedule_EqualPriorityAndSequence_LowerIdFirst()
    {
        var result = Run([Node("n-a", gpus: 1)], [Job(9, sequence: 5), Job(3, sequence: 5), Job(6, sequence: 5)]);

        Assert.Equal(3, Assert.Single(result.Placements).JobId);
        Assert.Equal([6, 9], result.Waiting.Select(w => w.JobId));
    }

    [Fact]
    public void Schedule_BigJobDoesNotFit_SmallJobsBehindItBackfill()
    {
        var result = Run(
            [Node("n-a", busy: [0, 1, 2, 3, 4])],
            [Job(1, gpus: 8, priority: 90), Job(2, gpus: 1), Job(3, gpus: 2)]);

        Assert.Equal([2, 3], result.Placements.Select(p => p.JobId));
        Assert.Empty(result.Reservations);
        Assert.Equal("waiting for 8 free GPUs", result.ReasonOf(1));
    }

    [Fact]
    public void Schedule_BigJobWaitedPastReservationAfter_ReservesNodeAndBlocksJobsBehind()
    {
        var result = Run(
            [Node("n-a", busy: [0, 1, 2, 3, 4]), Node("n-b", busy: [0, 1, 2, 3, 4, 5, 6])],
            [Job(1, gpus: 8, priority: 90, waited: Starved), Job(2, gpus: 1), Job(3, gpus: 2), Job(4, gpus: 1)]);

        // n-a has the most free GPUs, so it is held for job 1; job 2 backfills onto n-b.
        var reservation = Assert.Single(result.Reservations);
        Assert.Equal(new Reservation(1, "n-a"), reservation);
        Assert.Equal("n-b", result.PlacementOf(2).NodeId);
        Assert.Equal("node n-a is reserved for job 1 (priority 90)", result.ReasonOf(3));
        Assert.Equal("node n-a is reserved for job 1 (priority 90)", result.ReasonOf(4));
        Assert.Equal("waiting for 8 free GPUs; node n-a is reserved for it", result.ReasonOf(1));
    }

    [Fact]
    public void Schedule_BigJobWaitedLessThanReservationAfter_NoReservation()
    {
        var result = Run(
            [Node("n-a", busy: [0, 1, 2, 3, 4])],
            [Job(1, gpus: 8, priority: 90, waited: TimeSpan.FromMinutes(1)), Job(2, gpus: 3)],
            reservationAfter: TimeSpan.FromMinutes(2));

        Assert.Empty(result.Reservations);
        Assert.Equal("n-a", result.PlacementOf(2).NodeId);
    }

    [Fact]
    public void Schedule_JobWaitedExactlyReservationAfter_Reserves()
    {
        var result = Run(
            [Node("n-a", busy: [0])],
            [Job(1, gpus: 8, waited: TimeSpan.FromMinutes(2))],
            reservationAfter: TimeSpan.FromMinutes(2));

        Assert.Equal(new Reservation(1, "n-a"), Assert.Single(result.Reservations));
    }

    [Fact]
    public void Schedule_TwoStarvingJobs_ReserveDistinctNodes()
    {
        var result = Run(
            [Node("n-a", busy: [0, 1]), Node("n-b", busy: [0, 1, 2]), Node("n-c", busy: [0, 1, 2, 3, 4, 5, 6, 7])],
            [Job(1, gpus: 8, waited: Starved), Job(2, gpus: 8, waited: Starved), Job(3, gpus: 1)]);

        Assert.Equal([new Reservation(1, "n-a"), new Reservation(2, "n-b")], result.Reservations);
        Assert.Empty(result.Placements);
        // Job 3 would fit best on n-b, so that is the hold it is told about.
        Assert.Equal("node n-b is reserved for job 2 (priority 0)", result.ReasonOf(3));
    }

    [Fact]
    public void Schedule_StarvingJobAndEqualCandidates_ReservesMostFreeCpusThenLowestId()
    {
        var result = Run(
            [Node("n-c", busy: [0], freeCpus: 40), Node("n-b", busy: [0], freeCpus: 40), Node("n-a", busy: [0], freeCpus: 10)],
            [Job(1, gpus: 8, waited: Starved)]);

        Assert.Equal(new Reservation(1, "n-b"), Assert.Single(result.Reservations));
    }

    [Fact]
    public void Schedule_StarvingJobLargerThanAnyNode_NoReservation()
    {
        var result = Run([Node("n-a"), Node("n-b", gpus: 4)], [Job(1, gpus: 16, waited: Starved), Job(2, gpus: 8)]);

        Assert.Empty(result.Reservations);
        Assert.Equal("n-a", result.PlacementOf(2).NodeId);
        Assert.Equal("no node has 16 GPUs", result.ReasonOf(1));
    }

    [Fact]
    public void Schedule_StarvingJob_ReservesOnlyNodesThatCouldHoldIt()
    {
        // n-a has more free GPUs now but only 4 in all; n-b could hold 8 once its jobs end.
        var result = Run([Node("n-a", gpus: 4), Node("n-b", busy: [0, 1, 2, 3, 4, 5])], [Job(1, gpus: 8, waited: Starved)]);

        Assert.Equal(new Reservation(1, "n-b"), Assert.Single(result.Reservations));
    }

    [Fact]
    public void Schedule_Selector_OnlyMatchingNodes()
    {
        var result = Run(
            [Node("n-a", labels: new() { ["zone"] = "a" }), Node("n-b", labels: new() { ["zone"] = "b", ["gpu"] = "h100" })],
            [
                Job(1, selector: new() { ["zone"] = "b" }),
                Job(2, selector: new() { ["zone"] = "b", ["gpu"] = "h100" }),
                Job(3, selector: new() { ["zone"] = "a", ["gpu"] = "h100" }),
                Job(4, selector: new() { ["gpu"] = "a100" }),
            ]);

        Assert.Equal("n-b", result.PlacementOf(1).NodeId);
        Assert.Equal("n-b", result.PlacementOf(2).NodeId);
        Assert.Equal("no ready node matches selector gpu=h100,zone=a", result.ReasonOf(3));
        Assert.Equal("no ready node matches selector gpu=a100", result.ReasonOf(4));
    }

    [Fact]
    public void Schedule_GpuModelAndMemoryFilters_OnlyAcceptedGpus()
    {
        var result = Run(
            [Node("n-a100", model: A100, gpuMemory: 40 * GiB, busy: [0, 1, 2, 3, 4, 5]), Node("n-h100", model: H100, gpuMemory: 80 * GiB)],
            [
                Job(1, gpus: 2, model: "h100"),
                Job(2, gpus: 2, gpuMemory: 80 * GiB),
                Job(3, gpus: 2, model: "A100"),
                Job(4, gpus: 1, model: "B200"),
                Job(5, gpus: 1, model: "A100", gpuMemory: 80 * GiB),
            ]);

        Assert.Equal("n-h100", result.PlacementOf(1).NodeId);
        Assert.Equal("n-h100", result.PlacementOf(2).NodeId);
        Assert.Equal("n-a100", result.PlacementOf(3).NodeId);
        Assert.Equal("no node has 1 B200 GPU", result.ReasonOf(4));
        Assert.Equal("no node has 1 A100 GPU with at least 80 GiB", result.ReasonOf(5));
    }

    [Fact]
    public void Schedule_MixedGpuModelsOnOneNode_UsesOnlyMatchingGpusForFit()
    {
        var gpus = new List<SchedulingGpu>
        {
            new(0, A100, 40 * GiB, true, []),
            new(1, H100, 80 * GiB, true, []),
            new(2, A100, 40 * GiB, true, []),
            new(3, H100, 80 * GiB, true, []),
        };
        var node = new SchedulingNode { Id = "n-mix", Schedulable = true, CpuCores = 8, FreeCpus = 8, MemoryBytes = GiB, FreeMemoryBytes = GiB, Gpus = gpus };

        var result = Run([node], [Job(1, gpus: 2, model: "H100"), Job(2, gpus: 1, model: "H100")]);

        Assert.Equal([1, 3], result.PlacementOf(1).Gpus);
        Assert.Equal("waiting for 1 free H100 GPU", result.ReasonOf(2));
    }

    [Fact]
    public void Schedule_HostCpusAndMemory_AreNeverExceeded()
    {
        var result = Run(
            [Node("n-a", freeCpus: 10, freeMemory: 100 * GiB)],
            [Job(1, cpus: 6, memory: 40 * GiB), Job(2, cpus: 6), Job(3, cpus: 4, memory: 70 * GiB), Job(4, cpus: 4, memory: 60 * GiB)]);

        Assert.Equal([1, 4], result.Placements.Select(p => p.JobId));
        Assert.Equal("waiting for 1 free GPU with 6 free CPU cores", result.ReasonOf(2));
        Assert.Equal("waiting for 1 free GPU with 4 free CPU cores and 70 GiB of free memory", result.ReasonOf(3));
    }

    [Fact]
    public void Schedule_UnschedulableNode_GetsNothing()
    {
        var result = Run([Node("n-a", schedulable: false)], [Job(1), Job(2, gpus: 0)]);

        Assert.Empty(result.Placements);
        Assert.Equal("no ready node", result.ReasonOf(1));
        Assert.Equal("no ready node", result.ReasonOf(2));
    }

    [Fact]
    public void Schedule_NoNodeHasEnoughCpusOrMemory_NamesTheDimension()
    {
        var result = Run(
            [Node("n-a", cpuCores: 64, memory: 512 * GiB), Node("n-b", gpus: 2, cpuCores: 128, memory: 2048 * GiB)],
            [Job(1, cpus: 200), Job(2, memory: 4096 * GiB), Job(3, gpus: 4, cpus: 100), Job(4, gpus: 0, cpus: 96)]);

        Assert.Equal("no node has 200 CPU cores", result.ReasonOf(1));
        Assert.Equal("no node has 4096 GiB of memory", result.ReasonOf(2));
        Assert.Equal("no node has 4 GPUs and 100 CPU cores together", result.ReasonOf(3));
        Assert.Equal("waiting for 96 free CPU cores", result.ReasonOf(4));
    }

    [Fact]
    public void Schedule_ManyJobsSameReason_ShareOneString()
    {
        var jobs = Enumerable.Range(1, 50).Select(i => Job(i, gpus: 2));
        var result = Run([Node("n-a", gpus: 2)], jobs);

        Assert.Single(result.Placements);
        Assert.Equal(49, result.Waiting.Count);
        Assert.All(result.Waiting, w => Assert.Same(result.Waiting[0].Reason, w.Reason));
    }

    [Fact]
    public void Schedule_ShuffledInput_SameOutput()
    {
        var random = new Random(7);
        var input = RandomClusters.Create(random, nodes: 40, jobs: 200);
        var first = Scheduler.Schedule(input);

        var shuffled = input with
        {
            Nodes = [.. input.Nodes.OrderBy(_ => random.Next())],
            Pending = [.. input.Pending.OrderBy(_ => random.Next())],
        };
        var second = Scheduler.Schedule(shuffled);

        Assert.NotEmpty(first.Placements);
        Assert.Equal(Describe(first), Describe(second));
    }

    [Fact]
    public void Schedule_NodeWithMoreThan64Gpus_SchedulesTheFirst64()
    {
        var result = Run([Node("n-big", gpus: 70, links: [])], [Job(1, gpus: 64), Job(2, gpus: 1)]);

        Assert.Equal(Enumerable.Range(0, 64), result.PlacementOf(1).Gpus);
        Assert.Equal("waiting for 1 free GPU", result.ReasonOf(2));
    }

    [Fact]
    public void Schedule_PinnedJob_OnlyNodesInItsLocationUntilItsLatestStart()
    {
        var pin = new LocationPin("uk-south", Now.AddHours(3));
        var result = Run(
            [Node("n-a", gpus: 2, location: "de"), Node("n-b", gpus: 4, busy: [0, 1], location: "uk-south"), Node("n-c", gpus: 1, location: "de")],
            [Job(1, gpus: 2, pin: pin), Job(2, gpus: 1, pin: pin), Job(3, gpus: 1)]);

        // n-c would fit job 1 and job 2 best; the pin keeps them in uk-south, and job 3 (no pin) takes n-c.
        Assert.Equal("n-b", result.PlacementOf(1).NodeId);
        Assert.Equal("waiting for a node in zone uk-south (carbon plan) until 15:00, then any node", result.ReasonOf(2));
        Assert.Equal("n-c", result.PlacementOf(3).NodeId);
    }

    [Fact]
    public void Schedule_PinnedJob_FromItsLatestStartAnyNode()
    {
        var result = Run(
            [Node("n-a", gpus: 1, location: "de"), Node("n-b", gpus: 1, busy: [0], location: "uk-south")],
            [Job(1, pin: new LocationPin("uk-south", Now)), Job(2, pin: new LocationPin("uk-south", Now.AddSeconds(1)))]);

        Assert.Equal("n-a", result.PlacementOf(1).NodeId);
        Assert.Equal("waiting for 1 free GPU", result.ReasonOf(2));
    }

    [Fact]
    public void Schedule_PinnedJob_NoRoomAnywhere_SaysWhatHoldsItBackAndKeepsTheSelector()
    {
        var pin = new LocationPin("uk-south", Now.AddDays(2));
        var zoneB = new Dictionary<string, string> { ["rack"] = "b" };
        var result = Run(
            [Node("n-a", gpus: 1, location: "uk-south", labels: new() { ["rack"] = "a" }), Node("n-b", gpus: 1, location: "de", labels: zoneB)],
            [Job(1, gpus: 2, pin: pin), Job(2, pin: pin, selector: zoneB), Job(3, pin: pin, selector: new() { ["rack"] = "c" }), Job(4, pin: new LocationPin("fr", Now.AddHours(1)))]);

        // Job 1 fits no node at all; job 2's selector allows only n-b, outside the pin; no node has rack=c; job 4's zone has no node.
        Assert.Equal("no node has 2 GPUs", result.ReasonOf(1));
        Assert.Equal("waiting for a node in zone uk-south (carbon plan) until 2026-03-03 12:00, then any node", result.ReasonOf(2));
        Assert.Equal("no ready node matches selector rack=c", result.ReasonOf(3));
        Assert.Equal("waiting for a node in zone fr (carbon plan) until 13:00, then any node", result.ReasonOf(4));
        Assert.Empty(result.Placements);
    }

    [Fact]
    public void Schedule_PinnedJobWaitingLong_ReservesANodeInItsLocation()
    {
        var pin = new LocationPin("uk-south", Now.AddHours(1));
        var result = Run(
            [Node("n-a", gpus: 2, busy: [0], location: "uk-south"), Node("n-b", gpus: 2, location: "de")],
            [Job(1, gpus: 2, pin: pin, waited: Starved), Job(2, gpus: 1)],
            reservationAfter: TimeSpan.FromMinutes(2));

        Assert.Equal([new Reservation(1, "n-a")], result.Reservations);
        Assert.Equal("waiting for a node in zone uk-south (carbon plan) until 13:00, then any node; node n-a is reserved for it", result.ReasonOf(1));
        Assert.Equal("n-b", result.PlacementOf(2).NodeId);
    }

    [Fact]
    public void Schedule_EveryNodeInThePinnedLocation_SameAsWithoutPins()
    {
        // One location for the whole fleet (or a zone selector's own nodes): a pin changes nothing, reasons included.
        SchedulingNode[] nodes = [Node("n-a", gpus: 2, busy: [0], location: "GB", labels: new() { ["zone"] = "GB" }), Node("n-b", gpus: 4, location: "GB", labels: new() { ["zone"] = "GB" })];
        var pin = new LocationPin("GB", Now.AddHours(2));
        Dictionary<string, string> zone = new() { ["zone"] = "GB" };
        PendingJob[] Jobs(LocationPin? p) => [Job(1, gpus: 3, pin: p), Job(2, gpus: 2, selector: zone, pin: p), Job(3, gpus: 4, pin: p), Job(4, gpus: 1, selector: zone), Job(5, gpus: 8, pin: p)];

        var pinned = Run(nodes, Jobs(pin));

        Assert.Equal(Describe(Run(nodes, Jobs(null))), Describe(pinned));
        Assert.Equal("no node has 8 GPUs", pinned.ReasonOf(5));
    }

    [Fact]
    public void Schedule_NullInput_Throws()
    {
        Assert.Throws<ArgumentNullException>(() => Scheduler.Schedule(null!));
    }

    internal static string Describe(SchedulingResult result) =>
        string.Join('\n', result.Placements.Select(p => $"P {p.JobId} {p.NodeId} [{string.Join(',', p.Gpus)}] {p.Cpus} {p.MemoryBytes}")
            .Concat(result.Reservations.Select(r => $"R {r.JobId} {r.NodeId}"))
            .Concat(result.Waiting.Select(w => $"W {w.JobId} {w.Reason}")));
}
