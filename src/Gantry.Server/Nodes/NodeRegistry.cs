using System.Security.Cryptography;
using Gantry.Core.Nodes;
using Gantry.Core.Protocol;
using Gantry.Core.Scheduling;
using Gantry.Server.Auth;
using Gantry.Server.Carbon;
using Gantry.Server.Configuration;
using Gantry.Server.Health;
using Gantry.Server.Live;
using Gantry.Server.Observability;
using Gantry.Server.Storage;
using Gantry.Server.Energy;
using Gantry.Server.Telemetry;
using Microsoft.Extensions.Logging;

namespace Gantry.Server.Nodes;

/// <summary>
/// The node feature: every node's facts, credential, lease and liveness, and what its live attempts
/// hold (GPUs, cores, memory). One lock guards it; no call holds it for more than one node's work,
/// and nothing here walks every node per heartbeat or per sweep: leases expire from two queues in
/// deadline order. The job feature tells the registry what to hold and release
/// (<see cref="TryHold"/>, <see cref="Release"/>, <see cref="Stop"/>), always outside its own calls
/// into the registry's callers: the lock order is jobs, then nodes.
/// </summary>
internal sealed partial class NodeRegistry
{
    private readonly Lock _lock = new();

    // Node rows are written one at a time under this lock, never under _lock: heartbeats wait for
    // _lock, and a PostgreSQL write is a network round trip whose answer needs a thread-pool thread.
    // With the write under _lock, thousands of heartbeats blocked every pool thread behind one
    // registration while its answer sat unread (registering a fleet on PostgreSQL stalled for the
    // command timeout). Order: _writes, then _lock or the store, never both at once.
    private readonly Lock _writes = new();
    private readonly IStateStore _store;
    private readonly ServerOptions _options;
    private readonly TimeProvider _time;
    private readonly ClusterSignals _signals;
    private readonly ServerMetrics _metrics;
    private readonly ILogger<NodeRegistry> _logger;
    private readonly long _leaderEpoch;
    private readonly Dictionary<string, NodeRecord> _nodes = new(StringComparer.Ordinal);
    private readonly SortedSet<string> _ids = new(StringComparer.Ordinal);
    private readonly Dictionary<string, string> _nodeByCredential = new(StringComparer.Ordinal);
    private readonly Dictionary<NodeState, int> _stateCounts = [];

    // Lease deadlines in the order they fall due: heartbeat times only grow, so a FIFO queue is
    // sorted. An entry is stale when the node heartbeated since; the sweep skips those.
    private readonly Queue<(NodeRecord Node, DateTimeOffset Due)> _suspectAt = new();
    private readonly Queue<(NodeRecord Node, DateTimeOffset Due)> _downAt = new();
    private readonly long _indexBase;
    private readonly DateTimeOffset _loadedAt;
    private int _gpus;
    private int _busyGpus;

    // Set by Apply (under _writes and _lock) when a registration woke a suspended or resuming node.
    private bool _registerWoke;

    public NodeRegistry(IStateStore store, StoredState state, ServerOptions options, TimeProvider time, ClusterSignals signals, ServerMetrics metrics, ILogger<NodeRegistry> logger, long leaderEpoch = 0)
    {
        _leaderEpoch = leaderEpoch;
        _store = store;
        _options = options;
        _time = time;
        _signals = signals;
        _metrics = metrics;
        _logger = logger;
        var now = time.GetUtcNow();
        // Assignment indexes restart from a time-based value so an agent's old index never equals a new one.
        _indexBase = now.ToUnixTimeMilliseconds();
        _loadedAt = now;
        foreach (var row in state.Nodes)
        {
            var node = new NodeRecord
            {
                Id = row.Id,
                Name = row.Name,
                Os = row.Os,
                Architecture = row.Architecture,
                CpuCores = row.CpuCores,
                MemoryBytes = row.MemoryBytes,
                Labels = row.Labels,
                Gpus = row.Gpus,
                CredentialHash = row.CredentialHash,
                RegisteredAt = row.RegisteredAt,
                Drain = row.Drain,
                AgentVersion = row.AgentVersion,
                AgentUrl = row.AgentUrl,
                ContainerRuntimes = row.ContainerRuntimes,
                // Every node gets a fresh lease: the server was away, not the agents.
                LastHeartbeatAt = now,
                AssignmentIndex = _indexBase,
            };
            node.State = Evaluate(node, now);
            _nodes[node.Id] = node;
            _ids.Add(node.Id);
            _nodeByCredential[Convert.ToHexString(node.CredentialHash)] = node.Id;
            _stateCounts[node.State] = _stateCounts.GetValueOrDefault(node.State) + 1;
            _gpus += node.Gpus.Count;
            _suspectAt.Enqueue((node, now + _options.Lease));
        }

        // Power saving (NodeRegistry.PowerSaving.cs): stored suspended/resuming states, then the idle index.
        LoadPower(state);
        foreach (var node in _nodes.Values)
        {
            SetState(node, Evaluate(node, now));
        }
    }

