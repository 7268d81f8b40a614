using System.Collections.Concurrent;
using System.Globalization;
using System.Text;
using Gantry.Core.Protocol;
using Gantry.Server.Configuration;
using Gantry.Server.Jobs;
using Gantry.Server.Live;
using Gantry.Server.Nodes;
using Gantry.Server.Storage;
using Microsoft.Extensions.Logging;

namespace Gantry.Server.Health;

/// <summary>
/// The GPU health feature: every GPU's state (healthy, degraded, cordoned), nodes drained for a
/// reboot-class fault, and the history of changes with their cause and evidence (in the store). Fed
/// by heartbeats (<see cref="Observe"/>), it decides by the policy in docs/health.md, writes the change,
/// tells the <see cref="NodeRegistry"/> what to leave out of placement and asks the <see cref="JobQueue"/>
/// to stop the attempt on a GPU whose fault needs it. Each node has its own lock, so heartbeats of
/// different nodes never wait for each other, even while one writes a change to the store; the
/// fleet breaker (<c>--max-auto-cordon</c>) is one small lock taken only when automation would take
/// GPUs out of service. Work per heartbeat is one pass over that node's GPUs. Lock order: a node's
/// lock, then the breaker's, the job queue's, the registry's and the store's; nobody calls in here
/// holding one of those.
/// </summary>
internal sealed partial class GpuHealthRegistry
{
    /// <summary>Health changes shown with a node (<c>GET /api/v1/nodes/{id}</c>, <c>gantry nodes show</c>, the node page).</summary>
    public const int HistoryShown = 50;

    /// <summary>XIDs remembered per GPU to recognise one an agent sends again (its heartbeat's answer was lost).</summary>
    private const int RecentXids = 64;

    private readonly IStateStore _store;
    private readonly NodeRegistry _nodes;
    private readonly JobQueue _jobs;
    private readonly ServerOptions _options;
    private readonly XidPolicy _policy;
    private readonly TimeProvider _time;
    private readonly ClusterSignals _signals;
    private readonly ILogger<GpuHealthRegistry> _logger;
    private readonly ConcurrentDictionary<string, NodeHealth> _byNode = new(StringComparer.Ordinal);
    private readonly Lock _breaker = new();

    // GPUs automation has out of service (cordoned, or on a node it drained), fleet-wide; under _breaker.
    private int _autoOut;

    public GpuHealthRegistry(IStateStore store, StoredState state, NodeRegistry nodes, JobQueue jobs, ServerOptions options, TimeProvider time, ClusterSignals signals, ILogger<GpuHealthRegistry> logger)
    {
        _store = store;
        _nodes = nodes;
        _jobs = jobs;
        _options = options;
        _policy = new XidPolicy(options.XidPolicy);
        _time = time;
        _signals = signals;
        _logger = logger;
        foreach (var row in state.Health)
        {
            var node = _byNode.GetOrAdd(row.NodeId, static id => new NodeHealth(id));
            if (row.Gpu == NodeDrain.NodeRowGpu)
            {
                node.Drain = NodeDrain.FromRow(row);
            }
            else
            {
                node.Gpus[row.Gpu] = GpuHealth.FromRow(row);
            }
        }

        foreach (var node in _byNode.Values)
        {
            node.AutoOut = node.Drain is not null ? _nodes.GpuIndexes(node.Id)?.Length ?? 0 : CountAutoOut(node.Gpus);
            _autoOut += node.AutoOut;
            _nodes.ApplyHealth(node.Id, node.View());
        }
    }

    /// <summary>GPUs automation has out of service now, fleet-wide (what the breaker counts).</summary>
    public int AutoOut
    {
        get
        {
            lock (_breaker)
            {
                return _autoOut;
            }
        }
    }

    /// <summary>
    /// Each GPU's conditions in its node's latest report, and each GPU with an action the fleet breaker
    /// holds back: what alert rules read (one walk over the nodes that reported health, per evaluation).
    /// </summary>
    public void CollectForAlerts(List<(string NodeId, int Gpu, Conditions Conditions)> conditions, List<(string NodeId, int Gpu, string Held)> held)
    {
        foreach (var node in _byNode.Values)
        {
            lock (node.Gate)
            {
                foreach (var (gpu, latest) in node.Latest)
                {
                    conditions.Add((node.Id, gpu, latest));
                }

                foreach (var (gpu, health) in node.Gpus)
                {
                    if (health.Held is { } action)
                    {
                        held.Add((node.Id, gpu, $"{XidPolicy.Name(action.Action)}: {action.Cause}"));
                    }
                }
            }
        }
    }

    /// <summary>The latest health changes of a node, newest first, from the store.</summary>
    public IReadOnlyList<HealthEvent> History(string nodeId) => _store.ReadHealthEvents(nodeId, HistoryShown);

