using System.Collections;
using Gantry.Core.Carbon;
using Gantry.Core.Jobs;
using Gantry.Core.Protocol;
using Gantry.Server.Storage;

namespace Gantry.Server.Jobs;

/// <summary>
/// A job that is pending, assigned or running, as the job queue holds it in memory. Ended jobs leave
/// memory (their rows stay in the store); transitions and earlier attempts are read from the store
/// when asked. Guarded by the <see cref="JobQueue"/> lock.
/// </summary>
internal sealed class JobRecord
{
    public required long Id { get; init; }

    /// <summary>The submission (without its array range: each array task is a job of its own once it has a row).</summary>
    public required JobSubmission Spec { get; init; }

    public int? ArrayIndex { get; init; }

    /// <summary>Who submitted it; null for a job stored before tokens named people.</summary>
    public JobOwner? Owner { get; init; }

    public required JobState State { get; set; }

    public string? Reason { get; set; }

    /// <summary>The scheduling pass that last set a pending job's <see cref="Reason"/>.</summary>
    public long ReasonPass { get; set; }

    public bool CancelRequested { get; set; }

    public required DateTimeOffset SubmittedAt { get; init; }

    /// <summary>When the job last became pending (submission or requeue); the reservation clock.</summary>
    public required DateTimeOffset QueuedAt { get; set; }

    public DateTimeOffset? StartedAt { get; set; }

    public DateTimeOffset? EndedAt { get; set; }

    public int? ExitCode { get; set; }

    /// <summary>Failed or lost attempts that counted against <see cref="JobSubmission.Retries"/>.</summary>
    public int RetriesUsed { get; set; }

    /// <summary>How many attempts the job has had.</summary>
    public int AttemptCount { get; set; }

    /// <summary>
    /// Why the GPU health policy stopped the live attempt as failed (an XID that needs the application
    /// restarted): its end, when the agent reports it, reads so. Null otherwise; kept in memory only.
    /// </summary>
    public string? HealthFailure { get; set; }

    /// <summary>The live attempt (assigned or running); null while pending. Replaced, not changed, as it moves on.</summary>
    public AttemptRow? Current { get; set; }

    /// <summary>Carbon-aware deferral: the plan while the job is held out of the pending queue; null otherwise.</summary>
    public CarbonPlan? HeldPlan { get; set; }

    /// <summary>
    /// The location its carbon plan chose: set when it is first held and kept once it is queued, where it
    /// pins placement until deadline − expected runtime. Null for a job never held.
    /// </summary>
    public string? PlannedLocation { get; set; }

    public PendingKey Key => new(Spec.Priority, Id);

    public JobRow ToRow() => new()
    {
        Id = Id,
        Spec = Spec,
        ArrayIndex = ArrayIndex,
        State = State,
        Reason = Reason,
        CancelRequested = CancelRequested,
        SubmittedAt = SubmittedAt,
        QueuedAt = QueuedAt,
        StartedAt = StartedAt,
        EndedAt = EndedAt,
        ExitCode = ExitCode,
        RetriesUsed = RetriesUsed,
        PlannedStart = HeldPlan?.Start,
        PlannedLocation = PlannedLocation,
        PlannedGramsPerKwh = HeldPlan?.PlannedGramsPerKwh,
        Owner = Owner,
    };
}

/// <summary>
/// A job array in memory: its one record and a bit per task that has not started (as Slurm keeps
/// arrays). A task becomes a <see cref="JobRecord"/> of its own when it is placed or cancelled.
/// </summary>
internal sealed class ArrayRecord
{
    private readonly BitArray _unstarted;

    public ArrayRecord(ArrayRow row, IReadOnlyList<long> tasksWithRows)
    {
        Row = row;
        _unstarted = new BitArray(row.Count, true);
        Remaining = row.Count;
        foreach (var id in tasksWithRows)
        {
            if (_unstarted[(int)(id - row.FirstJobId)])
            {
                _unstarted[(int)(id - row.FirstJobId)] = false;
                Remaining--;
            }
        }

        Lowest = NextUnstarted(0);
    }

    public ArrayRow Row { get; }

    /// <summary>Tasks not started yet.</summary>
    public int Remaining { get; private set; }

    /// <summary>Offset of the first task not started; <see cref="ArrayRow.Count"/> when none is left.</summary>
    public int Lowest { get; private set; }

    /// <summary>Why its tasks wait, as the last pass that looked at one said.</summary>
    public string? Reason { get; set; }

    /// <summary>The pass that set <see cref="Reason"/>.</summary>
    public long ReasonPass { get; set; }

    /// <summary>The key of its first unstarted task in the pending order.</summary>
    public PendingKey Key => new(Row.Spec.Priority, Row.FirstJobId + Lowest);

    /// <summary>True when <paramref name="jobId"/> is one of its tasks and has not started.</summary>
    public bool IsUnstarted(long jobId) =>
        jobId >= Row.FirstJobId && jobId <= Row.LastJobId && _unstarted[(int)(jobId - Row.FirstJobId)];

    /// <summary>The array index of task <paramref name="jobId"/>.</summary>
    public int IndexOf(long jobId) => Row.Start + (int)(jobId - Row.FirstJobId);

    /// <summary>The offset of the first unstarted task at or after <paramref name="offset"/>; <see cref="ArrayRow.Count"/> when none.</summary>
    public int NextUnstarted(int offset)
    {
        while (offset < _unstarted.Length && !_unstarted[offset])
        {
            offset++;
        }

        return offset;
    }

    /// <summary>The offset of the last unstarted task at or before <paramref name="offset"/>; -1 when none.</summary>
    public int PreviousUnstarted(int offset)
    {
        while (offset >= 0 && !_unstarted[offset])
        {
            offset--;
        }

        return offset;
    }

    /// <summary>Marks a task started (it has a job row now); true when it was unstarted.</summary>
    public bool Start(long jobId)
    {
        var offset = (int)(jobId - Row.FirstJobId);
        if (!_unstarted[offset])
        {
            return false;
        }

        _unstarted[offset] = false;
        Remaining--;
        if (offset == Lowest)
        {
            Lowest = NextUnstarted(offset);
        }

        return true;
    }
}

/// <summary>A place in the pending queue: a job, or an array's first unstarted task.</summary>
internal readonly record struct PendingKey(int Priority, long Id);

/// <summary>
/// Order of the pending queue: higher priority first, then lower id (first come, first served; an
/// array's tasks have consecutive ids, so they keep their place).
/// </summary>
internal sealed class PendingOrder : IComparer<PendingKey>
{
    public static readonly PendingOrder Instance = new();

    public int Compare(PendingKey x, PendingKey y)
    {
        var byPriority = y.Priority.CompareTo(x.Priority);
        return byPriority != 0 ? byPriority : x.Id.CompareTo(y.Id);
    }
}
