using System.Globalization;
using Gantry.Core.Protocol;
using Gantry.Core.Scheduling;
using Gantry.Server.FairShare;

namespace Gantry.Server.Jobs;

/// <summary>What one scheduling pass looks at: pending jobs and the accounts' shares and limits.</summary>
internal sealed record PassInput(List<PendingJob> Pending, IReadOnlyList<AccountShare> Accounts);

/// <summary>A submission refused because its account would hold more pending jobs than its limit allows.</summary>
internal sealed class AccountLimitException(string message) : InvalidOperationException(message);

/// <summary>
/// The queue's side of fair share and per-account limits (docs/fair-share.md): pending jobs per account
/// (kept as they change, for <c>--max-pending</c>), the accounts a pass sees, and the head of the queue
/// merged across accounts by their usage. Under <see cref="_lock"/>; the ledger and the limits have their own.
/// </summary>
internal sealed partial class JobQueue
{
    private readonly IAccountLimits _limits;
    private readonly Dictionary<string, long> _pendingByAccount = new(StringComparer.Ordinal);

    /// <summary>Accounts' GPU use (the fair-share feature), told of every attempt that takes or gives back GPUs.</summary>
    public FairShareLedger FairShare { get; }

    /// <summary>Accounts with their usage, GPUs held, pending jobs and limits, by name (for the API and /metrics).</summary>
    public FairShareInfo FairShareReport()
    {
        lock (_lock)
        {
            var now = _time.GetUtcNow();
            var usage = FairShare.Snapshot(now);
            foreach (var name in _pendingByAccount.Keys)
            {
                usage.TryAdd(name, (0, 0));
            }

            var accounts = new List<AccountShareInfo>(usage.Count);
            foreach (var (name, (hours, running)) in usage)
            {
                var limits = _limits.For(name);
                accounts.Add(new AccountShareInfo
                {
                    Account = name,
                    UsageGpuHours = hours,
                    RunningGpus = running,
                    PendingJobs = _pendingByAccount.GetValueOrDefault(name),
                    MaxGpus = limits?.MaxGpus,
                    MaxPending = limits?.MaxPending,
                });
            }

            accounts.Sort(static (a, b) => string.CompareOrdinal(a.Account, b.Account));
            return new FairShareInfo
            {
                Enabled = FairShare.Enabled,
                HalfLifeSeconds = FairShare.Enabled ? FairShare.HalfLife.TotalSeconds : null,
                Accounts = accounts,
            };
        }
    }

    /// <summary>How many pending jobs <paramref name="account"/> has (held ones and unstarted array tasks included).</summary>
    public long PendingOf(string? account)
    {
        lock (_lock)
        {
            return _pendingByAccount.GetValueOrDefault(account ?? AccountShare.Default);
        }
    }

    /// <summary>
    /// Why a job the last pass did not look at waits when its account already holds its <c>--max-gpus</c>
    /// (a pass takes few of such an account's jobs); null otherwise. O(1).
    /// </summary>
    private string? LimitReason(string? account, int gpus)
    {
        var name = account ?? AccountShare.Default;
        return gpus > 0 && _limits.For(name) is { MaxGpus: { } max } && FairShare.RunningGpus(name) + gpus > max
            ? AccountShare.LimitReason(name, FairShare.RunningGpus(name), max, gpus)
            : null;
    }

    private void CountPending(string? account, long delta)
    {
        var name = account ?? AccountShare.Default;
        var count = _pendingByAccount.GetValueOrDefault(name) + delta;
        if (count > 0)
        {
            _pendingByAccount[name] = count;
        }
        else
        {
            _pendingByAccount.Remove(name);
        }
    }

    /// <summary>Refuses a submission of <paramref name="adding"/> jobs that would take <paramref name="account"/> past its pending limit.</summary>
    private void CheckPendingLimit(string? account, long adding)
    {
        var name = account ?? AccountShare.Default;
        if (_limits.For(name) is { MaxPending: { } max } && _pendingByAccount.GetValueOrDefault(name) + adding > max)
        {
            var has = _pendingByAccount.GetValueOrDefault(name);
            throw new AccountLimitException(string.Create(
                CultureInfo.InvariantCulture,
                $"{AccountShare.DisplayName(name)} has {has} pending jobs and may have at most {max} (max-pending); this submission adds {adding}"));
        }
    }

