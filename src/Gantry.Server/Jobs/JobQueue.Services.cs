using System.Globalization;
using Gantry.Core.Jobs;
using Gantry.Core.Protocol;
using Gantry.Core.Text;
using Gantry.Server.Services;
using Gantry.Server.Storage;

namespace Gantry.Server.Jobs;

/// <summary>
/// Services (docs/services.md): a job of kind <c>service</c> runs until it is stopped. When an attempt
/// ends for any cause but a stop, its restart policy applies as Nomad's <c>restart</c> block: fewer than
/// <see cref="RestartPolicy.Attempts"/> restarts within the last <see cref="RestartPolicy.IntervalSeconds"/>,
/// and it waits <see cref="RestartPolicy.DelaySeconds"/> plus up to 25 % at random, pending but out of the
/// queue, in a set ordered by due time that each scheduling pass takes the head of
/// (<see cref="ReleaseRestarts"/>, the shape of the carbon feature's <c>_held</c>); otherwise it fails. An
/// attempt lost with its node is placed again at once and costs no restart. The next start is stored in the
/// job's <c>planned_start</c>, so a restarted server or a new leader waits it out too; the restarts within
/// the interval are the attempts that ended by themselves within it, read back at load.
/// </summary>
internal sealed partial class JobQueue
{
    /// <summary>Services waiting out their restart delay, by due time: a pass takes the due head only.</summary>
    private readonly SortedSet<(DateTimeOffset Due, long Id)> _restartDue = [];

    /// <summary>Live services by name: a name is unique among them.</summary>
    private readonly Dictionary<string, long> _serviceNames = new(StringComparer.Ordinal);

    /// <summary>Live services' ids, for <c>GET /api/v1/services</c> without a walk over every live job.</summary>
    private readonly SortedSet<long> _services = [];

    /// <summary>The restart delay's jitter; tests give a seeded one.</summary>
    internal Random ServiceRandom { get; set; } = Random.Shared;

    /// <summary>How many services wait out a restart delay now.</summary>
    public int RestartingCount
    {
        get
        {
            lock (_lock)
            {
                return _restartDue.Count;
            }
        }
    }

    /// <summary>A submission as the queue keeps it: a service without a spec gets the defaults. Batch jobs are returned as they are.</summary>
    private static JobSubmission Normalized(JobSubmission submission) =>
        submission.Kind == JobKind.Service && submission.Service is null ? submission with { Service = new ServiceSpec() } : submission;

    /// <summary>The run state of a job that is a service; null for a batch job.</summary>
    private static ServiceRun? ServiceRunFor(JobSubmission spec) => spec.Kind == JobKind.Service ? new ServiceRun() : null;

    /// <summary>Refuses a service whose name a live service has. Under the lock, before anything is written.</summary>
    private void CheckServiceName(JobSubmission spec)
    {
        if (spec.Kind == JobKind.Service && spec.Name is { } name && _serviceNames.TryGetValue(name, out var id))
        {
            throw new ServiceNameTakenException($"a service named '{name}' is already running (job {id}); stop it first ('gantry services stop {name}') or choose another name");
        }
    }

    /// <summary>A live service is known by its name and id. Under the lock.</summary>
    private void TrackService(JobRecord job)
    {
        if (job.Service is null)
        {
            return;
        }

        _services.Add(job.Id);
        if (job.Spec.Name is { } name)
        {
            _serviceNames[name] = job.Id;
        }
    }

    /// <summary>An ended service leaves the live sets (and the restart set, when it was waiting there). Under the lock.</summary>
    private void ForgetService(JobRecord job)
    {
        if (job.Service is not { } run)
        {
            return;
        }

        _services.Remove(job.Id);
        if (job.Spec.Name is { } name && _serviceNames.TryGetValue(name, out var id) && id == job.Id)
        {
            _serviceNames.Remove(name);
        }

        ForgetRestart(job, run);
    }

