using Gantry.Core.Jobs;

namespace Gantry.Server.Jobs;

/// <summary>
/// How jobs ended lately, per minute: a ring of minute buckets updated as each job ends (constant work
/// per job end) and read by alert rules as counts over a trailing window.
/// </summary>
internal sealed class JobOutcomes
{
    /// <summary>The longest window that can be asked for, in minutes.</summary>
    public const int WindowMinutes = 60;

    private readonly Lock _lock = new();
    private readonly long[] _minute = new long[WindowMinutes];
    private readonly int[] _ended = new int[WindowMinutes];
    private readonly int[] _failed = new int[WindowMinutes];

    /// <summary>Counts a job that ended in <paramref name="state"/> at <paramref name="at"/>.</summary>
    public void Record(JobState state, DateTimeOffset at)
    {
        if (!state.IsTerminal() || state == JobState.Cancelled)
        {
            // A cancelled job says nothing about the fleet.
            return;
        }

        var minute = at.ToUnixTimeSeconds() / 60;
        var slot = (int)(minute % WindowMinutes);
        lock (_lock)
        {
            if (_minute[slot] != minute)
            {
                _minute[slot] = minute;
                _ended[slot] = 0;
                _failed[slot] = 0;
            }

            _ended[slot]++;
            if (state is JobState.Failed or JobState.Lost)
            {
                _failed[slot]++;
            }
        }
    }

    /// <summary>Jobs that ended (succeeded, failed or lost; not cancelled) and those that failed or were lost, in the <paramref name="minutes"/> up to <paramref name="now"/>.</summary>
    public (int Ended, int Failed) Over(int minutes, DateTimeOffset now)
    {
        ArgumentOutOfRangeException.ThrowIfGreaterThan(minutes, WindowMinutes);
        var current = now.ToUnixTimeSeconds() / 60;
        var ended = 0;
        var failed = 0;
        lock (_lock)
        {
            for (var slot = 0; slot < WindowMinutes; slot++)
            {
                if (_minute[slot] > current - minutes && _minute[slot] <= current)
                {
                    ended += _ended[slot];
                    failed += _failed[slot];
                }
            }
        }

        return (ended, failed);
    }
}
