using Gantry.Core.Scheduling;
using Gantry.Server.Storage;

namespace Gantry.Server.FairShare;

/// <summary>
/// The fair-share feature's state (docs/fair-share.md): every account's GPU use, decayed with
/// <see cref="HalfLife"/>, and the GPUs its live attempts hold. The job queue tells it when an attempt
/// takes GPUs (placed) and gives them back (ended), O(1) each, and stores the rows it marks changed in the
/// same unit of work; a pass reads all accounts at once (O(accounts)). Nothing here walks jobs.
/// </summary>
/// <remarks>
/// What is stored per account is its usage at its last attempt event and when that was
/// (<see cref="AccountUsageRow"/>); the GPUs held since then are the live attempts', which the job queue
/// restores at load. So the usage read after a restart or a failover equals the usage before it, with the
/// time in between charged to the attempts that stayed live. Its own lock; callers may hold the job queue's.
/// </remarks>
internal sealed class FairShareLedger
{
    private readonly Lock _lock = new();
    private readonly Dictionary<string, DecayedUsage> _accounts = new(StringComparer.Ordinal);
    private readonly HashSet<string> _changed = new(StringComparer.Ordinal);

    public FairShareLedger(IEnumerable<AccountUsageRow> stored, TimeSpan halfLife)
    {
        ArgumentNullException.ThrowIfNull(stored);
        ArgumentOutOfRangeException.ThrowIfLessThan(halfLife, TimeSpan.Zero);
        HalfLife = halfLife;
        foreach (var row in stored)
        {
            _accounts[row.Account] = new DecayedUsage(row.GpuSeconds, row.AsOf, 0);
        }
    }

    /// <summary>How fast use is forgotten; <see cref="TimeSpan.Zero"/> when fair share is off.</summary>
    public TimeSpan HalfLife { get; }

    /// <summary>Whether jobs are ordered by share (and usage is kept and stored).</summary>
    public bool Enabled => HalfLife > TimeSpan.Zero;

    /// <summary>
    /// A live attempt found at load holds <paramref name="gpus"/> GPUs: it has accrued since the account's
    /// stored usage was worked out (every placement and end moves that instant on), and goes on accruing.
    /// </summary>
    public void Restore(string? account, int gpus, DateTimeOffset assignedAt)
    {
        lock (_lock)
        {
            var name = account ?? AccountShare.Default;
            var usage = _accounts.TryGetValue(name, out var u) ? u : new DecayedUsage(0, assignedAt, 0);
            _accounts[name] = usage with { RunningGpus = usage.RunningGpus + gpus };
        }
    }

    /// <summary>An attempt of <paramref name="account"/> took <paramref name="gpus"/> GPUs at <paramref name="now"/>.</summary>
    public void Hold(string? account, int gpus, DateTimeOffset now) => Change(account, gpus, now);

    /// <summary>An attempt of <paramref name="account"/> gave <paramref name="gpus"/> GPUs back at <paramref name="now"/>.</summary>
    public void Release(string? account, int gpus, DateTimeOffset now) => Change(account, -gpus, now);

    private void Change(string? account, int gpus, DateTimeOffset now)
    {
        if (gpus == 0)
        {
            return;
        }

        lock (_lock)
        {
            var name = account ?? AccountShare.Default;
            var usage = _accounts.TryGetValue(name, out var u) ? u : new DecayedUsage(0, now, 0);
            var running = Math.Max(0, usage.RunningGpus + gpus);
            _accounts[name] = Enabled ? usage.MoveTo(now, HalfLife, running) : usage with { RunningGpus = running };
            if (Enabled)
            {
                _changed.Add(name);
            }
        }
    }

    /// <summary>The rows changed since the last call, to store with the unit of work that changed them.</summary>
    public List<AccountUsageRow>? TakeChanged()
    {
        lock (_lock)
        {
            if (_changed.Count == 0)
            {
                return null;
            }

            var rows = new List<AccountUsageRow>(_changed.Count);
            foreach (var name in _changed)
            {
                var usage = _accounts[name];
                rows.Add(new AccountUsageRow(name, usage.GpuSeconds, usage.AsOf));
            }

            _changed.Clear();
            return rows;
        }
    }

    /// <summary>The GPUs <paramref name="account"/>'s live attempts hold.</summary>
    public int RunningGpus(string? account)
    {
        lock (_lock)
        {
            return _accounts.TryGetValue(account ?? AccountShare.Default, out var usage) ? usage.RunningGpus : 0;
        }
    }

    /// <summary>Every known account's decayed GPU-hours at <paramref name="now"/> (0 with fair share off) and the GPUs it holds, by name.</summary>
    public Dictionary<string, (double GpuHours, int RunningGpus)> Snapshot(DateTimeOffset now)
    {
        lock (_lock)
        {
            var snapshot = new Dictionary<string, (double, int)>(_accounts.Count, StringComparer.Ordinal);
            foreach (var (name, usage) in _accounts)
            {
                snapshot[name] = (Enabled ? usage.At(now, HalfLife) / 3600 : 0, usage.RunningGpus);
            }

            return snapshot;
        }
    }
}
