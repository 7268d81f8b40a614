using System.Text.Json.Serialization;
using Gantry.Core.Nodes;

namespace Gantry.Core.Protocol;

/// <summary>
/// <c>POST /api/v1/nodes/register</c>, authenticated with the join token. The server answers with the
/// node id (the one sent, when it is given) and a fresh per-node credential.
/// </summary>
public sealed record RegisterNodeRequest
{
    /// <summary>The id kept in the agent's state dir; null on a node's first start (the server assigns one).</summary>
    public string? NodeId { get; init; }

    /// <summary>Host name.</summary>
    public required string Name { get; init; }

    /// <summary>CPU cores.</summary>
    public required int CpuCores { get; init; }

    /// <summary>MemTotal from /proc/meminfo.</summary>
    public required long MemoryBytes { get; init; }

    /// <summary>"linux", "windows" or "macos".</summary>
    public required string Os { get; init; }

    /// <summary>"x64", "arm64", …</summary>
    public required string Architecture { get; init; }

    /// <summary>Labels from <c>--labels k=v,…</c>.</summary>
    public IReadOnlyDictionary<string, string> Labels { get; set; } = new Dictionary<string, string>();

    /// <summary>Every GPU of the node.</summary>
    public IReadOnlyList<GpuInventory> Gpus { get; set; } = [];

    /// <summary>The agent's version.</summary>
    public string? AgentVersion { get; init; }

    /// <summary>Where the agent's own endpoints are, e.g. http://10.0.0.5:9450.</summary>
    public string? AgentUrl { get; init; }

    /// <summary>
    /// Attempts the agent is running right now. Live attempts the server holds for this node that are
    /// not in this list are marked lost (the agent restarted and no longer runs them).
    /// </summary>
    public IReadOnlyList<AttemptRef> RunningAttempts { get; set; } = [];

    /// <summary>The container runtimes found on the node, with their versions (empty: none; container jobs are not placed here).</summary>
    public IReadOnlyList<ContainerRuntimeInfo> ContainerRuntimes { get; set; } = [];
}

/// <summary>The answer to a registration.</summary>
public sealed record RegisterNodeResponse
{
    /// <summary>The node's id; the agent keeps it in its state dir.</summary>
    public required string NodeId { get; init; }

    /// <summary>The node's credential: a bearer token for its heartbeats, assignments, events and logs.</summary>
    public required string Credential { get; init; }

    /// <summary>How often the server expects a heartbeat.</summary>
    public required double HeartbeatIntervalSeconds { get; init; }

    /// <summary>
    /// True from a server that reads <see cref="HeartbeatRequest.Health"/>; an agent sends it only then
    /// (a server of an earlier version refuses properties it does not know).
    /// </summary>
    public bool AcceptsHealth { get; init; }

    // Job energy: added with the energy feature.

    /// <summary>
    /// True from a server that reads <see cref="HeartbeatRequest.AttemptEnergy"/> and <see cref="AttemptEvent.Energy"/>;
    /// an agent sends them only then (a server of an earlier version refuses properties it does not know).
    /// </summary>
    public bool AcceptsEnergy { get; init; }
}

/// <summary>Names one attempt of one job and its fencing epoch.</summary>
public sealed record AttemptRef
{
    /// <summary>Job id.</summary>
    [JsonRequired]
    public long JobId { get; set; }

    /// <summary>Attempt number, from 1.</summary>
    [JsonRequired]
    public int Attempt { get; set; }

    /// <summary>Fencing epoch of the attempt: unique across the cluster and increasing.</summary>
    [JsonRequired]
    public long Epoch { get; set; }
}

/// <summary><c>POST /api/v1/nodes/{id}/heartbeat</c>, authenticated with the node credential.</summary>
/// <remarks>
/// This record and those it holds (<see cref="NodeSummary"/>, <see cref="GpuSummary"/>,
/// <see cref="AttemptRef"/>, <see cref="NodeHealthReport"/> and its parts) have setters and <see cref="JsonRequiredAttribute"/> rather than
/// <c>required</c>/<c>init</c> members: System.Text.Json's source generator reads those through its
/// parameterized-constructor path, which buffers every value first, and heartbeats are the server's
/// most frequent request (10,000 nodes every 5 s: 2,000/s).
/// </remarks>
public sealed record HeartbeatRequest
{
    /// <summary>A compact summary of the latest sample; null when the agent has none yet.</summary>
    public NodeSummary? Summary { get; set; }

    /// <summary>Attempts the agent is running.</summary>
    public IReadOnlyList<AttemptRef> RunningAttempts { get; set; } = [];

