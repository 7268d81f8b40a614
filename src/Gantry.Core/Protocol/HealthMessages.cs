using System.Text.Json.Serialization;

namespace Gantry.Core.Protocol;

/// <summary>
/// The node's GPU health in a heartbeat (<see cref="HeartbeatRequest.Health"/>). An agent sends it only
/// to a server that said it reads it (<see cref="HeartbeatResponse.AcceptsHealth"/>): a server of an
/// earlier version refuses unknown properties.
/// </summary>
/// <remarks>
/// As the heartbeat's other records: setters and <see cref="JsonRequiredAttribute"/>, not
/// <c>required</c>/<c>init</c>, so that System.Text.Json reads it on its fast path.
/// </remarks>
public sealed record NodeHealthReport
{
    /// <summary>
    /// The host's boot id (<c>/proc/sys/kernel/random/boot_id</c>); a new one after a node was drained
    /// for a reboot-class fault is the reboot that clears it. Null where the agent cannot read it.
    /// </summary>
    public string? BootId { get; set; }

    /// <summary>Why the agent cannot read the kernel log for XIDs (no permission, no such file); null while it reads it, or does not try.</summary>
    public string? KernelLog { get; set; }

    /// <summary>One entry per GPU the agent samples.</summary>
    public IReadOnlyList<GpuHealthReport> Gpus { get; set; } = [];
}

/// <summary>One GPU's health: the XIDs since the last heartbeat the server answered, and the error counters and flags now.</summary>
public sealed record GpuHealthReport
{
    /// <summary>NVML index.</summary>
    [JsonRequired]
    public int Index { get; set; }

    /// <summary>
    /// XIDs seen since the last heartbeat the server answered, oldest first, each once whichever path
    /// saw it (NVML's events or the kernel log). A heartbeat that fails carries them again in the next.
    /// </summary>
    public IReadOnlyList<XidEvent> Xids { get; set; } = [];

    /// <summary>True when NVML lost the GPU (it fell off the bus).</summary>
    public bool Lost { get; set; }

    /// <summary>Corrected ECC errors since the driver loaded (or the GPU was last reset).</summary>
    public long? EccCorrectedVolatile { get; set; }

    /// <summary>Uncorrectable ECC errors since the driver loaded (or the GPU was last reset).</summary>
    public long? EccUncorrectedVolatile { get; set; }

    /// <summary>A row remap waits for the next GPU reset.</summary>
    public bool? RemappedRowsPending { get; set; }

    /// <summary>A row remap failed: the GPU is out of spare rows.</summary>
    public bool? RemappedRowsFailure { get; set; }

    /// <summary>A page retirement waits for the next driver reload or GPU reset (GPUs before Ampere).</summary>
    public bool? RetiredPagesPending { get; set; }

    /// <summary>What the driver says the GPU needs to recover; null where the driver does not report it.</summary>
    public GpuRecoveryNeed? RecoveryAction { get; set; }

    /// <summary>Clocks are slowed for temperature (software or hardware thermal slowdown).</summary>
    public bool ThermalSlowdown { get; set; }

    /// <summary>Clocks are slowed for power (hardware slowdown or power brake); the software power cap is normal operation and not counted.</summary>
    public bool PowerSlowdown { get; set; }

    /// <summary>NVLink links that were up earlier in this agent run and are down now.</summary>
    public int? NvLinksDown { get; set; }

    /// <summary>NVLink CRC errors (flit and data) over every link, since the driver loaded.</summary>
    public long? NvLinkCrcErrors { get; set; }

    /// <summary>PCIe replays since the driver loaded.</summary>
    public long? PcieReplays { get; set; }

    /// <summary>
    /// When the agent last saw the GPU reset: its volatile ECC counters went back down, it came back
    /// after being lost, pending remaps or retirements cleared, or the driver's recovery action went
    /// back to none. Null when it has seen none since it started.
    /// </summary>
    public DateTimeOffset? ResetAt { get; set; }
}

