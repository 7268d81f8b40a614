using Gantry.Core.Jobs;
using Gantry.Core.Protocol;
using Gantry.Core.Scheduling;
using Gantry.Server.Configuration;
using Gantry.Server.FairShare;
using Gantry.Server.Live;
using Gantry.Server.Nodes;
using Gantry.Server.Observability;
using Gantry.Server.Storage;
using Microsoft.Extensions.Logging;

namespace Gantry.Server.Jobs;

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
/// The job feature: the queue, jobs' states and attempts. It keeps live work in memory (pending,
/// assigned and running jobs; an array as one record until its tasks start) and writes every change
/// to the store before it answers; ended jobs leave memory and are read from the store when asked.
/// The pending queue is ordered (<see cref="PendingOrder"/>), so a scheduling pass takes the head
/// of it (<see cref="TakePending"/>) without walking the rest. One lock guards it; it calls into the
/// <see cref="NodeRegistry"/> (to hold and release what attempts use) while holding it, never the
/// other way round.
/// </summary>
internal sealed partial class JobQueue
{
    private readonly Lock _lock = new();
    private readonly IStateStore _store;
    private readonly NodeRegistry _nodes;
    private readonly ServerOptions _options;
    private readonly TimeProvider _time;
    private readonly ClusterSignals _signals;
    private readonly ServerMetrics _metrics;
    private readonly ILogger<JobQueue> _logger;
    private readonly long _leaderEpoch;
    private readonly string _behind;

    private readonly Dictionary<long, JobRecord> _live = [];
    private readonly List<ArrayRecord> _arrays = [];
    private readonly PendingQueue _pending;
    private readonly SortedSet<long>[] _byState = [[], [], []];
    private readonly Dictionary<JobState, long> _counts = [];
    private readonly Dictionary<long, Signal> _followers = [];
    private long _nextJobId;
    private long _lastEpoch;
    private long _pass;
    private DateTimeOffset _passAt;
    private string? _idleReason;
    private PendingKey? _windowAfter;
    private bool _pinning;

    /// <summary>How jobs ended lately (for the job failure-rate alert).</summary>
    public JobOutcomes Outcomes { get; } = new();

    public JobQueue(IStateStore store, StoredState state, NodeRegistry nodes, ServerOptions options, TimeProvider time, ClusterSignals signals, ServerMetrics metrics, ILogger<JobQueue> logger, long leaderEpoch = 0, FairShareLedger? fairShare = null, IAccountLimits? limits = null)
    {
        FairShare = fairShare ?? new FairShareLedger(state.AccountUsage, options.FairShareHalfLife);
        _limits = limits ?? NoAccountLimits.Instance;
        _pending = new PendingQueue(byAccount: FairShare.Enabled);
        _store = store;
        _nodes = nodes;
        _options = options;
        _time = time;
        _signals = signals;
        _metrics = metrics;
        _logger = logger;
        _leaderEpoch = leaderEpoch;
        _behind = $"waiting behind earlier or higher-priority jobs (a pass looks at the first {options.SchedulerDepth} in the queue)";
        _nextJobId = state.NextJobId;
        _lastEpoch = state.LastEpoch;
        foreach (var (jobState, count) in state.JobCounts)
        {
            _counts[jobState] = count;
        }

        var now = time.GetUtcNow();

        foreach (var (row, attempts) in state.LiveJobs)
        {
            var job = new JobRecord
            {
                Id = row.Id,
                Spec = row.Spec,
                ArrayIndex = row.ArrayIndex,
                Owner = row.Owner,
                State = row.State,
                Reason = row.Reason,
                CancelRequested = row.CancelRequested,
                SubmittedAt = row.SubmittedAt,
                QueuedAt = row.QueuedAt,
                StartedAt = row.StartedAt,
                RetriesUsed = row.RetriesUsed,
                AttemptCount = attempts.Count,
                PlannedLocation = row.PlannedLocation,
                Account = row.Owner?.Name, // fair share: the owner is the account
                Service = ServiceRunFor(row.Spec), // services (JobQueue.Services.cs)
            };
            if (attempts.Count > 0 && attempts[^1].State.IsLive())
            {
                job.Current = attempts[^1];
                nodes.Restore(job.Current.NodeId, ToAssignment(job, job.Current));
                FairShare.Restore(job.Account, job.Current.Gpus.Length, job.Current.AssignedAt);
            }

            _live[job.Id] = job;
            StateSet(job.State)?.Add(job.Id);
            var waitsToRestart = RestoreService(job, row, attempts, now); // services: restarts within the interval, a pending restart's wait (JobQueue.Services.cs)
            if (job.State == JobState.Pending)
            {
                CountPending(job.Account, 1);
                if (!waitsToRestart)
                {
                    Restore(job, row, now); // carbon-aware deferral: held again, or queued (JobQueue.Carbon.cs)
                }
            }
        }

        foreach (var stored in state.Arrays)
        {
            var array = new ArrayRecord(stored.Array, stored.TasksWithRows) { Account = stored.Array.Owner?.Name }; // fair share: the owner, as for jobs
            if (array.Remaining == 0)
            {
                continue;
            }

            _arrays.Add(array);
            _pending.Add(array.Key);
            Count(JobState.Pending, array.Remaining);
            CountPending(array.Account, array.Remaining);
        }

        var pending = _counts.GetValueOrDefault(JobState.Pending);
        Log.Loaded(_logger, _live.Count, _arrays.Count, pending, _held.Count);
    }

