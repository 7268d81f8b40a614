namespace Gantry.Core.Scheduling;

/// <summary>
/// An account's use of GPUs for fair share, as Slurm's decayed usage: GPU-seconds that lose half their
/// weight every half-life, plus what the account's live attempts accrue while they hold
/// <see cref="RunningGpus"/> GPUs. Kept as (usage at <see cref="AsOf"/>, GPUs held since then), so reading it
/// at any time, or moving it on when an attempt starts or ends, is O(1): between two such events the GPUs
/// held are constant and the decayed integral has a closed form.
/// </summary>
/// <param name="GpuSeconds">Decayed GPU-seconds at <paramref name="AsOf"/>.</param>
/// <param name="AsOf">When <paramref name="GpuSeconds"/> was worked out; the last change of <paramref name="RunningGpus"/>.</param>
/// <param name="RunningGpus">GPUs the account's live attempts have held since <paramref name="AsOf"/>.</param>
public readonly record struct DecayedUsage(double GpuSeconds, DateTimeOffset AsOf, int RunningGpus)
{
    /// <summary>
    /// The usage at <paramref name="now"/>: G·2^(−t/H) + R·H/ln 2·(1 − 2^(−t/H)) for t seconds since
    /// <see cref="AsOf"/>, R GPUs held and a half-life of H seconds (the GPU-seconds each moment of those t
    /// contributes, decayed by its age). Without a half-life (zero: fair share off), nothing decays.
    /// </summary>
    public double At(DateTimeOffset now, TimeSpan halfLife)
    {
        var t = (now - AsOf).TotalSeconds;
        if (t <= 0)
        {
            return GpuSeconds;
        }

        if (halfLife <= TimeSpan.Zero)
        {
            return GpuSeconds + (RunningGpus * t);
        }

        var h = halfLife.TotalSeconds;
        var kept = Math.Pow(2, -t / h);
        return (GpuSeconds * kept) + (RunningGpus * h / Math.Log(2) * (1 - kept));
    }

    /// <summary>The same usage worked out at <paramref name="now"/> (never earlier than <see cref="AsOf"/>), holding <paramref name="runningGpus"/> from then on.</summary>
    public DecayedUsage MoveTo(DateTimeOffset now, TimeSpan halfLife, int runningGpus) =>
        now <= AsOf ? this with { RunningGpus = runningGpus } : new DecayedUsage(At(now, halfLife), now, runningGpus);
}
