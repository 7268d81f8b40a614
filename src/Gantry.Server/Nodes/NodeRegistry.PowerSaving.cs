using System.Globalization;
using Gantry.Core.Nodes;
using Gantry.Core.Protocol;
using Gantry.Core.Scheduling;
using Gantry.Core.Text;
using Gantry.Server.PowerSaving;
using Gantry.Server.Storage;
using Microsoft.Extensions.Logging;

namespace Gantry.Server.Nodes;

/// <summary>
/// Power saving in the registry (docs/power-saving.md): which nodes are idle and since when, the
/// suspend/resume cycle's states, and the measured power figures placement and the energy saved read.
/// Bounded work: idle nodes wait in a queue ordered by when they fall due; a tick looks at the due ones,
/// the suspended and resuming ones, and the queue's pending heads, never at every node.
/// </summary>
internal sealed partial class NodeRegistry
{
    // Idle nodes by when they fall due for suspension; an entry is stale when the node's IdleSince moved.
    private readonly PriorityQueue<(NodeRecord Node, DateTimeOffset Since), DateTimeOffset> _idleDue = new();

    // Nodes suspended or resuming (what resume decisions and timeouts look at).
    private readonly HashSet<NodeRecord> _powered = [];

    // Nodes that ever saved energy: the per-node series of the energy-saved counter.
    private readonly HashSet<NodeRecord> _saving = [];
    private int _idleReady;

    /// <summary>Awake, ready nodes with no live attempt (what <c>--keep-idle</c> counts).</summary>
    public int IdleReadyCount
    {
        get
        {
            lock (_lock)
            {
                return _idleReady;
            }
        }
    }

    /// <summary>Whether a power-saving tick has anything to do: a node suspended or resuming, or an idle node due.</summary>
    public bool PowerWorkDue(DateTimeOffset now)
    {
        lock (_lock)
        {
            return _powered.Count > 0 || (_idleDue.TryPeek(out _, out var due) && due <= now);
        }
    }

    /// <summary>At start: the stored power-saving states, onto the loaded nodes; under construction (no lock needed).</summary>
    private void LoadPower(StoredState state)
    {
        foreach (var row in state.NodePower)
        {
            if (!_nodes.TryGetValue(row.NodeId, out var node))
            {
                continue;
            }

            var power = node.Power;
            power.Mode = row.Mode switch
            {
                "suspended" => PowerMode.Suspended,
                "resuming" => PowerMode.Resuming,
                _ => PowerMode.Awake,
            };
            power.Since = row.Since;
            power.ResumeDeadline = row.ResumeDeadline;
            power.SuspendedWatts = row.SuspendedWatts;
            power.SavedJoules = row.SavedJoules;
            power.LastEvent = row.LastEvent;
            power.DownReason = row.DownReason;
            if (power.Mode != PowerMode.Awake)
            {
                _powered.Add(node);
            }

            if (power.Mode != PowerMode.Awake || power.SavedJoules > 0)
            {
                _saving.Add(node);
            }
        }
    }

    /// <summary>Keeps the idle index: called whenever a node's state or live attempts may have changed; under <see cref="_lock"/>.</summary>
    private void TrackIdle(NodeRecord node)
    {
        var power = node.Power;
        var idle = power.Mode == PowerMode.Awake && node.Live.Count == 0 && node.Schedulable;
        if (idle == power.IdleSince is not null)
        {
            return;
        }

        if (!idle)
        {
            power.IdleSince = null;
            _idleReady--;
            return;
        }

        var now = _time.GetUtcNow();
        power.IdleSince = now;
        _idleReady++;
        if (_options.PowerSaving.SuspendAfter is { } after)
        {
            _idleDue.Enqueue((node, now), now + after);
        }
    }