    /// <summary>
    /// One heartbeat's health report of node <paramref name="nodeId"/> (already known to the registry):
    /// acts on new XIDs, on the conditions now, on a reset or a reboot seen, and on a GPU that stayed
    /// clean long enough. Nothing is written when nothing changes. True when the node's health or a job on it changed.
    /// </summary>
    public bool Observe(string nodeId, NodeHealthReport report)
    {
        ArgumentNullException.ThrowIfNull(report);
        var node = _byNode.GetOrAdd(nodeId, static id => new NodeHealth(id));
        lock (node.Gate)
        {
            var work = NewWork(node);
            if (!string.Equals(node.KernelLog, report.KernelLog, StringComparison.Ordinal))
            {
                node.KernelLog = report.KernelLog;
                work.ViewChanged = true;
            }

            if (report.BootId is { } boot)
            {
                if (node.Drain is { } drain && drain.BootId is { } drainedIn && !string.Equals(drainedIn, boot, StringComparison.Ordinal))
                {
                    Rebooted(work, drain);
                }

                node.BootId = boot;
            }

            // Indexed, not enumerated: no enumerator per heartbeat.
            var gpus = report.Gpus;
            for (var i = 0; i < gpus.Count; i++)
            {
                // A GPU the node did not register (its agent restarted with fewer) is not judged.
                if (node.Has(gpus[i].Index, _nodes))
                {
                    Evaluate(work, gpus[i]);
                }
            }

            return Commit(work);
        }
    }

    /// <summary>
    /// A person cordons (or, <paramref name="cordon"/> false, uncordons) GPU <paramref name="gpu"/> of a
    /// node, or every GPU of it when null; uncordoning the whole node also ends a drain for a reboot-class
    /// fault. A person's cordon stays until a person lifts it and stops no running job; an uncordon
    /// makes automation disregard the conditions the GPU has now (only new faults count). Null when the
    /// node is unknown, or (with <paramref name="gpuProblem"/> set, nothing changed) when it has no such GPU.
    /// </summary>
    public NodeInfo? SetByPerson(string nodeId, int? gpu, bool cordon, string? reason, out string? gpuProblem)
    {
        gpuProblem = null;
        if (_nodes.GpuIndexes(nodeId) is not { } indexes)
        {
            return null;
        }

        if (gpu is { } only && Array.IndexOf(indexes, only) < 0)
        {
            gpuProblem = indexes.Length == 0
                ? $"node {nodeId} has no GPUs"
                : $"node {nodeId} has no GPU {only} (it has {string.Join(", ", indexes)})";
            return null;
        }

        var node = _byNode.GetOrAdd(nodeId, static id => new NodeHealth(id));
        lock (node.Gate)
        {
            var work = NewWork(node);
            var said = string.IsNullOrWhiteSpace(reason) ? null : reason.Trim();
            foreach (var index in gpu is { } g ? [g] : indexes)
            {
                var current = work.Gpu(index);
                if (cordon)
                {
                    if (current.State == GpuHealthState.Cordoned && current.Manual)
                    {
                        continue;
                    }

                    var cause = said ?? "cordoned by a person";
                    work.Set(index, GpuHealth.Healthy with
                    {
                        State = GpuHealthState.Cordoned,
                        Cause = cause,
                        Since = work.Now,
                        Until = HealthRecovery.Person,
                        Manual = true,
                        Acked = current.Acked,
                    });
                    work.Event(index, HealthChange.Cordoned, cause, evidence: null, HealthActor.Person);
                }
                else if (!current.IsPlain || node.Latest.ContainsKey(index))
                {
                    // What the GPU reports now is acknowledged: it does not cordon it again while it lasts.
                    var acked = node.Latest.TryGetValue(index, out var now) && !now.Clear ? now : (Conditions?)null;
                    if (current.State == GpuHealthState.Healthy && current.Held is null && current.Acked == acked)
                    {
                        continue;
                    }

                    work.Set(index, GpuHealth.Healthy with { Acked = acked });
                    if (current.State != GpuHealthState.Healthy || current.Held is not null)
                    {
                        var cause = said ?? (current.Held is not null && current.State != GpuHealthState.Cordoned ? "a person dismissed what the breaker held back" : "uncordoned by a person");
                        work.Event(index, HealthChange.Healthy, cause, evidence: null, HealthActor.Person);
                    }
                }
            }

            if (!cordon && gpu is null && work.Drain is not null)
            {
                work.SetDrain(null);
                work.Event(null, HealthChange.Undrained, said ?? "uncordoned by a person", evidence: null, HealthActor.Person);
            }

            Commit(work);
        }

        return _nodes.GetNode(nodeId);
    }

    private Work NewWork(NodeHealth node) => new(node, _time.GetUtcNow(), _nodes);

