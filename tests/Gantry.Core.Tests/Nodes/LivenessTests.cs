using Gantry.Core.Nodes;

namespace Gantry.Core.Tests.Nodes;

public class LivenessTests
{
    private static readonly DateTimeOffset Now = new(2026, 3, 1, 12, 0, 0, TimeSpan.Zero);
    private static readonly TimeSpan Lease = TimeSpan.FromSeconds(15);
    private static readonly TimeSpan Grace = TimeSpan.FromSeconds(60);

    [Theory]
    [InlineData(0, NodeState.Ready)]
    [InlineData(15, NodeState.Ready)]
    [InlineData(16, NodeState.Suspect)]
    [InlineData(60, NodeState.Suspect)]
    [InlineData(61, NodeState.Down)]
    public void Evaluate_SilenceLength_State(int silentSeconds, NodeState expected)
    {
        Assert.Equal(expected, Liveness.Evaluate(Now.AddSeconds(-silentSeconds), Now, Lease, Grace, drain: false, liveAttempts: 0));
    }

    [Fact]
    public void Evaluate_DrainedWithLiveAttempts_Draining()
    {
        Assert.Equal(NodeState.Draining, Liveness.Evaluate(Now, Now, Lease, Grace, drain: true, liveAttempts: 2));
    }

    [Fact]
    public void Evaluate_DrainedAndIdle_Drained()
    {
        Assert.Equal(NodeState.Drained, Liveness.Evaluate(Now, Now, Lease, Grace, drain: true, liveAttempts: 0));
    }

    [Theory]
    [InlineData(30, NodeState.Suspect)]
    [InlineData(120, NodeState.Down)]
    public void Evaluate_DrainedButSilent_SilenceWins(int silentSeconds, NodeState expected)
    {
        Assert.Equal(expected, Liveness.Evaluate(Now.AddSeconds(-silentSeconds), Now, Lease, Grace, drain: true, liveAttempts: 1));
    }

    [Fact]
    public void Evaluate_HeartbeatFromTheFuture_Ready()
    {
        // A heartbeat stamped a little after "now" (clock skew between server replicas) reads as fresh.
        Assert.Equal(NodeState.Ready, Liveness.Evaluate(Now.AddSeconds(5), Now, Lease, Grace, drain: false, liveAttempts: 0));
    }
}
