using System.Globalization;
using Gantry.Core.Jobs;
using Gantry.Core.Protocol;
using Gantry.Server.Live;
using Gantry.Server.Storage;

namespace Gantry.Server.Jobs;

internal sealed partial class JobQueue
{
    /// <summary>One job: live ones with their reason now, unstarted array tasks from their array, the rest from the store. Null when unknown.</summary>
    public JobInfo? GetJob(long id)
    {
        string? reason;
        DateTimeOffset? planned;
        lock (_lock)
        {
            if (ArrayOf(id) is { } array)
            {
                return JobViews.Unstarted(array, id, ReasonOf(array));
            }

            reason = _live.TryGetValue(id, out var job) && job.State == JobState.Pending ? ReasonOf(job) : null;
            planned = PlannedStartOf(id);
        }

        if (_store.ReadJob(id) is not { } stored)
        {
            return null;
        }

        var info = JobViews.ToJobInfo(stored, reason) with { PlannedStart = planned };
        lock (_lock)
        {
            return WithServiceStatus(WithLiveEnergy(info), stored.Job.RetriesUsed); // services (JobQueue.Services.cs)
        }
    }

    /// <summary>Jobs newest first, below <paramref name="before"/>, optionally of one state, of one owner and of one kind.</summary>
    public Page<JobInfo> ListJobs(JobState? state, long? before, int limit, string? owner = null, JobKind? kind = null)
    {
        var stored = _store.ListJobs(state, before, limit + 1, owner, kind);
        var items = new List<JobInfo>(Math.Min(limit + 1, 1024));
        lock (_lock)
        {
            // Unstarted array tasks have no rows: merge them in, newest first.
            var virtualTasks = (state is null or JobState.Pending) && kind != JobKind.Service ? UnstartedBelow(before ?? long.MaxValue, limit + 1, owner) : [];
            var s = 0;
            var v = 0;
            while (items.Count <= limit && (s < stored.Count || v < virtualTasks.Count))
            {
                if (v < virtualTasks.Count && (s == stored.Count || virtualTasks[v].Id > stored[s].Job.Id))
                {
                    var (array, id) = virtualTasks[v++];
                    items.Add(JobViews.Unstarted(array, id, ReasonOf(array)));
                }
                else
                {
                    var row = stored[s++];
                    var reason = row.Job.State == JobState.Pending && _live.TryGetValue(row.Job.Id, out var job) && job.State == JobState.Pending ? ReasonOf(job) : null;
                    items.Add(WithServiceStatus(WithLiveEnergy(JobViews.ToJobInfo(row, reason) with { PlannedStart = PlannedStartOf(row.Job.Id) }), row.Job.RetriesUsed));
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

    /// <summary>Up to <paramref name="limit"/> unstarted array tasks with ids below <paramref name="before"/>, newest first.</summary>
    private List<(ArrayRecord Array, long Id)> UnstartedBelow(long before, int limit, string? owner)
    {
        var tasks = new List<(ArrayRecord, long)>();
        for (var i = _arrays.Count - 1; i >= 0 && tasks.Count < limit; i--)
        {
            var array = _arrays[i];
            if (array.Row.FirstJobId >= before || (owner is not null && array.Row.Owner?.Name != owner))
            {
                continue;
            }

            var offset = (int)Math.Min(array.Row.Count - 1, before - 1 - array.Row.FirstJobId);
            for (offset = array.PreviousUnstarted(offset); offset >= 0 && tasks.Count < limit; offset = array.PreviousUnstarted(offset - 1))
            {
                tasks.Add((array, array.Row.FirstJobId + offset));
            }
        }

        return tasks;
    }

    /// <summary>
    /// What a log reader needs: whether the job has ended, its state and code, and the signal of its
    /// next change. Null when unknown.
    /// </summary>
    public (bool Ended, JobState State, int? ExitCode, Task Changed)? LogStatus(long id)
    {
        lock (_lock)
        {
            if (_live.TryGetValue(id, out var job) || ArrayOf(id) is not null)
            {
                if (!_followers.TryGetValue(id, out var signal))
                {
                    signal = new Signal();
                    _followers[id] = signal;
                }

                return (false, job?.State ?? JobState.Pending, null, signal.Next);
            }
        }

        return _store.ReadJob(id) is { } stored
            ? (stored.Job.State.IsTerminal(), stored.Job.State, stored.Job.ExitCode, Task.CompletedTask)
            : null;
    }

    /// <summary>Output of a job arrived: wake whoever follows it.</summary>
    public void OutputArrived(long jobId)
    {
        lock (_lock)
        {
            PulseFollowers(jobId);
        }
    }

    /// <summary>Ended jobs were purged from the store.</summary>
    public void Purged(Dictionary<JobState, int> purged)
    {
        ArgumentNullException.ThrowIfNull(purged);
        lock (_lock)
        {
            foreach (var (state, count) in purged)
            {
                Count(state, -count);
            }
        }
    }

    /// <summary>
    /// Why a pending job waits: the reason the last pass gave it; a job that pass did not look at waits
    /// behind the jobs it took (or for a ready node, or for its first pass).
    /// </summary>
    private string ReasonOf(JobRecord job) =>
        ResumeNote(job.Id) ?? HeldReason(job) ?? RestartReason(job) ?? (job.ReasonPass == _pass && job.Reason is not null ? job.Reason
            : LimitReason(job.Account, job.Spec.Resources.Gpus) ?? Unexamined(job.QueuedAt, job.Reason));

    private string ReasonOf(ArrayRecord array) =>
        ResumeNote(array.Key.Id) ?? (array.ReasonPass == _pass && array.Reason is not null ? array.Reason
            : LimitReason(array.Account, array.Row.Spec.Resources.Gpus) ?? Unexamined(array.Row.SubmittedAt, array.Reason));

    private string Unexamined(DateTimeOffset queuedAt, string? last) =>
        _idleReason ?? (_pass == 0 || queuedAt > _passAt ? last ?? Waiting : _behind);

}

/// <summary>The API's view of jobs, from stored rows or an array record.</summary>
internal static class JobViews
{
    public static JobInfo ToJobInfo(StoredJob stored, string? reason)
    {
        var job = stored.Job;
        var spec = job.Spec;
        var owner = job.Owner;
        var attempts = new AttemptInfo[stored.Attempts.Count];
        for (var i = 0; i < attempts.Length; i++)
        {
            var a = stored.Attempts[i];
            attempts[i] = new AttemptInfo
            {
                Attempt = a.Number,
                Epoch = a.Epoch,
                NodeId = a.NodeId,
                Gpus = a.Gpus,
                GpuUuids = a.GpuUuids,
                State = a.State,
                AssignedAt = a.AssignedAt,
                StartedAt = a.StartedAt,
                EndedAt = a.EndedAt,
                ExitCode = a.ExitCode,
                Signal = a.Signal,
                Reason = a.Reason,
            };
            attempts[i] = JobEnergyViews.With(attempts[i], a.Energy);
        }

        var current = attempts.Length == 0 ? null : attempts[^1];
        return JobEnergyViews.Totals(FromSpec(job.Id, spec, job.ArrayIndex, job.SubmittedAt, owner) with
        {
            State = job.State,
            Reason = reason ?? job.Reason,
            CancelRequested = job.CancelRequested,
            StartedAt = job.StartedAt,
            EndedAt = job.EndedAt,
            ExitCode = job.ExitCode,
            PlannedLocation = job.PlannedLocation,
            NodeId = current?.NodeId,
            Gpus = current?.Gpus ?? [],
            Attempts = attempts,
            Transitions = stored.Transitions,
        });
    }

    /// <summary>An array task that has not started: all it has is its array's record.</summary>
    public static JobInfo Unstarted(ArrayRecord array, long id, string reason) =>
        FromSpec(id, array.Row.Spec, array.IndexOf(id), array.Row.SubmittedAt, array.Row.Owner) with
        {
            Reason = reason,
            Transitions = [new JobTransition { Time = array.Row.SubmittedAt, To = JobState.Pending, Reason = "submitted" }],
        };

    /// <summary>What a job shows of its submission: a pending job with no history yet.</summary>
    internal static JobInfo FromSpec(long id, JobSubmission spec, int? arrayIndex, DateTimeOffset submittedAt, JobOwner? owner) => new()
    {
        Id = id,
        Name = spec.Name,
        Owner = owner?.Name,
        RunAsUser = owner?.RunAsUser,
        State = JobState.Pending,
        Command = spec.Command,
        Shell = spec.Shell,
        Env = spec.Env,
        WorkingDirectory = spec.WorkingDirectory,
        Resources = spec.Resources,
        Priority = spec.Priority,
        Selector = spec.Selector,
        MaxRuntimeSeconds = spec.MaxRuntimeSeconds,
        Retries = spec.Retries,
        ArrayIndex = arrayIndex,
        GpuPowerCapWatts = spec.GpuPowerCapWatts,
        SubmittedAt = submittedAt,
        Deadline = spec.Deadline,
        ExpectedRuntimeSeconds = spec.ExpectedRuntimeSeconds,

        // Container jobs (docs/containers-jobs.md).
        Container = spec.Container,
        // Services (docs/services.md); their status is added by the job queue.
        Kind = spec.Kind,
        Service = spec.Service,
    };
}
