using Gantry.Core.Nodes;
using Gantry.Core.Protocol;
using Gantry.Core.Scheduling;
using Gantry.Server.Health;
using Gantry.Server.Live;
using Gantry.Server.Storage;

namespace Gantry.Server.Nodes;

/// <summary>A node as the registry holds it in memory. Guarded by the <see cref="NodeRegistry"/> lock.</summary>
internal sealed class NodeRecord
{
    public required string Id { get; init; }

    public required string Name { get; set; }

    public required string Os { get; set; }

    public required string Architecture { get; set; }

    public required int CpuCores { get; set; }

    public required long MemoryBytes { get; set; }

    public required IReadOnlyDictionary<string, string> Labels { get; set; }

    public required IReadOnlyList<GpuInventory> Gpus { get; set; }

    public required byte[] CredentialHash { get; set; }

    public required DateTimeOffset RegisteredAt { get; init; }

    public required DateTimeOffset LastHeartbeatAt { get; set; }

    public bool Drain { get; set; }

    public string? AgentVersion { get; set; }

    public string? AgentUrl { get; set; }

    /// <summary>The container runtimes the agent found (docs/containers-jobs.md); empty for none.</summary>
    public IReadOnlyList<ContainerRuntimeInfo> ContainerRuntimes { get; set; } = [];

    public NodeState State { get; set; } = NodeState.Ready;

    public NodeSummary? Summary { get; set; }

    /// <summary>Moves whenever the node's set of live attempts or their actions change.</summary>
    public long AssignmentIndex { get; set; }

    public Signal AssignmentsChanged { get; } = new();

    /// <summary>Attempts assigned to or running on this node, as the agent is told them.</summary>
    public List<Assignment> Live { get; } = [];

    /// <summary>GPU index → job whose live attempt holds it.</summary>
    public Dictionary<int, long> GpuHolders { get; } = [];

    /// <summary>CPU cores reserved by live attempts.</summary>
    public int UsedCpus { get; set; }

    /// <summary>Host memory reserved by live attempts.</summary>
    public long UsedMemoryBytes { get; set; }

    /// <summary>What the health feature says of the node and its GPUs; null while it has nothing to say.</summary>
    public NodeHealthView? Health { get; set; }

    /// <summary>What the scheduler sees of this node; rebuilt only after the node changed.</summary>
    public SchedulingNode? SchedulingView { get; set; }

    /// <summary>Power saving: the suspend/resume cycle, measured idle power and power per busy GPU, energy saved.</summary>
    public PowerSaving.NodePower Power { get; } = new();

    public bool Schedulable => State == NodeState.Ready && !Drain && Health?.Drained != true;

    public NodeRow ToRow() => new(Id, Name, Os, Architecture, CpuCores, MemoryBytes, Labels, Gpus, Drain, CredentialHash, RegisteredAt, LastHeartbeatAt, AgentVersion, AgentUrl)
    {
        ContainerRuntimes = ContainerRuntimes,
    };
}