    /// <summary>Every account in play now: with usage, GPUs held or pending jobs; each with its limits. O(accounts).</summary>
    private List<AccountShare> Accounts(DateTimeOffset now)
    {
        var usage = FairShare.Snapshot(now);
        var accounts = new List<AccountShare>(usage.Count + _pendingByAccount.Count);
        foreach (var (name, (hours, running)) in usage)
        {
            accounts.Add(new AccountShare(name, hours, running, _limits.For(name)?.MaxGpus));
        }

        foreach (var name in _pendingByAccount.Keys)
        {
            if (!usage.ContainsKey(name))
            {
                accounts.Add(new AccountShare(name, 0, 0, _limits.For(name)?.MaxGpus));
            }
        }

        return accounts;
    }

    /// <summary>
    /// Jobs a pass takes into the head from one FIFO of an account already holding its <c>--max-gpus</c>:
    /// enough for their reasons and for the jobs among them that need no GPU, never a head full of jobs
    /// that cannot start while others wait behind them.
    /// </summary>
    private const int AtLimitHead = 32;

    /// <summary>
    /// The head of the queue with fair share: priorities in order; within one, the (priority, account) FIFOs
    /// by their account's usage (less first), and FIFOs of accounts that used the same merged by id. An
    /// account at its GPU limit comes after the others of its priority, with at most <see cref="AtLimitHead"/>
    /// jobs. Costs O(queues × log queues) to order them plus O(log n) per job taken: nothing walks the
    /// queue. Returns the keys taken, for the window to skip.
    /// </summary>
    private HashSet<long> TakeHeadByShare(int depth, List<PendingJob> taken, List<AccountShare> accounts)
    {
        var shares = new Dictionary<string, (double Usage, bool AtLimit)>(accounts.Count, StringComparer.Ordinal);
        foreach (var account in accounts)
        {
            shares[account.Account] = (account.UsageGpuHours, account.MaxGpus is { } max && account.RunningGpus >= max);
        }

        var queues = new List<(int Priority, bool AtLimit, double Usage, string Account)>(_pending.Queues.Count);
        foreach (var (priority, account) in _pending.Queues)
        {
            var share = shares.GetValueOrDefault(account);
            queues.Add((priority, share.AtLimit, share.Usage, account));
        }

        queues.Sort(static (a, b) =>
        {
            var c = b.Priority.CompareTo(a.Priority);
            c = c != 0 ? c : a.AtLimit.CompareTo(b.AtLimit);
            c = c != 0 ? c : a.Usage.CompareTo(b.Usage);
            return c != 0 ? c : string.CompareOrdinal(a.Account, b.Account);
        });

        var head = new HashSet<long>();
        var merge = new PriorityQueue<(IEnumerator<PendingKey> Keys, int Left), long>();
        for (var i = 0; i < queues.Count && taken.Count < depth;)
        {
            var j = i;
            for (; j < queues.Count && queues[j].Priority == queues[i].Priority && queues[j].AtLimit == queues[i].AtLimit && queues[j].Usage.Equals(queues[i].Usage); j++)
            {
                var keys = ((IEnumerable<PendingKey>)_pending.Queue(queues[j].Priority, queues[j].Account)).GetEnumerator();
                if (keys.MoveNext())
                {
                    merge.Enqueue((keys, queues[j].AtLimit ? AtLimitHead : int.MaxValue), keys.Current.Id);
                }
            }

            while (taken.Count < depth && merge.TryDequeue(out var queue, out _))
            {
                var key = queue.Keys.Current;
                Add(key, taken, depth);
                head.Add(key.Id);
                if (queue.Left > 1 && queue.Keys.MoveNext())
                {
                    merge.Enqueue((queue.Keys, queue.Left - 1), queue.Keys.Current.Id);
                }
            }

            merge.Clear();
            i = j;
        }

        return head;
    }
}