    /// <summary>The reboot that ends a drain: the agent's boot id changed.</summary>
    private static void Rebooted(Work work, NodeDrain drain)
    {
        work.SetDrain(null);
        work.Event(null, HealthChange.Undrained, $"the node rebooted (boot id {Short(work.Node.BootId)} → new)", $"drained {Iso(drain.Since)} for: {drain.Cause}", HealthActor.Automation);
        foreach (var (index, gpu) in work.Node.Gpus)
        {
            if (gpu.State == GpuHealthState.Cordoned && !gpu.Manual && gpu.Until == HealthRecovery.Reboot)
            {
                // A reboot resets every GPU: the cordon now waits only for the GPU to stay clean.
                work.Set(index, gpu with { Until = HealthRecovery.Reset, ResetSeenAt = work.Now, CleanSince = null });
            }
        }
    }

    private void Evaluate(Work work, GpuHealthReport report)
    {
        var node = work.Node;
        var index = report.Index;
        var conditions = Conditions.Of(report);
        var before = work.Gpu(index);
        var gpu = before;

        // Acknowledged conditions that went away count again when they come back.
        if (gpu.Acked is { } acked && conditions.StillAcknowledged(acked) != acked)
        {
            gpu = gpu with { Acked = conditions.StillAcknowledged(acked) };
        }

        var findings = Assess(node, report, conditions, gpu.Acked);

        // A reset after the cordon (the agent's last reset time moved: its clock is compared only with
        // itself): from then on the GPU must stay clean.
        if (gpu.State == GpuHealthState.Cordoned && !gpu.Manual && gpu.Until == HealthRecovery.Reset && gpu.ResetSeenAt is null
            && report.ResetAt is { } resetAt && (gpu.ResetBefore is not { } resetBefore || resetAt > resetBefore))
        {
            gpu = gpu with { ResetSeenAt = work.Now };
        }

        if (findings is not null)
        {
            var worst = findings[0];
            foreach (var finding in findings)
            {
                worst = Severity(finding) > Severity(worst) ? finding : worst;
            }

            gpu = Act(work, index, gpu, worst, findings);
            if (before.State != GpuHealthState.Cordoned && gpu.State == GpuHealthState.Cordoned)
            {
                gpu = gpu with { ResetBefore = report.ResetAt };
            }
        }

        gpu = Recover(work, index, gpu, findings);
        if (!ReferenceEquals(gpu, before))
        {
            work.Set(index, gpu);
        }

        // No job keeps running on a GPU automation cordoned (a stop that failed with the store is retried here).
        if (gpu.AutoOut && _nodes.AttemptOn(node.Id, index) is { } leftover)
        {
            work.Stop(index, leftover, requeue: true, $"GPU {index} is cordoned: {gpu.Cause}", faultAt: null);
        }

        node.Latest[index] = conditions;
        if (report.Xids.Count > 0)
        {
            work.Seen(index, report.Xids);
        }
    }

    /// <summary>Applies the worst finding of a report to one GPU.</summary>
    private GpuHealth Act(Work work, int index, GpuHealth gpu, Finding fault, List<Finding> findings)
    {
        var evidence = Evidence(findings);
        switch (fault.Action)
        {
            case XidAction.Reboot:
                if (gpu.Manual)
                {
                    return gpu;
                }

                if (work.Drain is null)
                {
                    var wanted = work.NodeGpuCount - CountAutoOut(work.Gpus);
                    if (!TryTakeOut(work, wanted, out var why))
                    {
                        return Hold(work, index, gpu, fault, evidence, why);
                    }

                    work.SetDrain(new NodeDrain($"GPU {index}: {fault.Cause}", work.Now, index, work.Node.BootId));
                    work.Event(null, HealthChange.Drained, $"GPU {index}: {fault.Cause}", evidence, HealthActor.Automation);
                }

                return Cordon(work, index, gpu, fault, evidence, HealthRecovery.Reboot, breakerChecked: true);

            case XidAction.ResetGpu:
                if (gpu.Manual)
                {
                    return gpu;
                }

                var until = fault.Until ?? HealthRecovery.Reset;
                if (gpu.State == GpuHealthState.Cordoned)
                {
                    if (Stronger(until, gpu.Until))
                    {
                        work.Event(index, HealthChange.Cordoned, fault.Cause, evidence, HealthActor.Automation);
                        return gpu with { Cause = fault.Cause, Until = until, ResetSeenAt = null, CleanSince = null };
                    }

                    // A new XID while it waits: the reset seen before does not count any more.
                    return !fault.Level && gpu.ResetSeenAt is not null ? gpu with { ResetSeenAt = null, CleanSince = null } : gpu;
                }

                return Cordon(work, index, gpu, fault, evidence, until, breakerChecked: false);

            case XidAction.RestartApp:
                if (_nodes.AttemptOn(work.Node.Id, index) is { } attempt)
                {
                    work.Stop(index, attempt, requeue: false, $"GPU {index}: {fault.Cause}", fault.At);
                }

                return gpu;

            case XidAction.Watch:
                if (gpu.Manual || gpu.State == GpuHealthState.Cordoned)
                {
                    return gpu;
                }

                if (gpu.State == GpuHealthState.Healthy)
                {
                    work.Event(index, HealthChange.Degraded, fault.Cause, evidence, HealthActor.Automation);
                    return gpu with { State = GpuHealthState.Degraded, Cause = fault.Cause, Since = work.Now, Until = null, CleanSince = null };
                }

                return gpu.CleanSince is null ? gpu : gpu with { CleanSince = null };

            default:
                return gpu;
        }
    }