    /// <summary>
    /// Each GPU's health and the XIDs since the last answered heartbeat; sent only to a server that
    /// said it reads it (<see cref="HeartbeatResponse.AcceptsHealth"/>), null otherwise and from agents
    /// of earlier versions.
    /// </summary>
    public NodeHealthReport? Health { get; set; }

    // Job energy: added with the energy feature.

    /// <summary>
    /// What each running attempt has used so far; sent only to a server that said it reads it
    /// (<see cref="HeartbeatResponse.AcceptsEnergy"/>), null otherwise and from agents of earlier versions.
    /// </summary>
    public IReadOnlyList<AttemptEnergyReport>? AttemptEnergy { get; set; }

    // Power caps (docs/power.md).

    /// <summary>
    /// The GPUs' power limits and caps; sent only to a server that sent <see cref="HeartbeatResponse.Power"/>,
    /// null otherwise and from agents of earlier versions.
    /// </summary>
    public NodePowerReport? Power { get; set; }

    /// <summary>Each running service attempt's health and metrics counters; null when the node runs none.</summary>
    public IReadOnlyList<ServiceReport>? Services { get; set; }
}

/// <summary>The answer to a heartbeat.</summary>
public sealed record HeartbeatResponse
{
    /// <summary>The node's state as the server sees it.</summary>
    public required NodeState State { get; init; }

    /// <summary>When the lease runs out without another heartbeat.</summary>
    public required DateTimeOffset LeaseExpiresAt { get; init; }

    /// <summary>The node's current assignment index (see <see cref="AssignmentsResponse.Index"/>).</summary>
    public required long AssignmentIndex { get; init; }

    /// <summary>
    /// The answering leader's epoch: it rises with every new leader among replicas sharing one store
    /// (0 for a server that runs alone). An agent ignores answers from a lower epoch than it has seen.
    /// </summary>
    public long LeaderEpoch { get; init; }

    /// <summary>True from a server that reads <see cref="HeartbeatRequest.Health"/> (see <see cref="RegisterNodeResponse.AcceptsHealth"/>).</summary>
    public bool AcceptsHealth { get; init; }

    /// <summary>True from a server that reads attempts' energy (see <see cref="RegisterNodeResponse.AcceptsEnergy"/>).</summary>
    public bool AcceptsEnergy { get; init; }

    // Power caps (docs/power.md).

    /// <summary>The power caps the server wants on the node's GPUs; null from a server of an earlier version.</summary>
    public NodePowerOrders? Power { get; init; }
}

/// <summary>A compact summary of one sample of a node, carried by heartbeats.</summary>
public sealed record NodeSummary
{
    /// <summary>When the sample was taken.</summary>
    [JsonRequired]
    public DateTimeOffset SampledAt { get; set; }

    /// <summary>Busy share of all CPU time since the previous sample, 0 to 1.</summary>
    public double? CpuUtilization { get; set; }

    /// <summary>MemTotal − MemAvailable.</summary>
    public long? MemoryUsedBytes { get; set; }

    /// <summary>MemTotal.</summary>
    public long? MemoryTotalBytes { get; set; }

    /// <summary>Node power in watts (meter, or RAPL + GPUs), when known.</summary>
    public double? PowerWatts { get; set; }

    /// <summary>CPU package and DRAM power from RAPL, when the node has it (part of <see cref="PowerWatts"/>).</summary>
    public double? CpuPowerWatts { get; set; }

    /// <summary>The node's power envelope (the agent's <c>--node-power-envelope-watts</c>); null when it has none.</summary>
    public double? PowerEnvelopeWatts { get; set; }

    /// <summary>True when the summary comes from simulated GPUs.</summary>
    public bool Simulated { get; set; }

    /// <summary>
    /// Tokens generated per second by the node's inference servers (<c>--app-metrics-url</c>), summed
    /// over those that reported a rate; null when none does.
    /// </summary>
    public double? GeneratedTokensPerSecond { get; set; }

    /// <summary>Prompt tokens processed per second, like <see cref="GeneratedTokensPerSecond"/>.</summary>
    public double? PromptTokensPerSecond { get; set; }

    /// <summary>Per-GPU figures.</summary>
    public IReadOnlyList<GpuSummary> Gpus { get; set; } = [];
}

/// <summary>One GPU's figures in a heartbeat; a reading the agent could not take is null.</summary>
public sealed record GpuSummary
{
    /// <summary>NVML index.</summary>
    [JsonRequired]
    public int Index { get; set; }

    /// <summary>True when NVML lost the GPU.</summary>
    public bool Lost { get; set; }

    /// <summary>GPU utilization, 0 to 1.</summary>
    public double? Utilization { get; set; }