    /// <summary>Where heartbeats hand their summaries; null when telemetry history is not kept (benchmarks without it).</summary>
    public TelemetryIngest? Telemetry { get; set; }

    /// <summary>The fleet's energy figures, fed each heartbeat's summary after the lock is let go.</summary>
    public FleetEnergy? Energy { get; set; }

    /// <summary>
    /// Where each node is for carbon accounting: its location goes into its scheduling view (built when
    /// the node changes, not per pass), where a carbon plan's pin reads it.
    /// </summary>
    public ICarbonIntensity? Carbon { get; set; }

    /// <summary>How many nodes are known.</summary>
    public int Count
    {
        get
        {
            lock (_lock)
            {
                return _nodes.Count;
            }
        }
    }

    /// <summary>
    /// Gives every node that has not heartbeated since the state was loaded a fresh lease from now: the
    /// grace of one <see cref="ServerOptions.DownAfter"/> counts from when agents can reach the server,
    /// not from when it began to start (which can take a while on a busy machine).
    /// </summary>
    public void RenewLoadedLeases()
    {
        lock (_lock)
        {
            var now = _time.GetUtcNow();
            foreach (var node in _nodes.Values)
            {
                if (node.LastHeartbeatAt == _loadedAt && node.LastHeartbeatAt < now)
                {
                    node.LastHeartbeatAt = now;
                    _suspectAt.Enqueue((node, now + _options.Lease));
                }
            }
        }
    }

    /// <summary>The node whose credential this is, or null.</summary>
    public string? NodeForCredential(byte[] tokenHash)
    {
        lock (_lock)
        {
            return _nodeByCredential.TryGetValue(Convert.ToHexString(tokenHash), out var id)
                && _nodes.TryGetValue(id, out var node)
                && Tokens.Matches(tokenHash, node.CredentialHash)
                ? id
                : null;
        }
    }

    /// <summary>
    /// Registers a node (or a known node again, with a new credential). <paramref name="orphaned"/> gets
    /// the attempts the server thought live there that the agent no longer runs: the job feature ends them.
    /// </summary>
    public RegisterNodeResponse Register(RegisterNodeRequest request, out List<AttemptRef> orphaned)
    {
        ArgumentNullException.ThrowIfNull(request);
        var credential = Tokens.New("gnode_");
        var hash = Tokens.Hash(credential);
        orphaned = [];
        string id;
        var woke = false;
        lock (_writes)
        {
            DateTimeOffset now;
            NodeRow row;
            lock (_lock)
            {
                now = _time.GetUtcNow();
                id = request.NodeId ?? NewNodeId();
                _nodes.TryGetValue(id, out var existing);
                row = new NodeRow(id, request.Name, request.Os, request.Architecture, request.CpuCores, request.MemoryBytes, request.Labels, request.Gpus,
                    existing?.Drain ?? false, hash, existing?.RegisteredAt ?? now, now, request.AgentVersion, request.AgentUrl)
                {
                    ContainerRuntimes = request.ContainerRuntimes,
                };
            }

            // Stored first, outside _lock; applied to memory only once it is (a refused write changes nothing).
            _store.Write(w => w.UpsertNode(row));
            lock (_lock)
            {
                // The lease counts from now, after the write: deadlines join their queue in time order.
                Apply(request, id, hash, registeredAt: now, leaseFrom: _time.GetUtcNow(), orphaned);
                woke = _registerWoke;
            }
        }

        if (woke)
        {
            PersistPower(id);
        }

        _signals.SchedulerWake.Pulse();
        _signals.Changed.Pulse();
        return new RegisterNodeResponse
        {
            NodeId = id,
            Credential = credential,
            HeartbeatIntervalSeconds = _options.HeartbeatInterval.TotalSeconds,
            AcceptsHealth = true,
            AcceptsEnergy = true,
        };
    }