    private GpuHealth Cordon(Work work, int index, GpuHealth gpu, Finding fault, string evidence, HealthRecovery until, bool breakerChecked)
    {
        if (gpu.State == GpuHealthState.Cordoned)
        {
            return Stronger(until, gpu.Until) ? gpu with { Until = until, Cause = fault.Cause, ResetSeenAt = null, CleanSince = null } : gpu;
        }

        // On a node automation drained, its GPUs are counted out already.
        if (!breakerChecked && work.Drain is null && !TryTakeOut(work, 1, out var why))
        {
            return Hold(work, index, gpu, fault, evidence, why);
        }

        work.Event(index, HealthChange.Cordoned, fault.Cause, evidence, HealthActor.Automation);
        if (_nodes.AttemptOn(work.Node.Id, index) is { } attempt)
        {
            work.Stop(index, attempt, requeue: true, $"GPU {index} cordoned: {fault.Cause}", faultAt: null);
        }

        return gpu with
        {
            State = GpuHealthState.Cordoned,
            Cause = fault.Cause,
            Since = work.Now,
            Until = until,
            Held = null,
            ResetSeenAt = null,
            CleanSince = null,
        };
    }

    /// <summary>The breaker refused: the GPU is watched, the action waits for a person, and the history says so once.</summary>
    private GpuHealth Hold(Work work, int index, GpuHealth gpu, Finding fault, string evidence, string why)
    {
        if (gpu.Held is { } held && held.Action >= fault.Action)
        {
            return gpu;
        }

        Log.BreakerHeld(_logger, work.Node.Id, index, XidPolicy.Name(fault.Action), fault.Cause, why);
        work.Event(index, HealthChange.Held, $"{XidPolicy.Name(fault.Action)} held back: {why}; waiting for a person (gantry nodes cordon or uncordon)", $"{fault.Cause}; {evidence}", HealthActor.Automation);
        var watched = gpu.State == GpuHealthState.Healthy
            ? gpu with { State = GpuHealthState.Degraded, Cause = fault.Cause, Since = work.Now, CleanSince = null }
            : gpu;
        return watched with { Held = new HeldAction(fault.Action, fault.Cause, evidence, work.Now) };
    }

    /// <summary>A cordoned GPU reset and clean, or a degraded one clean, long enough: healthy again.</summary>
    private GpuHealth Recover(Work work, int index, GpuHealth gpu, List<Finding>? findings)
    {
        if (gpu.Manual || gpu.Held is not null)
        {
            return gpu;
        }

        if (gpu.State == GpuHealthState.Cordoned && gpu.Until == HealthRecovery.Reset && gpu.ResetSeenAt is { } resetSeen)
        {
            if (findings is not null && findings.Exists(static f => f.Action >= XidAction.ResetGpu))
            {
                return gpu.CleanSince is null ? gpu : gpu with { CleanSince = null };
            }

            var clean = gpu.CleanSince ?? work.Now;
            if (work.Now - clean < _options.GpuCleanFor)
            {
                return gpu.CleanSince is null ? gpu with { CleanSince = clean } : gpu;
            }

            work.Event(index, HealthChange.Healthy, $"reset seen at {Iso(resetSeen)} and clean since {Iso(clean)}", $"was cordoned {Iso(gpu.Since)} for: {gpu.Cause}", HealthActor.Automation);
            return GpuHealth.Healthy with { Acked = gpu.Acked };
        }

        if (gpu.State == GpuHealthState.Degraded)
        {
            if (findings is not null && findings.Exists(static f => f.Action >= XidAction.Watch))
            {
                return gpu.CleanSince is null ? gpu : gpu with { CleanSince = null };
            }

            var clean = gpu.CleanSince ?? work.Now;
            if (work.Now - clean < _options.GpuCleanFor)
            {
                return gpu.CleanSince is null ? gpu with { CleanSince = clean } : gpu;
            }

            work.Event(index, HealthChange.Healthy, $"clean since {Iso(clean)}", $"was degraded {Iso(gpu.Since)} for: {gpu.Cause}", HealthActor.Automation);
            return GpuHealth.Healthy with { Acked = gpu.Acked };
        }

        return gpu;
    }