    /// <summary>Jobs per state, every stored job and unstarted array task included.</summary>
    public Dictionary<JobState, long> Counts()
    {
        lock (_lock)
        {
            return new Dictionary<JobState, long>(_counts);
        }
    }

    /// <summary>How many jobs wait.</summary>
    public long PendingCount()
    {
        lock (_lock)
        {
            return _counts.GetValueOrDefault(JobState.Pending);
        }
    }

    // ---- submit and cancel ----------------------------------------------------------------------

    /// <summary>
    /// Queues a submission: one job, or an array stored as one record whatever its size. Returns the
    /// first id and how many were created (an array's tasks have consecutive ids). <paramref name="owner"/>
    /// is who submitted it (null only where no person did, as in tests of the queue alone).
    /// </summary>
    /// <exception cref="AccountLimitException">The owner (the fair-share account) would have more pending jobs than its limit allows.</exception>
    public (long FirstId, int Count) Submit(JobSubmission submission, JobOwner? owner = null)
    {
        var account = owner?.Name;
        ArgumentNullException.ThrowIfNull(submission);
        long first;
        int count;
        var carbonPlan = submission.Array is null ? PlanFor(submission, _time.GetUtcNow()) : null; // carbon-aware deferral (JobQueue.Carbon.cs)
        lock (_lock)
        {
            var now = _time.GetUtcNow();
            var spec = Normalized(submission) with { Array = null }; // services: a missing spec gets the defaults
            CheckServiceName(spec); // services: a live service's name is taken (409)
            first = _nextJobId;
            CheckPendingLimit(account, submission.Array is { } asked ? new ArrayRow(first, asked.Start, asked.End, spec, now).Count : 1);
            if (submission.Array is { } range)
            {
                var row = new ArrayRow(first, range.Start, range.End, spec, now) { Owner = owner };
                count = row.Count;
                _store.Write(w => w.InsertArray(row));
                _nextJobId += count;
                var array = new ArrayRecord(row, []) { Account = account };
                _arrays.Add(array);
                _pending.Add(array.Key);
                Count(JobState.Pending, count);
                CountPending(account, count);
            }
            else
            {
                count = 1;
                var job = new JobRecord
                {
                    Id = first,
                    Spec = spec,
                    Owner = owner,
                    State = JobState.Pending,
                    Reason = Waiting,
                    SubmittedAt = now,
                    QueuedAt = now,
                    Account = account,
                    Service = ServiceRunFor(spec), // services (JobQueue.Services.cs)
                };
                if (carbonPlan is { } plan)
                {
                    Hold(job, plan); // before its row is written: the row carries the plan
                }

                var transition = Submitted(now);
                _store.Write(w =>
                {
                    w.InsertJob(job.ToRow());
                    w.InsertTransition(job.Id, transition);
                });
                _nextJobId++;
                _live[job.Id] = job;
                TrackService(job);
                _byState[0].Add(job.Id);
                if (carbonPlan is null)
                {
                    _pending.Add(job.Key);
                }

                Count(JobState.Pending, 1);
                CountPending(account, 1);
            }
        }

        _metrics.JobsSubmitted.Add(count);
        _signals.SchedulerWake.Pulse();
        _signals.Changed.Pulse();
        return (first, count);
    }