    /// <summary>Framebuffer memory in use.</summary>
    public long? MemoryUsedBytes { get; set; }

    /// <summary>Framebuffer memory in all.</summary>
    public long? MemoryTotalBytes { get; set; }

    /// <summary>Core temperature.</summary>
    public double? TemperatureCelsius { get; set; }

    /// <summary>Power draw.</summary>
    public double? PowerWatts { get; set; }

    /// <summary>The GPU's energy counter since driver load.</summary>
    public double? EnergyJoules { get; set; }

    /// <summary>SM clock.</summary>
    public double? SmClockHertz { get; set; }

    /// <summary>Memory clock.</summary>
    public double? MemoryClockHertz { get; set; }

    /// <summary>Active clock-event (throttle) reasons, e.g. "sw_power_cap"; empty when none.</summary>
    public IReadOnlyList<string> ThrottleReasons { get; set; } = [];
}

/// <summary>
/// <c>GET /api/v1/nodes/{id}/assignments?index=N&amp;wait=30s</c>: the attempts the node should be running
/// or stopping. Answers at once when the node's index is past N, otherwise when it moves or the wait ends.
/// </summary>
public sealed record AssignmentsResponse
{
    /// <summary>The node's assignment index; pass it back as <c>index</c> to wait for the next change.</summary>
    public required long Index { get; init; }

    /// <summary>Every live attempt of the node.</summary>
    public required IReadOnlyList<Assignment> Attempts { get; init; }

    /// <summary>The answering leader's epoch (see <see cref="HeartbeatResponse.LeaderEpoch"/>); an agent refuses assignments from a lower one.</summary>
    public long LeaderEpoch { get; init; }
}

/// <summary>What the agent should do with an attempt.</summary>
[JsonConverter(typeof(CamelCaseEnumConverter<AssignmentAction>))]
public enum AssignmentAction
{
    /// <summary>Run it (start it unless it runs already).</summary>
    Run,

    /// <summary>Stop it: SIGTERM to its process group, SIGKILL after the grace period.</summary>
    Stop,
}

/// <summary>One attempt handed to a node.</summary>
public sealed record Assignment
{
    /// <summary>Job id.</summary>
    public required long JobId { get; init; }

    /// <summary>Attempt number.</summary>
    public required int Attempt { get; init; }

    /// <summary>Fencing epoch: every event and log upload for the attempt carries it.</summary>
    public required long Epoch { get; init; }

    /// <summary>The epoch of the leader that made the assignment (see <see cref="HeartbeatResponse.LeaderEpoch"/>).</summary>
    public long LeaderEpoch { get; init; }

    /// <summary>Run or stop.</summary>
    public required AssignmentAction Action { get; init; }

    /// <summary>The job's name, if it has one.</summary>
    public string? Name { get; init; }

    /// <summary>The argument vector, or with <see cref="Shell"/> one shell string.</summary>
    public required IReadOnlyList<string> Command { get; init; }

    /// <summary>Run <see cref="Command"/>[0] with <c>/bin/sh -c</c>.</summary>
    public bool Shell { get; init; }

    /// <summary>Environment added to the agent's.</summary>
    public IReadOnlyDictionary<string, string> Env { get; set; } = new Dictionary<string, string>();

    /// <summary>Working directory; null for the agent's default.</summary>
    public string? WorkingDirectory { get; init; }

    /// <summary>GPU indexes given to the attempt (its <c>CUDA_VISIBLE_DEVICES</c>).</summary>
    public required IReadOnlyList<int> Gpus { get; init; }

    /// <summary>CPU cores reserved.</summary>
    public required int Cpus { get; init; }

    /// <summary>Host memory reserved.</summary>
    public required long MemoryBytes { get; init; }

    /// <summary>Kill the attempt (as a cancel) after this long; null for no limit.</summary>
    public double? MaxRuntimeSeconds { get; init; }

    /// <summary>Time between SIGTERM and SIGKILL when stopping.</summary>
    public required double KillGraceSeconds { get; init; }

    /// <summary>The array index for an array task (exported as <c>GANTRY_ARRAY_INDEX</c>).</summary>
    public int? ArrayIndex { get; init; }

    /// <summary>
    /// Characters of each output stream the server stores for the attempt (its <c>--max-job-log</c>);
    /// output past it need not be sent. Null from a server that sets no limit.
    /// </summary>
    public long? MaxLogChars { get; init; }

    /// <summary>The job's power cap per GPU in watts (<c>--gpu-power-cap</c>), for the attempt's GPUs while it runs; null for none.</summary>
    public double? GpuPowerCapWatts { get; init; }