    /// <summary>Reserves <paramref name="gpus"/> more GPUs out of service under the breaker; false with why when that would pass it.</summary>
    private bool TryTakeOut(Work work, int gpus, out string why)
    {
        why = "";
        if (gpus <= 0)
        {
            return true;
        }

        var fleet = _nodes.GpuCount;
        var limit = (int)Math.Floor(_options.MaxAutoCordon * fleet);
        lock (_breaker)
        {
            if (_autoOut + gpus > limit)
            {
                why = string.Create(CultureInfo.InvariantCulture,
                    $"automation already has {_autoOut} of the fleet's {fleet} GPUs out of service and may take at most {limit} (--max-auto-cordon {_options.MaxAutoCordon * 100:0.##}%); this would take {gpus} more");
                return false;
            }

            _autoOut += gpus;
            work.Reserved += gpus;
            return true;
        }
    }

    /// <summary>What one report says is wrong with one GPU (null when nothing is: no allocation); XIDs seen before are left out.</summary>
    private List<Finding>? Assess(NodeHealth node, GpuHealthReport report, Conditions now, Conditions? acked)
    {
        var was = acked ?? default;
        if (report.Xids.Count == 0 && (now.Clear || now == was))
        {
            return null;
        }

        var findings = new List<Finding>();
        var driver = XidPolicy.ForRecovery(report.RecoveryAction);
        foreach (var xid in report.Xids)
        {
            if (node.SeenBefore(report.Index, xid))
            {
                continue;
            }

            var table = _policy.ActionFor(xid.Xid);
            var action = driver ?? table;
            var name = XidPolicy.Describe(xid.Xid) is { } described ? $"XID {xid.Xid} ({described})" : $"XID {xid.Xid}";
            var cause = driver is null || driver == table
                ? $"{name}: {Phrase(action)}"
                : $"{name} with the driver's recovery action {report.RecoveryAction!.Value.Name()}: {Phrase(action)}";
            var text = xid.Text is { Length: > 0 } words ? ": " + Truncate(words, 200) : "";
            findings.Add(new Finding(action, action == XidAction.ResetGpu ? HealthRecovery.Reset : null, cause,
                $"XID {xid.Xid} at {Iso(xid.At)} from {(xid.Source == XidEventSource.KernelLog ? "the kernel log" : "NVML")}{text}", xid.At, Level: false));
        }

        if (now.Lost && !was.Lost)
        {
            findings.Add(new Finding(XidAction.ResetGpu, HealthRecovery.Reset, "the GPU is lost (NVML cannot reach it): reset the GPU", "NVML reports it lost", null, Level: true));
        }

        if (now.RemapFailure && !was.RemapFailure)
        {
            findings.Add(new Finding(XidAction.ResetGpu, HealthRecovery.Person, "row remapping failed (no spare rows left): the GPU needs service", "remapped rows: failure", null, Level: true));
        }

        if (now.EccUncorrected > was.EccUncorrected)
        {
            findings.Add(new Finding(XidAction.ResetGpu, HealthRecovery.Reset, "uncorrectable ECC errors: reset the GPU",
                string.Create(CultureInfo.InvariantCulture, $"{now.EccUncorrected} uncorrectable ECC errors since the last reset"), null, Level: true));
        }

        if (now.RemapPending && !was.RemapPending)
        {
            findings.Add(new Finding(XidAction.ResetGpu, HealthRecovery.Reset, "a row remap waits for a GPU reset", "remapped rows: pending", null, Level: true));
        }

        if (now.RetiredPending && !was.RetiredPending)
        {
            findings.Add(new Finding(XidAction.ResetGpu, HealthRecovery.Reset, "a page retirement waits for a GPU reset", "retired pages: pending", null, Level: true));
        }

        if (now.Recovery != GpuRecoveryNeed.None && now.Recovery != was.Recovery && XidPolicy.ForRecovery(now.Recovery) is { } need)
        {
            // As a lasting condition, draining peer-to-peer traffic is watched: stopping a job every heartbeat would not end it.
            var action = need == XidAction.RestartApp ? XidAction.Watch : need;
            var name = now.Recovery.Name();
            findings.Add(new Finding(action, action == XidAction.ResetGpu ? HealthRecovery.Reset : null, $"the driver's recovery action is {name}: {Phrase(action)}", "recovery action: " + name, null, Level: true));
        }

        if (now.Thermal && !was.Thermal)
        {
            findings.Add(new Finding(XidAction.Watch, null, "thermal slowdown", "clock event reasons: thermal slowdown", null, Level: true));
        }

        if (now.Power && !was.Power)
        {
            findings.Add(new Finding(XidAction.Watch, null, "power slowdown (hardware slowdown or power brake)", "clock event reasons: power slowdown", null, Level: true));
        }

        if (now.NvLinksDown > was.NvLinksDown)
        {
            findings.Add(new Finding(XidAction.Watch, null, string.Create(CultureInfo.InvariantCulture, $"{now.NvLinksDown} NVLink link(s) down"), "NVLink links down since the agent started", null, Level: true));
        }

        return findings.Count == 0 ? null : findings;
    }

