using System.Security.Cryptography;
using Gantry.Core.Jobs;
using Gantry.Core.Nodes;
using Gantry.Core.Protocol;
using Gantry.Server.Auth;
using Gantry.Server.Configuration;
using Gantry.Server.Observability;
using Gantry.Server.Storage;
using Microsoft.Extensions.Logging;

namespace Gantry.Server.Cluster;

/// <summary>What became of an agent's report about an attempt.</summary>
internal enum ReportOutcome
{
    /// <summary>Accepted (or an exact repeat of one already accepted).</summary>
    Accepted,

    /// <summary>No such job or attempt.</summary>
    NotFound,

    /// <summary>The attempt belongs to another node.</summary>
    Forbidden,

    /// <summary>Wrong epoch, or the server already ended the attempt: the agent must stop it.</summary>
    Stale,
}

/// <summary>
/// The control plane's state: nodes, jobs, attempts, in memory for speed and in SQLite for
/// durability. Every mutation takes the one lock, changes memory and commits to the store before
/// it returns, so what an API call acknowledged survives a killed process.
/// </summary>
internal sealed partial class ControlPlane
{
    private readonly Lock _lock = new();
    private readonly StateStore _store;
    private readonly ServerOptions _options;
    private readonly TimeProvider _time;
    private readonly ServerMetrics _metrics;
    private readonly ILogger<ControlPlane> _logger;
    private readonly Dictionary<string, NodeRecord> _nodes = new(StringComparer.Ordinal);
    private readonly Dictionary<string, string> _nodeByCredential = new(StringComparer.Ordinal);
    private readonly List<JobRecord> _jobs = [];
    private readonly Dictionary<long, JobRecord> _jobsById = [];
    private readonly HashSet<JobRecord> _pending = [];
    private readonly Dictionary<JobState, int> _jobCounts = [];
    private long _nextJobId = 1;
    private long _lastEpoch;
    private long _indexBase;
    private byte[]? _adminHash;
    private byte[]? _joinHash;

    public ControlPlane(StateStore store, ServerOptions options, TimeProvider time, ServerMetrics metrics, ILogger<ControlPlane> logger)
    {
        _store = store;
        _options = options;
        _time = time;
        _metrics = metrics;
        _logger = logger;
        Load();
    }

    /// <summary>Pulsed when something the scheduler cares about changed.</summary>
    public Signal SchedulerWake { get; } = new();

    /// <summary>Pulsed on any job or node change (for live views).</summary>
    public Signal ClusterChanged { get; } = new();

    private void Load()
    {
        var (nodes, jobs) = _store.Load();
        var now = _time.GetUtcNow();
        // Assignment indexes restart from a time-based value so an agent's old index never equals a new one.
        _indexBase = now.ToUnixTimeMilliseconds();
        foreach (var node in nodes)
        {
            // Every node gets a fresh lease: the server was away, not the agents.
            node.LastHeartbeatAt = now;
            node.AssignmentIndex = _indexBase;
            node.State = Liveness.Evaluate(now, now, _options.Lease, _options.DownAfter, node.Drain, 0);
            _nodes[node.Id] = node;
            _nodeByCredential[Convert.ToHexString(node.CredentialHash)] = node.Id;
        }

        foreach (var job in jobs)
        {
            _jobs.Add(job);
            _jobsById[job.Id] = job;
            CountJob(job.State, +1);
            _nextJobId = Math.Max(_nextJobId, job.Id + 1);
            if (job.State == JobState.Pending)
            {
                _pending.Add(job);
            }

            foreach (var attempt in job.Attempts)
            {
                _lastEpoch = Math.Max(_lastEpoch, attempt.Epoch);
                if (attempt.State.IsLive() && _nodes.TryGetValue(attempt.NodeId, out var node))
                {
                    Hold(node, attempt);
                }
            }
        }

        foreach (var node in _nodes.Values)
        {
            node.State = Liveness.Evaluate(now, now, _options.Lease, _options.DownAfter, node.Drain, node.Live.Count);
        }

        _adminHash = _store.ReadToken("admin");
        _joinHash = _store.ReadToken("join");
        Log.Loaded(_logger, _nodes.Count, _jobs.Count, _pending.Count);
    }