/// <summary>One XID as the agent saw it.</summary>
public sealed record XidEvent
{
    /// <summary>The XID number.</summary>
    [JsonRequired]
    public long Xid { get; set; }

    /// <summary>When the agent saw it (its clock).</summary>
    [JsonRequired]
    public DateTimeOffset At { get; set; }

    /// <summary>Where it was seen first.</summary>
    [JsonRequired]
    public XidEventSource Source { get; set; }

    /// <summary>The driver's words from the kernel log, when that is where it came from.</summary>
    public string? Text { get; set; }
}

/// <summary>Where an XID was seen. Serialized in camelCase.</summary>
[JsonConverter(typeof(CamelCaseEnumConverter<XidEventSource>))]
public enum XidEventSource
{
    /// <summary>NVML's XID event.</summary>
    Nvml,

    /// <summary>The driver's line in the kernel log (<c>/dev/kmsg</c>).</summary>
    KernelLog,
}

/// <summary>
/// NVML's GPU recovery action (<c>nvmlDeviceGpuRecoveryAction_t</c>), as the heartbeat carries it.
/// Serialized in camelCase.
/// </summary>
[JsonConverter(typeof(CamelCaseEnumConverter<GpuRecoveryNeed>))]
public enum GpuRecoveryNeed
{
    /// <summary>Nothing is needed.</summary>
    None,

    /// <summary>Reset the GPU once no process uses it.</summary>
    GpuReset,

    /// <summary>Reboot the node.</summary>
    NodeReboot,

    /// <summary>Stop peer-to-peer traffic to and from the GPU.</summary>
    DrainP2P,

    /// <summary>Let running work finish, then reset the GPU.</summary>
    DrainAndReset,

    /// <summary>Reset the GPU through its bus.</summary>
    GpuResetBus,

    /// <summary>A value this agent does not know (a newer driver's): treated as needing a reset.</summary>
    Other,
}

/// <summary>A GPU's health as the server keeps it. Serialized in camelCase.</summary>
[JsonConverter(typeof(CamelCaseEnumConverter<GpuHealthState>))]
public enum GpuHealthState
{
    /// <summary>Nothing wrong seen, or recovered.</summary>
    Healthy,

    /// <summary>Watched: something is off (thermal slowdown, an XID without a fixed action), but the GPU still takes work.</summary>
    Degraded,

    /// <summary>No new work on this GPU; the node's other GPUs keep working.</summary>
    Cordoned,
}

/// <summary>What ends a cordon. Serialized in camelCase.</summary>
[JsonConverter(typeof(CamelCaseEnumConverter<HealthRecovery>))]
public enum HealthRecovery
{
    /// <summary>A GPU reset (then the GPU must stay clean for the server's <c>--gpu-clean-for</c>).</summary>
    Reset,

    /// <summary>A reboot of the node (a new boot id).</summary>
    Reboot,

    /// <summary>Only a person (<c>gantry nodes uncordon</c>).</summary>
    Person,
}

/// <summary>A GPU's health in <see cref="NodeGpuInfo.Health"/>.</summary>
public sealed record GpuHealthInfo
{
    /// <summary>Healthy, degraded or cordoned.</summary>
    public required GpuHealthState State { get; init; }

    /// <summary>Why, in words ("XID 48 (double-bit ECC error): reset the GPU"); null when healthy.</summary>
    public string? Cause { get; init; }

    /// <summary>Since when; null when healthy.</summary>
    public DateTimeOffset? Since { get; init; }

    /// <summary>For a cordoned GPU: what ends the cordon.</summary>
    public HealthRecovery? Until { get; init; }

    /// <summary>True when a person set this state (automation never undoes it).</summary>
    public bool Manual { get; init; }

    /// <summary>A cordon or drain automation wanted and the fleet breaker (<c>--max-auto-cordon</c>) held back; null when none.</summary>
    public string? Held { get; init; }

    /// <summary>When a reset was seen and the GPU has been clean since (it returns to healthy after <c>--gpu-clean-for</c>).</summary>
    public DateTimeOffset? CleanSince { get; init; }
}