    /// <summary>
    /// A heartbeat's part in power saving, under <see cref="_lock"/> before the node's state is evaluated:
    /// a resuming node is back; a suspended one that speaks past one lease after its suspension woke by
    /// itself (one that speaks sooner is a heartbeat that was already on its way). Then the running
    /// averages: idle power while nothing runs, GPU power per busy GPU while something does. O(GPUs).
    /// Returns true when the stored power state must be rewritten.
    /// </summary>
    private bool ObservePower(NodeRecord node, NodeSummary? summary, DateTimeOffset now)
    {
        var power = node.Power;
        var changed = false;
        if (power.Mode == PowerMode.Resuming)
        {
            var took = power.Since is { } since ? now - since : TimeSpan.Zero;
            power.LastEvent = $"resumed in {Durations.Format(took)}";
            Awake(node);
            Log.NodeResumed(_logger, node.Id, took.TotalSeconds);
            changed = true;
        }
        else if (power.Mode == PowerMode.Suspended && !power.Suspending && power.Since is { } since && now - since > _options.Lease)
        {
            power.SavedJoules = power.SavedAt(now);
            power.LastEvent = "heartbeated while suspended: back in service";
            Awake(node);
            Log.NodeWokeUnasked(_logger, node.Id);
            changed = true;
        }

        if (power.DownReason is not null)
        {
            power.DownReason = null;
            changed = true;
        }

        if (summary is null || power.Mode != PowerMode.Awake)
        {
            return changed;
        }

        if (node.Live.Count == 0)
        {
            if (PowerOf(summary) is { } watts)
            {
                power.ObserveIdle(watts);
            }
        }
        else if (node.GpuHolders.Count > 0)
        {
            double busyWatts = 0;
            var busy = 0;
            foreach (var gpu in summary.Gpus)
            {
                if (gpu.PowerWatts is { } w && double.IsFinite(w) && node.GpuHolders.ContainsKey(gpu.Index))
                {
                    busyWatts += w;
                    busy++;
                }
            }

            if (busy > 0)
            {
                power.ObserveBusy(busyWatts / busy);
                // The scheduler's view carries the figure: rebuilt only when it moved by a watt or more.
                if (_options.PowerSaving.PreferEfficient && node.SchedulingView is { WattsPerBusyGpu: var shown } && (shown is not { } s || Math.Abs(s - power.WattsPerBusyGpu!.Value) >= 1))
                {
                    node.SchedulingView = null;
                }
            }
        }

        return changed;
    }

    /// <summary>A node that registers is up, whatever its power state said (its agent starts as it boots); under <see cref="_lock"/>. True when that changed it.</summary>
    private bool WakeOnRegister(NodeRecord node, DateTimeOffset now)
    {
        var power = node.Power;
        if (power.Mode == PowerMode.Awake)
        {
            var wasDown = power.DownReason is not null;
            power.DownReason = null;
            return wasDown;
        }

        power.SavedJoules = power.SavedAt(now);
        power.LastEvent = power.Mode == PowerMode.Resuming && power.Since is { } since ? $"resumed in {Durations.Format(now - since)}" : "registered while suspended: back in service";
        power.DownReason = null;
        Awake(node);
        return true;
    }

    /// <summary>A node's power: the meter's (or RAPL + GPUs, as the agent sums it), else its GPUs' sum; null when unknown.</summary>
    private static double? PowerOf(NodeSummary summary)
    {
        if (summary.PowerWatts is { } node && double.IsFinite(node))
        {
            return node;
        }

        double sum = 0;
        var any = false;
        foreach (var gpu in summary.Gpus)
        {
            if (gpu.PowerWatts is { } w && double.IsFinite(w))
            {
                sum += w;
                any = true;
            }
        }

        return any ? sum : null;
    }

    private void Awake(NodeRecord node)
    {
        var power = node.Power;
        power.Mode = PowerMode.Awake;
        power.Since = null;
        power.ResumeDeadline = null;
        power.Suspending = false;
        _powered.Remove(node);
    }

    /// <summary>
    /// Takes the idle nodes due for suspension at <paramref name="now"/>: idle past <c>--suspend-after</c>,
    /// more than <c>--keep-idle</c> idle nodes awake, and no pending job in <paramref name="heads"/> fits
    /// them. Each is marked suspended (held out of placement) with its suspend command still to run.
    /// A node held back is looked at again a tick later. Work: the due entries, times the job shapes.
    /// </summary>
    public List<(string NodeId, string Name)> TakeDueForSuspend(IReadOnlyList<(PendingJob Job, bool Waiting)> heads, DateTimeOffset now, TimeSpan recheck)
    {
        var taken = new List<(string, string)>();
        var options = _options.PowerSaving;
        if (!options.Enabled)
        {
            return taken;
        }

        List<(NodeRecord, DateTimeOffset)>? held = null;
        lock (_lock)
        {
            while (_idleDue.TryPeek(out var entry, out var due) && due <= now)
            {
                _idleDue.Dequeue();
                var (node, since) = entry;
                if (node.Power.IdleSince != since || !_nodes.ContainsKey(node.Id))
                {
                    continue;
                }

                if (_idleReady <= options.KeepIdle || AnyFits(heads, node, waitingOnly: false))
                {
                    (held ??= []).Add(entry);
                    continue;
                }

                var power = node.Power;
                power.Mode = PowerMode.Suspended;
                power.Suspending = true;
                power.Since = now;
                power.SuspendedWatts = power.IdleWatts ?? 0;
                _powered.Add(node);
                SetState(node, Evaluate(node, now));
                taken.Add((node.Id, node.Name));
            }

            if (held is not null)
            {
                foreach (var entry in held)
                {
                    _idleDue.Enqueue(entry, now + recheck);
                }
            }
        }

        if (taken.Count > 0)
        {
            _signals.Changed.Pulse();
        }

        return taken;
    }