    private static int Severity(Finding f) => ((int)f.Action * 4) + (f.Until switch
    {
        HealthRecovery.Person => 3,
        HealthRecovery.Reboot => 2,
        HealthRecovery.Reset => 1,
        _ => 0,
    });

    private static bool Stronger(HealthRecovery until, HealthRecovery? than) => (until, than) switch
    {
        (_, null) => true,
        (HealthRecovery.Person, not HealthRecovery.Person) => true,
        (HealthRecovery.Reboot, HealthRecovery.Reset) => true,
        _ => false,
    };

    private static string Phrase(XidAction action) => action switch
    {
        XidAction.Ignore => "ignored",
        XidAction.Watch => "watch the GPU",
        XidAction.RestartApp => "the job on the GPU fails",
        XidAction.ResetGpu => "reset the GPU",
        _ => "reboot the node",
    };

    private static string Evidence(List<Finding> findings)
    {
        var text = new StringBuilder();
        foreach (var finding in findings)
        {
            if (finding.Action == XidAction.Ignore)
            {
                continue;
            }

            text.Append(text.Length == 0 ? "" : "; ").Append(finding.Evidence);
        }

        return Truncate(text.ToString(), 2000);
    }

    /// <summary>
    /// Stores a unit of changes and only then applies it: a store that refuses leaves memory as it was
    /// (the agent sends the XIDs again). True when something changed.
    /// </summary>
    private bool Commit(Work work)
    {
        var node = work.Node;
        if (work.Stored)
        {
            Store(work);
        }

        node.Remember(work);
        if (work.ViewChanged)
        {
            _nodes.ApplyHealth(node.Id, node.View());
        }

        // The jobs last: the change that stops them is stored (a stop the store refuses is tried again
        // at the next heartbeat, since no job may hold a GPU automation cordoned).
        foreach (var stop in work.StopsAny ? work.Stops : [])
        {
            if (_jobs.StopForHealth(node.Id, stop.Attempt, stop.Requeue, stop.Reason, stop.FaultAt) is not { } jobId)
            {
                continue;
            }

            var change = new HealthEvent
            {
                Time = work.Now,
                Gpu = stop.Gpu,
                Change = HealthChange.JobStopped,
                Cause = stop.Requeue ? $"job {jobId} requeued while its retries last: {stop.Reason}" : $"job {jobId} stopped as failed: {stop.Reason}",
                Actor = HealthActor.Automation,
                JobId = jobId,
            };
            _store.Write(w => w.InsertHealthEvent(node.Id, change));
            Log.Changed(_logger, node.Id, "GPU " + stop.Gpu.ToString(CultureInfo.InvariantCulture), change.Change, change.Actor, change.Cause);
        }

        if (work.Stored || work.StopsAny)
        {
            _signals.Changed.Pulse();
            _signals.SchedulerWake.Pulse();
            return true;
        }

        return work.ViewChanged;
    }

    /// <summary>Writes a unit's changes in one transaction, then applies them to memory.</summary>
    private void Store(Work work)
    {
        var node = work.Node;
        try
        {
            _store.Write(w =>
            {
                foreach (var (index, gpu) in work.Changed)
                {
                    if (gpu.IsPlain)
                    {
                        w.DeleteHealth(node.Id, index);
                    }
                    else
                    {
                        w.UpsertHealth(gpu.ToRow(node.Id, index));
                    }
                }

                if (work.DrainChanged)
                {
                    if (work.Drain is { } drain)
                    {
                        w.UpsertHealth(drain.ToRow(node.Id));
                    }
                    else
                    {
                        w.DeleteHealth(node.Id, NodeDrain.NodeRowGpu);
                    }
                }

                foreach (var change in work.Events)
                {
                    w.InsertHealthEvent(node.Id, change);
                }
            });
        }
        catch
        {
            lock (_breaker)
            {
                _autoOut -= work.Reserved;
            }

            throw;
        }

        foreach (var (index, gpu) in work.Changed)
        {
            if (gpu.IsPlain)
            {
                node.Gpus.Remove(index);
            }
            else
            {
                node.Gpus[index] = gpu;
            }
        }

        if (work.DrainChanged)
        {
            node.Drain = work.Drain;
        }

        ApplyOutCount(work);
        foreach (var change in work.Events)
        {
            Log.Changed(_logger, node.Id, change.Gpu is { } g ? "GPU " + g.ToString(CultureInfo.InvariantCulture) : "the node", change.Change, change.Actor, change.Cause);
        }
    }