    /// <summary>
    /// Cancels a job: a pending one at once, a live one by stopping its attempt. Null when unknown; the
    /// job's info otherwise, with <paramref name="alreadyEnded"/> set when it had ended.
    /// </summary>
    public JobInfo? Cancel(long jobId, out bool alreadyEnded)
    {
        alreadyEnded = false;
        lock (_lock)
        {
            var now = _time.GetUtcNow();
            var writes = new List<Action<IStateWriter>>();
            if (_live.TryGetValue(jobId, out var job))
            {
                job.CancelRequested = true;
                if (job.State == JobState.Pending)
                {
                    _pending.Remove(job.Key);
                    Unhold(job);
                    job.EndedAt = now;
                    SetJobState(job, JobState.Cancelled, "cancelled while pending", now, writes);
                }
                else
                {
                    var attempt = job.Current!;
                    if (attempt.State == AttemptState.Assigned)
                    {
                        // Never started: nothing to stop. If the agent starts it meanwhile, its report is refused and it stops.
                        EndAttempt(job, attempt, AttemptState.Cancelled, "cancelled before it started", null, null, byAgent: false, now, writes);
                    }
                    else
                    {
                        job.Reason = "cancel requested; stopping";
                        writes.Add(w => w.UpdateJob(job.ToRow()));
                        _nodes.Stop(attempt.NodeId, job.Id, attempt.Number);
                    }
                }

                Commit(writes);
                Finish(job);
            }
            else if (ArrayOf(jobId) is { } array)
            {
                // An unstarted array task: it gets its row now, already cancelled.
                var task = Materialize(array, jobId, writes);
                task.CancelRequested = true;
                task.EndedAt = now;
                SetJobState(task, JobState.Cancelled, "cancelled while pending", now, writes);
                Commit(writes);
                Finish(task);
            }
            else
            {
                var stored = _store.ReadJob(jobId);
                if (stored is null)
                {
                    return null;
                }

                alreadyEnded = true;
                return JobViews.ToJobInfo(stored, reason: null);
            }
        }

        _signals.Changed.Pulse();
        return GetJob(jobId);
    }

    // ---- agents' reports --------------------------------------------------------------------------

    /// <summary>Applies an agent's started/ended report for an attempt.</summary>
    public ReportOutcome Report(string nodeId, long jobId, int attemptNumber, AttemptEvent report)
    {
        ArgumentNullException.ThrowIfNull(report);
        var ended = report.Type == AttemptEventType.Ended;
        lock (_lock)
        {
            var outcome = Check(nodeId, jobId, attemptNumber, report.Epoch, allowEndedByAgent: ended, out var job);
            if (outcome != ReportOutcome.Accepted || job is null)
            {
                return outcome;
            }

            var attempt = job.Current!;
            if (ended && report.Energy is { } energy)
            {
                // The final figures: the attempt's row takes them with its end.
                attempt = WithEnergy(attempt, energy, LocationOf(nodeId));
            }

            var now = _time.GetUtcNow();
            var writes = new List<Action<IStateWriter>>();
            if (!ended)
            {
                if (attempt.State != AttemptState.Assigned)
                {
                    return outcome;
                }

                var running = attempt with { State = AttemptState.Running, StartedAt = now };
                job.Current = running;
                writes.Add(w => w.UpdateAttempt(running));
                job.StartedAt = now;
                SetJobState(job, JobState.Running, report.Pid is { } pid ? $"started on node {nodeId} (pid {pid})" : $"started on node {nodeId}", now, writes);
                Commit(writes);
                PulseFollowers(job.Id);
            }
            else
            {
                var (state, reason) = Outcome(report, job.CancelRequested);
                if (job.HealthFailure is { } health && state is not (AttemptState.Succeeded or AttemptState.Cancelled))
                {
                    // Stopped (or crashed first) because its GPU needs the application restarted: a failure that says why.
                    (state, reason) = (AttemptState.Failed, $"{health} ({reason})");
                }

                EndAttempt(job, attempt, state, reason, report.ExitCode, report.Signal, byAgent: true, now, writes);
                Commit(writes);
                Finish(job);
            }
        }

        if (ended)
        {
            _signals.SchedulerWake.Pulse();
        }

        _signals.Changed.Pulse();
        return ReportOutcome.Accepted;
    }