    /// <summary>
    /// Makes sure the admin and join tokens exist: generated at first start and written to
    /// <c>admin.token</c> / <c>join.token</c> in the data dir; a join token given in the options
    /// replaces the stored one. Returns the paths of files written now.
    /// </summary>
    public IReadOnlyList<string> EnsureTokens()
    {
        var written = new List<string>();
        lock (_lock)
        {
            var now = _time.GetUtcNow();
            if (_adminHash is null)
            {
                var token = Tokens.New("gadm_");
                var path = Path.Combine(_options.DataDir, "admin.token");
                Tokens.WriteFile(path, token);
                _adminHash = Tokens.Hash(token);
                _store.SaveToken("admin", _adminHash, now);
                written.Add(path);
            }

            if (_options.JoinToken is { } given)
            {
                var hash = Tokens.Hash(given);
                if (!Tokens.Matches(hash, _joinHash))
                {
                    _joinHash = hash;
                    _store.SaveToken("join", hash, now);
                }
            }
            else if (_joinHash is null)
            {
                var token = Tokens.New("gjoin_");
                var path = Path.Combine(_options.DataDir, "join.token");
                Tokens.WriteFile(path, token);
                _joinHash = Tokens.Hash(token);
                _store.SaveToken("join", _joinHash, now);
                written.Add(path);
            }
        }

        return written;
    }

    /// <summary>True when the presented token is the admin token.</summary>
    public bool IsAdmin(byte[] tokenHash) => Tokens.Matches(tokenHash, Volatile.Read(ref _adminHash));

    /// <summary>True when the presented token is the join token.</summary>
    public bool IsJoin(byte[] tokenHash) => Tokens.Matches(tokenHash, Volatile.Read(ref _joinHash));

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

    // ---- nodes -------------------------------------------------------------------------------

    public RegisterNodeResponse Register(RegisterNodeRequest request)
    {
        var credential = Tokens.New("gnode_");
        var hash = Tokens.Hash(credential);
        string id;
        lock (_lock)
        {
            var now = _time.GetUtcNow();
            id = request.NodeId ?? NewNodeId();
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
                    RegisteredAt = now,
                    LastHeartbeatAt = now,
                    AssignmentIndex = _indexBase,
                };
                _nodes[id] = node;
            }
            else
            {
                _nodeByCredential.Remove(Convert.ToHexString(node.CredentialHash));
                node.Name = request.Name;
                node.Os = request.Os;
                node.Architecture = request.Architecture;
                node.CpuCores = request.CpuCores;
                node.MemoryBytes = request.MemoryBytes;
                node.Labels = request.Labels;
                node.Gpus = request.Gpus;
                node.CredentialHash = hash;
                node.LastHeartbeatAt = now;
            }