    /// <summary>The suspend command succeeded: the node is suspended from now, and that is stored.</summary>
    public void Suspended(string nodeId)
    {
        var now = _time.GetUtcNow();
        lock (_lock)
        {
            if (!_nodes.TryGetValue(nodeId, out var node) || node.Power is not { Mode: PowerMode.Suspended, Suspending: true } power)
            {
                return;
            }

            power.Suspending = false;
            power.Since = now;
            power.LastEvent = null;
            _saving.Add(node);
            Log.NodeSuspended(_logger, nodeId, power.SuspendedWatts);
        }

        PersistPower(nodeId);
        _signals.Changed.Pulse();
    }

    /// <summary>The suspend command failed: the node stays up (ready again), and the failure is shown on it.</summary>
    public void SuspendFailed(string nodeId, string why)
    {
        lock (_lock)
        {
            if (!_nodes.TryGetValue(nodeId, out var node) || node.Power is not { Mode: PowerMode.Suspended, Suspending: true } power)
            {
                return;
            }

            power.LastEvent = "suspend command failed: " + why;
            Awake(node);
            SetState(node, Evaluate(node, _time.GetUtcNow()));
            Log.SuspendFailed(_logger, nodeId, why);
        }

        PersistPower(nodeId);
        _signals.SchedulerWake.Pulse();
        _signals.Changed.Pulse();
    }

    /// <summary>
    /// Decides which suspended nodes to resume for the waiting jobs among <paramref name="heads"/>: a job
    /// that a resuming node fits waits for it; one that fits a suspended node resumes it (one node per job
    /// shape and tick). Marks them resuming (stored) and returns them with the wait reasons to show.
    /// Work: the distinct waiting job shapes times the suspended and resuming nodes.
    /// </summary>
    public (List<(string NodeId, string Name)> Resume, Dictionary<long, string> Notes) PlanResumes(IReadOnlyList<(PendingJob Job, bool Waiting)> heads, DateTimeOffset now)
    {
        var resume = new List<(string, string)>();
        var notes = new Dictionary<long, string>();
        lock (_lock)
        {
            if (_powered.Count == 0)
            {
                return (resume, notes);
            }

            // What each resuming node can still take this tick, so that jobs enough for two nodes resume two.
            var left = new Dictionary<NodeRecord, (int Gpus, int Cpus, long Memory)>();
            foreach (var (job, waiting) in heads)
            {
                if (!waiting)
                {
                    continue;
                }

                var request = job.Resources;
                NodeRecord? resuming = null;
                NodeRecord? suspended = null;
                foreach (var node in _powered)
                {
                    if (!FitsWhole(node, job))
                    {
                        continue;
                    }

                    if (node.Power.Mode == PowerMode.Resuming)
                    {
                        var room = left.TryGetValue(node, out var r) ? r : (node.Gpus.Count, node.CpuCores, node.MemoryBytes);
                        if (room.Item1 >= Math.Max(request.Gpus, 0) && room.Item2 >= request.Cpus && room.Item3 >= request.MemoryBytes)
                        {
                            left[node] = (room.Item1 - Math.Max(request.Gpus, 0), room.Item2 - request.Cpus, room.Item3 - request.MemoryBytes);
                            resuming = node;
                            break;
                        }
                    }
                    else if (!node.Power.Suspending && (suspended is null || string.CompareOrdinal(node.Id, suspended.Id) < 0))
                    {
                        // The lowest id, so that the same queue resumes the same node.
                        suspended = node;
                    }
                }

                if (resuming is null && suspended is not null)
                {
                    var power = suspended.Power;
                    power.SavedJoules = power.SavedAt(now);
                    power.Mode = PowerMode.Resuming;
                    power.Since = now;
                    power.ResumeDeadline = now + _options.PowerSaving.ResumeTimeout;
                    power.LastEvent = $"resumed for job {job.Id}";
                    SetState(suspended, Evaluate(suspended, now));
                    resume.Add((suspended.Id, suspended.Name));
                    left[suspended] = (suspended.Gpus.Count - Math.Max(request.Gpus, 0), suspended.CpuCores - request.Cpus, suspended.MemoryBytes - request.MemoryBytes);
                    Log.NodeResuming(_logger, suspended.Id, job.Id);
                    resuming = suspended;
                }

                if (resuming is not null)
                {
                    var started = resuming.Power.Since is { } s ? Durations.Format(now - s) : "0s";
                    notes[job.Id] = string.Create(CultureInfo.InvariantCulture, $"waiting for node {resuming.Id} to resume (its resume began {started} ago; it is marked down past {Durations.Format(_options.PowerSaving.ResumeTimeout)})");
                }
            }
        }

        foreach (var (id, _) in resume)
        {
            PersistPower(id);
        }

        if (resume.Count > 0)
        {
            _signals.Changed.Pulse();
        }

        return (resume, notes);
    }

