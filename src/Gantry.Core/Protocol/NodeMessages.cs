using Gantry.Core.Nodes;

namespace Gantry.Core.Protocol;

/// <summary>One GPU as an agent reports it when it registers.</summary>
public sealed record GpuInventory
{
    /// <summary>NVML index (what <c>CUDA_VISIBLE_DEVICES</c> counts).</summary>
    public required int Index { get; init; }

    /// <summary>NVML UUID (<c>GPU-…</c>).</summary>
    public required string Uuid { get; init; }

    /// <summary>Model name, e.g. "NVIDIA H100 80GB HBM3".</summary>
    public required string Model { get; init; }

    /// <summary>Total framebuffer memory.</summary>
    public required long MemoryBytes { get; init; }

    /// <summary>True for a GPU from <c>--simulate-gpus</c>.</summary>
    public bool Simulated { get; init; }

    /// <summary>Indexes of the GPUs on the same node this one has an active NVLink to.</summary>
    public IReadOnlyList<int> NvLinkPeers { get; set; } = [];
}

/// <summary>A node as the API shows it to people and tools.</summary>
public sealed record NodeInfo
{
    /// <summary>Stable node id (kept in the agent's state dir).</summary>
    public required string Id { get; init; }

    /// <summary>Host name the agent reported.</summary>
    public required string Name { get; init; }

    /// <summary>Liveness and drain state.</summary>
    public required NodeState State { get; init; }

    /// <summary>True once drained by a person and until undrained.</summary>
    public required bool Drain { get; init; }

    /// <summary>Operating system, e.g. "linux".</summary>
    public required string Os { get; init; }

    /// <summary>CPU architecture, e.g. "x64".</summary>
    public required string Architecture { get; init; }

    /// <summary>CPU cores.</summary>
    public required int CpuCores { get; init; }

    /// <summary>Host memory (MemTotal).</summary>
    public required long MemoryBytes { get; init; }

    /// <summary>CPU cores reserved by live attempts.</summary>
    public required int UsedCpus { get; init; }

    /// <summary>Host memory reserved by live attempts.</summary>
    public required long UsedMemoryBytes { get; init; }

    /// <summary>Labels from <c>--labels</c>.</summary>
    public required IReadOnlyDictionary<string, string> Labels { get; init; }

    /// <summary>Every GPU and the job holding it, if any.</summary>
    public required IReadOnlyList<NodeGpuInfo> Gpus { get; init; }

    /// <summary>Jobs with a live attempt on this node.</summary>
    public required IReadOnlyList<long> Jobs { get; init; }

    /// <summary>When the node first registered.</summary>
    public required DateTimeOffset RegisteredAt { get; init; }

    /// <summary>When the last heartbeat (or registration) arrived.</summary>
    public required DateTimeOffset LastHeartbeatAt { get; init; }

    /// <summary>The agent's version.</summary>
    public string? AgentVersion { get; init; }

    /// <summary>Where the agent serves /metrics and /status, when it said.</summary>
    public string? AgentUrl { get; init; }

    /// <summary>The container runtimes its agent found, with versions; empty when none.</summary>
    public IReadOnlyList<ContainerRuntimeInfo> ContainerRuntimes { get; init; } = [];

    /// <summary>The latest sample summary from a heartbeat.</summary>
    public NodeSummary? Summary { get; init; }

    /// <summary>The node's own health: drained for a reboot-class fault, the agent's kernel log; null when nothing was ever reported or decided.</summary>
    public NodeHealthInfo? Health { get; init; }

    /// <summary>
    /// The latest health changes of the node and its GPUs, newest first (at most 50), from the store:
    /// only in <c>GET /api/v1/nodes/{id}</c>, null in lists.
    /// </summary>
    public IReadOnlyList<HealthEvent>? HealthHistory { get; init; }

    /// <summary>The node's power caps: wanted and enforced (docs/power.md); only in <c>GET /api/v1/nodes/{id}</c>, null in lists.</summary>
    public NodePowerInfo? Power { get; init; }

    /// <summary>Power saving (docs/power-saving.md): suspension times, measured idle power and power per busy GPU, the energy saved; null when nothing is known.</summary>
    public NodePowerSavingInfo? PowerSaving { get; init; }
}

/// <summary>A GPU of a node with the job that holds it.</summary>
public sealed record NodeGpuInfo
{
    /// <summary>NVML index.</summary>
    public required int Index { get; init; }

    /// <summary>NVML UUID.</summary>
    public required string Uuid { get; init; }

    /// <summary>Model name.</summary>
    public required string Model { get; init; }

    /// <summary>Total memory.</summary>
    public required long MemoryBytes { get; init; }

    /// <summary>True for a simulated GPU.</summary>
    public bool Simulated { get; init; }

    /// <summary>NVLink peers on the same node.</summary>
    public IReadOnlyList<int> NvLinkPeers { get; set; } = [];

    /// <summary>The job whose live attempt holds this GPU; null when free.</summary>
    public long? JobId { get; init; }

    /// <summary>The GPU's health; null while healthy and nothing was ever decided about it.</summary>
    public GpuHealthInfo? Health { get; init; }
}