    /// <summary>Sets the breaker's count to what the node has out now; what was reserved for it is in there already.</summary>
    private void ApplyOutCount(Work work)
    {
        var node = work.Node;
        var now = work.Drain is not null ? work.NodeGpuCount : CountAutoOut(work.Gpus);
        var delta = now - node.AutoOut - work.Reserved;
        if (delta != 0)
        {
            lock (_breaker)
            {
                _autoOut += delta;
            }
        }

        node.AutoOut = now;
    }

    /// <summary>GPUs automation cordoned (a node it drained has all of its GPUs out instead).</summary>
    private static int CountAutoOut(IEnumerable<KeyValuePair<int, GpuHealth>> gpus)
    {
        var count = 0;
        foreach (var (_, gpu) in gpus)
        {
            if (gpu.AutoOut)
            {
                count++;
            }
        }

        return count;
    }

    private static string Iso(DateTimeOffset? time) => time is { } t ? t.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", CultureInfo.InvariantCulture) : "?";

    private static string Short(string? id) => id is null ? "?" : id.Length <= 8 ? id : id[..8];

    private static string Truncate(string text, int max) => text.Length <= max ? text : text[..max] + "…";

    /// <summary>One thing a report says is wrong: what to do, what ends it, in words, and when (for an XID).</summary>
    private readonly record struct Finding(XidAction Action, HealthRecovery? Until, string Cause, string Evidence, DateTimeOffset? At, bool Level);

    /// <summary>A job to stop once the change is stored.</summary>
    private readonly record struct JobStop(int Gpu, AttemptRef Attempt, bool Requeue, string Reason, DateTimeOffset? FaultAt);

    /// <summary>One node's health in memory; guarded by <see cref="Gate"/>.</summary>
    private sealed class NodeHealth(string id)
    {
        private readonly Dictionary<int, Queue<(long Xid, DateTimeOffset At)>> _recent = [];
        private int[] _registered = [];

        public Lock Gate { get; } = new();

        public string Id { get; } = id;

        public Dictionary<int, GpuHealth> Gpus { get; } = [];

        public NodeDrain? Drain { get; set; }

        public string? BootId { get; set; }

        public string? KernelLog { get; set; }

        /// <summary>GPUs this node counts in the breaker's total.</summary>
        public int AutoOut { get; set; }

        /// <summary>Each GPU's conditions in the latest report (what a person's uncordon acknowledges).</summary>
        public Dictionary<int, Conditions> Latest { get; } = [];

        /// <summary>True when the node registered GPU <paramref name="gpu"/>; the registry is asked only for an index not seen before.</summary>
        public bool Has(int gpu, NodeRegistry nodes)
        {
            if (Array.IndexOf(_registered, gpu) >= 0)
            {
                return true;
            }

            _registered = nodes.GpuIndexes(Id) ?? [];
            return Array.IndexOf(_registered, gpu) >= 0;
        }

        /// <summary>True when this XID of this GPU was acted on already (an agent sends again what it does not know arrived).</summary>
        public bool SeenBefore(int gpu, XidEvent xid)
        {
            if (!_recent.TryGetValue(gpu, out var recent))
            {
                return false;
            }

            foreach (var (number, at) in recent)
            {
                if (number == xid.Xid && at == xid.At)
                {
                    return true;
                }
            }

            return false;
        }

        /// <summary>After a unit is applied: the reports' conditions and XIDs, remembered.</summary>
        public void Remember(Work work)
        {
            foreach (var (gpu, xids) in work.Reports)
            {
                if (!_recent.TryGetValue(gpu, out var recent))
                {
                    recent = new Queue<(long, DateTimeOffset)>(RecentXids);
                    _recent[gpu] = recent;
                }

                foreach (var xid in xids)
                {
                    if (recent.Count == RecentXids)
                    {
                        recent.Dequeue();
                    }

                    recent.Enqueue((xid.Xid, xid.At));
                }
            }
        }

        public NodeHealthView View()
        {
            var gpus = new Dictionary<int, GpuHealthInfo>(Gpus.Count);
            var cordoned = new HashSet<int>();
            foreach (var (index, gpu) in Gpus)
            {
                if (gpu.Info is { } info)
                {
                    gpus[index] = info;
                }

                if (gpu.State == GpuHealthState.Cordoned)
                {
                    cordoned.Add(index);
                }
            }

            var node = Drain is null && KernelLog is null
                ? null
                : new NodeHealthInfo { Drained = Drain is not null, Cause = Drain?.Cause, Since = Drain?.Since, KernelLog = KernelLog };
            return new NodeHealthView(gpus, cordoned, node);
        }
    }

