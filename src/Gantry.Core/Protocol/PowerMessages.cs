namespace Gantry.Core.Protocol;

/// <summary>A node's power-saving figures, as <c>GET /api/v1/nodes</c> shows them (docs/power-saving.md).</summary>
public sealed record NodePowerInfo
{
    /// <summary>When the node was suspended, or its resume began, while it is suspended or resuming; null otherwise.</summary>
    public DateTimeOffset? Since { get; init; }

    /// <summary>While resuming: when it is marked down unless it heartbeats first.</summary>
    public DateTimeOffset? ResumeDeadline { get; init; }

    /// <summary>The node's measured power while idle (a running average of its heartbeats); null until measured.</summary>
    public double? IdleWatts { get; init; }

    /// <summary>The node's measured GPU power per busy GPU (a running average); null until measured.</summary>
    public double? WattsPerBusyGpu { get; init; }

    /// <summary>Energy its suspensions saved, in joules: idle power × time suspended, the current suspension included.</summary>
    public double EnergySavedJoules { get; init; }

    /// <summary>The last power-saving event worth a person's eye: a failed command, a resume that timed out, a return.</summary>
    public string? LastEvent { get; init; }
}
