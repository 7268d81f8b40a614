using Gantry.Core.Jobs;
using Gantry.Core.Nodes;
using Gantry.Core.Protocol;

namespace Gantry.Server.Cluster;

/// <summary>A node as the control plane holds it in memory. Guarded by the <see cref="ControlPlane"/> lock.</summary>
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

    public NodeState State { get; set; } = NodeState.Ready;

    public NodeSummary? Summary { get; set; }

    /// <summary>Moves whenever the node's set of live attempts or their actions change.</summary>
    public long AssignmentIndex { get; set; }

    public Signal AssignmentsChanged { get; } = new();

    /// <summary>Attempts in state assigned or running on this node.</summary>
    public List<AttemptRecord> Live { get; } = [];

    /// <summary>GPU index → job whose live attempt holds it.</summary>
    public Dictionary<int, long> GpuHolders { get; } = [];

    /// <summary>CPU cores reserved by live attempts.</summary>
    public int UsedCpus { get; set; }

    /// <summary>Host memory reserved by live attempts.</summary>
    public long UsedMemoryBytes { get; set; }

    public bool Schedulable => State == NodeState.Ready && !Drain;
}

/// <summary>A job in memory, with its attempts and transitions.</summary>
internal sealed class JobRecord
{
    public required long Id { get; init; }

    /// <summary>The submission (without its array range: each array task is its own job).</summary>
    public required JobSubmission Spec { get; init; }

    public int? ArrayIndex { get; init; }

    public required JobState State { get; set; }

    public string? Reason { get; set; }

    public bool CancelRequested { get; set; }

    public required DateTimeOffset SubmittedAt { get; init; }

    /// <summary>When the job last became pending (submission or requeue); the reservation clock.</summary>
    public required DateTimeOffset QueuedAt { get; set; }

    public DateTimeOffset? StartedAt { get; set; }

    public DateTimeOffset? EndedAt { get; set; }

    public int? ExitCode { get; set; }

    /// <summary>Failed or lost attempts that counted against <see cref="JobSubmission.Retries"/>.</summary>
    public int RetriesUsed { get; set; }

    public List<AttemptRecord> Attempts { get; } = [];

    public List<JobTransition> Transitions { get; } = [];

    /// <summary>Pulsed when logs arrive or the job's state changes, for log followers.</summary>
    public Signal Changed { get; } = new();

    public AttemptRecord? Current => Attempts.Count == 0 ? null : Attempts[^1];
}

/// <summary>One placement of a job on a node.</summary>
internal sealed class AttemptRecord
{
    public required JobRecord Job { get; init; }

    public required int Number { get; init; }

    public required long Epoch { get; init; }

    public required string NodeId { get; init; }

    public required int[] Gpus { get; init; }

    public required string[] GpuUuids { get; init; }

    public required int Cpus { get; init; }

    public required long MemoryBytes { get; init; }

    public required AttemptState State { get; set; }

    public required DateTimeOffset AssignedAt { get; init; }

    public DateTimeOffset? StartedAt { get; set; }

    public DateTimeOffset? EndedAt { get; set; }

    public int? ExitCode { get; set; }

    public string? Signal { get; set; }

    public string? Reason { get; set; }

    /// <summary>True when the attempt ended because its agent said so (a repeated report is then harmless).</summary>
    public bool EndedByAgent { get; set; }
}

/// <summary>
/// A level-triggered wake-up for waiters (blocking queries, log followers): <see cref="Next"/>
/// returns a task that completes at the next <see cref="Pulse"/>.
/// </summary>
internal sealed class Signal
{
    private TaskCompletionSource _next = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>The task of the next pulse. Take it before checking state, then await it.</summary>
    public Task Next => Volatile.Read(ref _next).Task;

    /// <summary>Wakes every waiter.</summary>
    public void Pulse() =>
        Interlocked.Exchange(ref _next, new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously)).TrySetResult();
}