    /// <summary>The changes one heartbeat (or one person's request) makes to one node, applied together once stored.</summary>
    private sealed class Work(NodeHealth node, DateTimeOffset now, NodeRegistry nodes)
    {
        private Dictionary<int, GpuHealth>? _changed;
        private List<HealthEvent>? _events;
        private List<JobStop>? _stops;
        private List<(int, IReadOnlyList<XidEvent>)>? _reports;
        private int? _nodeGpus;

        public NodeHealth Node { get; } = node;

        public DateTimeOffset Now { get; } = now;

        public bool ViewChanged { get; set; }

        /// <summary>GPUs reserved under the breaker by this unit.</summary>
        public int Reserved { get; set; }

        public NodeDrain? Drain { get; private set; } = node.Drain;

        public bool DrainChanged { get; private set; }

        /// <summary>Something must be written to the store.</summary>
        public bool Stored => _changed is not null || DrainChanged || _events is not null;

        public IEnumerable<KeyValuePair<int, GpuHealth>> Changed => _changed ?? [];

        public IReadOnlyList<HealthEvent> Events => _events ?? [];

        public List<JobStop> Stops => _stops ??= [];

        public bool StopsAny => _stops is { Count: > 0 };

        /// <summary>The XIDs this unit acted on, per GPU: remembered once it is applied.</summary>
        public IReadOnlyList<(int Gpu, IReadOnlyList<XidEvent> Xids)> Reports => _reports ?? [];

        /// <summary>The node's GPUs as this unit leaves them.</summary>
        public IEnumerable<KeyValuePair<int, GpuHealth>> Gpus
        {
            get
            {
                foreach (var (index, gpu) in Node.Gpus)
                {
                    if (_changed is null || !_changed.ContainsKey(index))
                    {
                        yield return new(index, gpu);
                    }
                }

                if (_changed is not null)
                {
                    foreach (var pair in _changed)
                    {
                        yield return pair;
                    }
                }
            }
        }

        /// <summary>How many GPUs the node registered (read from the registry once per unit, when needed).</summary>
        public int NodeGpuCount => _nodeGpus ??= nodes.GpuIndexes(Node.Id)?.Length ?? 0;

        public GpuHealth Gpu(int index) =>
            _changed is not null && _changed.TryGetValue(index, out var changed) ? changed : Node.Gpus.GetValueOrDefault(index) ?? GpuHealth.Healthy;

        public void Set(int index, GpuHealth gpu)
        {
            (_changed ??= [])[index] = gpu;
            ViewChanged = true;
        }

        public void SetDrain(NodeDrain? drain)
        {
            Drain = drain;
            DrainChanged = true;
            ViewChanged = true;
        }

        public void Event(int? gpu, HealthChange change, string cause, string? evidence, HealthActor actor) =>
            (_events ??= []).Add(new HealthEvent { Time = Now, Gpu = gpu, Change = change, Cause = cause, Evidence = evidence, Actor = actor });

        public void Stop(int gpu, AttemptRef attempt, bool requeue, string reason, DateTimeOffset? faultAt)
        {
            _stops ??= [];
            foreach (var stop in _stops)
            {
                if (stop.Attempt.JobId == attempt.JobId && stop.Attempt.Attempt == attempt.Attempt)
                {
                    return;
                }
            }

            _stops.Add(new JobStop(gpu, attempt, requeue, reason, faultAt));
        }

        public void Seen(int gpu, IReadOnlyList<XidEvent> xids) => (_reports ??= []).Add((gpu, xids));
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = 2600, Level = LogLevel.Warning, Message = "Node {NodeId}, {Target}: {Change} by {Actor}: {Cause}")]
        public static partial void Changed(ILogger logger, string nodeId, string target, HealthChange change, HealthActor actor, string cause);

        [LoggerMessage(EventId = 2601, Level = LogLevel.Warning, Message = "Node {NodeId} GPU {Gpu}: the fleet breaker holds back {Action} ({Cause}): {Why}; waiting for a person")]
        public static partial void BreakerHeld(ILogger logger, string nodeId, int gpu, string action, string cause, string why);
    }
}

/// <summary>
/// What the health feature tells the <see cref="NodeRegistry"/> about one node: each GPU's health for
/// the API, the GPUs placement leaves out, and the node's own health (drained for a reboot-class fault).
/// </summary>
internal sealed record NodeHealthView(IReadOnlyDictionary<int, GpuHealthInfo> Gpus, IReadOnlySet<int> Cordoned, NodeHealthInfo? Node)
{
    /// <summary>True while the node is drained for a reboot-class fault.</summary>
    public bool Drained => Node?.Drained == true;
}