    /// <summary>
    /// Resuming nodes past their deadline, and those whose resume command failed (<paramref name="failed"/>),
    /// are marked down with the reason; returns how many.
    /// </summary>
    public int MarkResumesFailed(DateTimeOffset now, IReadOnlyList<(string NodeId, string Why)>? failed = null)
    {
        var down = new List<string>();
        lock (_lock)
        {
            foreach (var node in _powered)
            {
                if (node.Power is { Mode: PowerMode.Resuming, ResumeDeadline: { } deadline } && deadline <= now)
                {
                    down.Add(node.Id);
                }
            }

            foreach (var id in down)
            {
                ResumeFailed(_nodes[id], $"did not come back within the resume timeout ({Durations.Format(_options.PowerSaving.ResumeTimeout)}) after its resume command", now);
            }

            if (failed is not null)
            {
                foreach (var (id, why) in failed)
                {
                    if (_nodes.TryGetValue(id, out var node) && node.Power.Mode == PowerMode.Resuming)
                    {
                        ResumeFailed(node, "resume command failed: " + why, now);
                        down.Add(id);
                    }
                }
            }
        }

        foreach (var id in down)
        {
            PersistPower(id);
        }

        if (down.Count > 0)
        {
            _signals.Changed.Pulse();
        }

        return down.Count;
    }

    private void ResumeFailed(NodeRecord node, string reason, DateTimeOffset now)
    {
        node.Power.DownReason = reason;
        node.Power.LastEvent = reason;
        Awake(node);
        SetState(node, Evaluate(node, now));
        Log.ResumeFailed(_logger, node.Id, reason);
    }

    /// <summary>Writes a node's power state as memory has it now (outside <see cref="_lock"/>, under <see cref="_writes"/>).</summary>
    private void PersistPower(string nodeId)
    {
        try
        {
            lock (_writes)
            {
                NodePowerRow row;
                lock (_lock)
                {
                    if (!_nodes.TryGetValue(nodeId, out var node))
                    {
                        return;
                    }

                    var p = node.Power;
                    row = new NodePowerRow(nodeId, p.Mode.ToString().ToLowerInvariant(), p.Since, p.ResumeDeadline, p.SuspendedWatts, p.SavedJoules, p.LastEvent, p.DownReason);
                }

                _store.Write(w => w.UpsertNodePower(row));
            }
        }
        catch (Exception ex) when (StoreUnavailableException.Covers(ex))
        {
            // Memory is right; the next change of this node's power state writes it whole again.
            Log.PowerNotStored(_logger, nodeId, ex);
        }
    }

