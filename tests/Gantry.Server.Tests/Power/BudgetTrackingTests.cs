using Gantry.Core.Nodes;
using Gantry.Core.Protocol;
using Gantry.Server.Power;
using Gantry.Server.Tests.Jobs;
using Microsoft.Extensions.Logging.Abstractions;

namespace Gantry.Server.Tests.Power;

/// <summary>
/// The fleet budget fed by the real node registry and job queue (on a fake clock): jobs placed, ended and
/// nodes gone down reach the ledger through the registry, and heartbeat answers carry the caps worked out then.
/// </summary>
public sealed class BudgetTrackingTests
{
    private const double Budget = 1000;

    [Fact]
    public void Heartbeat_JobsPlacedAndEnded_NodeDown_CapsFollowAndTheFleetSettlesUnderTheBudget()
    {
        using var features = Features.Create(o => o.PowerBudgetWatts = Budget);
        var power = new PowerCaps(features.Store, features.Store.Load(), features.Nodes, features.Clock, NullLogger.Instance, Budget);
        features.Nodes.Power = power;
        string[] nodes = [features.Register("a", 2), features.Register("b", 2)];

        // Idle at 100 W: each reserves 110 W and is capped at its lowest limit, 200 W.
        foreach (var node in nodes)
        {
            Assert.Equal([(0, 200.0), (1, 200.0)], Beat(features, node));
        }

        Assert.Equal((4, 0, 440.0), Figures(power));

        // One job: its GPU counts for its lowest limit at once, and gets the rest (1000 - 3 x 110 = 670 W) when its node heartbeats.
        features.Submit(gpus: 1);
        Assert.Equal(1, features.Pass());
        var first = JobNode(features, nodes);
        Assert.Equal((4, 1, 530.0), Figures(power));
        var gpu = features.Assignments(first)[0].Gpus[0];
        Assert.Equal(670, Beat(features, first).Single(c => c.Index == gpu).Watts);
        Assert.Equal(Budget, Figures(power).Allocated, 1e-6);

        // A second job: the share drops to (1000 - 2 x 110) / 2 = 390 W; until the first job's node heartbeats, the
        // fleet is over by the new GPU's 200 W less its 110 W reserve, and then back within the budget.
        features.Submit(gpus: 1);
        Assert.Equal(1, features.Pass());
        Assert.Equal(Budget + 90, Figures(power).Allocated, 1e-6);
        BeatAll(features, nodes, rounds: 2);
        Assert.Equal((4, 2, Budget), Figures(power));
        Assert.Equal(2, nodes.SelectMany(n => Beat(features, n)).Count(c => c.Watts == 390));

        // The first job ends: its GPU keeps its grant until its node heartbeats; then the other job's GPU gets 670 W.
        var running = features.Assignments(first).Single(a => a.Gpus[0] == gpu);
        features.Run(first, running);
        Assert.Equal((4, 1, Budget), Figures(power));
        BeatAll(features, nodes, rounds: 2);
        Assert.Equal(1, nodes.SelectMany(n => Beat(features, n)).Count(c => c.Watts == 670));
        Assert.True(Figures(power).Allocated <= Budget + 1e-6);

        // The node without a job goes silent and then down: its GPUs leave the budget, and the busy GPU needs no cap.
        var busyNode = JobNode(features, nodes);
        var silent = nodes.Single(n => n != busyNode);
        var until = features.Clock.GetUtcNow() + features.Options.Lease + features.Options.DownAfter + TimeSpan.FromSeconds(2);
        while (features.Clock.GetUtcNow() < until)
        {
            features.Clock.Advance(TimeSpan.FromSeconds(1));
            Beat(features, busyNode);
            features.Nodes.Sweep();
        }

        Assert.Equal(NodeState.Down, features.Nodes.GetNode(silent)!.State);
        Assert.Equal((2, 1), (Figures(power).Gpus, Figures(power).Busy));
        var busyGpu = features.Assignments(busyNode)[0].Gpus[0];
        Assert.DoesNotContain(Beat(features, busyNode), c => c.Index == busyGpu);
    }

    [Fact]
    public void SuspendedNodes_HoldNoShareOfTheBudget()
    {
        using var features = Features.Create(o => (o.PowerBudgetWatts, o.PowerSaving.SuspendAfter) = (Budget, TimeSpan.FromSeconds(30)));
        var power = new PowerCaps(features.Store, features.Store.Load(), features.Nodes, features.Clock, NullLogger.Instance, Budget);
        features.Nodes.Power = power;
        string[] nodes = [features.Register("a", 2), features.Register("b", 2)];
        BeatAll(features, nodes, rounds: 1);
        Assert.Equal((4, 0, 440.0), Figures(power));

        // Both idle past --suspend-after: each is taken for suspension (held out of placement) and leaves the budget.
        features.Clock.Advance(TimeSpan.FromSeconds(31));
        var taken = features.Nodes.TakeDueForSuspend([], features.Clock.GetUtcNow(), TimeSpan.FromSeconds(5));
        Assert.Equal(2, taken.Count);
        features.Nodes.Suspended(taken[0].NodeId);
        Assert.Equal(NodeState.Suspended, features.Nodes.GetNode(taken[0].NodeId)!.State);
        Assert.Equal((0, 0, 0.0), Figures(power));
    }

    /// <summary>A heartbeat of two GPUs drawing 100 W that accept 200-700 W; the budget caps in its answer.</summary>
    private static List<(int Index, double Watts)> Beat(Features features, string nodeId)
    {
        var answer = features.Nodes.Heartbeat(nodeId, new HeartbeatRequest
        {
            Summary = new NodeSummary { SampledAt = features.Clock.GetUtcNow(), Gpus = [new GpuSummary { Index = 0, PowerWatts = 100 }, new GpuSummary { Index = 1, PowerWatts = 100 }] },
            Power = new NodePowerReport
            {
                AppliedVersion = 0,
                Gpus = [new GpuPowerState { Index = 0, LimitWatts = 700, MinWatts = 200, MaxWatts = 700 }, new GpuPowerState { Index = 1, LimitWatts = 700, MinWatts = 200, MaxWatts = 700 }],
            },
        })!;
        Assert.All(answer.Power!.Gpus, g => Assert.Equal(PowerCapSource.Budget, g.Source));
        return [.. answer.Power.Gpus.Select(g => (g.Index, g.Watts))];
    }

    private static void BeatAll(Features features, string[] nodes, int rounds)
    {
        for (var round = 0; round < rounds; round++)
        {
            foreach (var node in nodes)
            {
                Beat(features, node);
            }
        }
    }

    private static (int Gpus, int Busy, double Allocated) Figures(PowerCaps power)
    {
        var figures = power.Snapshot().Budget!.Figures;
        return (figures.Gpus, figures.BusyGpus, figures.AllocatedWatts);
    }

    private static string JobNode(Features features, string[] nodes) => nodes.Single(n => features.Assignments(n).Count > 0);
}
