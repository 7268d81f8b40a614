using Gantry.Core.Protocol;

namespace Gantry.Server.Telemetry;

/// <summary>
/// The fleet's energy since midnight UTC, integrated from the node power every heartbeat carries
/// (the node's meter, or RAPL plus GPUs; the sum of its GPUs' power when the node reports none).
/// Each interval is counted at the power reported at its start; an interval longer than
/// <see cref="MaxGap"/> (a node that was away) is not counted. The figure lives in memory; after a
/// restart <see cref="EnergyTodaySeeder"/> adds what the telemetry history holds for the day so far
/// (per-minute mean power × a minute, so it is exact to about a minute).
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

    /// <summary>Adds <paramref name="joules"/> read from history to the day of <paramref name="now"/>.</summary>
    public void Seed(DateTimeOffset now, double joules)
    {
        var day = DateOnly.FromDateTime(now.UtcDateTime);
        lock (_lock)
        {
            if (day > _day)
            {
                _day = day;
                _joules = 0;
            }

            if (day == _day)
            {
                _joules += joules;
            }
        }
    }

    /// <summary>
    /// The energy the history holds for <paramref name="nodes"/> from midnight UTC until
    /// <paramref name="now"/>: each node's power series (else the sum of its GPUs' power series),
    /// per-minute means times the part of the minute before <paramref name="now"/>.
    /// </summary>
    public static double FromHistory(TelemetryStore store, IEnumerable<(string NodeId, IReadOnlyList<int> Gpus)> nodes, DateTimeOffset now)
    {
        ArgumentNullException.ThrowIfNull(store);
        ArgumentNullException.ThrowIfNull(nodes);
        var midnight = new DateTimeOffset(now.UtcDateTime.Date, TimeSpan.Zero);
        if (now - midnight < TimeSpan.FromMinutes(1))
        {
            return 0;
        }

        double joules = 0;
        foreach (var (nodeId, gpus) in nodes)
        {
            // The node's own power where it reports one (it includes the GPUs), its GPUs' otherwise.
            if (store.FindSeries(nodeId, null, "power_watts") is { } nodeSeries
                && Integrate(store, nodeSeries, midnight, now) is { Points: > 0 } node)
            {
                joules += node.Joules;
                continue;
            }

            foreach (var gpu in gpus)
            {
                if (store.FindSeries(nodeId, gpu, "power_watts") is { } gpuSeries)
                {
                    joules += Integrate(store, gpuSeries, midnight, now).Joules;
                }
            }
        }

        return joules;
    }

    private static (double Joules, int Points) Integrate(TelemetryStore store, TelemetrySeries series, DateTimeOffset from, DateTimeOffset to)
    {
        double joules = 0;
        var points = store.Query(series, TelemetrySource.Rollup, from, to, TimeSpan.FromMinutes(1));
        foreach (var point in points)
        {
            joules += point.Value * Math.Clamp((to - point.T).TotalSeconds, 0, 60);
        }

        return (joules, points.Count);
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