    /// <summary>
    /// Whether <paramref name="job"/> fits the node's whole capacity (it is idle or suspended): its selector,
    /// CPU cores, memory and enough GPUs that suit it and are not cordoned.
    /// </summary>
    private static bool FitsWhole(NodeRecord node, PendingJob job)
    {
        var request = job.Resources;
        if (request.Cpus > node.CpuCores || request.MemoryBytes > node.MemoryBytes)
        {
            return false;
        }

        foreach (var (key, value) in job.Selector)
        {
            if (!node.Labels.TryGetValue(key, out var has) || !string.Equals(has, value, StringComparison.Ordinal))
            {
                return false;
            }
        }

        // A container job needs its runtime (docs/containers-jobs.md).
        if (job.Runtime is { } runtime)
        {
            var has = false;
            foreach (var found in node.ContainerRuntimes)
            {
                has |= found.Name == runtime;
            }

            if (!has)
            {
                return false;
            }
        }

        if (request.Gpus <= 0)
        {
            return true;
        }

        var suitable = 0;
        var cordoned = node.Health?.Cordoned;
        foreach (var gpu in node.Gpus)
        {
            if (request.Accepts(gpu.Model, gpu.MemoryBytes) && cordoned?.Contains(gpu.Index) != true)
            {
                suitable++;
            }
        }

        return suitable >= request.Gpus;
    }

    private static bool AnyFits(IReadOnlyList<(PendingJob Job, bool Waiting)> heads, NodeRecord node, bool waitingOnly)
    {
        foreach (var (job, waiting) in heads)
        {
            if ((waiting || !waitingOnly) && FitsWhole(node, job))
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>The fleet's and each saving node's energy saved, copied under the lock for a scrape (walks only nodes that ever saved).</summary>
    public PowerSavingSnapshot PowerSnapshot()
    {
        var now = _time.GetUtcNow();
        lock (_lock)
        {
            var nodes = new List<(string Id, string Name, double Joules)>(_saving.Count);
            double fleet = 0;
            foreach (var node in _saving)
            {
                var joules = node.Power.SavedAt(now);
                fleet += joules;
                nodes.Add((node.Id, node.Name, joules));
            }

            return new PowerSavingSnapshot(fleet, nodes, _stateCounts.GetValueOrDefault(NodeState.Suspended), _stateCounts.GetValueOrDefault(NodeState.Resuming));
        }
    }

    /// <summary>A node's power figures for the API; null when nothing is known; under <see cref="_lock"/>.</summary>
    private NodePowerSavingInfo? PowerSavingInfo(NodeRecord node)
    {
        var p = node.Power;
        if (p.Mode == PowerMode.Awake && p.IdleWatts is null && p.WattsPerBusyGpu is null && p.SavedJoules == 0 && p.LastEvent is null)
        {
            return null;
        }

        return new NodePowerSavingInfo
        {
            Since = p.Since,
            ResumeDeadline = p.ResumeDeadline,
            IdleWatts = p.IdleWatts,
            WattsPerBusyGpu = p.WattsPerBusyGpu,
            EnergySavedJoules = p.SavedAt(_time.GetUtcNow()),
            LastEvent = p.LastEvent,
        };
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = 2780, Level = LogLevel.Information, Message = "Node {NodeId} suspended (idle power {Watts:0} W)")]
        public static partial void NodeSuspended(ILogger logger, string nodeId, double watts);

        [LoggerMessage(EventId = 2781, Level = LogLevel.Warning, Message = "Node {NodeId} stays up: {Why}")]
        public static partial void SuspendFailed(ILogger logger, string nodeId, string why);

        [LoggerMessage(EventId = 2782, Level = LogLevel.Information, Message = "Node {NodeId} resuming for job {JobId}")]
        public static partial void NodeResuming(ILogger logger, string nodeId, long jobId);

        [LoggerMessage(EventId = 2783, Level = LogLevel.Information, Message = "Node {NodeId} resumed after {Seconds:0.#}s")]
        public static partial void NodeResumed(ILogger logger, string nodeId, double seconds);

        [LoggerMessage(EventId = 2784, Level = LogLevel.Warning, Message = "Node {NodeId} marked down: {Reason}")]
        public static partial void ResumeFailed(ILogger logger, string nodeId, string reason);

        [LoggerMessage(EventId = 2785, Level = LogLevel.Warning, Message = "Node {NodeId} heartbeated while suspended: back in service")]
        public static partial void NodeWokeUnasked(ILogger logger, string nodeId);

        [LoggerMessage(EventId = 2786, Level = LogLevel.Warning, Message = "Node {NodeId}: its power-saving state was not stored")]
        public static partial void PowerNotStored(ILogger logger, string nodeId, Exception exception);
    }
}

/// <summary>The energy saved, fleet and per node, and how many nodes are suspended or resuming, for a scrape.</summary>
internal sealed record PowerSavingSnapshot(double FleetJoules, List<(string Id, string Name, double Joules)> Nodes, int Suspended, int Resuming);
