using Gantry.Core.Nodes;
using Gantry.Core.Protocol;
using Gantry.Server.Tests.Jobs;

namespace Gantry.Server.Tests.Nodes;

/// <summary>The node registry: leases after a restart, counts kept as nodes change.</summary>
public sealed class NodeRegistryTests
{
    [Fact]
    public void RenewLoadedLeases_SlowStart_GraceCountsFromWhenTheServerServes()
    {
        using var f = Features.Create(o =>
        {
            o.HeartbeatInterval = TimeSpan.FromSeconds(1);
            o.DownAfter = TimeSpan.FromSeconds(5);
        });
        var slow = f.Register("slow", gpus: 1);
        var quick = f.Register("quick", gpus: 1);
        using var g = f.Restart();

        // Loading took 4 s; then the server listens and the grace starts.
        g.Clock.Advance(TimeSpan.FromSeconds(4));
        g.Nodes.RenewLoadedLeases();
        g.Clock.Advance(TimeSpan.FromSeconds(4));
        g.Nodes.Heartbeat(quick, new HeartbeatRequest());
        g.Liveness.Sweep();

        Assert.Equal(NodeState.Suspect, g.Nodes.GetNode(slow)!.State);
        Assert.Equal(NodeState.Ready, g.Nodes.GetNode(quick)!.State);
        g.Clock.Advance(TimeSpan.FromSeconds(2));
        g.Liveness.Sweep();
        Assert.Equal(NodeState.Down, g.Nodes.GetNode(slow)!.State);
    }

    [Fact]
    public void Counts_KeptAsNodesChange()
    {
        using var f = Features.Create();
        var a = f.Register("a", gpus: 4);
        f.Register("b", gpus: 2);
        f.Nodes.Drain(a, true);
        f.Submit(gpus: 2);
        f.Pass();

        var (nodes, gpus, busy) = f.Nodes.Counts();
        Assert.Equal(6, gpus);
        Assert.Equal(2, busy);
        Assert.Equal(1, nodes[NodeState.Ready]);
        Assert.Equal(1, nodes[NodeState.Drained]);

        // Registering again with another inventory replaces the node's GPUs in the count.
        f.Register("a", gpus: 8);
        Assert.Equal(10, f.Nodes.Counts().Gpus);
    }
}