    /// <summary>
    /// Whether node <paramref name="nodeId"/> may still upload for this attempt: live, or ended by its
    /// own report (output often arrives after the end). Read from the store for ended jobs.
    /// </summary>
    public ReportOutcome CheckUpload(string nodeId, long jobId, int attemptNumber, long epoch)
    {
        lock (_lock)
        {
            return Check(nodeId, jobId, attemptNumber, epoch, allowEndedByAgent: true, out _);
        }
    }

    /// <summary>
    /// Checks a report against the attempt. <paramref name="live"/> is set when the attempt is the
    /// live one of a job in memory (the report can change it); for ended attempts the store answers.
    /// </summary>
    private ReportOutcome Check(string nodeId, long jobId, int attemptNumber, long epoch, bool allowEndedByAgent, out JobRecord? live)
    {
        live = null;
        if (_live.TryGetValue(jobId, out var job) && job.Current is { } current && current.Number == attemptNumber)
        {
            if (current.NodeId != nodeId)
            {
                return ReportOutcome.Forbidden;
            }

            if (current.Epoch != epoch)
            {
                return ReportOutcome.Stale;
            }

            live = job;
            return ReportOutcome.Accepted;
        }

        if (attemptNumber < 1 || ArrayOf(jobId) is not null)
        {
            return ReportOutcome.NotFound;
        }

        var row = _store.ReadAttempt(jobId, attemptNumber);
        if (row is null)
        {
            return ReportOutcome.NotFound;
        }

        if (row.NodeId != nodeId)
        {
            return ReportOutcome.Forbidden;
        }

        return row.Epoch == epoch && allowEndedByAgent && row.EndedByAgent ? ReportOutcome.Accepted : ReportOutcome.Stale;
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
            AttemptEndCause.OutOfMemory => (AttemptState.Failed, "out of memory" + detail),
            AttemptEndCause.Unhealthy => (AttemptState.Failed, "unhealthy" + detail), // services: its agent stopped it after failed health checks
            _ => (AttemptState.Failed, "ended" + detail),
        };
    }

    /// <summary>Marks these attempts lost (their node went down, or its agent restarted without them); stale references are ignored.</summary>
    public void LoseAttempts(IReadOnlyList<AttemptRef> attempts, string reason)
    {
        ArgumentNullException.ThrowIfNull(attempts);
        if (attempts.Count == 0)
        {
            return;
        }

        lock (_lock)
        {
            var now = _time.GetUtcNow();
            var writes = new List<Action<IStateWriter>>();
            var ended = new List<JobRecord>();
            foreach (var a in attempts)
            {
                if (_live.TryGetValue(a.JobId, out var job) && job.Current is { } current && current.Number == a.Attempt && current.Epoch == a.Epoch)
                {
                    EndAttempt(job, current, AttemptState.Lost, reason, null, null, byAgent: false, now, writes);
                    ended.Add(job);
                }
            }

            Commit(writes);
            foreach (var job in ended)
            {
                Finish(job);
            }
        }

        _signals.SchedulerWake.Pulse();
        _signals.Changed.Pulse();
    }

    /// <summary>
    /// Stops an attempt on a GPU whose fault needs it stopped (the GPU health policy). With
    /// <paramref name="requeue"/> (the GPU is cordoned or its node drained) the attempt ends at once as
    /// lost, and the job is queued again while its retries last (for free when it had not started); the
    /// agent stops the process, which it no longer finds among its assignments. Without it (an XID that
    /// needs the application restarted) the agent is told to stop it and its end reads as a failure
    /// with <paramref name="reason"/>; an attempt placed after <paramref name="faultAt"/> is left alone
    /// (the fault was its predecessor's). Returns the job's id, or null when the attempt is no longer
    /// live (or was left alone).
    /// </summary>
    public long? StopForHealth(string nodeId, AttemptRef attempt, bool requeue, string reason, DateTimeOffset? faultAt)
    {
        ArgumentNullException.ThrowIfNull(attempt);
        lock (_lock)
        {
            if (!_live.TryGetValue(attempt.JobId, out var job) || job.Current is not { } current || current.Number != attempt.Attempt
                || current.Epoch != attempt.Epoch || current.NodeId != nodeId || (!requeue && job.HealthFailure is not null))
            {
                return null;
            }

            var now = _time.GetUtcNow();
            var writes = new List<Action<IStateWriter>>();
            if (requeue || current.State == AttemptState.Assigned)
            {
                if (!requeue && faultAt is { } fault && current.AssignedAt > fault)
                {
                    return null;
                }

                EndAttempt(job, current, AttemptState.Lost, reason, null, null, byAgent: false, now, writes);
                Commit(writes);
                Finish(job);
            }
            else
            {
                if (faultAt is { } fault && current.AssignedAt > fault)
                {
                    return null;
                }

                job.HealthFailure = reason;
                job.Reason = $"stopping: {reason}";
                writes.Add(w => w.UpdateJob(job.ToRow()));
                Commit(writes);
                _nodes.Stop(current.NodeId, job.Id, current.Number);
                PulseFollowers(job.Id);
            }
        }

        _signals.SchedulerWake.Pulse();
        _signals.Changed.Pulse();
        return attempt.JobId;
    }

    // ---- scheduling -----------------------------------------------------------------------------

    /// <summary>
    /// The jobs a scheduling pass looks at: the first <paramref name="depth"/> of the pending queue in
    /// priority order, then up to <paramref name="depth"/> more from a window that moves further back
    /// at every pass and wraps around, so every pending job is looked at over successive passes (as
    /// Slurm's <c>default_queue_depth</c> and <c>bf_max_job_test</c> bound a pass). The tasks of an
    /// array are alike, so an array gives its first unstarted tasks only.
    /// </summary>
    public List<PendingJob> TakePending(int depth) => TakePass(depth).Pending;

    /// <summary>
    /// What a scheduling pass looks at: <see cref="TakePending"/>'s jobs and the accounts' shares, usage and
    /// limits, read together so that the head of the queue is merged by the same usage the pass orders by
    /// (docs/fair-share.md). Bounded by <paramref name="depth"/> and the number of accounts.
    /// </summary>
    public PassInput TakePass(int depth)
    {
        var pinning = Pinning(); // outside the lock: the carbon feature has its own
        lock (_lock)
        {
            _passAt = _time.GetUtcNow();
            _pinning = pinning;
            var accounts = Accounts(_passAt);
            var taken = new List<PendingJob>(Math.Min(2 * depth, 4096));
            PendingKey? last = null;
            HashSet<long>? head = null;
            if (_pending.ByAccount && _pending.Queues.Count > 1)
            {
                head = TakeHeadByShare(depth, taken, accounts);
            }
            else
            {
                foreach (var key in _pending)
                {
                    if (taken.Count >= depth)
                    {
                        break;
                    }

                    Add(key, taken, depth);
                    last = key;
                }
            }

            if (taken.Count >= depth && (head is not null || last is not null))
            {
                // A merged head is no prefix of the queue: the window goes over all of it, skipping what the head took.
                var from = head is not null ? _windowAfter
                    : _windowAfter is { } w && _pending.Comparer.Compare(w, last!.Value) > 0 ? w : last;
                if (from is { } f && _pending.Comparer.Compare(f, _pending.Max) >= 0)
                {
                    // The window reached the end of the queue: next pass it starts again behind the head.
                    _windowAfter = null;
                    return new PassInput(taken, accounts);
                }

                var limit = taken.Count + depth;
                PendingKey? windowEnd = null;
                foreach (var key in from is { } start ? _pending.GetViewBetween(start, _pending.Max) : _pending.GetViewBetween(_pending.Min, _pending.Max))
                {
                    if (taken.Count >= limit)
                    {
                        break;
                    }

                    if (key == from || (head is not null && head.Contains(key.Id)))
                    {
                        continue;
                    }

                    Add(key, taken, limit);
                    windowEnd = key;
                }

                // At the end of the queue the window starts again behind the head.
                _windowAfter = taken.Count >= limit ? windowEnd : null;
            }

            return new PassInput(taken, accounts);
        }
    }

    private void Add(PendingKey key, List<PendingJob> taken, int limit)
    {
        if (_live.TryGetValue(key.Id, out var job))
        {
            taken.Add(new PendingJob(job.Id, key.Priority, job.Id, job.Spec.Resources, job.Spec.Selector, job.QueuedAt, _pinning ? PinOf(job, _passAt) : null, job.Account, job.Spec.Container?.Runtime, job.Service?.PreferNode)); // containers: its runtime; services: a restart prefers its node
            return;
        }

        if (ArrayOf(key.Id) is not { } array)
        {
            return;
        }

        var spec = array.Row.Spec;
        for (var offset = array.NextUnstarted((int)(key.Id - array.Row.FirstJobId)); offset < array.Row.Count && taken.Count < limit; offset = array.NextUnstarted(offset + 1))
        {
            var id = array.Row.FirstJobId + offset;
            taken.Add(new PendingJob(id, key.Priority, id, spec.Resources, spec.Selector, array.Row.SubmittedAt, Account: array.Account, Runtime: spec.Container?.Runtime));
        }
    }

    /// <summary>
    /// Turns a pass's placements into attempts, checking each against the state now (a job may have
    /// been cancelled, a node may have gone, since the snapshot). Returns how many were placed.
    /// </summary>
    public int Apply(SchedulingResult result)
    {
        ArgumentNullException.ThrowIfNull(result);
        var placed = 0;
        lock (_lock)
        {
            var now = _time.GetUtcNow();
            _pass++;
            _idleReason = null;
            var writes = new List<Action<IStateWriter>>();
            foreach (var placement in result.Placements)
            {
                ArrayRecord? array = null;
                if (!_live.TryGetValue(placement.JobId, out var job))
                {
                    array = ArrayOf(placement.JobId);
                    if (array is null)
                    {
                        continue;
                    }
                }
                else if (job.State != JobState.Pending)
                {
                    continue;
                }

                var epoch = _lastEpoch + 1;
                var gpus = placement.Gpus.ToArray();
                var attempt = new AttemptRow
                {
                    JobId = placement.JobId,
                    Number = (job?.AttemptCount ?? 0) + 1,
                    Epoch = epoch,
                    NodeId = placement.NodeId,
                    Gpus = gpus,
                    GpuUuids = _nodes.GpuUuids(placement.NodeId, gpus),
                    Cpus = placement.Cpus,
                    MemoryBytes = placement.MemoryBytes,
                    State = AttemptState.Assigned,
                    AssignedAt = now,
                };
                var spec = job?.Spec ?? array!.Row.Spec;
                var arrayIndex = job is not null ? job.ArrayIndex : array!.IndexOf(placement.JobId);
                var owner = job is not null ? job.Owner : array!.Row.Owner;
                if (!_nodes.TryHold(placement.NodeId, ToAssignment(placement.JobId, spec, arrayIndex, owner, cancel: false, attempt)))
                {
                    continue;
                }

                _lastEpoch = epoch;
                job ??= Materialize(array!, placement.JobId, writes);
                _pending.Remove(job.Key);
                job.AttemptCount++;
                job.Current = attempt;
                FairShare.Hold(job.Account, gpus.Length, now);
                writes.Add(w => w.InsertAttempt(attempt));
                _metrics.QueueWait.Observe((now - job.QueuedAt).TotalSeconds);
                var what = gpus.Length == 0 ? "no GPUs" : "GPUs " + string.Join(',', gpus);
                var placedReason = $"placed on node {placement.NodeId} ({what})";
                SetJobState(job, JobState.Assigned, placement.Efficiency is { } why ? placedReason + ": " + why : placedReason, now, writes);
                placed++;
            }

            Commit(writes);
            foreach (var waiting in result.Waiting)
            {
                if (_live.TryGetValue(waiting.JobId, out var job))
                {
                    if (job.State == JobState.Pending)
                    {
                        job.Reason = waiting.Reason;
                        job.ReasonPass = _pass;
                    }
                }
                else if (ArrayOf(waiting.JobId) is { } array && array.ReasonPass != _pass)
                {
                    array.Reason = waiting.Reason;
                    array.ReasonPass = _pass;
                }
            }
        }

        if (placed > 0)
        {
            _signals.Changed.Pulse();
        }

        return placed;
    }

    /// <summary>A pass found no node taking work: every pending job waits for that.</summary>
    public void NoNodeReady()
    {
        lock (_lock)
        {
            _pass++;
            _passAt = _time.GetUtcNow();
            _idleReason = "no ready node";
        }
    }

    // ---- the state machine ------------------------------------------------------------------------

    /// <summary>Ends an attempt and moves its job on: done, or queued again while retries remain.</summary>
    private void EndAttempt(JobRecord job, AttemptRow attempt, AttemptState state, string reason, int? exitCode, string? signal, bool byAgent, DateTimeOffset now, List<Action<IStateWriter>> writes)
    {
        var started = attempt.StartedAt is not null;
        var ended = attempt with { State = state, EndedAt = now, ExitCode = exitCode, Signal = signal, Reason = reason, EndedByAgent = byAgent };
        writes.Add(w => w.UpdateAttempt(ended));
        _nodes.Release(attempt.NodeId, job.Id, attempt.Number);
        FairShare.Release(job.Account, attempt.Gpus.Length, now);
        job.Current = null;
        job.HealthFailure = null;
        job.ExitCode = exitCode;
        var label = $"attempt {attempt.Number} on node {attempt.NodeId}";
        switch (state)
        {
            case var _ when job.Service is { } run && state != AttemptState.Cancelled && !job.CancelRequested:
                // A service is restarted by its policy, or moved when its node is lost (JobQueue.Services.cs).
                EndServiceAttempt(job, run, attempt, state, reason, now, writes);
                break;
            case AttemptState.Succeeded:
                job.EndedAt = now;
                SetJobState(job, JobState.Succeeded, reason, now, writes);
                break;
            case AttemptState.Cancelled:
                job.EndedAt = now;
                SetJobState(job, JobState.Cancelled, reason, now, writes);
                break;
            case var _ when job.CancelRequested:
                job.EndedAt = now;
                SetJobState(job, JobState.Cancelled, $"cancelled ({label}: {reason})", now, writes);
                break;
            case AttemptState.Lost when !started:
                // It never ran: placing it again costs no retry.
                Requeue(job, $"{label} lost before it started ({reason}); queued again", now, writes);
                break;
            case var _ when job.RetriesUsed < job.Spec.Retries:
                job.RetriesUsed++;
                Requeue(job, $"{label}: {reason}; retry {job.RetriesUsed} of {job.Spec.Retries}", now, writes);
                break;
            default:
                job.EndedAt = now;
                SetJobState(job, state == AttemptState.Lost ? JobState.Lost : JobState.Failed, reason, now, writes);
                break;
        }

        if (job.State.IsTerminal() && job.StartedAt is { } s)
        {
            _metrics.RunTime.Observe((now - s).TotalSeconds);
        }
    }

    private void Requeue(JobRecord job, string reason, DateTimeOffset now, List<Action<IStateWriter>> writes)
    {
        job.QueuedAt = now;
        job.StartedAt = null;
        SetJobState(job, JobState.Pending, reason, now, writes);
        job.ReasonPass = _pass;
        _pending.Add(job.Key);
    }

    /// <summary>Moves a job to <paramref name="to"/>, recording the transition and the job's row.</summary>
    private void SetJobState(JobRecord job, JobState to, string reason, DateTimeOffset now, List<Action<IStateWriter>> writes)
    {
        var transition = new JobTransition { Time = now, From = job.State, To = to, Reason = reason };
        StateSet(job.State)?.Remove(job.Id);
        Count(job.State, -1);
        if ((job.State == JobState.Pending) != (to == JobState.Pending))
        {
            CountPending(job.Account, to == JobState.Pending ? 1 : -1);
        }

        job.State = to;
        job.Reason = reason;
        StateSet(to)?.Add(job.Id);
        Count(to, +1);
        var row = job.ToRow();
        writes.Add(w =>
        {
            w.UpdateJob(row);
            w.InsertTransition(row.Id, transition);
        });
    }

    /// <summary>After the unit of work is stored: an ended job leaves memory, and whoever follows it hears.</summary>
    private void Finish(JobRecord job)
    {
        if (job.State.IsTerminal())
        {
            _live.Remove(job.Id);
            ForgetService(job); // services: its name is free again
            Outcomes.Record(job.State, _time.GetUtcNow());
        }

        PulseFollowers(job.Id);
        if (job.State.IsTerminal())
        {
            _followers.Remove(job.Id);
        }
    }

    /// <summary>An unstarted array task becomes a job with a row of its own (still pending; the caller moves it on).</summary>
    private JobRecord Materialize(ArrayRecord array, long jobId, List<Action<IStateWriter>> writes)
    {
        var pendingKey = array.Key;
        array.Start(jobId);
        if (array.Key != pendingKey || array.Remaining == 0)
        {
            _pending.Remove(pendingKey);
            if (array.Remaining > 0)
            {
                _pending.Add(array.Key);
            }
        }

        var job = new JobRecord
        {
            Id = jobId,
            Spec = array.Row.Spec,
            ArrayIndex = array.IndexOf(jobId),
            Owner = array.Row.Owner,
            State = JobState.Pending,
            Reason = Waiting,
            SubmittedAt = array.Row.SubmittedAt,
            QueuedAt = array.Row.SubmittedAt,
            Account = array.Account,
        };
        var row = job.ToRow();
        var submitted = Submitted(array.Row.SubmittedAt);
        var complete = array.Remaining == 0;
        var first = array.Row.FirstJobId;
        writes.Add(w =>
        {
            w.InsertJob(row);
            w.InsertTransition(row.Id, submitted);
            if (complete)
            {
                w.CompleteArray(first);
            }
        });
        if (complete)
        {
            _arrays.Remove(array);
        }

        _live[jobId] = job;
        _byState[0].Add(jobId);
        return job;
    }

    /// <summary>The array whose unstarted task <paramref name="jobId"/> is; null otherwise.</summary>
    private ArrayRecord? ArrayOf(long jobId)
    {
        // Arrays are kept in id order (ids are handed out in order): binary search.
        var lo = 0;
        var hi = _arrays.Count - 1;
        while (lo <= hi)
        {
            var mid = (lo + hi) >>> 1;
            var array = _arrays[mid];
            if (jobId < array.Row.FirstJobId)
            {
                hi = mid - 1;
            }
            else if (jobId > array.Row.LastJobId)
            {
                lo = mid + 1;
            }
            else
            {
                return array.IsUnstarted(jobId) ? array : null;
            }
        }

        return null;
    }

    private void Commit(List<Action<IStateWriter>> writes)
    {
        // Fair share: accounts whose usage these changes moved, stored in the same unit of work.
        if (FairShare.TakeChanged() is { } usage)
        {
            writes.Add(w =>
            {
                foreach (var row in usage)
                {
                    w.UpsertAccountUsage(row);
                }
            });
        }

        if (writes.Count == 0)
        {
            return;
        }

        _store.Write(w =>
        {
            foreach (var write in writes)
            {
                write(w);
            }
        });
    }

    private SortedSet<long>? StateSet(JobState state) => state switch
    {
        JobState.Pending => _byState[0],
        JobState.Assigned => _byState[1],
        JobState.Running => _byState[2],
        _ => null,
    };

    private void Count(JobState state, long delta) => _counts[state] = _counts.GetValueOrDefault(state) + delta;

    private void PulseFollowers(long jobId)
    {
        if (_followers.TryGetValue(jobId, out var signal))
        {
            signal.Pulse();
        }
    }

    private const string Waiting = "waiting to be scheduled";

    private static JobTransition Submitted(DateTimeOffset at) => new() { Time = at, From = null, To = JobState.Pending, Reason = "submitted" };

    private Assignment ToAssignment(JobRecord job, AttemptRow attempt) =>
        ToAssignment(job.Id, job.Spec, job.ArrayIndex, job.Owner, job.CancelRequested, attempt);

    private Assignment ToAssignment(long jobId, JobSubmission spec, int? arrayIndex, JobOwner? owner, bool cancel, AttemptRow attempt) => new()
    {
        JobId = jobId,
        Attempt = attempt.Number,
        Epoch = attempt.Epoch,
        LeaderEpoch = _leaderEpoch,
        Action = cancel ? AssignmentAction.Stop : AssignmentAction.Run,
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
        ArrayIndex = arrayIndex,
        MaxLogChars = _options.MaxJobLogChars == ServerOptions.NoLogLimit ? null : _options.MaxJobLogChars,
        GpuPowerCapWatts = spec.GpuPowerCapWatts,
        // Who the attempt runs as on a root agent (the owner's token at submit time); the agent decides.
        // A job stored before owners existed was submitted with the bootstrap admin token, which may run as root.
        RunAsUser = owner?.RunAsUser,
        AllowRoot = owner?.AllowRoot ?? true,

        // Container jobs (docs/containers-jobs.md): the agent runs the image with the runtime named.
        Container = spec.Container,
        // Services (docs/services.md): the agent runs the health check and reads the metrics endpoint.
        Kind = spec.Kind,
        Service = spec.Service,
    };

    private static partial class Log
    {
        [LoggerMessage(EventId = 2000, Level = LogLevel.Information, Message = "Loaded {Live} live jobs and {Arrays} arrays with unstarted tasks ({Pending} jobs pending, {Held} of them held for a cleaner window)")]
        public static partial void Loaded(ILogger logger, int live, int arrays, long pending, int held);
    }
}