    private void ForgetRestart(JobRecord job, ServiceRun run)
    {
        if (run.NextStartAt is { } due)
        {
            _restartDue.Remove((due, job.Id));
            run.NextStartAt = null;
        }
    }

    /// <summary>
    /// At load, for a service: its restarts within the interval (the attempts that ended by themselves
    /// within it) and, when it is pending with a stored next start, the wait for it. True when it was put
    /// back to wait (not in the queue). Under construction.
    /// </summary>
    private bool RestoreService(JobRecord job, JobRow row, IReadOnlyList<AttemptRow> attempts, DateTimeOffset now)
    {
        if (job.Service is not { } run)
        {
            return false;
        }

        TrackService(job);
        var interval = TimeSpan.FromSeconds(job.Spec.Service!.Restart.IntervalSeconds);
        foreach (var attempt in attempts)
        {
            if (attempt.State is AttemptState.Succeeded or AttemptState.Failed && attempt.EndedAt is { } ended && ended > now - interval)
            {
                run.Recent.Enqueue(ended);
            }
        }

        if (job.State != JobState.Pending || row.PlannedStart is not { } due || row.PlannedLocation is not null)
        {
            return false;
        }

        run.Message = row.Reason; // it shows as restarting until it is placed
        if (due <= now)
        {
            return false; // due while the server was away: queued at once (the caller does)
        }

        run.NextStartAt = due;
        _restartDue.Add((due, job.Id));
        return true;
    }

    /// <summary>
    /// Ends a service's attempt that did not end by a stop (under the lock, from <see cref="EndAttempt"/>):
    /// lost with its node, it is queued again at once; otherwise it restarts after its delay while the
    /// policy allows, else it fails.
    /// </summary>
    private void EndServiceAttempt(JobRecord job, ServiceRun run, AttemptRow attempt, AttemptState state, string reason, DateTimeOffset now, List<Action<IStateWriter>> writes)
    {
        run.Health = null;
        run.HealthMessage = null;
        run.HealthAttempt = 0;
        if (state == AttemptState.Lost)
        {
            // Its node went down, or the agent no longer runs it: no fault of the service's. Placed again at once, on any node that takes work.
            run.Message = $"node {attempt.NodeId} lost ({reason})";
            run.PreferNode = null;
            Requeue(job, $"attempt {attempt.Number} on node {attempt.NodeId} lost ({reason}); placed again", now, writes);
            return;
        }

        var policy = job.Spec.Service!.Restart;
        var interval = TimeSpan.FromSeconds(policy.IntervalSeconds);
        run.Prune(now, interval);
        if (run.Recent.Count >= policy.Attempts)
        {
            job.EndedAt = now;
            run.Message = reason;
            SetJobState(job, JobState.Failed, $"restarted {run.Recent.Count} times within {Durations.Format(interval)}; giving up after {reason}", now, writes);
            return;
        }

        // Nomad's jitter: up to 25 % more than the delay, so services that failed together do not all come back together.
        var delay = TimeSpan.FromSeconds(policy.DelaySeconds * (1 + (0.25 * ServiceRandom.NextDouble())));
        var due = now + delay;
        run.Recent.Enqueue(now);
        run.PreferNode = attempt.NodeId; // back on its node when it fits there (its image and files are there)
        run.NextStartAt = due;
        run.Message = reason;
        _restartDue.Add((due, job.Id));
        job.RetriesUsed++; // a service takes no retries: the column counts its restarts, all time
        job.QueuedAt = now;
        job.StartedAt = null;
        var text = string.Create(CultureInfo.InvariantCulture, $"restarting in {Durations.FormatApproximate(delay)} after {reason} (restart {run.Recent.Count} of {policy.Attempts} within {Durations.Format(interval)})");
        SetJobState(job, JobState.Pending, text, now, writes);
        job.ReasonPass = _pass;
    }

