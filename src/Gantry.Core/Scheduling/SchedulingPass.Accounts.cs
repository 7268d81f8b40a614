namespace Gantry.Core.Scheduling;

/// <summary>
/// Accounts in a pass (docs/fair-share.md): the fair-share order within a priority and each account's GPU
/// limit. Nothing here runs unless an account is in play (listed in the input, or named by a job), so a
/// queue without accounts costs one reference check per job.
/// </summary>
internal sealed partial class SchedulingPass
{
    private readonly Dictionary<string, int> _accountIds = new(StringComparer.Ordinal);
    private readonly List<string> _accountNames = [];
    private readonly List<double> _accountUsage = [];

    // GPUs each account holds: its live attempts' at the start of the pass, plus this pass's placements.
    private readonly List<int> _accountHeld = [];
    private readonly List<int> _accountMax = [];

    // The account of the job at each position of _order; empty when no account is in play.
    private int[] _jobAccount = [];

    /// <summary>
    /// Gives every job in <see cref="_order"/> its account and, with <see cref="SchedulerPolicy.FairShare"/>,
    /// reorders each run of one priority by the accounts' usage (less first), keeping submission order among
    /// jobs of accounts that used the same. The order arrives sorted by priority, then sequence.
    /// </summary>
    private void OrderAccounts()
    {
        var accounts = _input.Accounts;
        var inPlay = accounts.Count > 0;
        for (var k = 0; k < _order.Length && !inPlay; k++)
        {
            inPlay = !string.IsNullOrEmpty(_order[k].Account);
        }

        if (!inPlay)
        {
            return;
        }

        foreach (var account in accounts)
        {
            var id = AccountId(account.Account);
            _accountUsage[id] = account.UsageGpuHours;
            _accountHeld[id] = account.RunningGpus;
            _accountMax[id] = account.MaxGpus ?? -1;
        }

        _jobAccount = new int[_order.Length];
        string? lastName = null;
        var lastId = AccountId(null);
        for (var k = 0; k < _order.Length; k++)
        {
            // Jobs of one person usually come in runs: compare references before hashing.
            var name = _order[k].Account;
            if (!ReferenceEquals(name, lastName))
            {
                lastName = name;
                lastId = AccountId(name);
            }

            _jobAccount[k] = lastId;
        }

        if (_input.Policy.FairShare && _accountNames.Count > 1)
        {
            ByShare(Ranks());
        }
    }

    /// <summary>Dense ranks of the accounts by usage, less first: accounts that used the same share a rank.</summary>
    private int[] Ranks()
    {
        var n = _accountNames.Count;
        var ids = new int[n];
        var usage = new double[n];
        for (var i = 0; i < n; i++)
        {
            ids[i] = i;
            usage[i] = _accountUsage[i];
        }

        Array.Sort(usage, ids);
        var ranks = new int[n];
        var rank = 0;
        for (var i = 0; i < n; i++)
        {
            if (i > 0 && usage[i] > usage[i - 1])
            {
                rank++;
            }

            ranks[ids[i]] = rank;
        }

        return ranks;
    }

    /// <summary>Stable reorder of each priority's run by account rank (its jobs stay in sequence order).</summary>
    private void ByShare(int[] ranks)
    {
        for (var i = 0; i < _order.Length;)
        {
            var j = i + 1;
            var mixed = false;
            while (j < _order.Length && _order[j].Priority == _order[i].Priority)
            {
                mixed |= ranks[_jobAccount[j]] != ranks[_jobAccount[i]];
                j++;
            }

            if (mixed)
            {
                // (rank, position in the run) as one primitive key keeps the sort stable.
                var keys = new long[j - i];
                var jobs = new PendingJob[j - i];
                var owners = new int[j - i];
                for (var k = i; k < j; k++)
                {
                    keys[k - i] = ((long)ranks[_jobAccount[k]] << 32) | (uint)(k - i);
                }

                Array.Sort(keys);
                for (var k = 0; k < keys.Length; k++)
                {
                    var from = i + (int)(uint)keys[k];
                    jobs[k] = _order[from];
                    owners[k] = _jobAccount[from];
                }

                jobs.CopyTo(_order, i);
                owners.CopyTo(_jobAccount, i);
            }

            i = j;
        }
    }

    private int AccountId(string? account)
    {
        var name = account ?? AccountShare.Default;
        if (!_accountIds.TryGetValue(name, out var id))
        {
            id = _accountNames.Count;
            _accountIds[name] = id;
            _accountNames.Add(name);
            _accountUsage.Add(0);
            _accountHeld.Add(0);
            _accountMax.Add(-1);
        }

        return id;
    }

    /// <summary>The reason a job of <paramref name="account"/> asking for <paramref name="gpus"/> GPUs waits for its limit; null when within it.</summary>
    private string? OverLimit(int account, int gpus)
    {
        var max = _accountMax[account];
        var held = _accountHeld[account];
        return gpus > 0 && max >= 0 && held + gpus > max
            ? _reasons.HeldByLimit(account, _accountNames[account], held, max, gpus)
            : null;
    }

    /// <summary>
    /// "waiting: fair share — bob used 12.0 GPU-h recently, alice 1.5": a job of <paramref name="account"/>
    /// left waiting after a later job of <paramref name="ahead"/>, which used less, took resources first.
    /// </summary>
    private string ShareReason(int account, int ahead) =>
        _reasons.FairShare(account, AccountShare.DisplayName(_accountNames[account]), _accountUsage[account], ahead, AccountShare.DisplayName(_accountNames[ahead]), _accountUsage[ahead]);
}
