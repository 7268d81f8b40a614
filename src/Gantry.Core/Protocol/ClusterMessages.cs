using Gantry.Core.Jobs;
using Gantry.Core.Nodes;

namespace Gantry.Core.Protocol;

/// <summary>
/// One <c>event: cluster</c> of <c>GET /api/v1/cluster/events</c> (SSE, admin token): the whole fleet
/// at one moment, for live views such as <c>gantry top</c>. Sent on connect and then once a second.
/// </summary>
public sealed record ClusterSnapshot
{
    /// <summary>Most jobs each of <see cref="Running"/> and <see cref="Pending"/> carries.</summary>
    public const int JobListLimit = 200;

    /// <summary>When the server took the snapshot.</summary>
    public required DateTimeOffset At { get; init; }

    /// <summary>Every node ordered by id, each with its latest heartbeat summary.</summary>
    public required IReadOnlyList<NodeInfo> Nodes { get; init; }

    /// <summary>Nodes by state; a state with no node is left out.</summary>
    public required IReadOnlyDictionary<NodeState, int> NodeCounts { get; init; }

    /// <summary>Jobs by state since the store began; a state with no job is left out.</summary>
    public required IReadOnlyDictionary<JobState, int> JobCounts { get; init; }

    /// <summary>GPUs of all nodes.</summary>
    public required int Gpus { get; init; }

    /// <summary>GPUs held by a live attempt.</summary>
    public required int BusyGpus { get; init; }

    /// <summary>Assigned and running jobs, newest first, at most <see cref="JobListLimit"/>.</summary>
    public required IReadOnlyList<ClusterJob> Running { get; init; }

    /// <summary>Pending jobs, newest first, at most <see cref="JobListLimit"/>.</summary>
    public required IReadOnlyList<ClusterJob> Pending { get; init; }
}

/// <summary>A job as a live view lists it: what identifies it and where it runs (the rest is at <c>GET /api/v1/jobs/{id}</c>).</summary>
public sealed record ClusterJob
{
    /// <summary>Job id.</summary>
    public required long Id { get; init; }

    /// <summary>Name given at submission.</summary>
    public string? Name { get; init; }

    /// <summary>Current state.</summary>
    public required JobState State { get; init; }

    /// <summary>Why it is in that state (e.g. why it waits), when known.</summary>
    public string? Reason { get; init; }

    /// <summary>The command, argv.</summary>
    public required IReadOnlyList<string> Command { get; init; }

    /// <summary>GPUs asked for.</summary>
    public required int GpusRequested { get; init; }

    /// <summary>Scheduling priority.</summary>
    public required int Priority { get; init; }

    /// <summary>When it was submitted.</summary>
    public required DateTimeOffset SubmittedAt { get; init; }

    /// <summary>When its current attempt started running.</summary>
    public DateTimeOffset? StartedAt { get; init; }

    /// <summary>The node of its live attempt.</summary>
    public string? NodeId { get; init; }

    /// <summary>GPU indexes of its live attempt on that node.</summary>
    public IReadOnlyList<int> Gpus { get; set; } = [];
}