    /// <summary>
    /// Queues the services whose restart delay has passed. Called by each scheduling pass; the work is
    /// bounded by the services due (the head of a sorted set). Returns how many were queued.
    /// </summary>
    public int ReleaseRestarts()
    {
        var queued = 0;
        lock (_lock)
        {
            if (_restartDue.Count == 0)
            {
                return 0;
            }

            var now = _time.GetUtcNow();
            List<Action<IStateWriter>>? writes = null;
            while (_restartDue.Count > 0 && _restartDue.Min.Due <= now)
            {
                var (due, id) = _restartDue.Min;
                _restartDue.Remove(_restartDue.Min);
                if (!_live.TryGetValue(id, out var job) || job.Service is not { } run || run.NextStartAt != due || job.State != JobState.Pending || job.CancelRequested)
                {
                    continue;
                }

                run.NextStartAt = null;
                job.Reason = $"restarting after {run.Message}; waiting to be placed";
                job.ReasonPass = _pass;
                _pending.Add(job.Key);
                var row = job.ToRow();
                (writes ??= []).Add(w => w.UpdateJob(row));
                queued++;
            }

            if (writes is not null)
            {
                Commit(writes);
            }
        }

        if (queued > 0)
        {
            _signals.SchedulerWake.Pulse();
            _signals.Changed.Pulse();
        }

        return queued;
    }

    /// <summary>
    /// The services' reports in a heartbeat from <paramref name="nodeId"/>: each attempt's health, kept in
    /// memory (a restarted server shows <c>starting</c> until the next report). O(reports); a report about
    /// an attempt that is not the service's live one on that node is ignored. The reports that count are
    /// put in <paramref name="accepted"/> (cleared first), with their jobs' names and specs, for the metrics registry.
    /// </summary>
    public void ObserveServices(string nodeId, IReadOnlyList<ServiceReport> reports, List<ServiceAttemptView>? accepted = null)
    {
        ArgumentNullException.ThrowIfNull(reports);
        accepted?.Clear();
        var changed = false;
        lock (_lock)
        {
            foreach (var report in reports)
            {
                if (report is null || !_live.TryGetValue(report.JobId, out var job) || job.Service is not { } run
                    || job.Current is not { } current || current.Number != report.Attempt || current.NodeId != nodeId)
                {
                    continue;
                }

                accepted?.Add(new ServiceAttemptView(report, job.Spec.Name, job.Spec.Service, current.StartedAt));
                changed |= run.Health != report.Health || run.HealthMessage != report.Message || run.HealthAttempt != report.Attempt;
                run.Health = report.Health;
                run.HealthMessage = report.Message;
                run.HealthAttempt = report.Attempt;
            }
        }

        if (changed)
        {
            _signals.Changed.Pulse();
        }
    }

    /// <summary>
    /// Live services newest first: those with ids below <paramref name="before"/>, or the one named
    /// <paramref name="name"/>. From memory (no history: <c>GET /api/v1/jobs/{id}</c> has it); bounded by
    /// <paramref name="limit"/>.
    /// </summary>
    public Page<JobInfo> ListServices(long? before, int limit, string? name = null)
    {
        var items = new List<JobInfo>(Math.Min(limit + 1, 1024));
        lock (_lock)
        {
            if (name is not null)
            {
                if (_serviceNames.TryGetValue(name, out var id) && _live.TryGetValue(id, out var named))
                {
                    items.Add(LiveView(named));
                }

                return new Page<JobInfo> { Items = items };
            }

            var view = before is { } b ? (b <= long.MinValue + 1 ? null : _services.GetViewBetween(long.MinValue, b - 1)) : _services;
            if (view is not null)
            {
                foreach (var id in view.Reverse())
                {
                    if (items.Count > limit)
                    {
                        break;
                    }

                    if (_live.TryGetValue(id, out var job))
                    {
                        items.Add(LiveView(job));
                    }
                }
            }
        }

        if (items.Count <= limit)
        {
            return new Page<JobInfo> { Items = items };
        }

        items.RemoveAt(items.Count - 1);
        return new Page<JobInfo> { Items = items, NextCursor = items[^1].Id.ToString(CultureInfo.InvariantCulture) };
    }

