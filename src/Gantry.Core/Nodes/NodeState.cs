using System.Text.Json.Serialization;
using Gantry.Core.Protocol;

namespace Gantry.Core.Nodes;

/// <summary>A node's standing with the control plane. Serialized in camelCase.</summary>
[JsonConverter(typeof(CamelCaseEnumConverter<NodeState>))]
public enum NodeState
{
    /// <summary>Its lease is current; it takes jobs.</summary>
    Ready,

    /// <summary>It missed a heartbeat; no new jobs until it is back.</summary>
    Suspect,

    /// <summary>Silent past the grace period; its live jobs were marked lost.</summary>
    Down,

    /// <summary>Drained by a person while jobs still run on it; takes no new jobs.</summary>
    Draining,

    /// <summary>Drained and idle.</summary>
    Drained,

    /// <summary>Powered down by the server's power saving after it sat idle (<c>--suspend-after</c>); nothing is placed there and its silence is expected.</summary>
    Suspended,

    /// <summary>Its resume command ran for a job that needs it; back to ready at its first heartbeat, down past <c>--resume-timeout</c>.</summary>
    Resuming,
}

/// <summary>Names of node states.</summary>
public static class NodeStates
{
    /// <summary>The state's wire name, as the API, the CLI and the dashboard write it: <c>ready</c>, <c>draining</c>.</summary>
    public static string Name(this NodeState state) => CamelCaseEnumConverter<NodeState>.Name(state);
}

/// <summary>The liveness rule: a pure function of the last heartbeat, the clock and the drain flag.</summary>
public static class Liveness
{
    /// <summary>
    /// A node whose last heartbeat is within <paramref name="lease"/> is alive; past the lease it is
    /// suspect; past <paramref name="grace"/> it is down. A live node that is drained reads draining
    /// while <paramref name="liveAttempts"/> is non-zero, then drained.
    /// </summary>
    public static NodeState Evaluate(DateTimeOffset lastHeartbeat, DateTimeOffset now, TimeSpan lease, TimeSpan grace, bool drain, int liveAttempts)
    {
        var silent = now - lastHeartbeat;
        if (silent > grace)
        {
            return NodeState.Down;
        }

        if (silent > lease)
        {
            return NodeState.Suspect;
        }

        if (drain)
        {
            return liveAttempts > 0 ? NodeState.Draining : NodeState.Drained;
        }

        return NodeState.Ready;
    }
}