            node.AgentVersion = request.AgentVersion;
            node.AgentUrl = request.AgentUrl;
            _nodeByCredential[Convert.ToHexString(hash)] = id;
            _store.InTransaction(() =>
            {
                _store.UpsertNode(node);
                // The agent says what it runs; anything else we think is live there is not.
                foreach (var attempt in node.Live.ToArray())
                {
                    if (!Lists(request.RunningAttempts, attempt))
                    {
                        EndAttempt(attempt, AttemptState.Lost, "the node's agent restarted and no longer runs it", null, null, byAgent: false, now);
                    }
                }
            });
            UpdateNodeState(node, now);
            BumpAssignments(node);
            Log.NodeRegistered(_logger, id, request.Name, request.Gpus.Count, known);
        }

        SchedulerWake.Pulse();
        ClusterChanged.Pulse();
        return new RegisterNodeResponse
        {
            NodeId = id,
            Credential = credential,
            HeartbeatIntervalSeconds = _options.HeartbeatInterval.TotalSeconds,
        };
    }

    private static bool Lists(IReadOnlyList<AttemptRef> running, AttemptRecord attempt)
    {
        foreach (var r in running)
        {
            if (r.JobId == attempt.Job.Id && r.Attempt == attempt.Number && r.Epoch == attempt.Epoch)
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
        bool wake;
        HeartbeatResponse response;
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
            UpdateNodeState(node, now);
            wake = node.Schedulable && !wasSchedulable;
            response = new HeartbeatResponse
            {
                State = node.State,
                LeaseExpiresAt = now + _options.Lease,
                AssignmentIndex = node.AssignmentIndex,
            };
        }

        Telemetry?.Enqueue(nodeId, request.Summary);
        _metrics.Heartbeats.Increment();
        if (wake)
        {
            SchedulerWake.Pulse();
            ClusterChanged.Pulse();
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
            var list = new List<Assignment>(node.Live.Count);
            foreach (var attempt in node.Live)
            {
                list.Add(ToAssignment(attempt));
            }

            return (new AssignmentsResponse { Index = node.AssignmentIndex, Attempts = list }, changed);
        }
    }

    private Assignment ToAssignment(AttemptRecord attempt)
    {
        var spec = attempt.Job.Spec;
        return new Assignment
        {
            JobId = attempt.Job.Id,
            Attempt = attempt.Number,
            Epoch = attempt.Epoch,
            Action = attempt.Job.CancelRequested ? AssignmentAction.Stop : AssignmentAction.Run,
            Name = spec.Name,
            Command = spec.Command,
            Shell = spec.Shell,
            Env = spec.Env,
            WorkingDirectory = spec.WorkingDirectory,
            Gpus = attempt.Gpus,
            Cpus = attempt.Cpus,
            MemoryBytes = attempt.MemoryBytes,
            MaxRuntimeSeconds = spec.MaxRuntimeSeconds,
            KillGraceSeconds = _options.KillGrace.TotalSeconds,
            ArrayIndex = attempt.Job.ArrayIndex,
            MaxLogChars = _options.MaxJobLogChars == ServerOptions.NoLogLimit ? null : _options.MaxJobLogChars,
        };
    }

    public NodeInfo? Drain(string nodeId, bool drain)
    {
        NodeInfo info;
        lock (_lock)
        {
            if (!_nodes.TryGetValue(nodeId, out var node))
            {
                return null;
            }

            if (node.Drain != drain)
            {
                node.Drain = drain;
                _store.SetNodeDrain(nodeId, drain);
                UpdateNodeState(node, _time.GetUtcNow());
                Log.NodeDrain(_logger, nodeId, drain);
            }

            info = ToNodeInfo(node);
        }

        SchedulerWake.Pulse();
        ClusterChanged.Pulse();
        return info;
    }

    /// <summary>Re-evaluates every node's liveness; a node that went down loses its live attempts.</summary>
    public void SweepLiveness()
    {
        var wake = false;
        lock (_lock)
        {
            var now = _time.GetUtcNow();
            foreach (var node in _nodes.Values)
            {
                var before = node.State;
                var wasSchedulable = node.Schedulable;
                UpdateNodeState(node, now);
                if (node.State == NodeState.Down && node.Live.Count > 0)
                {
                    var silent = (now - node.LastHeartbeatAt).TotalSeconds;
                    _store.InTransaction(() =>
                    {
                        foreach (var attempt in node.Live.ToArray())
                        {
                            EndAttempt(attempt, AttemptState.Lost, $"node {node.Id} went down (no heartbeat for {silent:0}s)", null, null, byAgent: false, now);
                        }
                    });
                    BumpAssignments(node);
                }

                if (before != node.State)
                {
                    Log.NodeState(_logger, node.Id, before, node.State);
                    wake = true;
                }

                wake |= node.Schedulable && !wasSchedulable;
            }
        }

        if (wake)
        {
            SchedulerWake.Pulse();
            ClusterChanged.Pulse();
        }
    }

    private void UpdateNodeState(NodeRecord node, DateTimeOffset now) =>
        node.State = Liveness.Evaluate(node.LastHeartbeatAt, now, _options.Lease, _options.DownAfter, node.Drain, node.Live.Count);

    private static void BumpAssignments(NodeRecord node)
    {
        node.AssignmentIndex++;
        node.AssignmentsChanged.Pulse();
    }

    // ---- jobs --------------------------------------------------------------------------------

    /// <summary>Queues a submission (one job, or one per array index) in one transaction.</summary>
    public IReadOnlyList<long> Submit(JobSubmission submission)
    {
        var ids = new List<long>();
        lock (_lock)
        {
            var now = _time.GetUtcNow();
            var spec = submission with { Array = null };
            var records = new List<JobRecord>();
            if (submission.Array is { } array)
            {
                for (var index = array.Start; index <= array.End; index++)
                {
                    records.Add(NewJob(spec, index, now));
                }
            }
            else
            {
                records.Add(NewJob(spec, null, now));
            }

            var transition = new JobTransition { Time = now, From = null, To = JobState.Pending, Reason = "submitted" };
            _store.InTransaction(() =>
            {
                foreach (var job in records)
                {
                    _store.InsertJob(job);
                    _store.InsertTransition(job.Id, transition);
                }
            });
            foreach (var job in records)
            {
                job.Transitions.Add(transition);
                _jobs.Add(job);
                _jobsById[job.Id] = job;
                _pending.Add(job);
                CountJob(JobState.Pending, +1);
                ids.Add(job.Id);
            }
        }

        _metrics.JobsSubmitted.Add(ids.Count);
        SchedulerWake.Pulse();
        ClusterChanged.Pulse();
        return ids;
    }

    private JobRecord NewJob(JobSubmission spec, int? arrayIndex, DateTimeOffset now) => new()
    {
        Id = _nextJobId++,
        Spec = spec,
        ArrayIndex = arrayIndex,
        State = JobState.Pending,
        Reason = "waiting to be scheduled",
        SubmittedAt = now,
        QueuedAt = now,
    };

    /// <summary>Cancels a job: a pending one at once, a live one by stopping its attempt. Null when unknown; the job's info otherwise, with <paramref name="alreadyEnded"/> set when it had ended.</summary>
    public JobInfo? Cancel(long jobId, out bool alreadyEnded)
    {
        alreadyEnded = false;
        JobInfo info;
        lock (_lock)
        {
            if (!_jobsById.TryGetValue(jobId, out var job))
            {
                return null;
            }

            if (job.State.IsTerminal())
            {
                alreadyEnded = true;
                return ToJobInfo(job);
            }

            var now = _time.GetUtcNow();
            _store.InTransaction(() =>
            {
                if (job.State == JobState.Pending)
                {
                    _pending.Remove(job);
                    job.CancelRequested = true;
                    SetJobState(job, JobState.Cancelled, "cancelled while pending", now);
                    job.EndedAt = now;
                    _store.UpdateJob(job);
                    return;
                }

                job.CancelRequested = true;
                var attempt = job.Current!;
                if (attempt.State == AttemptState.Assigned)
                {
                    // Never started: nothing to stop. If the agent starts it meanwhile, its report is refused and it stops.
                    EndAttempt(attempt, AttemptState.Cancelled, "cancelled before it started", null, null, byAgent: false, now);
                }
                else
                {
                    job.Reason = "cancel requested; stopping";
                    _store.UpdateJob(job);
                }

                if (_nodes.TryGetValue(attempt.NodeId, out var node))
                {
                    BumpAssignments(node);
                }
            });
            job.Changed.Pulse();
            info = ToJobInfo(job);
        }

        ClusterChanged.Pulse();
        return info;
    }

    /// <summary>Applies an agent's started/ended report for an attempt.</summary>
    public ReportOutcome Report(string nodeId, long jobId, int attemptNumber, AttemptEvent report)
    {
        ReportOutcome outcome;
        lock (_lock)
        {
            outcome = Check(nodeId, jobId, attemptNumber, report.Epoch, report.Type == AttemptEventType.Ended, out var attempt);
            if (outcome != ReportOutcome.Accepted || !attempt!.State.IsLive())
            {
                return outcome;
            }

            var now = _time.GetUtcNow();
            var job = attempt.Job;
            _store.InTransaction(() =>
            {
                if (report.Type == AttemptEventType.Started)
                {
                    if (attempt.State == AttemptState.Assigned)
                    {
                        attempt.State = AttemptState.Running;
                        attempt.StartedAt = now;
                        _store.UpdateAttempt(attempt);
                        job.StartedAt = now;
                        SetJobState(job, JobState.Running, report.Pid is { } pid ? $"started on node {nodeId} (pid {pid})" : $"started on node {nodeId}", now);
                        _store.UpdateJob(job);
                    }

                    return;
                }

                var (state, reason) = Outcome(report, job.CancelRequested);
                EndAttempt(attempt, state, reason, report.ExitCode, report.Signal, byAgent: true, now);
            });
            if (_nodes.TryGetValue(nodeId, out var node) && report.Type == AttemptEventType.Ended)
            {
                BumpAssignments(node);
            }

            job.Changed.Pulse();
        }

        if (report.Type == AttemptEventType.Ended)
        {
            SchedulerWake.Pulse();
        }

        ClusterChanged.Pulse();
        return outcome;
    }

    private static (AttemptState State, string Reason) Outcome(AttemptEvent report, bool cancelRequested)
    {
        var detail = report.Message is { Length: > 0 } m ? ": " + m : "";
        return report.Cause switch
        {
            AttemptEndCause.Exited when report.ExitCode == 0 => (AttemptState.Succeeded, "exit code 0"),
            AttemptEndCause.Exited when report.ExitCode is { } code => (AttemptState.Failed, $"exit code {code}"),
            AttemptEndCause.Exited => (AttemptState.Failed, $"killed by {report.Signal ?? "a signal"}"),
            AttemptEndCause.Stopped when cancelRequested => (AttemptState.Cancelled, "cancelled"),
            AttemptEndCause.Stopped => (AttemptState.Lost, "stopped by the agent" + detail),
            AttemptEndCause.TimedOut => (AttemptState.Failed, "killed after its maximum run time"),
            AttemptEndCause.StartFailed => (AttemptState.Failed, "could not start" + detail),
            AttemptEndCause.Orphaned => (AttemptState.Lost, "left running by a previous agent run and killed"),
            _ => (AttemptState.Failed, "ended" + detail),
        };
    }

    /// <summary>
    /// Stores log chunks of an attempt, up to <see cref="ServerOptions.MaxJobLogChars"/> per stream
    /// (<see cref="LogLimit"/>); chunks already stored are skipped.
    /// </summary>
    public ReportOutcome AppendLogs(string nodeId, long jobId, int attemptNumber, LogUpload upload)
    {
        lock (_lock)
        {
            var outcome = Check(nodeId, jobId, attemptNumber, upload.Epoch, allowEndedByAgent: true, out var attempt);
            if (outcome != ReportOutcome.Accepted)
            {
                return outcome;
            }

            var stored = 0;
            _store.InTransaction(() =>
            {
                foreach (var uploaded in upload.Chunks)
                {
                    foreach (var chunk in LogLimit.Clip(uploaded, _options.MaxJobLogChars))
                    {
                        if (_store.InsertLog(jobId, attemptNumber, chunk.Stream, chunk.Offset, chunk.Data))
                        {
                            stored += chunk.Data.Length;
                        }
                    }
                }
            });
            _metrics.LogCharacters.Add(stored);
            attempt!.Job.Changed.Pulse();
            return outcome;
        }
    }

    private ReportOutcome Check(string nodeId, long jobId, int attemptNumber, long epoch, bool allowEndedByAgent, out AttemptRecord? attempt)
    {
        attempt = null;
        if (!_jobsById.TryGetValue(jobId, out var job) || attemptNumber < 1 || attemptNumber > job.Attempts.Count)
        {
            return ReportOutcome.NotFound;
        }

        attempt = job.Attempts[attemptNumber - 1];
        if (attempt.NodeId != nodeId)
        {
            return ReportOutcome.Forbidden;
        }

        if (attempt.Epoch != epoch)
        {
            return ReportOutcome.Stale;
        }

        if (attempt.State.IsLive() || (allowEndedByAgent && attempt.EndedByAgent))
        {
            return ReportOutcome.Accepted;
        }

        return ReportOutcome.Stale;
    }

    /// <summary>Ends an attempt and moves its job on: done, or queued again while retries remain. Call inside a store transaction.</summary>
    private void EndAttempt(AttemptRecord attempt, AttemptState state, string reason, int? exitCode, string? signal, bool byAgent, DateTimeOffset now)
    {
        var job = attempt.Job;
        var started = attempt.StartedAt is not null;
        attempt.State = state;
        attempt.EndedAt = now;
        attempt.ExitCode = exitCode;
        attempt.Signal = signal;
        attempt.Reason = reason;
        attempt.EndedByAgent = byAgent;
        _store.UpdateAttempt(attempt);
        if (_nodes.TryGetValue(attempt.NodeId, out var node))
        {
            Release(node, attempt);
            UpdateNodeState(node, now);
        }

        job.ExitCode = exitCode;
        var label = $"attempt {attempt.Number} on node {attempt.NodeId}";
        switch (state)
        {
            case AttemptState.Succeeded:
                job.EndedAt = now;
                SetJobState(job, JobState.Succeeded, reason, now);
                break;
            case AttemptState.Cancelled:
                job.EndedAt = now;
                SetJobState(job, JobState.Cancelled, reason, now);
                break;
            case var _ when job.CancelRequested:
                job.EndedAt = now;
                SetJobState(job, JobState.Cancelled, $"cancelled ({label}: {reason})", now);
                break;
            case AttemptState.Lost when !started:
                // It never ran: placing it again costs no retry.
                Requeue(job, $"{label} lost before it started ({reason}); queued again", now);
                break;
            case var _ when job.RetriesUsed < job.Spec.Retries:
                job.RetriesUsed++;
                Requeue(job, $"{label}: {reason}; retry {job.RetriesUsed} of {job.Spec.Retries}", now);
                break;
            default:
                job.EndedAt = now;
                SetJobState(job, state == AttemptState.Lost ? JobState.Lost : JobState.Failed, reason, now);
                break;
        }

        _store.UpdateJob(job);
        if (job.State.IsTerminal() && job.StartedAt is { } s)
        {
            _metrics.RunTime.Observe((now - s).TotalSeconds);
        }
    }

    private void Requeue(JobRecord job, string reason, DateTimeOffset now)
    {
        SetJobState(job, JobState.Pending, reason, now);
        job.QueuedAt = now;
        job.StartedAt = null;
        _pending.Add(job);
    }

    private void SetJobState(JobRecord job, JobState to, string reason, DateTimeOffset now)
    {
        var transition = new JobTransition { Time = now, From = job.State, To = to, Reason = reason };
        CountJob(job.State, -1);
        CountJob(to, +1);
        job.State = to;
        job.Reason = reason;
        job.Transitions.Add(transition);
        _store.InsertTransition(job.Id, transition);
    }

    private void CountJob(JobState state, int delta) =>
        _jobCounts[state] = _jobCounts.GetValueOrDefault(state) + delta;

    private static void Hold(NodeRecord node, AttemptRecord attempt)
    {
        node.Live.Add(attempt);
        node.UsedCpus += attempt.Cpus;
        node.UsedMemoryBytes += attempt.MemoryBytes;
        foreach (var gpu in attempt.Gpus)
        {
            node.GpuHolders[gpu] = attempt.Job.Id;
        }
    }

    private static void Release(NodeRecord node, AttemptRecord attempt)
    {
        if (!node.Live.Remove(attempt))
        {
            return;
        }

        node.UsedCpus -= attempt.Cpus;
        node.UsedMemoryBytes -= attempt.MemoryBytes;
        foreach (var gpu in attempt.Gpus)
        {
            node.GpuHolders.Remove(gpu);
        }
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = 2000, Level = LogLevel.Information, Message = "Loaded {Nodes} nodes and {Jobs} jobs ({Pending} pending)")]
        public static partial void Loaded(ILogger logger, int nodes, int jobs, int pending);

        [LoggerMessage(EventId = 2001, Level = LogLevel.Information, Message = "Node {NodeId} ({Name}, {Gpus} GPUs) registered (known before: {Known})")]
        public static partial void NodeRegistered(ILogger logger, string nodeId, string name, int gpus, bool known);

        [LoggerMessage(EventId = 2002, Level = LogLevel.Information, Message = "Node {NodeId}: {Before} -> {After}")]
        public static partial void NodeState(ILogger logger, string nodeId, NodeState before, NodeState after);

        [LoggerMessage(EventId = 2003, Level = LogLevel.Information, Message = "Node {NodeId} drain set to {Drain}")]
        public static partial void NodeDrain(ILogger logger, string nodeId, bool drain);
    }
}