    /// <summary>A stored registration, into memory; under <see cref="_lock"/>.</summary>
    private void Apply(RegisterNodeRequest request, string id, byte[] hash, DateTimeOffset registeredAt, DateTimeOffset leaseFrom, List<AttemptRef> orphaned)
    {
        var known = _nodes.TryGetValue(id, out var node);
        if (node is null)
        {
            node = new NodeRecord
            {
                Id = id,
                Name = request.Name,
                Os = request.Os,
                Architecture = request.Architecture,
                CpuCores = request.CpuCores,
                MemoryBytes = request.MemoryBytes,
                Labels = request.Labels,
                Gpus = request.Gpus,
                CredentialHash = hash,
                RegisteredAt = registeredAt,
                LastHeartbeatAt = leaseFrom,
                AssignmentIndex = _indexBase,
            };
            _nodes[id] = node;
            _ids.Add(id);
            _stateCounts[node.State] = _stateCounts.GetValueOrDefault(node.State) + 1;
        }
        else
        {
            _nodeByCredential.Remove(Convert.ToHexString(node.CredentialHash));
            _gpus -= node.Gpus.Count;
            node.Name = request.Name;
            node.Os = request.Os;
            node.Architecture = request.Architecture;
            node.CpuCores = request.CpuCores;
            node.MemoryBytes = request.MemoryBytes;
            node.Labels = request.Labels;
            node.Gpus = request.Gpus;
            node.CredentialHash = hash;
            node.LastHeartbeatAt = leaseFrom;
        }

        _gpus += node.Gpus.Count;
        node.AgentVersion = request.AgentVersion;
        node.AgentUrl = request.AgentUrl;
        node.ContainerRuntimes = request.ContainerRuntimes;
        node.SchedulingView = null;
        _nodeByCredential[Convert.ToHexString(hash)] = id;

        // The agent says what it runs; anything else we think is live there is not.
        foreach (var live in node.Live)
        {
            if (!Lists(request.RunningAttempts, live))
            {
                orphaned.Add(new AttemptRef { JobId = live.JobId, Attempt = live.Attempt, Epoch = live.Epoch });
            }
        }

        _registerWoke = WakeOnRegister(node, leaseFrom);
        SetState(node, Evaluate(node, leaseFrom));
        _suspectAt.Enqueue((node, leaseFrom + _options.Lease));
        Bump(node);
        Log.NodeRegistered(_logger, id, request.Name, request.Gpus.Count, known);
    }

    private static bool Lists(IReadOnlyList<AttemptRef> running, Assignment live)
    {
        foreach (var r in running)
        {
            if (r.JobId == live.JobId && r.Attempt == live.Attempt && r.Epoch == live.Epoch)
            {
                return true;
            }
        }

        return false;
    }

