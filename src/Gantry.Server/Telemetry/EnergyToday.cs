using Gantry.Core.Protocol;

namespace Gantry.Server.Telemetry;

/// <summary>
/// The fleet's energy since midnight UTC, integrated from the node power every heartbeat carries
/// (the node's meter, or RAPL plus GPUs; the sum of its GPUs' power when the node reports none).
/// Each interval is counted at the power reported at its start; an interval longer than
/// <see cref="MaxGap"/> (a node that was away) is not counted. In memory: a restart starts from the
/// heartbeats it sees.
/// </summary>
internal sealed class EnergyToday
{
    /// <summary>Intervals longer than this between two summaries of a node are not integrated.</summary>
    public static readonly TimeSpan MaxGap = TimeSpan.FromMinutes(1);

    private readonly Dictionary<string, (DateTimeOffset At, double Watts)> _last = new(StringComparer.Ordinal);
    private readonly Lock _lock = new();
    private DateOnly _day;
    private double _joules;

    /// <summary>Adds the interval since the node's previous summary.</summary>
    public void Add(string nodeId, DateTimeOffset at, NodeSummary summary)
    {
        ArgumentNullException.ThrowIfNull(summary);
        if (PowerOf(summary) is not { } watts)
        {
            return;
        }

        var day = DateOnly.FromDateTime(at.UtcDateTime);
        lock (_lock)
        {
            if (day > _day)
            {
                _day = day;
                _joules = 0;
            }

            if (_last.TryGetValue(nodeId, out var last) && at > last.At && at - last.At <= MaxGap && DateOnly.FromDateTime(last.At.UtcDateTime) == day)
            {
                _joules += last.Watts * (at - last.At).TotalSeconds;
            }

            if (!_last.TryGetValue(nodeId, out last) || at > last.At)
            {
                _last[nodeId] = (at, watts);
            }
        }
    }

    /// <summary>Joules since midnight UTC of <paramref name="now"/>'s day.</summary>
    public double Joules(DateTimeOffset now)
    {
        lock (_lock)
        {
            return DateOnly.FromDateTime(now.UtcDateTime) == _day ? _joules : 0;
        }
    }

    /// <summary>The node's power: its own figure, else its GPUs' sum; null when neither is known.</summary>
    public static double? PowerOf(NodeSummary summary)
    {
        ArgumentNullException.ThrowIfNull(summary);
        if (summary.PowerWatts is { } node)
        {
            return node;
        }

        double? sum = null;
        foreach (var gpu in summary.Gpus)
        {
            if (gpu.PowerWatts is { } watts)
            {
                sum = (sum ?? 0) + watts;
            }
        }

        return sum;
    }
}