    /// <summary>
    /// The Unix user the attempt runs as on an agent running as root: the submitting token's
    /// <c>--unix-user</c>; null when the token names none. An agent not running as root runs every
    /// attempt as itself.
    /// </summary>
    public string? RunAsUser { get; init; }

    /// <summary>The submitting token may run jobs as root (<c>--allow-root</c>); without it a root agent never runs the attempt as uid 0.</summary>
    public bool AllowRoot { get; init; }

    // ---- containers and services (docs/containers-jobs.md, docs/services.md) ----

    /// <summary>Run the attempt in this container; null for a process.</summary>
    public ContainerSpec? Container { get; init; }

    /// <summary>Batch or service.</summary>
    public JobKind Kind { get; init; } = JobKind.Batch;

    /// <summary>For a service: the health check the agent runs and the metrics endpoint it reads.</summary>
    public ServiceSpec? Service { get; init; }
}

/// <summary>What happened to an attempt, as its agent reports it.</summary>
[JsonConverter(typeof(CamelCaseEnumConverter<AttemptEventType>))]
public enum AttemptEventType
{
    /// <summary>The process started.</summary>
    Started,

    /// <summary>The process ended (or never started); see <see cref="AttemptEvent.Cause"/>.</summary>
    Ended,
}

/// <summary>Why an attempt ended.</summary>
[JsonConverter(typeof(CamelCaseEnumConverter<AttemptEndCause>))]
public enum AttemptEndCause
{
    /// <summary>The process exited on its own (or was killed by a signal nobody at Gantry sent).</summary>
    Exited,

    /// <summary>Stopped on the server's request.</summary>
    Stopped,

    /// <summary>Killed for exceeding its maximum run time.</summary>
    TimedOut,

    /// <summary>Could not be started (bad command, bad working directory).</summary>
    StartFailed,

    /// <summary>Found left over from a previous agent run and killed.</summary>
    Orphaned,

    /// <summary>The kernel killed it (or a process of it) for using more than its memory limit (its <c>--memory</c>, enforced by the agent's cgroup).</summary>
    OutOfMemory,

    /// <summary>A service stopped by its agent because its health check kept failing after its grace.</summary>
    Unhealthy,
}

/// <summary><c>POST /api/v1/jobs/{id}/attempts/{attempt}/events</c>, authenticated with the node credential.</summary>
public sealed record AttemptEvent
{
    /// <summary>The attempt's fencing epoch; a stale one is refused with 409.</summary>
    public required long Epoch { get; init; }

    /// <summary>Started or ended.</summary>
    public required AttemptEventType Type { get; init; }

    /// <summary>When it happened, by the agent's clock.</summary>
    public required DateTimeOffset Time { get; init; }

    /// <summary>Process id, on start.</summary>
    public int? Pid { get; init; }

    /// <summary>Why it ended (with <see cref="AttemptEventType.Ended"/>).</summary>
    public AttemptEndCause? Cause { get; init; }

    /// <summary>Exit code, when the process exited.</summary>
    public int? ExitCode { get; init; }

    /// <summary>Signal name, when a signal ended it ("SIGKILL").</summary>
    public string? Signal { get; init; }

    /// <summary>A human-readable detail ("no such file: /bin/nope").</summary>
    public string? Message { get; init; }

    /// <summary>
    /// With <see cref="AttemptEventType.Ended"/>: what the attempt used, final; only to a server that
    /// reads it (<see cref="RegisterNodeResponse.AcceptsEnergy"/>).
    /// </summary>
    public AttemptEnergyReport? Energy { get; init; }
}

/// <summary>Which output stream a log chunk came from.</summary>
[JsonConverter(typeof(CamelCaseEnumConverter<LogSource>))]
public enum LogSource
{
    /// <summary>Standard output.</summary>
    Stdout,

    /// <summary>Standard error.</summary>
    Stderr,
}

/// <summary><c>POST /api/v1/jobs/{id}/attempts/{attempt}/logs</c>, authenticated with the node credential.</summary>
public sealed record LogUpload
{
    /// <summary>The attempt's fencing epoch.</summary>
    public required long Epoch { get; init; }

    /// <summary>Chunks in order; a chunk already stored (same stream and offset) is ignored, so uploads may be retried.</summary>
    public required IReadOnlyList<LogChunk> Chunks { get; init; }
}

/// <summary>A piece of one output stream.</summary>
public sealed record LogChunk
{
    /// <summary>The stream.</summary>
    public required LogSource Stream { get; init; }

    /// <summary>Characters of this stream sent before this chunk.</summary>
    public required long Offset { get; init; }

    /// <summary>The text.</summary>
    public required string Data { get; init; }
}