    private string NewNodeId()
    {
        while (true)
        {
            var id = "n" + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(6));
            if (!_nodes.ContainsKey(id))
            {
                return id;
            }
        }
    }

    /// <summary>Renews a node's lease; null when the node is unknown (the agent registers again).</summary>
    public HeartbeatResponse? Heartbeat(string nodeId, HeartbeatRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        bool back;
        NodeState state;
        long assignmentIndex;

        IReadOnlyDictionary<string, string> labels;
        DateTimeOffset receivedAt;
        bool powerChanged;
        lock (_lock)
        {
            if (!_nodes.TryGetValue(nodeId, out var node))
            {
                return null;
            }

            var now = _time.GetUtcNow();
            var wasSchedulable = node.Schedulable;
            node.LastHeartbeatAt = now;
            node.Summary = request.Summary;
            labels = node.Labels;
            receivedAt = now;
            powerChanged = ObservePower(node, request.Summary, now);
            SetState(node, Evaluate(node, now));
            _suspectAt.Enqueue((node, now + _options.Lease));
            back = node.Schedulable && !wasSchedulable;
            (state, assignmentIndex) = (node.State, node.AssignmentIndex);
        }

        // Power caps (docs/power.md): the report first (its GPUs' ranges), then the wanted caps, worked out
        // from this heartbeat's figures; both after the registry's lock.
        if (request.Power is { } powerReport)
        {
            Power?.Observe(nodeId, powerReport);
        }

        var response = new HeartbeatResponse
        {
            State = state,
            LeaseExpiresAt = receivedAt + _options.Lease,
            AssignmentIndex = assignmentIndex,
            LeaderEpoch = _leaderEpoch,
            AcceptsHealth = true,
            AcceptsEnergy = true,
            Power = Power?.Orders(nodeId),
        };

        Telemetry?.Enqueue(nodeId, request.Summary);
        if (request.Summary is { } summary)
        {
            Energy?.Observe(nodeId, labels, summary, receivedAt);
        }

        _metrics.Heartbeats.Increment();
        if (powerChanged)
        {
            PersistPower(nodeId);
        }

        if (back)
        {
            _signals.SchedulerWake.Pulse();
            _signals.Changed.Pulse();
        }

        return response;
    }

    /// <summary>The node's live attempts and its index, plus the signal that fires when they change; null for an unknown node.</summary>
    public (AssignmentsResponse Response, Task Changed)? Assignments(string nodeId)
    {
        lock (_lock)
        {
            if (!_nodes.TryGetValue(nodeId, out var node))
            {
                return null;
            }

            var changed = node.AssignmentsChanged.Next;
            return (new AssignmentsResponse { Index = node.AssignmentIndex, Attempts = [.. node.Live], LeaderEpoch = _leaderEpoch }, changed);
        }
    }

    /// <summary>Sets or clears a node's drain flag; null when the node is unknown.</summary>
    public NodeInfo? Drain(string nodeId, bool drain)
    {
        NodeInfo info;
        lock (_writes)
        {
            bool change;
            lock (_lock)
            {
                if (!_nodes.TryGetValue(nodeId, out var known))
                {
                    return null;
                }

                change = known.Drain != drain;
            }

            // As Register: stored outside _lock, then applied.
            if (change)
            {
                _store.Write(w => w.SetNodeDrain(nodeId, drain));
            }

            lock (_lock)
            {
                var node = _nodes[nodeId];
                if (change)
                {
                    node.Drain = drain;
                    SetState(node, Evaluate(node, _time.GetUtcNow()));
                    Log.NodeDrain(_logger, nodeId, drain);
                }

                info = ToNodeInfo(node);
            }
        }

        _signals.SchedulerWake.Pulse();
        _signals.Changed.Pulse();
        return info;
    }

    /// <summary>
    /// What the health feature says of a node now: the GPUs placement leaves out, and whether the node is
    /// drained for a reboot-class fault (its state then reads draining or drained). Unknown nodes are ignored.
    /// </summary>
    public void ApplyHealth(string nodeId, NodeHealthView view)
    {
        ArgumentNullException.ThrowIfNull(view);
        bool back;
        lock (_lock)
        {
            if (!_nodes.TryGetValue(nodeId, out var node))
            {
                return;
            }

            var wasSchedulable = node.Schedulable;
            node.Health = view;
            node.SchedulingView = null;
            SetState(node, Evaluate(node, _time.GetUtcNow()));
            back = node.Schedulable && !wasSchedulable;
        }

        if (back)
        {
            _signals.SchedulerWake.Pulse();
        }
    }

    /// <summary>The indexes of a node's GPUs as it registered them; null for an unknown node.</summary>
    public int[]? GpuIndexes(string nodeId)
    {
        lock (_lock)
        {
            if (!_nodes.TryGetValue(nodeId, out var node))
            {
                return null;
            }

            var indexes = new int[node.Gpus.Count];
            for (var i = 0; i < indexes.Length; i++)
            {
                indexes[i] = node.Gpus[i].Index;
            }

            return indexes;
        }
    }

    /// <summary>A node's labels; null for an unknown node (job energy: the node's carbon location).</summary>
    public IReadOnlyDictionary<string, string>? LabelsOf(string nodeId)
    {
        lock (_lock)
        {
            return _nodes.TryGetValue(nodeId, out var node) ? node.Labels : null;
        }
    }

    /// <summary>The live attempt holding GPU <paramref name="gpu"/> of a node; null when none does.</summary>
    public AttemptRef? AttemptOn(string nodeId, int gpu)
    {
        lock (_lock)
        {
            if (!_nodes.TryGetValue(nodeId, out var node) || !node.GpuHolders.ContainsKey(gpu))
            {
                return null;
            }

            foreach (var live in node.Live)
            {
                foreach (var held in live.Gpus)
                {
                    if (held == gpu)
                    {
                        return new AttemptRef { JobId = live.JobId, Attempt = live.Attempt, Epoch = live.Epoch };
                    }
                }
            }

            return null;
        }
    }

    /// <summary>The fleet's GPUs, every node's counted (kept as nodes register: no walk).</summary>
    public int GpuCount
    {
        get
        {
            lock (_lock)
            {
                return _gpus;
            }
        }
    }

    /// <summary>
    /// Moves nodes whose lease ran out to suspect, and those silent past <see cref="ServerOptions.DownAfter"/>
    /// to down; returns, per node that went down, the live attempts it had (the job feature marks them lost).
    /// Work is proportional to the leases that fell due, not to the fleet.
    /// </summary>
    public List<(string NodeId, string Reason, List<AttemptRef> Attempts)> Sweep()
    {
        var lost = new List<(string, string, List<AttemptRef>)>();
        var changed = false;
        lock (_lock)
        {
            var now = _time.GetUtcNow();
            while (_suspectAt.TryPeek(out var due) && due.Due < now)
            {
                _suspectAt.Dequeue();
                var node = due.Node;
                // A suspended or resuming node's silence is expected: power saving watches it, not liveness.
                if (node.LastHeartbeatAt + _options.Lease >= now || !_nodes.ContainsKey(node.Id) || node.State is NodeState.Suspect or NodeState.Down or NodeState.Suspended or NodeState.Resuming)
                {
                    continue;
                }

                changed |= SetState(node, Evaluate(node, now));
                _downAt.Enqueue((node, node.LastHeartbeatAt + _options.DownAfter));
            }

            while (_downAt.TryPeek(out var due) && due.Due < now)
            {
                _downAt.Dequeue();
                var node = due.Node;
                if (node.LastHeartbeatAt + _options.DownAfter >= now || node.State is NodeState.Down or NodeState.Suspended or NodeState.Resuming || !_nodes.ContainsKey(node.Id))
                {
                    continue;
                }

                changed |= SetState(node, Evaluate(node, now));
                if (node.Live.Count > 0)
                {
                    var attempts = new List<AttemptRef>(node.Live.Count);
                    foreach (var live in node.Live)
                    {
                        attempts.Add(new AttemptRef { JobId = live.JobId, Attempt = live.Attempt, Epoch = live.Epoch });
                    }

                    var silent = (now - node.LastHeartbeatAt).TotalSeconds;
                    lost.Add((node.Id, $"node {node.Id} went down (no heartbeat for {silent:0}s)", attempts));
                }
            }
        }

        if (changed)
        {
            _signals.SchedulerWake.Pulse();
            _signals.Changed.Pulse();
        }

        return lost;
    }

    /// <summary>
    /// Holds a placement's GPUs, cores and memory on the node when they are still free and the node
    /// still takes work, and tells the agent; false otherwise (the placement is dropped).
    /// </summary>
    public bool TryHold(string nodeId, Assignment assignment)
    {
        ArgumentNullException.ThrowIfNull(assignment);
        lock (_lock)
        {
            if (!_nodes.TryGetValue(nodeId, out var node) || !Fits(node, assignment))
            {
                return false;
            }

            Hold(node, assignment);
            SetState(node, Evaluate(node, _time.GetUtcNow()));
            Bump(node);
            Power?.GpusChanged();
            return true;
        }
    }

    /// <summary>At start: a live attempt read from the store holds what it held.</summary>
    public void Restore(string nodeId, Assignment assignment)
    {
        lock (_lock)
        {
            if (_nodes.TryGetValue(nodeId, out var node))
            {
                Hold(node, assignment);
                SetState(node, Evaluate(node, _time.GetUtcNow()));
            }
        }
    }

    /// <summary>An attempt ended: what it held is free again, and the agent is told.</summary>
    public void Release(string nodeId, long jobId, int attempt)
    {
        lock (_lock)
        {
            if (!_nodes.TryGetValue(nodeId, out var node))
            {
                return;
            }

            var i = IndexOf(node, jobId, attempt);
            if (i < 0)
            {
                return;
            }

            var live = node.Live[i];
            node.Live.RemoveAt(i);
            node.UsedCpus -= live.Cpus;
            node.UsedMemoryBytes -= live.MemoryBytes;
            foreach (var gpu in live.Gpus)
            {
                if (node.GpuHolders.Remove(gpu))
                {
                    _busyGpus--;
                }
            }

            node.SchedulingView = null;
            SetState(node, Evaluate(node, _time.GetUtcNow()));
            Bump(node);
            Power?.GpusChanged();
        }
    }

    /// <summary>Tells the agent to stop a live attempt (its job was cancelled).</summary>
    public void Stop(string nodeId, long jobId, int attempt)
    {
        lock (_lock)
        {
            if (_nodes.TryGetValue(nodeId, out var node) && IndexOf(node, jobId, attempt) is var i and >= 0)
            {
                node.Live[i] = node.Live[i] with { Action = AssignmentAction.Stop };
                Bump(node);
            }
        }
    }

    /// <summary>True when some node takes work now (else a scheduling pass can place nothing).</summary>
    public bool AnySchedulable()
    {
        lock (_lock)
        {
            return _stateCounts.GetValueOrDefault(NodeState.Ready) > 0;
        }
    }

    /// <summary>What the scheduler sees: every node that takes work, with what is free on it.</summary>
    public List<SchedulingNode> SchedulingNodes()
    {
        lock (_lock)
        {
            var nodes = new List<SchedulingNode>(_stateCounts.GetValueOrDefault(NodeState.Ready));
            foreach (var node in _nodes.Values)
            {
                if (node.Schedulable)
                {
                    nodes.Add(node.SchedulingView ??= View(node, Carbon));
                }
            }

            return nodes;
        }
    }

    private static SchedulingNode View(NodeRecord node, ICarbonIntensity? carbon)
    {
        // A cordoned GPU is left out: placement neither uses it nor counts it.
        var cordoned = node.Health?.Cordoned;
        var count = node.Gpus.Count;
        if (cordoned is { Count: > 0 })
        {
            foreach (var g in node.Gpus)
            {
                if (cordoned.Contains(g.Index))
                {
                    count--;
                }
            }
        }

        var gpus = new SchedulingGpu[count];
        var next = 0;
        foreach (var g in node.Gpus)
        {
            if (cordoned is { Count: > 0 } && cordoned.Contains(g.Index))
            {
                continue;
            }

            gpus[next++] = new SchedulingGpu(g.Index, g.Model, g.MemoryBytes, !node.GpuHolders.ContainsKey(g.Index), g.NvLinkPeers);
        }

        return new SchedulingNode
        {
            Id = node.Id,
            Schedulable = node.Schedulable,
            Labels = node.Labels,
            CpuCores = node.CpuCores,
            FreeCpus = node.CpuCores - node.UsedCpus,
            MemoryBytes = node.MemoryBytes,
            FreeMemoryBytes = node.MemoryBytes - node.UsedMemoryBytes,
            Gpus = gpus,
            WattsPerBusyGpu = node.Power.WattsPerBusyGpu,
            Location = carbon is { Configured: true } ? carbon.LocationOf(node.Labels) : null,
            ContainerRuntimes = RuntimesOf(node.ContainerRuntimes),
        };
    }

    /// <summary>The runtimes of a node's facts, as placement matches them (docs/containers-jobs.md).</summary>
    private static ContainerRuntime[] RuntimesOf(IReadOnlyList<ContainerRuntimeInfo> found)
    {
        var runtimes = new ContainerRuntime[found.Count];
        for (var i = 0; i < runtimes.Length; i++)
        {
            runtimes[i] = found[i].Name;
        }

        return runtimes;
    }

    /// <summary>The UUID of a node's GPU, or "" when unknown.</summary>
    public string[] GpuUuids(string nodeId, IReadOnlyList<int> indexes)
    {
        lock (_lock)
        {
            var uuids = new string[indexes.Count];
            if (!_nodes.TryGetValue(nodeId, out var node))
            {
                Array.Fill(uuids, "");
                return uuids;
            }

            for (var i = 0; i < uuids.Length; i++)
            {
                uuids[i] = "";
                foreach (var gpu in node.Gpus)
                {
                    if (gpu.Index == indexes[i])
                    {
                        uuids[i] = gpu.Uuid;
                        break;
                    }
                }
            }

            return uuids;
        }
    }

    private static bool Fits(NodeRecord node, Assignment a)
    {
        if (!node.Schedulable || node.CpuCores - node.UsedCpus < a.Cpus || node.MemoryBytes - node.UsedMemoryBytes < a.MemoryBytes)
        {
            return false;
        }

        foreach (var gpu in a.Gpus)
        {
            if (node.GpuHolders.ContainsKey(gpu) || !HasGpu(node, gpu) || node.Health?.Cordoned.Contains(gpu) == true)
            {
                return false;
            }
        }

        return true;
    }

    private static bool HasGpu(NodeRecord node, int index)
    {
        foreach (var gpu in node.Gpus)
        {
            if (gpu.Index == index)
            {
                return true;
            }
        }

        return false;
    }

    private void Hold(NodeRecord node, Assignment a)
    {
        node.Live.Add(a);
        node.UsedCpus += a.Cpus;
        node.UsedMemoryBytes += a.MemoryBytes;
        foreach (var gpu in a.Gpus)
        {
            if (node.GpuHolders.TryAdd(gpu, a.JobId))
            {
                _busyGpus++;
            }
        }

        node.SchedulingView = null;
    }

    private static int IndexOf(NodeRecord node, long jobId, int attempt)
    {
        for (var i = 0; i < node.Live.Count; i++)
        {
            if (node.Live[i].JobId == jobId && node.Live[i].Attempt == attempt)
            {
                return i;
            }
        }

        return -1;
    }

    private NodeState Evaluate(NodeRecord node, DateTimeOffset now) => node.Power switch
    {
        // Power saving's states come first: a suspended node's silence is expected (NodeRegistry.PowerSaving.cs).
        { Mode: PowerSaving.PowerMode.Suspended } => NodeState.Suspended,
        { Mode: PowerSaving.PowerMode.Resuming } => NodeState.Resuming,
        { DownReason: not null } => NodeState.Down,
        _ => Liveness.Evaluate(node.LastHeartbeatAt, now, _options.Lease, _options.DownAfter, node.Drain || node.Health?.Drained == true, node.Live.Count),
    };

    /// <summary>Sets a node's state, keeping the counts; true when it changed.</summary>
    private bool SetState(NodeRecord node, NodeState state)
    {
        var before = node.State;
        if (before == state)
        {
            TrackIdle(node);
            TrackBudget(node);
            return false;
        }

        node.State = state;
        node.SchedulingView = null;
        _stateCounts[before] = _stateCounts.GetValueOrDefault(before) - 1;
        _stateCounts[state] = _stateCounts.GetValueOrDefault(state) + 1;
        Log.NodeState(_logger, node.Id, before, state);
        TrackIdle(node);
        TrackBudget(node);
        return true;
    }

    private static void Bump(NodeRecord node)
    {
        node.AssignmentIndex++;
        node.AssignmentsChanged.Pulse();
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = 2001, Level = LogLevel.Information, Message = "Node {NodeId} ({Name}, {Gpus} GPUs) registered (known before: {Known})")]
        public static partial void NodeRegistered(ILogger logger, string nodeId, string name, int gpus, bool known);

        [LoggerMessage(EventId = 2002, Level = LogLevel.Information, Message = "Node {NodeId}: {Before} -> {After}")]
        public static partial void NodeState(ILogger logger, string nodeId, NodeState before, NodeState after);

        [LoggerMessage(EventId = 2003, Level = LogLevel.Information, Message = "Node {NodeId} drain set to {Drain}")]
        public static partial void NodeDrain(ILogger logger, string nodeId, bool drain);
    }
}