/// <summary>The node's own health in <see cref="NodeInfo.Health"/>: drained for a reboot-class fault, and what the agent says about its sources.</summary>
public sealed record NodeHealthInfo
{
    /// <summary>True while drained for a fault that needs a reboot (its state reads draining, then drained).</summary>
    public bool Drained { get; init; }

    /// <summary>Why it was drained; null when it is not.</summary>
    public string? Cause { get; init; }

    /// <summary>Since when; null when it is not drained.</summary>
    public DateTimeOffset? Since { get; init; }

    /// <summary>Why the agent cannot read the kernel log for XIDs, as it last said; null when it can (or never said).</summary>
    public string? KernelLog { get; init; }
}

/// <summary>What changed in a health event. Serialized in camelCase.</summary>
[JsonConverter(typeof(CamelCaseEnumConverter<HealthChange>))]
public enum HealthChange
{
    /// <summary>The GPU returned to healthy (recovered, or a person uncordoned it).</summary>
    Healthy,

    /// <summary>The GPU is watched.</summary>
    Degraded,

    /// <summary>The GPU takes no new work.</summary>
    Cordoned,

    /// <summary>The node takes no new work (a reboot-class fault).</summary>
    Drained,

    /// <summary>The node takes work again.</summary>
    Undrained,

    /// <summary>Automation wanted to cordon or drain, and the fleet breaker held it back.</summary>
    Held,

    /// <summary>The job on the GPU was stopped (failed, or requeued while retries remain).</summary>
    JobStopped,
}

/// <summary>Who made a health change. Serialized in camelCase.</summary>
[JsonConverter(typeof(CamelCaseEnumConverter<HealthActor>))]
public enum HealthActor
{
    /// <summary>The server's health policy.</summary>
    Automation,

    /// <summary>A person, through the API, the CLI or the dashboard.</summary>
    Person,
}

/// <summary>One change of a node's or a GPU's health, as kept in the store's history.</summary>
public sealed record HealthEvent
{
    /// <summary>When the server made the change.</summary>
    public required DateTimeOffset Time { get; init; }

    /// <summary>The GPU's index; null for the node itself.</summary>
    public int? Gpu { get; init; }

    /// <summary>What changed.</summary>
    public required HealthChange Change { get; init; }

    /// <summary>Why, in words.</summary>
    public required string Cause { get; init; }

    /// <summary>What the agent reported that led to it ("XID 48 at 12:00:01Z from nvml; ECC uncorrected 2"); null when a person acted.</summary>
    public string? Evidence { get; init; }

    /// <summary>Automation or a person.</summary>
    public required HealthActor Actor { get; init; }

    /// <summary>The job a <see cref="HealthChange.JobStopped"/> stopped.</summary>
    public long? JobId { get; init; }
}

/// <summary>
/// <c>POST /api/v1/nodes/{id}/cordon</c> and <c>…/uncordon</c>: one GPU, or every GPU of the node when
/// <see cref="Gpu"/> is left out (uncordon then also ends a drain for a reboot-class fault).
/// </summary>
public sealed record CordonRequest
{
    /// <summary>The GPU's index; null for every GPU of the node.</summary>
    public int? Gpu { get; init; }

    /// <summary>Why, kept in the history (1 to 500 printable characters); a default is used when left out.</summary>
    public string? Reason { get; init; }
}

/// <summary>Wire names of the health enums, as the API, the CLI and the dashboard write them.</summary>
public static class HealthNames
{
    /// <summary><c>cordoned</c>, <c>jobStopped</c>.</summary>
    public static string Name(this HealthChange change) => CamelCaseEnumConverter<HealthChange>.Name(change);

    /// <summary><c>gpuReset</c>, <c>nodeReboot</c>.</summary>
    public static string Name(this GpuRecoveryNeed need) => CamelCaseEnumConverter<GpuRecoveryNeed>.Name(need);
}
