using System.Text.Json.Serialization;

namespace Gantry.Core.Protocol;

/// <summary>Where a GPU's power cap comes from (docs/power.md): the lowest of those that apply wins.</summary>
[JsonConverter(typeof(CamelCaseEnumConverter<PowerCapSource>))]
public enum PowerCapSource
{
    /// <summary>Set by hand on the node (<c>gantry nodes power-cap</c>).</summary>
    Manual,

    /// <summary>The node's share of the fleet's power budget (<c>gantry server --power-budget</c>).</summary>
    Budget,

    /// <summary>The running job's <c>--gpu-power-cap</c>.</summary>
    Job,
}

/// <summary>
/// The power caps the server wants on a node's GPUs, in a heartbeat's answer (a server of an earlier
/// version sends none, and the agent then leaves its GPUs as they are). The list is whole: a GPU not in
/// it has no cap from the server, and a limit the agent set for one is lifted.
/// </summary>
/// <remarks>Setters and <see cref="JsonRequiredAttribute"/> as <see cref="HeartbeatRequest"/>'s: read per heartbeat.</remarks>
public sealed record NodePowerOrders
{
    /// <summary>Rises whenever the wanted caps change; the agent's report says which version it applied.</summary>
    [JsonRequired]
    public long Version { get; set; }

    /// <summary>The capped GPUs.</summary>
    public IReadOnlyList<GpuPowerOrder> Gpus { get; set; } = [];
}

/// <summary>One GPU's wanted cap.</summary>
public sealed record GpuPowerOrder
{
    /// <summary>NVML index.</summary>
    [JsonRequired]
    public int Index { get; set; }

    /// <summary>The cap in watts (the agent clamps it to what the GPU accepts).</summary>
    [JsonRequired]
    public double Watts { get; set; }

    /// <summary>Whose cap it is: manual or budget (a job's comes with its assignment).</summary>
    [JsonRequired]
    public PowerCapSource Source { get; set; }
}

/// <summary>
/// The agent's account of its GPUs' power limits, in its heartbeat; sent only to a server that sent
/// <see cref="NodePowerOrders"/> (which reads it).
/// </summary>
public sealed record NodePowerReport
{
    /// <summary>The <see cref="NodePowerOrders.Version"/> the agent has acted on.</summary>
    [JsonRequired]
    public long AppliedVersion { get; set; }

    /// <summary>True when the GPUs, and so their limits, are simulated (<c>--simulate-gpus</c>).</summary>
    public bool Simulated { get; set; }

    /// <summary>Each GPU's limit and cap.</summary>
    public IReadOnlyList<GpuPowerState> Gpus { get; set; } = [];
}

/// <summary>One GPU's power limit as the agent enforces it; a figure it could not read is null.</summary>
public sealed record GpuPowerState
{
    /// <summary>NVML index.</summary>
    [JsonRequired]
    public int Index { get; set; }

    /// <summary>The limit the GPU enforces now, in watts.</summary>
    public double? LimitWatts { get; set; }

    /// <summary>The lowest limit the GPU accepts.</summary>
    public double? MinWatts { get; set; }

    /// <summary>The highest limit the GPU accepts.</summary>
    public double? MaxWatts { get; set; }

    /// <summary>The cap Gantry set (after clamping to the GPU's range); null when none is set.</summary>
    public double? CapWatts { get; set; }

    /// <summary>Whose cap <see cref="CapWatts"/> (or the refused one) is.</summary>
    public PowerCapSource? Source { get; set; }

    /// <summary>The cap asked for, before clamping; null when none.</summary>
    public double? WantedWatts { get; set; }

    /// <summary>The limit the GPU had before Gantry capped it, restored when the cap is lifted.</summary>
    public double? PreviousWatts { get; set; }

    /// <summary>Why the wanted cap (or the restore) did not take: NVML's refusal in words; null when it did.</summary>
    public string? Error { get; set; }
}

/// <summary><c>PUT /api/v1/nodes/{id}/power-cap</c>: cap every GPU of the node by hand.</summary>
public sealed record PowerCapRequest
{
    /// <summary>The cap per GPU, in watts (1 to 10,000; the agent clamps it to each GPU's range).</summary>
    public required double GpuWatts { get; init; }
}

/// <summary>A node's power caps as the server sees them: what is wanted and what its agent enforces.</summary>
public sealed record NodePowerInfo
{
    /// <summary>The cap set by hand on every GPU of the node; null when none.</summary>
    public double? ManualGpuWatts { get; init; }

    /// <summary>The version of the wanted caps (<see cref="NodePowerOrders.Version"/>).</summary>
    public required long Version { get; init; }

    /// <summary>The version the agent last reported applied; the wanted caps are in force once it reaches <see cref="Version"/>.</summary>
    public long? AppliedVersion { get; init; }

    /// <summary>True when the node's GPUs are simulated.</summary>
    public bool Simulated { get; init; }

    /// <summary>The caps the server wants (manual and budget; a job's travels with its assignment).</summary>
    public IReadOnlyList<GpuPowerOrder> Wanted { get; init; } = [];

    /// <summary>What the agent last reported per GPU; empty before it reported.</summary>
    public IReadOnlyList<GpuPowerState> Gpus { get; init; } = [];
}

/// <summary><c>GET /api/v1/power</c>: the fleet's power budget and where it stands now.</summary>
public sealed record PowerBudgetInfo
{
    /// <summary>The fleet's GPU power budget (<c>--power-budget</c>); null when none is set.</summary>
    public double? BudgetWatts { get; init; }

    /// <summary>What the budget hands out: idle GPUs' reserve plus what busy GPUs' nodes were last given.</summary>
    public double? AllocatedWatts { get; init; }

    /// <summary>The GPUs' measured power, each as its node last reported it.</summary>
    public double? UsedWatts { get; init; }

    /// <summary>True when the budget does not cover every busy GPU's lowest limit.</summary>
    public bool Insufficient { get; init; }

    /// <summary>GPUs the budget is divided among (those of nodes that are up).</summary>
    public int Gpus { get; init; }

    /// <summary>Of them, held by jobs.</summary>
    public int BusyGpus { get; init; }

    /// <summary>When the server last checked the budget (every <c>--power-budget-interval</c> and soon after jobs start or end).</summary>
    public DateTimeOffset? DividedAt { get; init; }
}

/// <summary>A node's power-saving figures, as <c>GET /api/v1/nodes</c> shows them (docs/power-saving.md).</summary>
public sealed record NodePowerSavingInfo
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