    /// <summary>A live job as the API shows it, from memory: its latest attempt only, no transitions. Under the lock.</summary>
    private JobInfo LiveView(JobRecord job)
    {
        var info = JobViews.FromSpec(job.Id, job.Spec, job.ArrayIndex, job.SubmittedAt, job.Owner) with
        {
            State = job.State,
            Reason = job.State == JobState.Pending ? ReasonOf(job) : job.Reason,
            CancelRequested = job.CancelRequested,
            StartedAt = job.StartedAt,
            NodeId = job.Current?.NodeId,
            Gpus = job.Current?.Gpus ?? [],
        };
        return WithServiceStatus(info, job.RetriesUsed);
    }

    /// <summary>
    /// A service's status on its job's view: from memory while it is live, from its row once it ended
    /// (<paramref name="restarts"/> is its row's count). Batch jobs are returned as they are. Under the lock.
    /// </summary>
    private JobInfo WithServiceStatus(JobInfo info, int restarts)
    {
        if (info.Kind != JobKind.Service)
        {
            return info;
        }

        if (!_live.TryGetValue(info.Id, out var job) || job.Service is not { } run)
        {
            return info with { ServiceStatus = new ServiceStatus { Restarts = restarts, Message = info.Reason } };
        }

        var spec = job.Spec.Service!;
        ServiceHealth health;
        string? message;
        switch (job.State)
        {
            case JobState.Pending when run.NextStartAt is not null || run.Message is not null:
                (health, message) = (ServiceHealth.Restarting, run.Message);
                break;
            case JobState.Pending:
            case JobState.Assigned:
                (health, message) = (ServiceHealth.Starting, job.State == JobState.Pending ? "waiting to be placed" : "placed; starting");
                break;
            default:
                // Running: the agent's word once it reported on this attempt; without a check, running is healthy.
                if (job.Current is { } current && run.HealthAttempt == current.Number && run.Health is { } reported)
                {
                    (health, message) = (reported, run.HealthMessage);
                }
                else
                {
                    (health, message) = spec.Health is null ? (ServiceHealth.Healthy, null) : (ServiceHealth.Starting, "waiting for the first health check");
                }

                break;
        }

        return info with
        {
            ServiceStatus = new ServiceStatus
            {
                Health = health,
                Message = message,
                Address = job.Current is { } attempt ? AddressOf(job.Spec, attempt.NodeId) : null,
                Restarts = job.RetriesUsed,
                NextStartAt = run.NextStartAt,
            },
        };
    }

    /// <summary>A service waiting out its restart delay waits for that, whatever the passes say; null otherwise. Under the lock.</summary>
    private static string? RestartReason(JobRecord job) => job.Service?.NextStartAt is not null ? job.Reason : null;

    /// <summary>Where a service on <paramref name="nodeId"/> serves: the node's advertised host and the service's port; null without a port.</summary>
    private ServiceAddress? AddressOf(JobSubmission spec, string nodeId)
    {
        if (ServicePort(spec) is not { } port)
        {
            return null;
        }

        var host = _nodes.HostOf(nodeId) ?? nodeId;
        var metrics = spec.Service?.MetricsPath is { } path ? $"http://{host}:{port.ToString(CultureInfo.InvariantCulture)}{path}" : null;
        return new ServiceAddress { NodeId = nodeId, Host = host, Port = port, MetricsUrl = metrics };
    }

    /// <summary>A service's port: its own, else its container's first published port on the node.</summary>
    internal static int? ServicePort(JobSubmission spec) =>
        spec.Service?.Port ?? (spec.Container is { Ports.Count: > 0 } container ? container.Ports[0].HostPort ?? container.Ports[0].ContainerPort : null);
}

/// <summary>A service's name is taken by a live service (409).</summary>
internal sealed class ServiceNameTakenException(string message) : Exception(message);
