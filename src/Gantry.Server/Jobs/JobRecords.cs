using System.Collections;
using Gantry.Core.Carbon;
using Gantry.Core.Jobs;
using Gantry.Core.Protocol;
using Gantry.Server.Services;
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

    /// <summary>Whose share and limits the job counts against (docs/fair-share.md); null for the default account.</summary>
    public string? Account { get; init; }

    /// <summary>Services (docs/services.md): restarts, health and the next start of a service; null for a batch job.</summary>
    public ServiceRun? Service { get; init; }

    public PendingKey Key => new(Spec.Priority, Id, Account);

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
        PlannedStart = HeldPlan?.Start ?? Service?.NextStartAt, // a restarting service's next start (docs/services.md)
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

    /// <summary>Whose share and limits the array's tasks count against; null for the default account.</summary>
    public string? Account { get; init; }

    /// <summary>Tasks not started yet.</summary>
    public int Remaining { get; private set; }

    /// <summary>Offset of the first task not started; <see cref="ArrayRow.Count"/> when none is left.</summary>
    public int Lowest { get; private set; }

    /// <summary>Why its tasks wait, as the last pass that looked at one said.</summary>
    public string? Reason { get; set; }

    /// <summary>The pass that set <see cref="Reason"/>.</summary>
    public long ReasonPass { get; set; }

    /// <summary>The key of its first unstarted task in the pending order.</summary>
    public PendingKey Key => new(Row.Spec.Priority, Row.FirstJobId + Lowest, Account);

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

/// <summary>A place in the pending queue: a job, or an array's first unstarted task, and its account.</summary>
internal readonly record struct PendingKey(int Priority, long Id, string? Account = null);

/// <summary>
/// Order of the pending queue: higher priority first, then lower id (first come, first served; an
/// array's tasks have consecutive ids, so they keep their place). With fair share (<see cref="ByAccount"/>)
/// the queue of one priority is one FIFO per account (by account name, then id), merged by the accounts'
/// usage when a pass takes its head (docs/fair-share.md).
/// </summary>
internal sealed class PendingOrder : IComparer<PendingKey>
{
    public static readonly PendingOrder Instance = new(byAccount: false);

    /// <summary>Priority, then account (ordinal; no account sorts as <see cref="Core.Scheduling.AccountShare.Default"/>), then id.</summary>
    public static readonly PendingOrder ByAccount = new(byAccount: true);

    private readonly bool _byAccount;

    private PendingOrder(bool byAccount) => _byAccount = byAccount;

    public int Compare(PendingKey x, PendingKey y)
    {
        var c = y.Priority.CompareTo(x.Priority);
        if (c == 0 && _byAccount)
        {
            c = string.CompareOrdinal(x.Account ?? "", y.Account ?? "");
        }

        return c != 0 ? c : x.Id.CompareTo(y.Id);
    }
}

/// <summary>
/// The pending queue: keys in <see cref="PendingOrder"/>; ordered by account too (with fair share), it
/// also counts the keys of each (priority, account) queue so a pass can merge them without a walk.
/// </summary>
internal sealed class PendingQueue(bool byAccount)
{
    private readonly SortedSet<PendingKey> _set = new(byAccount ? PendingOrder.ByAccount : PendingOrder.Instance);
    private readonly Dictionary<(int Priority, string Account), int> _queues = [];

    public PendingOrder Comparer { get; } = byAccount ? PendingOrder.ByAccount : PendingOrder.Instance;

    /// <summary>Whether the keys of one priority are grouped by account (fair share).</summary>
    public bool ByAccount => byAccount;

    public int Count => _set.Count;

    public PendingKey Max => _set.Max;

    public PendingKey Min => _set.Min;

    /// <summary>The (priority, account) queues that hold keys; empty unless <see cref="ByAccount"/>.</summary>
    public Dictionary<(int Priority, string Account), int>.KeyCollection Queues => _queues.Keys;

    public bool Add(PendingKey key)
    {
        if (!_set.Add(key))
        {
            return false;
        }

        if (byAccount)
        {
            var queue = (key.Priority, key.Account ?? "");
            _queues[queue] = _queues.GetValueOrDefault(queue) + 1;
        }

        return true;
    }

    public bool Remove(PendingKey key)
    {
        if (!_set.Remove(key))
        {
            return false;
        }

        if (byAccount)
        {
            var queue = (key.Priority, key.Account ?? "");
            var left = _queues[queue] - 1;
            if (left == 0)
            {
                _queues.Remove(queue);
            }
            else
            {
                _queues[queue] = left;
            }
        }

        return true;
    }

    /// <summary>One account's queue at one priority, in id order (a view: O(log n) to make).</summary>
    public SortedSet<PendingKey> Queue(int priority, string account) =>
        _set.GetViewBetween(new PendingKey(priority, long.MinValue, account), new PendingKey(priority, long.MaxValue, account));

    public SortedSet<PendingKey> GetViewBetween(PendingKey lower, PendingKey upper) => _set.GetViewBetween(lower, upper);

    public SortedSet<PendingKey>.Enumerator GetEnumerator() => _set.GetEnumerator();
}
